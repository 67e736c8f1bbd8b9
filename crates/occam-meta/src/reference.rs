//! The whole meta-step on the CPU in f64: the oracle that `occam gradcheck`
//! and the tests hold the GPU engine to. It follows docs/design.md §1–§3
//! literally: labels z = f_θ(X), each learner's fit, the meta-loss term by
//! term, each learner's exact pullback to ∂L/∂z_tr, then one backprop of
//! the meta-learner.

use crate::loss::{CpuGrads, CpuLabels, TermValues};
use crate::problem::{MetaProblem, Orthogonality, TaskData};
use occam_ops::Result;

/// Meta-loss terms and ∂L/∂θ of one meta-step, averaged over its tasks.
#[derive(Clone, Debug)]
pub struct MetaGradient {
    /// The loss, term by term.
    pub terms: TermValues,
    /// ∂L/∂θ.
    pub theta_bar: Vec<f64>,
}

/// Evaluates one meta-step at θ in f64. Fails only when a learner cannot
/// fit (a closed-form learner's system is singular, say).
pub fn meta_step(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
) -> Result<MetaGradient> {
    let mut terms = TermValues::zeros(&problem.terms);
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

fn task_step(
    problem: &MetaProblem,
    theta: &[f64],
    task: &TaskData,
    orth: &Orthogonality,
) -> Result<(TermValues, Vec<f64>)> {
    let d = problem.meta.d_in();
    let m = task.x_tr.len() / d;
    let big_m = task.x_te.len() / d;
    let k = if orth.earlier.is_empty() {
        0
    } else {
        orth.x.len() / d
    };

    // Labels for every point in one forward pass: [train; test; orthogonality set].
    let x_all: Vec<f64> = [&task.x_tr[..], &task.x_te[..], &orth.x[..k * d]].concat();
    let meta_trace = problem.meta.forward(theta, &x_all);
    let z = meta_trace.output();
    let (z_tr, z_te, z_orth) = (&z[..m], &z[m..m + big_m], &z[m + big_m..]);

    let fits = problem
        .learners
        .iter()
        .zip(&task.learners)
        .map(|(l, data)| l.fit_cpu(&task.x_tr, z_tr, &task.x_te, data))
        .collect::<Result<Vec<_>>>()?;
    let predictions: Vec<&[f64]> = fits.iter().map(|f| f.test_predictions()).collect();
    let labels = CpuLabels {
        z_tr,
        z_te,
        z_orth,
        u: &task.u,
        predictions: &predictions,
        earlier: if k > 0 { &orth.earlier } else { &[] },
    };
    let mut grads = CpuGrads::zeros(&labels);
    let mut values = TermValues::zeros(&problem.terms);
    for (term, v) in problem.terms.iter().zip(&mut values.terms) {
        v.value = term.cpu(&labels, &mut grads);
    }
    for (fit, y_bar) in fits.iter().zip(&grads.predictions) {
        for (a, b) in grads.z_tr.iter_mut().zip(fit.pullback(y_bar)) {
            *a += b;
        }
    }
    let z_bar = [grads.z_tr, grads.z_te, grads.z_orth].concat();
    let theta_bar = problem.meta.backward(theta, &meta_trace, &z_bar);
    Ok((values, theta_bar))
}

/// The meta-loss alone (no gradient), for finite differences.
pub fn meta_loss(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
) -> Result<TermValues> {
    Ok(meta_step(problem, theta, tasks, orth)?.terms)
}

/// How one of the problem's learners fits the labels z = f_θ(x) of some tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerFits {
    /// In-sample MSE on its training points after training, averaged over tasks.
    pub in_sample_mse: f64,
    /// MSE on the test points, averaged over tasks.
    pub held_out_mse: f64,
    /// Its fitted parameters on each task (empty for a learner without any).
    pub weights: Vec<Vec<f64>>,
}

/// The learner's own fits of its labels z = f_θ(x) on `tasks`, in f64.
/// `learner` picks which of the problem's learners.
pub fn learner_fits(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    learner: usize,
) -> Result<LearnerFits> {
    let labels = |x: &[f64]| problem.meta.forward(theta, x).into_output();
    let mse = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>() / a.len() as f64
    };
    let (mut in_sample, mut held_out) = (0.0, 0.0);
    let mut weights = Vec::new();
    for task in tasks {
        let (z_tr, z_te) = (labels(&task.x_tr), labels(&task.x_te));
        let fit = problem.learners[learner].fit_cpu(
            &task.x_tr,
            &z_tr,
            &task.x_te,
            &task.learners[learner],
        )?;
        let g_tr = fit.train_predictions()?;
        in_sample += mse(&g_tr, &z_tr) / tasks.len() as f64;
        held_out += mse(fit.test_predictions(), &z_te) / tasks.len() as f64;
        weights.extend(fit.weights());
    }
    Ok(LearnerFits {
        in_sample_mse: in_sample,
        held_out_mse: held_out,
        weights,
    })
}
