//! Meta-learning problems, task data and one GPU meta-step, shared by the
//! GPU meta-step tests.

use occam_meta::engine::{GpuMetaEngine, StepSizes, UnrollExecution};
use occam_meta::learners::Learner;
use occam_meta::learners::gd::{GdLearner, GdTask, task_data};
use occam_meta::loss::{StandardLoss, TermValues};
use occam_meta::problem::{MetaProblem, Orthogonality, TaskData};
use occam_meta::sampling::Batching;
use occam_ops::constraint::Constraints;
use occam_ops::net::NetSpec;
use occam_ops::{Activation, OptimizerKind};
use std::sync::Arc;

/// A problem on 3-D inputs: a 3-16-16-1 meta-learner with `output`, the
/// learners, and the loss.
pub fn problem_with(
    output: Activation,
    learners: Vec<Arc<dyn Learner>>,
    loss: StandardLoss,
) -> MetaProblem {
    MetaProblem {
        meta: NetSpec::mlp(&[3, 16, 16, 1], Activation::Relu, output),
        learners,
        terms: loss.terms(),
    }
}

/// A 3-7-5-1 learner trained by `steps` steps of gradient descent (η 0.1).
pub fn gd(hidden: Activation, steps: usize, batching: Batching) -> GdLearner {
    GdLearner::new(
        NetSpec::mlp(&[3, 7, 5, 1], hidden, Activation::Identity),
        steps,
        0.1,
        batching,
    )
}

/// 100·MSE + 10·energy(z_te, U).
pub fn default_loss() -> StandardLoss {
    StandardLoss::new(100.0, 10.0)
}

/// Tasks for `p` at sizes `s`: inputs uniform in [−1, 1)³ and U uniform
/// (rounded to f32), then each learner's own draws.
pub fn tasks(p: &MetaProblem, s: StepSizes, seed: u64) -> Vec<TaskData> {
    let mut rng = super::rng(seed);
    let d = p.meta.d_in();
    (0..s.tasks)
        .map(|_| {
            let x_tr = super::uniform(&mut rng, s.train * d, -1.0, 1.0);
            let x_te = super::uniform(&mut rng, s.test * d, -1.0, 1.0);
            let u = super::uniform(&mut rng, s.samples, -1.0, 1.0);
            let learners = p
                .learners
                .iter()
                .map(|l| l.draw(&mut rng, s.train))
                .collect();
            TaskData {
                x_tr,
                x_te,
                u,
                learners,
            }
        })
        .collect()
}

/// Replaces the constraints of learner 0 in every task by `make(task)`'s,
/// applying them to w_0.
pub fn constrain(data: &mut [TaskData], steps: usize, make: &dyn Fn(usize) -> Constraints) {
    for (b, t) in data.iter_mut().enumerate() {
        let view = GdTask::of(&t.learners[0]).unwrap();
        let c = make(b);
        let (w0, batches) = (c.apply(view.w0), view.batch_lists(steps));
        t.learners[0] = task_data(w0, &batches, &c);
    }
}

/// θ at PyTorch-default initialisation, rounded to f32 so that the GPU and
/// the f64 reference start from the same values.
pub fn initial_theta(p: &MetaProblem, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f64> {
    p.meta
        .init_pytorch(rng)
        .into_iter()
        .map(|v| f64::from(v as f32))
        .collect()
}

/// One meta-step on the GPU without an update: how the learner ran, its
/// loss terms and ∂L/∂θ.
pub fn gpu_step(
    gpu: &occam_gpu::Gpu,
    p: &MetaProblem,
    s: StepSizes,
    theta: &[f64],
    data: &[TaskData],
    orth: &Orthogonality,
) -> (UnrollExecution, TermValues, Vec<f64>) {
    let mut engine =
        GpuMetaEngine::new(gpu, p, s, theta, OptimizerKind::Sgd { lr: 0.0 }, orth).unwrap();
    engine.load(gpu, data).unwrap();
    engine.step(gpu, false).unwrap();
    (
        engine.unroll_execution(),
        engine.read_terms(gpu).unwrap(),
        engine.read_theta_bar(gpu).unwrap(),
    )
}

/// Asserts that every term of `got` is within `tol` (relative) of `want`.
pub fn assert_terms_close(got: &TermValues, want: &TermValues, tol: f64, what: &str) {
    assert_eq!(got.terms.len(), want.terms.len(), "{what}");
    for (g, w) in got.terms.iter().zip(&want.terms) {
        let scale = w.value.abs().max(g.value.abs());
        let rel = if scale > 0.0 {
            (g.value - w.value).abs() / scale
        } else {
            0.0
        };
        assert!(
            rel < tol,
            "{what}: term {} GPU {} vs reference {} (rel. {rel:e})",
            g.name,
            g.value,
            w.value
        );
    }
}
