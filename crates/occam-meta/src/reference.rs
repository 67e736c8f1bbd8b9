//! The whole meta-step on the CPU in f64: the oracle that `occam gradcheck`
//! and the tests hold the GPU engine to. It follows DESIGN.md §1–§2 literally:
//! labels z = f_θ(X), T unrolled learner steps, the meta-loss, the reverse
//! sweep for ∂L/∂z_tr, then one backprop of the meta-learner.

use crate::learner::{adjoint, train};
use crate::losses::{energy_distance, orthogonality, sinkhorn_divergence, std_dev};
use crate::problem::{
    DistributionKind, DistributionSet, Learner, LossTerms, MetaProblem, Orthogonality,
    RidgeLearner, TaskData,
};
use occam_ops::{Result, RidgeCpu, RidgeShape};

/// Meta-loss terms and ∂L/∂θ of one meta-step, averaged over its tasks.
#[derive(Clone, Debug)]
pub struct MetaGradient {
    /// The loss, term by term.
    pub terms: LossTerms,
    /// ∂L/∂θ.
    pub theta_bar: Vec<f64>,
}

/// Evaluates one meta-step at θ in f64. Fails only when a closed-form
/// learner's system is singular (λ too small for its features).
pub fn meta_step(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
) -> Result<MetaGradient> {
    let mut terms = LossTerms::default();
    let mut theta_bar = vec![0.0; theta.len()];
    let scale = 1.0 / tasks.len() as f64;
    for task in tasks {
        let (t, g) = task_step(problem, theta, task, orth)?;
        terms.add_scaled(&t, scale);
        for (a, b) in theta_bar.iter_mut().zip(g) {
            *a += scale * b;
        }
    }
    Ok(MetaGradient { terms, theta_bar })
}

/// A closed-form learner's test predictions on `task` with labels z_tr, and
/// the map from their cotangent to ∂L/∂z_tr.
fn ridge_predictions<'a>(
    ridge: &RidgeLearner,
    task: &TaskData,
    z_tr: &[f64],
    d: usize,
    features: &[f64],
) -> Result<(Vec<f64>, Pullback<'a>)> {
    let phi_tr = ridge.features.apply(&task.x_tr, d, features);
    let phi_te = ridge.features.apply(&task.x_te, d, features);
    let shape = RidgeShape {
        tasks: 1,
        train: z_tr.len(),
        test: task.x_te.len() / d,
        features: ridge.features.count(d),
        lambda: ridge.lambda,
    };
    let op = RidgeCpu { shape };
    let sol = op.forward(&phi_tr, z_tr, &phi_te)?;
    let g_te = sol[0].y.clone();
    Ok((
        g_te,
        Box::new(move |g_bar: &[f64]| op.backward(&phi_tr, &phi_te, &sol, g_bar)),
    ))
}

/// Maps the cotangent of the learner's test predictions to ∂L/∂z_tr.
type Pullback<'a> = Box<dyn Fn(&[f64]) -> Vec<f64> + 'a>;

fn task_step(
    problem: &MetaProblem,
    theta: &[f64],
    task: &TaskData,
    orth: &Orthogonality,
) -> Result<(LossTerms, Vec<f64>)> {
    let d = problem.meta.d_in();
    let w = &problem.weights;
    let m = task.x_tr.len() / d;
    let big_m = task.x_te.len() / d;
    let k = orth.x.len() / d;

    // Labels for every point in one forward pass: [train; test; orthogonality set].
    let x_all: Vec<f64> = [&task.x_tr[..], &task.x_te[..], &orth.x[..]].concat();
    let meta_trace = problem.meta.forward(theta, &x_all);
    let z = meta_trace.output();
    let (z_tr, z_te, z_orth) = (&z[..m], &z[m..m + big_m], &z[m + big_m..]);
    let mut z_bar = vec![0.0; z.len()];

    // The learner's test predictions g_te, and a closure that turns their
    // cotangent ḡ into ∂L/∂z_tr.
    let (g_te, pullback): (Vec<f64>, Pullback<'_>) = match &problem.learner {
        Learner::Gd(learner) => {
            let ws = train(
                &learner.spec,
                &task.w0,
                &task.x_tr,
                z_tr,
                &task.batches,
                learner.lr,
                &task.constraints,
            );
            let w_final = ws.last().unwrap().clone();
            let test_trace = learner.spec.forward(&w_final, &task.x_te);
            let g_te = test_trace.output().to_vec();
            let z_tr = z_tr.to_vec();
            let pullback = move |g_bar: &[f64]| {
                let w_bar_final = learner.spec.backward(&w_final, &test_trace, g_bar);
                adjoint(
                    &learner.spec,
                    &ws,
                    &task.x_tr,
                    &z_tr,
                    &task.batches,
                    learner.lr,
                    &task.constraints,
                    &w_bar_final,
                )
                .0
            };
            (g_te, Box::new(pullback))
        }
        Learner::Ridge(ridge) => ridge_predictions(ridge, task, z_tr, d, &task.features)?,
    };
    let mse: f64 = g_te
        .iter()
        .zip(z_te)
        .map(|(g, z)| (g - z).powi(2))
        .sum::<f64>()
        / big_m as f64;
    let mut terms = LossTerms {
        generalisation: w.generalisation * mse,
        ..LossTerms::default()
    };
    let g_bar: Vec<f64> = g_te
        .iter()
        .zip(z_te)
        .map(|(g, z)| 2.0 * w.generalisation / big_m as f64 * (g - z))
        .collect();
    for (i, gb) in g_bar.iter().enumerate() {
        z_bar[m + i] -= gb;
    }
    for (a, b) in z_bar[..m].iter_mut().zip(pullback(&g_bar)) {
        *a += b;
    }
    // An adversarial pair: −a'·MSE_B of the second learner on the same labels.
    if let Some((adversary, weight)) = &problem.adversary {
        let (g_b, pullback_b) =
            ridge_predictions(adversary, task, z_tr, d, &task.adversary_features)?;
        let mse_b: f64 = g_b
            .iter()
            .zip(z_te)
            .map(|(g, z)| (g - z).powi(2))
            .sum::<f64>()
            / big_m as f64;
        terms.adversary = -weight * mse_b;
        let g_bar_b: Vec<f64> = g_b
            .iter()
            .zip(z_te)
            .map(|(g, z)| -2.0 * weight / big_m as f64 * (g - z))
            .collect();
        for (i, gb) in g_bar_b.iter().enumerate() {
            z_bar[m + i] -= gb;
        }
        for (a, b) in z_bar[..m].iter_mut().zip(pullback_b(&g_bar_b)) {
            *a += b;
        }
    }

    // Distribution and spread of the labels.
    let distribution = |z_s: &[f64]| match problem.distribution {
        DistributionKind::Energy => energy_distance(z_s, &task.u),
        DistributionKind::Sinkhorn { blur, scaling } => {
            sinkhorn_divergence(z_s, &task.u, blur, scaling)
        }
    };
    // (start, end) of each label set the distribution term sees.
    let parts: &[(usize, usize)] = match problem.distribution_on {
        DistributionSet::Test => &[(m, m + big_m)],
        DistributionSet::All => &[(0, m + big_m)],
        DistributionSet::Separate => &[(0, m), (m, m + big_m)],
    };
    let spread_range = match problem.distribution_on {
        DistributionSet::All => 0..m + big_m,
        DistributionSet::Test | DistributionSet::Separate => m..m + big_m,
    };
    if w.distribution != 0.0 {
        for &(start, end) in parts {
            let (value, grad) = distribution(&z[start..end]);
            terms.distribution += w.distribution * value;
            for (a, g) in z_bar[start..end].iter_mut().zip(grad) {
                *a += w.distribution * g;
            }
        }
    }
    let s_range = spread_range;
    let z_s = &z[s_range.clone()];
    if w.std_reward != 0.0 {
        let (sd, grad) = std_dev(z_s);
        terms.std_reward = -w.std_reward * sd;
        for (a, g) in z_bar[s_range].iter_mut().zip(grad) {
            *a -= w.std_reward * g;
        }
    }
    if w.orthogonality != 0.0 && k > 0 {
        let (value, grad) = orthogonality(z_orth, &orth.earlier);
        terms.orthogonality = w.orthogonality * value;
        for (a, g) in z_bar[m + big_m..].iter_mut().zip(grad) {
            *a += w.orthogonality * g;
        }
    }

    let theta_bar = problem.meta.backward(theta, &meta_trace, &z_bar);
    Ok((terms, theta_bar))
}

/// The meta-loss alone (no gradient), for finite differences.
pub fn meta_loss(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
) -> Result<LossTerms> {
    Ok(meta_step(problem, theta, tasks, orth)?.terms)
}

/// The learner's own errors on its labels z = f_θ(x), averaged over tasks:
/// (in-sample MSE on its training points after training, MSE on the test points).
pub fn learner_errors(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
) -> Result<(f64, f64)> {
    let d = problem.meta.d_in();
    let labels = |x: &[f64]| problem.meta.forward(theta, x).into_output();
    let mse = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>() / a.len() as f64
    };
    let (mut in_sample, mut held_out) = (0.0, 0.0);
    for task in tasks {
        let (z_tr, z_te) = (labels(&task.x_tr), labels(&task.x_te));
        let (g_tr, g_te) = match &problem.learner {
            Learner::Gd(g) => {
                let ws = train(
                    &g.spec,
                    &task.w0,
                    &task.x_tr,
                    &z_tr,
                    &task.batches,
                    g.lr,
                    &task.constraints,
                );
                let w = ws.last().expect("w_T");
                (
                    g.spec.forward(w, &task.x_tr).into_output(),
                    g.spec.forward(w, &task.x_te).into_output(),
                )
            }
            Learner::Ridge(r) => {
                let phi_tr = r.features.apply(&task.x_tr, d, &task.features);
                let phi_te = r.features.apply(&task.x_te, d, &task.features);
                let m = z_tr.len();
                let shape = RidgeShape {
                    tasks: 1,
                    train: m,
                    test: m,
                    features: r.features.count(d),
                    lambda: r.lambda,
                };
                // Predictions on the training points themselves, then on the test points.
                let on_train = RidgeCpu { shape }.forward(&phi_tr, &z_tr, &phi_tr)?;
                let w = &on_train[0].w;
                let k = w.len();
                let g_te = phi_te
                    .chunks(k)
                    .map(|row| row.iter().zip(w).map(|(a, b)| a * b).sum())
                    .collect();
                (on_train[0].y.clone(), g_te)
            }
        };
        in_sample += mse(&g_tr, &z_tr) / tasks.len() as f64;
        held_out += mse(&g_te, &z_te) / tasks.len() as f64;
    }
    Ok((in_sample, held_out))
}
