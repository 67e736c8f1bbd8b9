//! `occam run`: a whole meta-learning run — one function, or an orthogonal
//! series of them — and its output folder.

use crate::cli::Failure;
use crate::config::{Experiment, Resolved};
use crate::output::Output;
use crate::plots;
use indicatif::{ProgressBar, ProgressStyle};
use occam_gpu::Gpu;
use occam_meta::analysis::{
    digit_agreement, harmonic_degree_fractions, kernel_eigenfunctions, linear_fit, span_share,
};
use occam_meta::engine::GpuMetaEngine;
use occam_meta::loss::TermValues;
use occam_meta::problem::{Orthogonality, TaskData};
use occam_meta::sampling::{InputDomain, Purpose, stream};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Stops with a message naming the meta-step and the term when a term is not finite.
fn check_finite(
    function: usize,
    step: usize,
    terms: &TermValues,
    every: usize,
) -> Result<(), Failure> {
    match terms.first_non_finite() {
        Some(t) => Err(Failure::internal(format!(
            "the run diverged: function {function}, meta-step {step}: the {} term is {} \
             (checked every {every} meta-steps; lower the learning rates or the loss weights)",
            t.name, t.value
        ))),
        None => Ok(()),
    }
}

/// The run's held-out tasks (fresh learner inits and datasets).
fn heldout_tasks(exp: &Experiment, r: &Resolved) -> Vec<TaskData> {
    let mut rng = stream(exp.seed, Purpose::Heldout, 0);
    (0..exp.analysis.heldout_tasks)
        .map(|_| r.sampler.draw(&mut rng))
        .collect()
}

/// The meta-loss on the held-out tasks at θ.
fn heldout(
    gpu: &Gpu,
    r: &Resolved,
    data: &[TaskData],
    theta: &[f64],
    orth: &Orthogonality,
) -> Result<TermValues, Failure> {
    // Image tasks one at a time (thousands of images per task); others side by side.
    let per_engine = if r.image_labels.is_some() {
        1
    } else {
        data.len()
    };
    let mut sum = TermValues::zeros(&r.problem.terms);
    for chunk in data.chunks(per_engine) {
        let mut engine = GpuMetaEngine::new(
            gpu,
            &r.problem,
            r.step_sizes(chunk.len()),
            theta,
            r.optimizer,
            orth,
        )?;
        engine.load(gpu, chunk)?;
        engine.step(gpu, false)?;
        let share = chunk.len() as f64 / data.len() as f64;
        sum.add_scaled(&engine.read_terms(gpu)?, share);
    }
    Ok(sum)
}

/// What one learned function of a run leaves behind.
struct Learned {
    /// The trained θ.
    theta: Vec<f64>,
    values: Vec<f64>,
    on_orth_points: Vec<f64>,
    curves: Vec<(f64, TermValues)>,
    last: TermValues,
    initial_heldout: TermValues,
    final_heldout: TermValues,
    /// The learner's (in-sample, held-out) MSE on fresh tasks at the final θ (CPU f64).
    learner_errors: (f64, f64),
    wall: f64,
}

/// Meta-learns function `j` of the run (the only one, or the j-th of a series).
#[allow(clippy::too_many_arguments)]
fn learn_function(
    gpu: &Gpu,
    exp: &Experiment,
    r: &Resolved,
    j: usize,
    orth: &Orthogonality,
    eval_points: &[f64],
    metrics: &mut crate::output::Lines,
    bar: &ProgressBar,
) -> Result<(Learned, GpuMetaEngine), Failure> {
    let theta0 = r.initial_theta(exp.seed, j);
    let heldout_data = heldout_tasks(exp, r);
    let initial_heldout = heldout(gpu, r, &heldout_data, &theta0, orth)?;
    let mut engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        r.step_sizes(exp.tasks),
        &theta0,
        r.optimizer,
        orth,
    )?;
    let mut curves = Vec::new();
    let mut last = TermValues::zeros(&r.problem.terms);
    let start = Instant::now();
    for step in 0..exp.meta_steps {
        // Each function of a series sees its own stream of tasks.
        let global = (j * exp.meta_steps + step) as u64;
        engine.load(gpu, &r.sampler.meta_step(exp.seed, global, exp.tasks))?;
        engine.step(gpu, true)?;
        if step % exp.log_every == 0 || step + 1 == exp.meta_steps {
            let terms = engine.read_terms(gpu)?;
            check_finite(j, step, &terms, exp.log_every)?;
            let mut line = json!({
                "function": j,
                "meta_step": step,
                "meta_loss": terms.total(),
            });
            for t in &terms.terms {
                line[t.name] = json!(t.value);
                line[t.raw_key] = json!(t.raw());
            }
            line["wall_s"] = json!(start.elapsed().as_secs_f64());
            metrics.write(&line)?;
            bar.set_message(format!("{:.4e}", terms.total()));
            curves.push((step as f64, terms.clone()));
            last = terms;
        }
        bar.inc(1);
    }
    gpu.wait("finishing a function")?;
    let wall = start.elapsed().as_secs_f64();
    let theta = engine.read_theta(gpu)?;
    let final_heldout = heldout(gpu, r, &heldout_data, &theta, orth)?;
    let learner_errors =
        occam_meta::reference::learner_errors(&r.problem, &theta, &heldout_data, 0)?;
    let values = engine.evaluate(gpu, eval_points)?;
    let on_orth_points = engine.evaluate(gpu, &orth.x)?;
    let learned = Learned {
        theta,
        values,
        on_orth_points,
        curves,
        last,
        initial_heldout,
        final_heldout,
        learner_errors,
        wall,
    };
    Ok((learned, engine))
}

fn function_summary(
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
        "learner_error": { "in_sample_mse": f.learner_errors.0, "held_out_mse": f.learner_errors.1 },
    });
    if r.problem.learners.len() > 1 {
        // Held-out test errors of the two learners on the same labels.
        let mse_a = heldout_mse("generalisation");
        let mse_b = heldout_mse("adversary");
        analysis["adversarial"] = json!({
            "mse_a": mse_a,
            "mse_b": mse_b,
            "b_over_a": mse_a.zip(mse_b).map(|(a, b)| b / a),
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
        analysis["linear_fit"] = json!({
            "r2": r2,
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
fn kernel_analysis(
    exp: &Experiment,
    r: &Resolved,
    points: &[f64],
) -> Option<(Value, Vec<Vec<f64>>)> {
    let d = r.sampler.domain.dim();
    let kernel = r.problem.learners[0].kernel_features(points, d, exp.seed)?;
    let (values, functions) =
        kernel_eigenfunctions(&kernel.phi, kernel.features, KERNEL_EIGENFUNCTIONS);
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
fn kernel_overlap(f: &[f64], basis: &[Vec<f64>]) -> Value {
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

/// How well the function is explained by the sums of named input groups:
/// R² of an affine fit on the sums (with its coefficients) and of a
/// quadratic one (sums, their squares and products).
fn group_fit(points: &[f64], values: &[f64], d: usize, groups: &[Vec<usize>]) -> Value {
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
    json!({
        "groups": groups,
        "affine_r2": linear.as_ref().map(|(r2, _)| r2),
        "affine_coefficients": linear.as_ref().map(|(_, c)| c[..k].to_vec()),
        "quadratic_r2": quad.map(|(r2, _)| r2),
    })
}

/// Normalised inner products ⟨f_i, f_j⟩ / (‖f_i‖ ‖f_j‖) on the evaluation points.
fn inner_products(functions: &[Vec<f64>]) -> Vec<Vec<f64>> {
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

/// Runs the experiment and writes everything into `out`.
/// Runs `exp` and writes every output into `out`; `progress` shows a
/// progress bar on stderr.
pub fn run(gpu: &Gpu, exp: &Experiment, out: &Path, progress: bool) -> Result<(), Failure> {
    let r = exp.resolve()?;
    let out = Output::create(out)?;
    out.text("config.toml", &exp.to_toml())?;
    let domain = r.sampler.domain;
    let d = domain.dim();
    // Images: the learned function on every image of the set (digits.npy
    // gives their classes); other domains: on fresh evaluation points.
    let eval_points = match (&r.sampler.pool, &r.image_labels) {
        (Some(pool), Some(classes)) => {
            let digits: Vec<f64> = classes.iter().map(|&c| f64::from(c)).collect();
            out.npy("digits.npy", &[digits.len() as u64], &digits)?;
            pool.to_vec()
        }
        _ => {
            let x = domain.sample(
                &mut stream(exp.seed, Purpose::Evaluation, 0),
                exp.analysis.eval_points,
            );
            out.npy(
                "eval_inputs.npy",
                &[exp.analysis.eval_points as u64, d as u64],
                &x,
            )?;
            x
        }
    };
    let (count, orth_x) = match &exp.series {
        Some(s) => {
            let x = domain.sample(&mut stream(exp.seed, Purpose::Orthogonality, 0), s.points);
            out.npy("orthogonality_points.npy", &[s.points as u64, d as u64], &x)?;
            (s.functions, x)
        }
        None => (1, Vec::new()),
    };

    let bar = if progress {
        ProgressBar::new((count * exp.meta_steps) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} meta-loss {msg} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut metrics = out.lines("metrics.jsonl")?;
    let mut learned: Vec<Learned> = Vec::new();
    let mut engines = Vec::new();
    for j in 0..count {
        let orth = Orthogonality {
            x: orth_x.clone(),
            earlier: learned.iter().map(|f| f.on_orth_points.clone()).collect(),
        };
        let (f, engine) = learn_function(gpu, exp, &r, j, &orth, &eval_points, &mut metrics, &bar)?;
        learned.push(f);
        engines.push(engine);
    }
    bar.finish_and_clear();
    let wall: f64 = learned.iter().map(|f| f.wall).sum();

    let n = eval_points.len() / d;
    let values: Vec<f64> = learned
        .iter()
        .flat_map(|f| f.values.iter().copied())
        .collect();
    let p = r.problem.meta.n_params() as u64;
    let thetas: Vec<f64> = learned
        .iter()
        .flat_map(|f| f.theta.iter().copied())
        .collect();
    if exp.series.is_some() {
        out.npy("function.npy", &[count as u64, n as u64], &values)?;
        out.npy("theta.npy", &[count as u64, p], &thetas)?;
    } else {
        out.npy("function.npy", &[n as u64], &values)?;
        out.npy("theta.npy", &[p], &thetas)?;
    }
    out.json(
        "meta_learner.json",
        &json!({
            "theta": "theta.npy: the trained meta-learner's parameters (one row per function of a series), f32 values as f64",
            "input_shape": r.problem.meta.input,
            "parameter_layout": crate::layout::PARAMETER_LAYOUT,
            "layers": crate::layout::layers(&r.problem.meta),
        }),
    )?;
    let kernel = kernel_analysis(exp, &r, &eval_points);
    let per_function: Vec<(Value, Value)> = learned
        .iter()
        .map(|f| {
            let (fin, mut an) =
                function_summary(&r, f, domain, &eval_points, exp.analysis.groups.as_ref());
            if let Some((_, basis)) = &kernel {
                an["kernel_eigen_overlap"] = kernel_overlap(&f.values, basis);
            }
            (fin, an)
        })
        .collect();
    let info = gpu.adapter();
    let mut summary = json!({
        "experiment": exp.name,
        "seed": exp.seed,
        "adapter": { "name": info.name, "backend": info.backend.to_string(), "device_type": info.device_type },
        "meta_steps": exp.meta_steps,
        "tasks": exp.tasks,
        "unroll": engines[0].unroll_execution().to_string(),
        "wall_s": wall,
        "meta_steps_per_s": (count * exp.meta_steps) as f64 / wall,
        "final": per_function.last().expect("at least one function").0.clone(),
        "analysis": per_function.last().expect("at least one function").1.clone(),
    });
    if exp.series.is_some() {
        let funcs: Vec<Vec<f64>> = learned.iter().map(|f| f.values.clone()).collect();
        summary["analysis"] = json!({
            "functions": per_function.iter().enumerate().map(|(j, (fin, an))| json!({ "function": j, "final": fin, "analysis": an })).collect::<Vec<_>>(),
            "normalised_inner_products": inner_products(&funcs),
            "heldout_generalisation_mse": learned.iter().map(|f| f.final_heldout.term("generalisation").and_then(|t| t.raw())).collect::<Vec<_>>(),
            "in_sample_mse": learned.iter().map(|f| f.learner_errors.0).collect::<Vec<_>>(),
            "held_out_mse": learned.iter().map(|f| f.learner_errors.1).collect::<Vec<_>>(),
        });
    }
    if let Some((k, _)) = kernel {
        summary["analysis"]["kernel"] = k;
    }
    out.json("summary.json", &summary)?;

    let mut curves = Vec::new();
    for (j, f) in learned.iter().enumerate() {
        let tag = if count > 1 {
            format!(" f{j}")
        } else {
            String::new()
        };
        let mut push = |name: String, get: &dyn Fn(&TermValues) -> f64| {
            curves.push(plots::Curve {
                name: format!("{name}{tag}"),
                points: f.curves.iter().map(|(s, t)| (*s, get(t))).collect(),
            })
        };
        push("meta-loss".into(), &|t| t.total());
        if count == 1 {
            // Every term; those with a negative coefficient as |value| (log scale).
            for (i, term) in r.problem.terms.iter().enumerate() {
                if term.weight() < 0.0 {
                    push(format!("|{}|", term.label()), &|t| -t.terms[i].value);
                } else {
                    push(term.label(), &|t| t.terms[i].value);
                }
            }
        }
    }
    let loss_png = out.path("loss.png");
    plots::loss_curves(
        &loss_png,
        &format!("{} — meta-loss (seed {})", exp.name, exp.seed),
        &curves,
    )
    .map_err(|e| Failure::internal(format!("{}: {e}", loss_png.display())))?;
    if let Some(classes) = &r.image_labels {
        images_plot(exp, domain, &eval_points, classes, &learned[0].values, &out)?;
    } else {
        function_plot(gpu, &engines, exp, domain, &out)?;
        inputs_plot(exp, &eval_points, d, &learned, &out)?;
    }
    eprintln!(
        "occam: {count} function(s) × {} meta-steps in {wall:.1} s on {}; held-out meta-loss {:.4e} → {:.4e}; results in {}",
        exp.meta_steps,
        info.name,
        learned[0].initial_heldout.total(),
        learned[0].final_heldout.total(),
        out.dir().display()
    );
    Ok(())
}

/// images.png: example images of each class with their learned labels, and
/// the images whose labels are furthest from their class identity.
fn images_plot(
    exp: &Experiment,
    domain: InputDomain,
    images: &[f64],
    classes: &[u8],
    values: &[f64],
    out: &Output,
) -> Result<(), Failure> {
    let InputDomain::Images { height, width, .. } = domain else {
        return Ok(());
    };
    let d = domain.dim();
    let range = exp.inputs.pixel_range.unwrap_or([-1.0, 1.0]);
    let tile = |i: usize| plots::Tile {
        pixels: images[i * d..(i + 1) * d].to_vec(),
        caption: format!("{}: f = {:.3}", classes[i], values[i]),
    };
    let mut distinct = classes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let per_class = (16 / distinct.len().max(1)).max(1);
    let examples: Vec<plots::Tile> = distinct
        .iter()
        .flat_map(|&c| {
            (0..classes.len())
                .filter(move |&i| classes[i] == c)
                .take(per_class)
        })
        .map(tile)
        .collect();
    let mut sections = vec![(
        format!("{} — learned labels of example images (label: f)", exp.name),
        examples,
    )];
    if let Some(a) = digit_agreement(values, classes) {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&i, &j| a.distance[j].total_cmp(&a.distance[i]));
        sections.push((
            format!(
                "largest disagreements with {} (orientation chosen by agreement)",
                if a.flipped {
                    "1 − identity"
                } else {
                    "identity"
                }
            ),
            order.into_iter().take(16).map(tile).collect(),
        ));
    }
    let path = out.path("images.png");
    plots::image_grid(&path, &sections, (height, width), (range[0], range[1]), 8)
        .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))
}

/// A panel of function_inputs.png: title, (x, f, f) points, x range.
type ScatterPanel = (String, Vec<(f64, f64, f64)>, (f64, f64));

/// An axis of a map: label, low end, high end.
type Axis = (&'static str, f64, f64);

/// One panel of function.png: grid values, or scattered (x, y, value) points, and its axes.
type Panel = (Vec<f64>, Vec<(f64, f64, f64)>, Axis, Axis);

/// function_inputs.png: the (last) learned function against each input and
/// against the sum of each named input group.
fn inputs_plot(
    exp: &Experiment,
    points: &[f64],
    d: usize,
    learned: &[Learned],
    out: &Output,
) -> Result<(), Failure> {
    let values = &learned.last().expect("at least one function").values;
    let lo = values.iter().copied().fold(f64::MAX, f64::min);
    let hi = values.iter().copied().fold(f64::MIN, f64::max);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    const NAMES: [&str; 8] = ["x₀", "x₁", "x₂", "x₃", "x₄", "x₅", "x₆", "x₇"];
    let mut panels: Vec<ScatterPanel> = Vec::new();
    for i in 0..d.min(8) {
        let pts = points
            .chunks(d)
            .zip(values)
            .map(|(p, v)| (p[i], *v, *v))
            .collect();
        let lim = points
            .chunks(d)
            .fold(0.0f64, |m, p| m.max(p[i].abs()))
            .max(1e-9);
        panels.push((format!("f against {}", NAMES[i]), pts, (-lim, lim)));
    }
    for group in exp.analysis.groups.iter().flatten() {
        let pts: Vec<(f64, f64, f64)> = points
            .chunks(d)
            .zip(values)
            .map(|(p, v)| (group.iter().map(|&i| p[i]).sum(), *v, *v))
            .collect();
        let lim = pts.iter().fold(0.0f64, |m, p| m.max(p.0.abs())).max(1e-9);
        let name = group
            .iter()
            .map(|&i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join("+");
        panels.push((format!("f against {name}"), pts, (-lim, lim)));
    }
    let maps: Vec<plots::GridMap<'_>> = panels
        .iter()
        .map(|(title, pts, (a, b))| plots::GridMap {
            title,
            x: ("input", *a, *b),
            y: ("f", lo, hi),
            values: &[],
            nx: 0,
            ny: 0,
            points: pts.clone(),
        })
        .collect();
    let path = out.path("function_inputs.png");
    plots::grid_maps(&path, &maps)
        .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))
}

/// Points of a regular grid over the domain's map, which lie inside the
/// domain, and the map's axes.
fn map_grid(domain: InputDomain, nx: usize, ny: usize) -> (Vec<f64>, Vec<bool>, Axis, Axis) {
    let mut pts = Vec::with_capacity(nx * ny * domain.dim());
    let mut inside = Vec::with_capacity(nx * ny);
    if domain == (InputDomain::Sphere { dim: 3 }) {
        for j in 0..ny {
            for i in 0..nx {
                let lon = (-180.0 + (i as f64 + 0.5) * 360.0 / nx as f64).to_radians();
                let lat = (-90.0 + (j as f64 + 0.5) * 180.0 / ny as f64).to_radians();
                pts.extend([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]);
                inside.push(true);
            }
        }
        return (
            pts,
            inside,
            ("longitude (°)", -180.0, 180.0),
            ("latitude (°)", -90.0, 90.0),
        );
    }
    let d = domain.dim();
    // Gaussian inputs: ±3 standard deviations; the others live in [−1, 1]².
    let lim = if matches!(domain, InputDomain::Gaussian { .. }) {
        3.0
    } else {
        1.0
    };
    for j in 0..ny {
        for i in 0..nx {
            let x = lim * (-1.0 + (i as f64 + 0.5) * 2.0 / nx as f64);
            let y = lim * (-1.0 + (j as f64 + 0.5) * 2.0 / ny as f64);
            let mut p = vec![0.0; d];
            p[0] = x;
            p[1] = y;
            let r2 = x * x + y * y;
            let ok = match domain {
                InputDomain::Disk => r2 <= 1.0,
                // Other spheres: the slice x₂ = √(1 − x₀² − x₁²), x₃… = 0.
                InputDomain::Sphere { .. } => {
                    if r2 <= 1.0 && d > 2 {
                        p[2] = (1.0 - r2).sqrt();
                    }
                    r2 <= 1.0
                }
                _ => true,
            };
            inside.push(ok);
            pts.extend(p);
        }
    }
    (pts, inside, ("x₀", -lim, lim), ("x₁", -lim, lim))
}

fn function_plot(
    gpu: &Gpu,
    engines: &[GpuMetaEngine],
    exp: &Experiment,
    domain: InputDomain,
    out: &Output,
) -> Result<(), Failure> {
    let d = domain.dim();
    let planar = matches!(domain, InputDomain::Disk | InputDomain::Square)
        || domain == (InputDomain::Sphere { dim: 3 })
        || domain == (InputDomain::Gaussian { dim: 2 });
    let (nx, ny) = if domain == (InputDomain::Sphere { dim: 3 }) {
        (180, 90)
    } else {
        (120, 120)
    };
    let mut titles = Vec::new();
    let mut panels: Vec<Panel> = Vec::new();
    let name = |j: usize| {
        if engines.len() == 1 {
            format!("{} — learned function f_θ (seed {})", exp.name, exp.seed)
        } else {
            format!("{} — function {j} (seed {})", exp.name, exp.seed)
        }
    };
    if planar {
        let (pts, inside, xl, yl) = map_grid(domain, nx, ny);
        for (j, engine) in engines.iter().enumerate() {
            let values = engine.evaluate(gpu, &pts)?;
            let values = values
                .iter()
                .zip(&inside)
                .map(|(v, &ok)| if ok { *v } else { f64::NAN })
                .collect();
            panels.push((values, Vec::new(), xl, yl));
            titles.push(name(j));
        }
    } else {
        // Higher dimensions: the evaluation points projected on pairs of
        // coordinates, coloured by the function (the first two functions of a
        // series, up to six pairs each).
        let points = domain.sample(&mut stream(exp.seed, Purpose::Evaluation, 1), 3000);
        let pairs: Vec<(usize, usize)> = (0..d)
            .flat_map(|i| ((i + 1)..d).map(move |j| (i, j)))
            .take(6)
            .collect();
        let lim = if matches!(domain, InputDomain::Gaussian { .. }) {
            3.0
        } else {
            1.0
        };
        const AXES: [&str; 8] = ["x₀", "x₁", "x₂", "x₃", "x₄", "x₅", "x₆", "x₇"];
        for (j, engine) in engines.iter().enumerate().take(2) {
            let values = engine.evaluate(gpu, &points)?;
            for &(a, b) in &pairs {
                let scatter = points
                    .chunks(d)
                    .zip(&values)
                    .map(|(p, v)| (p[a], p[b], *v))
                    .collect();
                let label = |i: usize| AXES.get(i).copied().unwrap_or("x");
                panels.push((
                    Vec::new(),
                    scatter,
                    (label(a), -lim, lim),
                    (label(b), -lim, lim),
                ));
                titles.push(format!("{} — (x{a}, x{b})", name(j)));
            }
        }
    }
    let maps: Vec<plots::GridMap<'_>> = panels
        .iter()
        .zip(&titles)
        .map(|((v, pts, x, y), t)| plots::GridMap {
            title: t,
            x: *x,
            y: *y,
            values: v,
            nx: if v.is_empty() { 0 } else { nx },
            ny: if v.is_empty() { 0 } else { ny },
            points: pts.clone(),
        })
        .collect();
    let path = out.path("function.png");
    plots::grid_maps(&path, &maps)
        .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))?;
    Ok(())
}
