//! The whole meta-step on the CPU in f64: the oracle that `occam gradcheck`
//! and the tests hold the GPU engine to. It follows docs/design.md §1–§3
//! literally: labels z = f_θ(X), each learner's fit, the meta-loss term by
//! term, each learner's exact pullback to ∂L/∂z_tr, then one backprop of
//! the meta-learner.

use crate::error::Result;
use crate::loss::{CpuGrads, CpuLabels, TermValues};
use crate::problem::{MetaProblem, Orthogonality, TaskData};

/// Meta-loss terms and ∂L/∂θ of one meta-step, averaged over its tasks.
#[derive(Clone, Debug)]
pub struct MetaGradient {
    /// The loss, term by term.
    pub terms: TermValues,
    /// ∂L/∂θ.
    pub theta_bar: Vec<f64>,
}

/// ∂L/∂θ split by the path it takes: through the learners' fits (their
/// pullbacks of ∂L/∂ŷ to the training labels) and directly (every term's
/// own derivative in the labels z). The two add up to ∂L/∂θ.
#[derive(Clone, Debug)]
pub struct GradientPaths {
    /// The part through the learners' pullbacks.
    pub learner: Vec<f64>,
    /// The part from the terms' derivatives in z_tr, z_te and z_orth.
    pub direct: Vec<f64>,
}

/// Evaluates one meta-step at θ in f64. Fails only when a learner cannot
/// fit (a closed-form learner's system is singular, say).
pub fn meta_step(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
) -> Result<MetaGradient> {
    Ok(meta_step_with(problem, theta, tasks, orth, false)?.0)
}

/// [`meta_step`], with ∂L/∂θ also split by its [paths](GradientPaths)
/// (two more backprops of the meta-learner per task).
pub fn meta_step_paths(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
) -> Result<(MetaGradient, GradientPaths)> {
    let (step, paths) = meta_step_with(problem, theta, tasks, orth, true)?;
    Ok((step, paths.expect("paths were asked for")))
}

fn meta_step_with(
    problem: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
    split: bool,
) -> Result<(MetaGradient, Option<GradientPaths>)> {
    let mut terms = TermValues::zeros(&problem.terms);
    let mut theta_bar = vec![0.0; theta.len()];
    let mut paths = split.then(|| GradientPaths {
        learner: vec![0.0; theta.len()],
        direct: vec![0.0; theta.len()],
    });
    let scale = 1.0 / tasks.len() as f64;
    let add = |to: &mut [f64], from: Vec<f64>| {
        for (a, b) in to.iter_mut().zip(from) {
            *a += scale * b;
        }
    };
    for task in tasks {
        let (t, g, p) = task_step(problem, theta, task, orth, split)?;
        terms.add_scaled(&t, scale);
        add(&mut theta_bar, g);
        if let (Some(paths), Some((learner, direct))) = (paths.as_mut(), p) {
            add(&mut paths.learner, learner);
            add(&mut paths.direct, direct);
        }
    }
    Ok((MetaGradient { terms, theta_bar }, paths))
}

/// One task's terms and ∂L/∂θ, and with `split` its (learner, direct) parts.
type TaskStep = (TermValues, Vec<f64>, Option<(Vec<f64>, Vec<f64>)>);

fn task_step(
    problem: &MetaProblem,
    theta: &[f64],
    task: &TaskData,
    orth: &Orthogonality,
    split: bool,
) -> Result<TaskStep> {
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
    let direct_z_tr = split.then(|| grads.z_tr.clone());
    let mut pulled = vec![0.0; m];
    for (fit, y_bar) in fits.iter().zip(&grads.predictions) {
        for ((a, p), b) in grads
            .z_tr
            .iter_mut()
            .zip(&mut pulled)
            .zip(fit.pullback(y_bar)?)
        {
            *a += b;
            *p += b;
        }
    }
    let paths = direct_z_tr.map(|direct_z_tr| {
        let zeros = vec![0.0; big_m + grads.z_orth.len()];
        let learner = [&pulled[..], &zeros[..]].concat();
        let direct = [&direct_z_tr[..], &grads.z_te[..], &grads.z_orth[..]].concat();
        (
            problem.meta.backward(theta, &meta_trace, &learner),
            problem.meta.backward(theta, &meta_trace, &direct),
        )
    });
    let z_bar = [grads.z_tr, grads.z_te, grads.z_orth].concat();
    let theta_bar = problem.meta.backward(theta, &meta_trace, &z_bar);
    Ok((values, theta_bar, paths))
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

/// `learner` fitted to labels `z` on the points `x` themselves (every
/// evaluation point a training point): its in-sample MSE Σ(z − ĝ)²/n. This
/// is how the paper's notebooks score a function against a closed-form
/// learner (they print half of it). `None` for a learner that is not a
/// closed-form kernel machine with an exact fit and nothing counted (a
/// trained network, a black box, an animal), for which a fit on thousands
/// of points would be another experiment.
pub fn fit_in_place(
    learner: &dyn crate::learners::Learner,
    x: &[f64],
    z: &[f64],
    data: &crate::learners::LearnerData,
) -> Result<Option<f64>> {
    let closed_form = learner.inner_steps() == 0
        && learner.kernel().is_some()
        && learner.counter().is_none()
        && learner.derivative() == crate::learners::Derivative::Exact;
    if !closed_form || z.is_empty() {
        return Ok(None);
    }
    let fit = learner.fit_cpu(x, z, x, data)?;
    let g = fit.train_predictions()?;
    let sse: f64 = g.iter().zip(z).map(|(g, z)| (g - z).powi(2)).sum();
    Ok(Some(sse / z.len() as f64))
}
