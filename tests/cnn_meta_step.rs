//! A whole meta-step of the paper's image setting in miniature: a CNN learner
//! (conv → tanh → max-pool → dense) trained by unrolled minibatch SGD, and a
//! CNN meta-learner (conv → relu → pool → dense → relu6/6) with the std
//! reward. The CPU f64 reference is checked against central finite
//! differences of the meta-loss, and the GPU meta-step against the reference
//! on every available backend (also with checkpointed unrolls).

mod support;

use occam_meta::engine::{GpuMetaEngine, StepSizes};
use occam_meta::learners::gd::GdLearner;
use occam_meta::loss::StandardLoss;
use occam_meta::loss::distribution::{DistributionKind, DistributionSet};
use occam_meta::problem::{MetaProblem, Orthogonality, TaskData};
use occam_meta::reference::{meta_loss, meta_step};
use occam_meta::sampling::Batching;
use occam_ops::check::rel_error;
use occam_ops::net::{Layer, NetSpec};
use occam_ops::{Activation, OptimizerKind};
use rand::Rng;
use std::sync::Arc;

/// 6 × 6 one-channel images.
const IMAGE: (usize, usize, usize) = (1, 6, 6);

const SIZES: StepSizes = StepSizes {
    tasks: 2,
    train: 8,
    test: 10,
    samples: 5,
};

fn problem(checkpoint_every: usize) -> MetaProblem {
    let conv = |c_out| Layer::Conv {
        c_out,
        kernel: 3,
        padding: 1,
    };
    MetaProblem {
        meta: NetSpec {
            input: IMAGE,
            layers: vec![
                conv(3),
                Layer::Act(Activation::Relu),
                Layer::Pool,
                Layer::Dense { d_out: 1 },
                Layer::Act(Activation::Relu6Over6),
            ],
        },
        learners: vec![Arc::new(GdLearner {
            checkpoint_every,
            ..GdLearner::new(
                NetSpec {
                    input: IMAGE,
                    layers: vec![
                        conv(2),
                        Layer::Act(Activation::Tanh),
                        Layer::Pool,
                        Layer::Dense { d_out: 1 },
                    ],
                },
                6,
                0.3,
                Batching::WithoutReplacement { size: 4 },
            )
        })],
        terms: StandardLoss {
            generalisation: 1.0,
            distribution: 0.5,
            distribution_kind: DistributionKind::Energy,
            distribution_on: DistributionSet::All,
            std_reward: 2.0,
            orthogonality: 0.0,
            adversary: None,
        }
        .terms(),
    }
}

fn tasks(p: &MetaProblem, seed: u64) -> Vec<TaskData> {
    let mut rng = support::rng(seed);
    let d = IMAGE.0 * IMAGE.1 * IMAGE.2;
    let s = SIZES;
    (0..s.tasks)
        .map(|_| TaskData {
            x_tr: support::uniform(&mut rng, s.train * d, -1.0, 1.0),
            x_te: support::uniform(&mut rng, s.test * d, -1.0, 1.0),
            learners: vec![p.learners[0].draw(&mut rng, s.train)],
            u: support::uniform(&mut rng, s.samples, -1.0, 1.0),
        })
        .collect()
}

fn theta(p: &MetaProblem, seed: u64) -> Vec<f64> {
    p.meta
        .init_pytorch(&mut support::rng(seed))
        .into_iter()
        .map(|v| f64::from(v as f32))
        .collect()
}

#[test]
fn cnn_reference_meta_gradient_matches_finite_differences() {
    let p = problem(1);
    let th = theta(&p, 1);
    let data = tasks(&p, 2);
    let orth = Orthogonality::default();
    let step = meta_step(&p, &th, &data, &orth).unwrap();
    assert!(step.terms.get("std_reward") < 0.0 && step.terms.get("generalisation") > 0.0);
    let mut rng = support::rng(3);
    for k in 0..3 {
        let u: Vec<f64> = (0..th.len()).map(|_| rng.random_range(-1.0..1.0)).collect();
        let h = 1e-6;
        let at = |s: f64| -> Vec<f64> { th.iter().zip(&u).map(|(t, d)| t + s * d).collect() };
        let fd = (meta_loss(&p, &at(h), &data, &orth).unwrap().total()
            - meta_loss(&p, &at(-h), &data, &orth).unwrap().total())
            / (2.0 * h);
        let analytic: f64 = step.theta_bar.iter().zip(&u).map(|(a, b)| a * b).sum();
        let rel = (fd - analytic).abs() / fd.abs().max(analytic.abs());
        println!(
            "direction {k}: analytic {analytic:.9e}, finite difference {fd:.9e}, rel. error {rel:.2e}"
        );
        assert!(rel < 1e-5, "direction {k}: {analytic} vs {fd}");
    }
}

#[test]
fn cnn_gpu_meta_step_matches_the_reference() {
    let th = theta(&problem(1), 4);
    let data = tasks(&problem(1), 5);
    let orth = Orthogonality::default();
    let want = meta_step(&problem(1), &th, &data, &orth).unwrap();
    for gpu in support::gpus() {
        for checkpoint_every in [1, 4] {
            let p = problem(checkpoint_every);
            let mut engine =
                GpuMetaEngine::new(gpu, &p, SIZES, &th, OptimizerKind::Sgd { lr: 0.0 }, &orth)
                    .unwrap();
            engine.load(gpu, &data).unwrap();
            engine.step(gpu, false).unwrap();
            let terms = engine.read_terms(gpu).unwrap();
            let grad = engine.read_theta_bar(gpu).unwrap();
            let err = rel_error(&[grad], std::slice::from_ref(&want.theta_bar));
            let what = format!(
                "CNN meta-step, checkpoint every {checkpoint_every}, on {}",
                gpu.adapter().name
            );
            println!(
                "{what}: ∂L/∂θ rel. error {err:.2e}; terms GPU {terms:?} vs CPU {:?}",
                want.terms
            );
            assert!(err < 1e-3, "{what}: {err:e}");
            assert_eq!(terms.terms.len(), 3, "{what}");
            for (g, c) in terms.terms.iter().zip(&want.terms.terms) {
                let (g, c) = (g.value, c.value);
                assert!(
                    (g - c).abs() <= 1e-4 * c.abs().max(1e-3),
                    "{what}: {g} vs {c}"
                );
            }
        }
    }
}
