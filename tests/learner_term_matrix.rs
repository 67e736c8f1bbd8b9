//! Every learner crossed with every meta-loss term: the GPU meta-step
//! (each term's value and the whole ∂L/∂θ) against the CPU f64 reference.
//! The learners are the registered kinds in their distinct execution paths
//! (gradient descent fused and step by step, with a wiring mask and
//! positive weights, a CNN; a spiking network with a surrogate and smooth;
//! linear ridge with and without an intercept, kernel ridge with fixed and
//! resampled features; black boxes around gradient descent and ridge, whose
//! estimated pullback the reference forms from the same perturbations in
//! f64); the terms are each of
//! the loss plug-ins in each of their label settings, added to the
//! learner's own a·MSE_te, plus an adversary of each kind.

mod support;

use occam_meta::engine::StepSizes;
use occam_meta::learners::Learner;
use occam_meta::learners::blackbox::BlackBoxLearner;
use occam_meta::learners::blackbox::estimator::EsSettings;
use occam_meta::learners::gd::GdLearner;
use occam_meta::learners::ridge::{FeatureMap, RidgeLearner};
use occam_meta::learners::spiking::SpikingLearner;
use occam_meta::loss::StandardLoss;
use occam_meta::loss::distribution::{DistributionKind, DistributionSet};
use occam_meta::problem::{MetaProblem, Orthogonality};
use occam_meta::reference::meta_step;
use occam_meta::sampling::{Batching, FeatureDraw};
use occam_ops::Activation;
use occam_ops::check::rel_error;
use occam_ops::constraint::Constraints;
use occam_ops::net::NetSpec;
use occam_ops::snn::{Encoding, ResetGradient, SnnSpec, Spike};
use std::sync::Arc;
use support::meta::{assert_terms_close, constrain, gd, gpu_step, initial_theta, tasks};

const SIZES: StepSizes = StepSizes {
    tasks: 2,
    train: 12,
    test: 16,
    samples: 15,
};

/// A small spiking learner: 6 LIF neurons, 10 simulation steps checkpointed
/// over time, 4 inner steps.
fn spiking(spike: Spike, reset: ResetGradient) -> SpikingLearner {
    SpikingLearner {
        snn: SnnSpec {
            inputs: 3,
            hidden: 6,
            steps: 10,
            alpha: 0.6,
            beta: 0.75,
            gamma: 0.75,
            threshold: 1.0,
            readout_window: 3,
            spike,
            reset,
            encoding: Encoding::Current,
            // Membranes kept 3 steps at a time on the GPU (segments 3, 3, 3, 1).
            time_checkpoint_every: 3,
        },
        steps: 4,
        lr: 0.1,
        batching: Batching::WithReplacement { size: 6 },
        checkpoint_every: 2,
        init_gain: 5.0,
    }
}

/// The learners, by name.
fn learners() -> Vec<(&'static str, Arc<dyn Learner>)> {
    let minibatch = Batching::WithReplacement { size: 6 };
    let kernel = |resample| FeatureMap::RandomRelu {
        features: 20,
        bias: false,
        resample,
    };
    let j = FeatureDraw::fixed(5, 0, 3 * 20);
    vec![
        (
            "gd relu fused",
            Arc::new(gd(Activation::Relu, 9, minibatch)),
        ),
        (
            "gd tanh per-step checkpointed",
            Arc::new(GdLearner {
                fused: false,
                checkpoint_every: 4,
                ..gd(Activation::Tanh, 9, Batching::Full)
            }),
        ),
        (
            "gd relu masked positive",
            Arc::new(GdLearner {
                constrained: true,
                ..gd(Activation::Relu, 9, minibatch)
            }),
        ),
        (
            "gd cnn",
            Arc::new(GdLearner::new(
                NetSpec {
                    input: (1, 3, 1),
                    layers: vec![
                        occam_ops::net::Layer::Conv {
                            c_out: 2,
                            kernel: 1,
                            padding: 0,
                        },
                        occam_ops::net::Layer::Act(Activation::Tanh),
                        occam_ops::net::Layer::Dense { d_out: 1 },
                    ],
                },
                5,
                0.1,
                Batching::Full,
            )),
        ),
        (
            "ridge",
            Arc::new(RidgeLearner::new(
                FeatureMap::Linear { bias: false },
                1e-3,
                FeatureDraw::None,
            )),
        ),
        (
            "ridge with intercept",
            Arc::new(RidgeLearner::new(
                FeatureMap::Linear { bias: true },
                1e-2,
                FeatureDraw::None,
            )),
        ),
        (
            "kernel ridge, fixed J",
            Arc::new(RidgeLearner::new(kernel(false), 1e-2, j)),
        ),
        (
            "spiking, fast-sigmoid surrogate",
            Arc::new(spiking(
                Spike::FastSigmoid { slope: 25.0 },
                ResetGradient::Detached,
            )),
        ),
        (
            "spiking, smooth, reset through",
            Arc::new(spiking(
                Spike::Sigmoid { slope: 5.0 },
                ResetGradient::Through,
            )),
        ),
        (
            "kernel ridge, resampled J",
            Arc::new(RidgeLearner::new(
                kernel(true),
                1e-2,
                FeatureDraw::Resample(60),
            )),
        ),
        (
            "black box: gd tanh, 4 pairs",
            Arc::new(BlackBoxLearner::new(
                Arc::new(gd(Activation::Tanh, 9, minibatch)),
                EsSettings {
                    population: 4,
                    sigma: 0.1,
                    fitness_shaping: false,
                    regression: None,
                },
            )),
        ),
        (
            "black box: ridge, 3 pairs shaped",
            Arc::new(BlackBoxLearner::new(
                Arc::new(RidgeLearner::new(
                    FeatureMap::Linear { bias: true },
                    1e-2,
                    FeatureDraw::None,
                )),
                EsSettings {
                    population: 3,
                    sigma: 0.1,
                    fitness_shaping: true,
                    regression: None,
                },
            )),
        ),
    ]
}

/// A term setting: its name, the loss, and the adversary it needs.
type LossCase = (&'static str, StandardLoss, Option<Arc<dyn Learner>>);

/// The term settings, by name: the learner's a·MSE_te plus one more.
fn losses() -> Vec<LossCase> {
    let base = StandardLoss::new(10.0, 0.0);
    let sinkhorn = DistributionKind::Sinkhorn {
        blur: 0.05,
        scaling: 0.5,
    };
    let mut out: Vec<LossCase> = vec![("generalisation alone", base, None)];
    for (name, kind, on) in [
        (
            "energy on z_te",
            DistributionKind::Energy,
            DistributionSet::Test,
        ),
        (
            "energy on z_tr ∪ z_te",
            DistributionKind::Energy,
            DistributionSet::All,
        ),
        (
            "energy on z_tr, z_te separately",
            DistributionKind::Energy,
            DistributionSet::Separate,
        ),
        ("sinkhorn on z_te", sinkhorn, DistributionSet::Test),
        ("sinkhorn on z_tr ∪ z_te", sinkhorn, DistributionSet::All),
        (
            "sinkhorn on z_tr, z_te separately",
            sinkhorn,
            DistributionSet::Separate,
        ),
    ] {
        out.push((
            name,
            StandardLoss {
                distribution: 2.0,
                distribution_kind: kind,
                distribution_on: on,
                ..base
            },
            None,
        ));
    }
    for (name, on) in [
        ("std reward on z_te", DistributionSet::Test),
        ("std reward on z_tr ∪ z_te", DistributionSet::All),
    ] {
        out.push((
            name,
            StandardLoss {
                std_reward: 0.7,
                distribution_on: on,
                ..base
            },
            None,
        ));
    }
    out.push((
        "orthogonality",
        StandardLoss {
            orthogonality: 0.05,
            ..base
        },
        None,
    ));
    for (name, adversary) in [
        (
            "adversary: linear ridge",
            Arc::new(RidgeLearner::new(
                FeatureMap::Linear { bias: false },
                1e-2,
                FeatureDraw::None,
            )) as Arc<dyn Learner>,
        ),
        (
            "adversary: gradient descent",
            Arc::new(gd(Activation::Tanh, 6, Batching::Full)),
        ),
    ] {
        out.push((
            name,
            StandardLoss {
                adversary: Some(0.7),
                ..base
            },
            Some(adversary),
        ));
    }
    out
}

#[test]
fn every_learner_with_every_term_matches_the_reference_on_the_gpu() {
    let mut rng = support::rng(900);
    let orth = Orthogonality {
        x: support::uniform(&mut rng, 23 * 3, -1.0, 1.0),
        earlier: vec![
            support::uniform(&mut rng, 23, -1.0, 1.0),
            support::uniform(&mut rng, 23, -1.0, 1.0),
        ],
    };
    for (i, (learner_name, learner)) in learners().into_iter().enumerate() {
        for (j, (loss_name, loss, adversary)) in losses().into_iter().enumerate() {
            let mut all: Vec<Arc<dyn Learner>> = vec![learner.clone()];
            all.extend(adversary);
            let p = MetaProblem {
                meta: NetSpec::mlp(&[3, 12, 12, 1], Activation::Relu, Activation::Cos),
                learners: all,
                terms: loss.terms(),
            };
            let seed = 1000 + 100 * i as u64 + j as u64;
            let theta = initial_theta(&p, &mut support::rng(seed));
            let mut data = tasks(&p, SIZES, seed + 1);
            if learner_name.contains("masked") {
                let spec = NetSpec::mlp(&[3, 7, 5, 1], Activation::Relu, Activation::Identity);
                let c = Constraints {
                    mask: (0..spec.n_params())
                        .map(|k| {
                            if k < 28 && k % 4 == k / 4 % 3 {
                                0.0
                            } else {
                                1.0
                            }
                        })
                        .collect(),
                    signs: (0..spec.n_params())
                        .map(|k| if k < 28 && k % 4 < 3 { 1.0 } else { 0.0 })
                        .collect(),
                };
                constrain(&mut data, 9, &|_| c.clone());
            }
            let want = meta_step(&p, &theta, &data, &orth).unwrap();
            for t in &want.terms.terms {
                assert!(
                    t.value != 0.0,
                    "{learner_name} × {loss_name}: the {} term is 0 in the reference",
                    t.name
                );
            }
            for gpu in support::gpus() {
                let (_, terms, grad) = gpu_step(gpu, &p, SIZES, &theta, &data, &orth);
                let what = format!("{learner_name} × {loss_name} on {}", gpu.adapter());
                // f32 log-sum-exp inside Sinkhorn and f32 Cholesky: ~1e-4 each.
                assert_terms_close(&terms, &want.terms, 2e-3, &what);
                let err = rel_error(&[grad], std::slice::from_ref(&want.theta_bar));
                assert!(err < 5e-3, "{what}: meta-gradient error {err:e}");
            }
        }
    }
}
