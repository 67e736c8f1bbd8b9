//! The CPU f64 reference of a whole meta-step against central finite
//! differences of the meta-loss: ⟨∂L/∂θ, u⟩ vs (L(θ + hu) − L(θ − hu)) / 2h,
//! for relu and tanh learners, full-batch and minibatch (with replacement),
//! with every meta-loss term switched on.

mod support;

use occam_meta::learners::gd::{GdLearner, GdTask, task_data};
use occam_meta::learners::ridge::{FeatureMap, RidgeLearner};
use occam_meta::learners::{Learner, LearnerData};
use occam_meta::loss::StandardLoss;
use occam_meta::loss::distribution::{DistributionKind, DistributionSet};
use occam_meta::problem::{MetaProblem, Orthogonality, TaskData};
use occam_meta::reference::{meta_loss, meta_step};
use occam_meta::sampling::{Batching, FeatureDraw};
use occam_ops::Activation;
use occam_ops::constraint::Constraints;
use occam_ops::net::NetSpec;
use rand::Rng;
use std::sync::Arc;

fn gd_learner(hidden: Activation) -> GdLearner {
    GdLearner::new(
        NetSpec::mlp(&[3, 5, 4, 1], hidden, Activation::Identity),
        12,
        0.2,
        Batching::Full,
    )
}

/// Every term switched on: a·MSE + b·energy(z_tr ∪ z_te) − s·std + c·orthogonality.
fn loss() -> StandardLoss {
    StandardLoss {
        generalisation: 10.0,
        distribution: 3.0,
        distribution_kind: DistributionKind::Energy,
        distribution_on: DistributionSet::All,
        std_reward: 0.5,
        orthogonality: 2.0,
        adversary: None,
    }
}

fn problem(hidden: Activation) -> MetaProblem {
    with_learners(vec![Arc::new(gd_learner(hidden))], loss())
}

fn with_learners(learners: Vec<Arc<dyn Learner>>, loss: StandardLoss) -> MetaProblem {
    MetaProblem {
        meta: NetSpec::mlp(&[3, 8, 8, 1], Activation::Relu, Activation::Cos),
        learners,
        terms: loss.terms(),
    }
}

fn task(p: &MetaProblem, seed: u64, minibatch: Option<usize>) -> TaskData {
    let mut rng = support::rng(seed);
    let (m, big_m) = (6, 9);
    let batches: Vec<Vec<usize>> = (0..p.inner_steps())
        .map(|_| match minibatch {
            None => (0..m).collect(),
            Some(n) => (0..n).map(|_| rng.random_range(0..m)).collect(),
        })
        .collect();
    let x_tr = support::uniform(&mut rng, m * 3, -1.0, 1.0);
    let x_te = support::uniform(&mut rng, big_m * 3, -1.0, 1.0);
    let w0 = gd_learner(Activation::Relu).spec.init_pytorch(&mut rng);
    TaskData {
        x_tr,
        x_te,
        learners: vec![task_data(w0, &batches, &Constraints::default())],
        u: support::uniform(&mut rng, 11, -1.0, 1.0),
    }
}

/// Ridge task data: J (when the features are random).
fn ridge_data(j: &[f64]) -> LearnerData {
    let mut data = LearnerData::default();
    if !j.is_empty() {
        data.push("features", vec![3, j.len() / 3], j.to_vec());
    }
    data
}

/// Relative difference between ⟨∂L/∂θ, u⟩ and the central difference
/// (L(θ + hu) − L(θ − hu)) / 2h of the reference meta-loss, h = 1e-6.
fn directional_error(
    p: &MetaProblem,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
    grad: &[f64],
    u: &[f64],
) -> (f64, f64, f64) {
    let h = 1e-6;
    let at = |s: f64| -> Vec<f64> { theta.iter().zip(u).map(|(t, d)| t + s * d).collect() };
    let fd = (meta_loss(p, &at(h), tasks, orth).unwrap().total()
        - meta_loss(p, &at(-h), tasks, orth).unwrap().total())
        / (2.0 * h);
    let analytic: f64 = grad.iter().zip(u).map(|(a, b)| a * b).sum();
    (
        (fd - analytic).abs() / fd.abs().max(analytic.abs()),
        analytic,
        fd,
    )
}

fn check(hidden: Activation, minibatch: Option<usize>, seed: u64) {
    let p = problem(hidden);
    let mut rng = support::rng(seed);
    let theta = p.meta.init_pytorch(&mut rng);
    let tasks = vec![task(&p, seed + 1, minibatch), task(&p, seed + 2, minibatch)];
    let orth = Orthogonality {
        x: support::uniform(&mut rng, 7 * 3, -1.0, 1.0),
        earlier: vec![support::uniform(&mut rng, 7, -1.0, 1.0)],
    };
    let grad = meta_step(&p, &theta, &tasks, &orth).unwrap();
    let t = &grad.terms;
    assert!(t.get("generalisation") > 0.0 && t.get("distribution") > 0.0);
    assert!(t.get("std_reward") < 0.0 && t.get("orthogonality") > 0.0);
    for dir in 0..3 {
        let u = support::uniform(&mut rng, theta.len(), -1.0, 1.0);
        let (rel, analytic, fd) = directional_error(&p, &theta, &tasks, &orth, &grad.theta_bar, &u);
        assert!(
            rel < 1e-6,
            "{hidden} learner, minibatch {minibatch:?}, direction {dir}: analytic {analytic} vs finite difference {fd} (rel {rel:e})"
        );
    }
}

#[test]
fn reference_meta_gradient_matches_finite_differences_tanh_full_batch() {
    check(Activation::Tanh, None, 10);
}

#[test]
fn reference_meta_gradient_matches_finite_differences_relu_full_batch() {
    check(Activation::Relu, None, 20);
}

#[test]
fn reference_meta_gradient_matches_finite_differences_tanh_minibatch_with_replacement() {
    check(Activation::Tanh, Some(4), 30);
}

#[test]
fn reference_meta_gradient_matches_finite_differences_relu_minibatch_with_replacement() {
    check(Activation::Relu, Some(4), 40);
}

#[test]
fn reference_closed_form_meta_gradient_matches_finite_differences() {
    for map in [
        FeatureMap::Linear { bias: true },
        FeatureMap::RandomRelu {
            features: 15,
            bias: false,
            resample: false,
        },
    ] {
        let p = with_learners(
            vec![Arc::new(RidgeLearner::new(map, 1e-2, FeatureDraw::None))],
            loss(),
        );
        let mut rng = support::rng(70);
        let theta = p.meta.init_pytorch(&mut rng);
        let j = support::uniform(&mut rng, map.random_values(3), -1.5, 1.5);
        let tasks: Vec<TaskData> = (0..2)
            .map(|_| TaskData {
                x_tr: support::uniform(&mut rng, 8 * 3, -1.0, 1.0),
                x_te: support::uniform(&mut rng, 11 * 3, -1.0, 1.0),
                u: support::uniform(&mut rng, 9, -1.0, 1.0),
                learners: vec![ridge_data(&j)],
            })
            .collect();
        let orth = Orthogonality::default();
        let grad = meta_step(&p, &theta, &tasks, &orth).unwrap();
        let u = support::uniform(&mut rng, theta.len(), -1.0, 1.0);
        let (rel, analytic, fd) = directional_error(&p, &theta, &tasks, &orth, &grad.theta_bar, &u);
        assert!(rel < 1e-6, "{map:?}: {analytic} vs {fd}");
    }
}

#[test]
fn reference_adversarial_meta_gradient_matches_finite_differences() {
    let kernel = FeatureMap::RandomRelu {
        features: 12,
        bias: false,
        resample: false,
    };
    let p = with_learners(
        vec![
            Arc::new(RidgeLearner::new(kernel, 1e-2, FeatureDraw::None)),
            Arc::new(RidgeLearner::new(
                FeatureMap::Linear { bias: true },
                1e-2,
                FeatureDraw::None,
            )),
        ],
        StandardLoss {
            adversary: Some(2.0),
            ..loss()
        },
    );
    let mut rng = support::rng(80);
    let theta = p.meta.init_pytorch(&mut rng);
    let tasks: Vec<TaskData> = (0..2)
        .map(|_| TaskData {
            x_tr: support::uniform(&mut rng, 8 * 3, -1.0, 1.0),
            x_te: support::uniform(&mut rng, 11 * 3, -1.0, 1.0),
            u: support::uniform(&mut rng, 9, -1.0, 1.0),
            learners: vec![
                ridge_data(&support::uniform(&mut rng, 36, -1.5, 1.5)),
                ridge_data(&[]),
            ],
        })
        .collect();
    let orth = Orthogonality::default();
    let grad = meta_step(&p, &theta, &tasks, &orth).unwrap();
    assert!(grad.terms.get("adversary") < 0.0);
    let u = support::uniform(&mut rng, theta.len(), -1.0, 1.0);
    let (rel, analytic, fd) = directional_error(&p, &theta, &tasks, &orth, &grad.theta_bar, &u);
    assert!(rel < 1e-6, "{analytic} vs {fd}");
}

/// A mask letting each hidden unit of the first layer see 2 of the 3 inputs
/// (bias always on), and optionally positive first-layer weights.
fn mushroom_constraints(
    spec: &NetSpec,
    positive: bool,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Constraints {
    let p = spec.n_params();
    let (d, h) = spec.first_dense().unwrap();
    let mut mask = vec![1.0; p];
    let mut signs = vec![0.0; p];
    for unit in 0..h {
        let off = rng.random_range(0..d);
        mask[unit * (d + 1) + off] = 0.0;
        if positive {
            for i in 0..d {
                signs[unit * (d + 1) + i] = 1.0;
            }
        }
    }
    Constraints {
        mask,
        signs: if positive { signs } else { Vec::new() },
    }
}

#[test]
fn reference_meta_gradient_with_masks_and_positivity_matches_finite_differences() {
    for (positive, seed) in [(false, 90), (true, 91)] {
        let p = problem(Activation::Tanh);
        let mut rng = support::rng(seed);
        let theta = p.meta.init_pytorch(&mut rng);
        let steps = p.inner_steps();
        let spec = gd_learner(Activation::Tanh).spec;
        let mut tasks = vec![task(&p, seed + 1, Some(4)), task(&p, seed + 2, Some(4))];
        for t in &mut tasks {
            let c = mushroom_constraints(&spec, positive, &mut rng);
            let view = GdTask::of(&t.learners[0]).unwrap();
            let (w0, batches) = (c.apply(view.w0), view.batch_lists(steps));
            t.learners[0] = task_data(w0, &batches, &c);
        }
        let orth = Orthogonality::default();
        let grad = meta_step(&p, &theta, &tasks, &orth).unwrap();
        for dir in 0..3 {
            let u = support::uniform(&mut rng, theta.len(), -1.0, 1.0);
            let (rel, analytic, fd) =
                directional_error(&p, &theta, &tasks, &orth, &grad.theta_bar, &u);
            assert!(
                rel < 1e-6,
                "positive {positive}, direction {dir}: {analytic} vs {fd} ({rel:e})"
            );
        }
        // The mask stays exact and the signs hold through training.
        let t = GdTask::of(&tasks[0].learners[0]).unwrap();
        let c = t.constraints();
        let z: Vec<f64> = (0..6).map(|i| (i as f64 * 0.3).sin()).collect();
        let ws = occam_ops::unroll::train(
            &spec,
            t.w0,
            &tasks[0].x_tr,
            &z,
            &t.batch_lists(steps),
            0.2,
            &c,
        );
        for w in &ws {
            for (i, &m) in c.mask.iter().enumerate() {
                if m == 0.0 {
                    assert_eq!(w[i], 0.0, "masked parameter {i} moved");
                }
            }
            for (i, &s) in c.signs.iter().enumerate() {
                assert!(s == 0.0 || w[i] * s >= 0.0, "parameter {i} broke its sign");
            }
        }
    }
}
