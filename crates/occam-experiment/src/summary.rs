//! The analyses of a run written to `summary.json`: each function's final
//! loss terms and held-out errors, fits on the inputs (linear, group sums),
//! spherical-harmonic degrees on S², and for kernel machines the kernel's
//! eigenfunctions and the learned function's overlap with them.

use crate::config::Resolved;
use occam_meta::analysis::{
    digit_agreement, harmonic_degree_fractions, kernel_eigenfunctions, linear_fit, span_share,
};
use occam_meta::loss::TermValues;
use occam_meta::sampling::InputDomain;
use serde_json::{Value, json};

/// What one learned function of a run leaves behind.
pub struct Learned {
    /// The trained θ.
    pub theta: Vec<f64>,
    /// The function on the run's evaluation points.
    pub values: Vec<f64>,
    /// The function on a series' orthogonality points.
    pub on_orth_points: Vec<f64>,
    /// (meta-step, loss terms) at every logged meta-step.
    pub curves: Vec<(f64, TermValues)>,
    /// The loss terms at the last logged meta-step.
    pub last: TermValues,
    /// The meta-loss on held-out tasks at the initial θ.
    pub initial_heldout: TermValues,
    /// The meta-loss on the same held-out tasks at the final θ.
    pub final_heldout: TermValues,
    /// The learner's fits of the final labels on the held-out tasks (CPU f64).
    pub learner_fits: occam_meta::reference::LearnerFits,
    /// Each learner fitted to the function on every evaluation point, its
    /// in-sample MSE (closed-form kernel machines only; see
    /// [`occam_meta::reference::fit_in_place`]).
    pub eval_fits: Vec<Option<f64>>,
    /// Seconds spent meta-learning it.
    pub wall: f64,
}

impl Learned {
    /// Learner `i`'s score as the paper's notebooks print it: half its
    /// in-sample MSE on every evaluation point, Σ(f − ĝ)²/2n.
    pub fn notebook_mse(&self, i: usize) -> Option<f64> {
        self.eval_fits.get(i).copied().flatten().map(|m| m / 2.0)
    }
}

/// `final` and `analysis` of one learned function.
pub fn function_summary(
    r: &Resolved,
    f: &Learned,
    domain: InputDomain,
    eval_points: &[f64],
    groups: Option<&Vec<Vec<usize>>>,
) -> (Value, Value) {
    let last = &f.last;
    // The contract's keys always, then every term's unweighted value.
    let mut fin = json!({
        "meta_loss": last.total(),
        "generalisation_mse": null,
        "distribution_loss": null,
        "orthogonality": 0.0,
    });
    for t in &last.terms {
        fin[t.raw_key] = match (t.raw_key, t.raw()) {
            ("orthogonality", raw) => json!(raw.unwrap_or(0.0)),
            (_, raw) => json!(raw),
        };
    }
    let heldout_mse = |name: &str| f.final_heldout.term(name).and_then(|t| t.raw());
    let mut analysis = json!({
        "heldout": {
            "initial_meta_loss": f.initial_heldout.total(),
            "final_meta_loss": f.final_heldout.total(),
            "meta_loss_reduction": f.initial_heldout.total() / f.final_heldout.total(),
            "generalisation_mse": heldout_mse("generalisation"),
        },
        "learner_error": { "in_sample_mse": f.learner_fits.in_sample_mse, "held_out_mse": f.learner_fits.held_out_mse },
    });
    if f.eval_fits.iter().any(Option::is_some) {
        // The notebooks' score: the learner fitted on all evaluation points,
        // Σ(f − ĝ)²/(2n) (half the in-sample MSE, as they print it).
        analysis["eval_fit"] = json!(
            f.eval_fits
                .iter()
                .zip(&r.problem.learners)
                .enumerate()
                .map(|(i, (m, l))| json!({
                    "learner": l.kind(),
                    "mse": m,
                    "notebook_mse": f.notebook_mse(i),
                }))
                .collect::<Vec<_>>()
        );
    }
    if r.problem.learners.len() > 1 {
        // Held-out test errors of the two learners on the same labels.
        let mse_a = heldout_mse("generalisation");
        let mse_b = heldout_mse("adversary");
        // And the notebooks' score: each learner fitted on every evaluation
        // point, Σ(f − ĝ)²/(2n).
        let (nb_a, nb_b) = (f.notebook_mse(0), f.notebook_mse(1));
        analysis["adversarial"] = json!({
            "mse_a": mse_a,
            "mse_b": mse_b,
            "b_over_a": mse_a.zip(mse_b).map(|(a, b)| b / a),
            "notebook_mse_a": nb_a,
            "notebook_mse_b": nb_b,
            "notebook_b_over_a": nb_a.zip(nb_b).map(|(a, b)| b / a),
        });
    }
    let d = domain.dim();
    if let Some(classes) = &r.image_labels {
        if let Some(a) = digit_agreement(&f.values, classes) {
            analysis["digit_agreement"] = json!({
                "orientation": if a.flipped { "1 - identity" } else { "identity" },
                "identity": format!("0 for label {}, 1 for label {}", a.class_means[0].0, a.class_means[1].0),
                "within_0_1": a.within_0_1,
                "within_0_5": a.within_0_5,
                "images": classes.len(),
                "mean_label": { a.class_means[0].0.to_string(): a.class_means[0].1, a.class_means[1].0.to_string(): a.class_means[1].1 },
            });
        }
        return (fin, analysis);
    }
    if let Some((r2, c)) = linear_fit(eval_points, &f.values, d) {
        // Share of the fitted variance carried by each input: c_i² Var(x_i) / Σ_j c_j² Var(x_j).
        let var = |i: usize| {
            let xs: Vec<f64> = eval_points.chunks(d).map(|p| p[i]).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64
        };
        let parts: Vec<f64> = (0..d).map(|i| c[i] * c[i] * var(i)).collect();
        let total: f64 = parts.iter().sum();
        let n = f.values.len() as f64;
        let mean = f.values.iter().sum::<f64>() / n;
        let variance = f.values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        analysis["linear_fit"] = json!({
            "r2": r2,
            // Σ(f − ĝ)²/n of the affine fit (the notebooks' "l_fit" for Figure 7B).
            "residual_mse": (1.0 - r2) * variance,
            "coefficients": &c[..d],
            "intercept": c[d],
            "variance_shares": parts.iter().map(|p| if total > 0.0 { p / total } else { 0.0 }).collect::<Vec<_>>(),
        });
    }
    if let Some(groups) = groups {
        analysis["group_fit"] = group_fit(eval_points, &f.values, d, groups);
    }
    if domain == (InputDomain::Sphere { dim: 3 })
        && let Some(fr) = harmonic_degree_fractions(eval_points, &f.values, 4)
    {
        analysis["harmonic_degree_fractions"] = json!(fr);
    }
    (fin, analysis)
}

/// Eigenfunctions kept for the kernel analysis (degrees 0–3 on S² and some).
const KERNEL_EIGENFUNCTIONS: usize = 25;

/// The kernel of a learner that is a kernel machine, computed numerically
/// on the evaluation points: its leading eigenvalues, the harmonic degree
/// each eigenfunction mostly lies in (on S²), and the eigenfunctions.
pub fn kernel_analysis(seed: u64, r: &Resolved, points: &[f64]) -> Option<(Value, Vec<Vec<f64>>)> {
    let d = r.sampler.domain.dim();
    let kernel = r.problem.learners[0]
        .kernel()?
        .kernel_features(points, d, seed);
    let (values, functions) =
        kernel_eigenfunctions(&kernel.phi, kernel.features, KERNEL_EIGENFUNCTIONS)?;
    let mut report = json!({
        "kernel": kernel.description,
        "points": points.len() / d,
        "eigenvalues": values,
    });
    if r.sampler.domain == (InputDomain::Sphere { dim: 3 }) {
        let degrees: Vec<Option<usize>> = functions
            .iter()
            .map(|u| {
                harmonic_degree_fractions(points, u, 4).and_then(|f| {
                    f.iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(l, _)| l)
                })
            })
            .collect();
        let mut by_degree = serde_json::Map::new();
        for (lambda, degree) in values.iter().zip(&degrees) {
            let key = degree.map_or("higher".to_string(), |l| l.to_string());
            by_degree
                .entry(key)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("an array")
                .push(json!(lambda));
        }
        report["eigenfunction_degrees"] = json!(degrees);
        report["eigenvalues_by_degree"] = Value::Object(by_degree);
    }
    Some((report, functions))
}

/// Shares of f's squared norm in the span of the kernel's top 1, 4, 9, 16 and
/// 25 eigenfunctions (as many as exist).
pub fn kernel_overlap(f: &[f64], basis: &[Vec<f64>]) -> Value {
    let mut shares = serde_json::Map::new();
    for count in [1, 4, 9, 16, 25] {
        if count <= basis.len() {
            shares.insert(format!("top_{count}"), json!(span_share(f, basis, count)));
        }
    }
    shares.insert(
        format!("top_{}", basis.len()),
        json!(span_share(f, basis, basis.len())),
    );
    Value::Object(shares)
}

/// The share of f's squared norm on each of the kernel's first 9
/// eigenfunctions, one by one.
pub fn kernel_shares(f: &[f64], basis: &[Vec<f64>]) -> Value {
    let n = basis.len().min(9);
    json!(
        (0..n)
            .map(|k| span_share(f, &basis[k..k + 1], 1))
            .collect::<Vec<_>>()
    )
}

/// The values less their mean: the function without its constant part,
/// whose share in a kernel's span says where its variation lies.
pub fn centred(values: &[f64]) -> Vec<f64> {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    values.iter().map(|v| v - mean).collect()
}

/// How well the function is explained by the sums of named input groups:
/// R² of an affine fit on the sums (with its coefficients) and of a
/// quadratic one (sums, their squares and products).
pub fn group_fit(points: &[f64], values: &[f64], d: usize, groups: &[Vec<usize>]) -> Value {
    let sums: Vec<Vec<f64>> = points
        .chunks(d)
        .map(|p| {
            groups
                .iter()
                .map(|g| g.iter().map(|&i| p[i]).sum())
                .collect()
        })
        .collect();
    let k = groups.len();
    let affine: Vec<f64> = sums.iter().flatten().copied().collect();
    let quadratic: Vec<f64> = sums
        .iter()
        .flat_map(|s| {
            let mut row = s.clone();
            for a in 0..k {
                for b in a..k {
                    row.push(s[a] * s[b]);
                }
            }
            row
        })
        .collect();
    let q = k + k * (k + 1) / 2;
    let linear = linear_fit(&affine, values, k);
    let quad = linear_fit(&quadratic, values, q);
    // A function of one group's inputs, whatever their signs: the R² of an
    // affine fit on that group's inputs alone.
    let span_r2: Vec<Option<f64>> = groups
        .iter()
        .map(|g| {
            let x: Vec<f64> = points
                .chunks(d)
                .flat_map(|p| g.iter().map(move |&i| p[i]))
                .collect();
            linear_fit(&x, values, g.len()).map(|(r2, _)| r2)
        })
        .collect();
    json!({
        "groups": groups,
        "span_r2": span_r2,
        "best_span_r2": span_r2.iter().flatten().copied().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
        "affine_r2": linear.as_ref().map(|(r2, _)| r2),
        "affine_coefficients": linear.as_ref().map(|(_, c)| c[..k].to_vec()),
        "quadratic_r2": quad.map(|(r2, _)| r2),
    })
}

/// Normalised inner products ⟨f_i, f_j⟩ / (‖f_i‖ ‖f_j‖) on the evaluation points.
pub fn inner_products(functions: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    functions
        .iter()
        .map(|a| {
            functions
                .iter()
                .map(|b| dot(a, b) / (dot(a, a) * dot(b, b)).sqrt())
                .collect()
        })
        .collect()
}
