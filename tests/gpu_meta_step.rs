//! The GPU meta-step against the CPU f64 reference: meta-loss terms and the
//! whole meta-gradient ∂L/∂θ, for relu and tanh learners, full-batch and
//! minibatch with replacement, with two tasks side by side.

mod support;

use occam_meta::engine::{GpuMetaEngine, StepSizes};
use occam_meta::net::NetSpec;
use occam_meta::problem::{
    DistributionKind, DistributionSet, GdLearner, Learner, MetaLossWeights, MetaProblem,
    Orthogonality, TaskData,
};
use occam_meta::reference::meta_step;
use occam_ops::check::rel_error;
use occam_ops::loop_budget::SOFTWARE_LOOP_BUDGET;
use occam_ops::{Activation, OptimizerKind};
use rand::Rng;

/// f32 through T unrolled steps and two backward sweeps: agreement to ~1e-5 is
/// typical; 1e-3 leaves room for the conditioning of longer unrolls.
const TOL: f64 = 1e-3;

fn problem(hidden: Activation, steps: usize) -> MetaProblem {
    MetaProblem {
        meta: NetSpec::mlp(&[3, 16, 16, 1], Activation::Relu, Activation::Identity),
        learner: Learner::Gd(GdLearner {
            spec: NetSpec::mlp(&[3, 7, 5, 1], hidden, Activation::Identity),
            steps,
            lr: 0.1,
            checkpoint_every: 1,
            constrained: false,
            fused: true,
        }),
        weights: MetaLossWeights {
            generalisation: 100.0,
            distribution: 10.0,
            std_reward: 0.0,
            orthogonality: 0.0,
        },
        distribution: DistributionKind::Energy,
        distribution_on: DistributionSet::Test,
        adversary: None,
    }
}

fn tasks(p: &MetaProblem, s: StepSizes, full_batch: bool, seed: u64) -> Vec<TaskData> {
    let mut rng = support::rng(seed);
    (0..s.tasks)
        .map(|_| TaskData {
            features: Vec::new(),
            adversary_features: Vec::new(),
            constraints: Default::default(),
            x_tr: support::uniform(&mut rng, s.train * 3, -1.0, 1.0),
            x_te: support::uniform(&mut rng, s.test * 3, -1.0, 1.0),
            w0: p
                .gd()
                .unwrap()
                .spec
                .init_pytorch(&mut rng)
                .into_iter()
                .map(|v| f64::from(v as f32))
                .collect(),
            batches: (0..p.inner_steps())
                .map(|_| {
                    if full_batch {
                        (0..s.train).collect()
                    } else {
                        (0..s.batch).map(|_| rng.random_range(0..s.train)).collect()
                    }
                })
                .collect(),
            u: support::uniform(&mut rng, s.samples, -1.0, 1.0),
        })
        .collect()
}

/// The sizes most tests use: two tasks, minibatches of 6 from 10 points.
const SIZES: StepSizes = StepSizes {
    tasks: 2,
    train: 10,
    test: 13,
    batch: 6,
    samples: 17,
};

/// θ at PyTorch-default initialisation, rounded to f32 so that the GPU and
/// the f64 reference start from the same values.
fn initial_theta(p: &MetaProblem, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f64> {
    p.meta
        .init_pytorch(rng)
        .into_iter()
        .map(|v| f64::from(v as f32))
        .collect()
}

/// One meta-step on the GPU without an update: its loss terms and ∂L/∂θ.
fn gpu_step(
    gpu: &occam_gpu::Gpu,
    p: &MetaProblem,
    s: StepSizes,
    theta: &[f64],
    data: &[TaskData],
    orth: &Orthogonality,
) -> (occam_meta::problem::LossTerms, Vec<f64>) {
    let (_, terms, grad) = gpu_step_showing_execution(gpu, p, s, theta, data, orth);
    (terms, grad)
}

/// [`gpu_step`], also saying how the learner's unroll ran.
fn gpu_step_showing_execution(
    gpu: &occam_gpu::Gpu,
    p: &MetaProblem,
    s: StepSizes,
    theta: &[f64],
    data: &[TaskData],
    orth: &Orthogonality,
) -> (
    occam_meta::engine::UnrollExecution,
    occam_meta::problem::LossTerms,
    Vec<f64>,
) {
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

/// One engine over several meta-steps whose minibatches switch between full
/// batches (uploaded once, then kept) and drawn rows of the same size: every
/// step must see its own rows.
#[test]
fn full_batch_indices_are_kept_across_meta_steps_and_replaced_when_rows_change() {
    let p = problem(Activation::Tanh, 6);
    let s = StepSizes {
        tasks: 2,
        train: 10,
        test: 13,
        batch: 10,
        samples: 17,
    };
    let mut rng = support::rng(71);
    let theta = initial_theta(&p, &mut rng);
    let steps = [(true, 72), (true, 73), (false, 74), (true, 75)];
    for gpu in support::gpus() {
        let mut engine = GpuMetaEngine::new(
            gpu,
            &p,
            s,
            &theta,
            OptimizerKind::Sgd { lr: 0.0 },
            &Orthogonality::default(),
        )
        .unwrap();
        for &(full_batch, seed) in &steps {
            let data = tasks(&p, s, full_batch, seed);
            let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
            engine.load(gpu, &data).unwrap();
            engine.step(gpu, false).unwrap();
            let got = engine.read_theta_bar(gpu).unwrap();
            let err = rel_error(&[got], std::slice::from_ref(&want.theta_bar));
            assert!(
                err < TOL,
                "meta-step with data seed {seed} (full batch {full_batch}) on {}: rel. error {err:e}",
                gpu.adapter()
            );
        }
    }
}

fn check(hidden: Activation, full_batch: bool, seed: u64) {
    let p = problem(hidden, 15);
    let s = StepSizes {
        tasks: 2,
        train: 10,
        test: 13,
        batch: if full_batch { 10 } else { 6 },
        samples: 17,
    };
    let mut rng = support::rng(seed);
    let theta = initial_theta(&p, &mut rng);
    let data = tasks(&p, s, full_batch, seed + 1);
    let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
    for gpu in support::gpus() {
        let (terms, grad) = gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
        let got = grad;
        let what = format!(
            "{hidden} learner, full batch {full_batch}, on {}",
            gpu.adapter()
        );
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        assert!(
            rel(terms.generalisation, want.terms.generalisation) < TOL,
            "{what}: {terms:?} vs {:?}",
            want.terms
        );
        assert!(
            rel(terms.distribution, want.terms.distribution) < TOL,
            "{what}: {terms:?} vs {:?}",
            want.terms
        );
        let err = rel_error(&[got], std::slice::from_ref(&want.theta_bar));
        assert!(err < TOL, "{what}: meta-gradient relative error {err:e}");
    }
}

#[test]
fn gpu_meta_gradient_matches_reference_relu_full_batch() {
    check(Activation::Relu, true, 1);
}

#[test]
fn gpu_meta_gradient_matches_reference_tanh_full_batch() {
    check(Activation::Tanh, true, 2);
}

#[test]
fn gpu_meta_gradient_matches_reference_relu_minibatch() {
    check(Activation::Relu, false, 3);
}

#[test]
fn gpu_meta_gradient_matches_reference_tanh_minibatch() {
    check(Activation::Tanh, false, 4);
}

#[test]
fn gpu_checkpointed_reverse_sweep_gives_the_same_meta_gradient() {
    let mut p = problem(Activation::Relu, 23);
    let s = SIZES;
    let mut rng = support::rng(7);
    let theta = initial_theta(&p, &mut rng);
    let data = tasks(&p, s, false, 8);
    for gpu in support::gpus() {
        let mut grads = Vec::new();
        for k in [1, 5, 23, 40] {
            if let Learner::Gd(g) = &mut p.learner {
                g.checkpoint_every = k;
            }
            let (_, grad) = gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
            grads.push((k, grad));
        }
        let reference = meta_step(&p, &theta, &data, &Orthogonality::default())
            .unwrap()
            .theta_bar;
        for (k, g) in &grads {
            // Recomputation replays the same kernels on the same data: bitwise equal.
            assert!(
                g.iter()
                    .zip(&grads[0].1)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "checkpoint_every {k} differs"
            );
            let err = rel_error(std::slice::from_ref(g), std::slice::from_ref(&reference));
            assert!(
                err < TOL,
                "checkpoint_every {k}: {err:e} against the reference"
            );
        }
    }
}

#[test]
fn gpu_orthogonality_term_matches_reference() {
    let mut p = problem(Activation::Tanh, 9);
    p.weights.orthogonality = 0.05;
    let s = SIZES;
    let mut rng = support::rng(11);
    let theta = initial_theta(&p, &mut rng);
    let data = tasks(&p, s, false, 12);
    let orth = Orthogonality {
        x: support::uniform(&mut rng, 31 * 3, -1.0, 1.0),
        earlier: vec![
            support::uniform(&mut rng, 31, -1.0, 1.0),
            support::uniform(&mut rng, 31, -1.0, 1.0),
        ],
    };
    let want = meta_step(&p, &theta, &data, &orth).unwrap();
    assert!(want.terms.orthogonality > 0.0);
    for gpu in support::gpus() {
        let (terms, grad) = gpu_step(gpu, &p, s, &theta, &data, &orth);
        let rel = (terms.orthogonality - want.terms.orthogonality).abs() / want.terms.orthogonality;
        assert!(
            rel < TOL,
            "orthogonality {} vs {}",
            terms.orthogonality,
            want.terms.orthogonality
        );
        let err = rel_error(
            std::slice::from_ref(&grad),
            std::slice::from_ref(&want.theta_bar),
        );
        assert!(err < TOL, "meta-gradient with orthogonality: {err:e}");
    }
}

#[test]
fn gpu_sinkhorn_and_std_reward_on_all_labels_match_reference() {
    let mut p = problem(Activation::Relu, 7);
    p.distribution = DistributionKind::Sinkhorn {
        blur: 0.05,
        scaling: 0.5,
    };
    p.distribution_on = DistributionSet::All;
    let s = SIZES;
    let mut rng = support::rng(13);
    let theta = initial_theta(&p, &mut rng);
    let data = tasks(&p, s, false, 14);
    let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
    for gpu in support::gpus() {
        let (terms, grad) = gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
        let rel = (terms.distribution - want.terms.distribution).abs() / want.terms.distribution;
        // f32 log-sum-exp at ε = 0.0025 inside the Sinkhorn loop: ~1e-4.
        assert!(
            rel < 2e-3,
            "sinkhorn {} vs {}",
            terms.distribution,
            want.terms.distribution
        );
        let err = rel_error(
            std::slice::from_ref(&grad),
            std::slice::from_ref(&want.theta_bar),
        );
        assert!(
            err < 2e-3,
            "meta-gradient with Sinkhorn on all labels: {err:e}"
        );
    }
}

fn ridge_problem(features: occam_meta::problem::FeatureMap, lambda: f64) -> MetaProblem {
    let mut p = problem(Activation::Relu, 1);
    p.learner = Learner::Ridge(occam_meta::problem::RidgeLearner { features, lambda });
    p.meta
        .layers
        .push(occam_meta::net::Layer::Act(Activation::Cos));
    p.distribution = DistributionKind::Sinkhorn {
        blur: 0.05,
        scaling: 0.5,
    };
    p.distribution_on = DistributionSet::All;
    p
}

fn ridge_tasks(p: &MetaProblem, s: StepSizes, seed: u64) -> Vec<TaskData> {
    let mut rng = support::rng(seed);
    let values = match &p.learner {
        Learner::Ridge(r) => r.features.random_values(3),
        Learner::Gd(_) => 0,
    };
    (0..s.tasks)
        .map(|_| TaskData {
            x_tr: support::uniform(&mut rng, s.train * 3, -1.0, 1.0),
            x_te: support::uniform(&mut rng, s.test * 3, -1.0, 1.0),
            w0: Vec::new(),
            batches: Vec::new(),
            u: support::uniform(&mut rng, s.samples, -1.0, 1.0),
            features: support::uniform(&mut rng, values, -1.5, 1.5),
            adversary_features: Vec::new(),
            constraints: Default::default(),
        })
        .collect()
}

#[test]
fn gpu_closed_form_meta_gradients_match_reference() {
    use occam_meta::problem::FeatureMap;
    for (i, (map, lambda)) in [
        (FeatureMap::Linear { bias: false }, 1e-3),
        (FeatureMap::Linear { bias: true }, 1e-2),
        (
            FeatureMap::RandomRelu {
                features: 20,
                bias: false,
                resample: true,
            },
            1e-2,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let p = ridge_problem(map, lambda);
        let s = StepSizes {
            tasks: 2,
            train: 12,
            test: 30,
            batch: 12,
            samples: 15,
        };
        let mut rng = support::rng(40 + i as u64);
        let theta = initial_theta(&p, &mut rng);
        let data = ridge_tasks(&p, s, 50 + i as u64);
        let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
        for gpu in support::gpus() {
            let (terms, grad) = gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
            let rel = (terms.generalisation - want.terms.generalisation).abs()
                / want.terms.generalisation;
            assert!(
                rel < 2e-3,
                "{map:?}: generalisation {} vs {}",
                terms.generalisation,
                want.terms.generalisation
            );
            let err = rel_error(
                std::slice::from_ref(&grad),
                std::slice::from_ref(&want.theta_bar),
            );
            assert!(err < 5e-3, "{map:?}: meta-gradient error {err:e}");
            let rel =
                (terms.distribution - want.terms.distribution).abs() / want.terms.distribution;
            assert!(
                rel < 2e-3,
                "{map:?}: distribution {} vs {}",
                terms.distribution,
                want.terms.distribution
            );
        }
    }
}

#[test]
fn gpu_adversarial_pair_matches_reference() {
    use occam_meta::problem::{FeatureMap, RidgeLearner};
    let mut p = ridge_problem(
        FeatureMap::RandomRelu {
            features: 20,
            bias: false,
            resample: false,
        },
        1e-2,
    );
    p.adversary = Some((
        RidgeLearner {
            features: FeatureMap::Linear { bias: false },
            lambda: 1e-2,
        },
        0.7,
    ));
    let s = StepSizes {
        tasks: 2,
        train: 12,
        test: 30,
        batch: 12,
        samples: 15,
    };
    let mut rng = support::rng(60);
    let theta = initial_theta(&p, &mut rng);
    let data = ridge_tasks(&p, s, 61);
    let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
    assert!(want.terms.adversary < 0.0);
    for gpu in support::gpus() {
        let (terms, grad) = gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
        let rel = (terms.adversary - want.terms.adversary).abs() / want.terms.adversary.abs();
        assert!(
            rel < 2e-3,
            "adversary {} vs {}",
            terms.adversary,
            want.terms.adversary
        );
        let err = rel_error(
            std::slice::from_ref(&grad),
            std::slice::from_ref(&want.theta_bar),
        );
        assert!(err < 5e-3, "adversarial meta-gradient error {err:e}");
    }
}

#[test]
fn gpu_constrained_learner_matches_reference_and_keeps_its_mask() {
    for (positive, seed) in [(false, 100), (true, 101)] {
        let mut p = problem(Activation::Relu, 11);
        if let Learner::Gd(g) = &mut p.learner {
            g.constrained = true;
        }
        let s = SIZES;
        let mut rng = support::rng(seed);
        let theta = initial_theta(&p, &mut rng);
        let spec = p.gd().unwrap().spec.clone();
        let mut data = tasks(&p, s, false, seed + 1);
        for t in &mut data {
            let (d, h) = spec.first_dense().unwrap();
            let mut mask = vec![1.0; spec.n_params()];
            let mut signs = vec![0.0; spec.n_params()];
            for unit in 0..h {
                mask[unit * (d + 1) + unit % d] = 0.0;
                if positive {
                    for i in 0..d {
                        signs[unit * (d + 1) + i] = 1.0;
                    }
                }
            }
            t.constraints = occam_meta::learner::Constraints {
                mask,
                signs: if positive { signs } else { Vec::new() },
            };
            t.w0 = t.constraints.apply(&t.w0);
        }
        let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
        for gpu in support::gpus() {
            let (_, grad) = gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
            let err = rel_error(
                std::slice::from_ref(&grad),
                std::slice::from_ref(&want.theta_bar),
            );
            assert!(
                err < TOL,
                "positive {positive}: constrained meta-gradient error {err:e}"
            );
        }
    }
}

/// Masks out one input of every first-layer unit and (optionally) fixes the
/// signs of the first layer's weights, in every task.
fn constrain(p: &MetaProblem, data: &mut [TaskData], positive: bool) {
    let spec = p.gd().unwrap().spec.clone();
    let (d, h) = spec.first_dense().unwrap();
    for t in data {
        let mut mask = vec![1.0; spec.n_params()];
        let mut signs = vec![0.0; spec.n_params()];
        for unit in 0..h {
            mask[unit * (d + 1) + (unit + 1) % d] = 0.0;
            for i in 0..d {
                signs[unit * (d + 1) + i] = if positive { 1.0 } else { 0.0 };
            }
        }
        t.constraints = occam_meta::learner::Constraints {
            mask,
            signs: if positive { signs } else { Vec::new() },
        };
        t.w0 = t.constraints.apply(&t.w0);
    }
}

#[test]
fn fused_and_per_step_unrolls_give_the_same_meta_gradient() {
    use occam_meta::engine::UnrollExecution;
    // (activation, full batch, checkpoint interval, constraints: None / Some(positive))
    let variants = [
        (Activation::Relu, true, 1, None),
        (Activation::Tanh, false, 1, None),
        (Activation::Relu, false, 4, None),
        (Activation::Tanh, false, 3, Some(false)),
        (Activation::Relu, false, 1, Some(true)),
    ];
    for (i, &(act, full_batch, k, constraints)) in variants.iter().enumerate() {
        let mut p = problem(act, 13);
        let s = StepSizes {
            batch: if full_batch { SIZES.train } else { SIZES.batch },
            ..SIZES
        };
        let seed = 200 + i as u64;
        let mut rng = support::rng(seed);
        let theta = initial_theta(&p, &mut rng);
        if let Learner::Gd(g) = &mut p.learner {
            g.checkpoint_every = k;
            g.constrained = constraints.is_some();
        }
        let mut data = tasks(&p, s, full_batch, seed + 1);
        if let Some(positive) = constraints {
            constrain(&p, &mut data, positive);
        }
        let want = meta_step(&p, &theta, &data, &Orthogonality::default())
            .unwrap()
            .theta_bar;
        for gpu in support::gpus() {
            let mut grads = Vec::new();
            for fused in [true, false] {
                if let Learner::Gd(g) = &mut p.learner {
                    g.fused = fused;
                }
                let (execution, _, grad) = gpu_step_showing_execution(
                    gpu,
                    &p,
                    s,
                    &theta,
                    &data,
                    &Orthogonality::default(),
                );
                assert_eq!(
                    matches!(execution, UnrollExecution::Fused { .. }),
                    fused,
                    "variant {i} on {}: {execution}",
                    gpu.adapter()
                );
                grads.push(grad);
            }
            let what = format!("variant {i} on {}", gpu.adapter());
            let between = rel_error(&grads[..1], &grads[1..]);
            assert!(between < 1e-5, "{what}: fused vs per-step {between:e}");
            for g in &grads {
                let err = rel_error(std::slice::from_ref(g), std::slice::from_ref(&want));
                assert!(err < TOL, "{what}: {err:e} against the reference");
            }
        }
    }
}

/// Unrolls as long as the paper's: mlp_gd's learner (3-20-20-1, 200 full-batch
/// steps on 30 points) and mushroom_random's (5-100-1 with a 2-input mask, 50
/// minibatch steps of 30 from 50 points). On software adapters these need
/// several dispatches per pass (llvmpipe ends an invocation's loops after
/// 65535 iterations); the meta-gradient must still match the reference.
#[test]
fn long_fused_unrolls_split_into_dispatches_and_match_the_reference() {
    use occam_meta::engine::UnrollExecution;
    use occam_ops::unroll::UnrollShape;
    let relu = Activation::Relu;
    let cases = [
        (
            NetSpec::mlp(&[3, 20, 20, 1], relu, Activation::Identity),
            200,
            0.025,
            30,
            30,
            false,
        ),
        (
            NetSpec::mlp(&[5, 100, 1], relu, Activation::Identity),
            50,
            0.05,
            50,
            30,
            true,
        ),
    ];
    for (i, (spec, steps, lr, train, batch, masked)) in cases.into_iter().enumerate() {
        let d = spec.d_in();
        // The plan splits both passes under the software budget.
        let layers = spec.unroll_layers().unwrap();
        let shape = UnrollShape {
            tasks: 2,
            batch,
            train,
            steps,
            every: 1,
            lr,
            constrained: masked,
            layers,
        };
        let (fwd, bwd) = shape.chunks(64, Some(SOFTWARE_LOOP_BUDGET)).unwrap();
        assert!(fwd.len() + bwd.len() > 2, "case {i}: {fwd:?} {bwd:?}");
        assert_eq!((fwd[0].0, fwd.last().unwrap().1), (0, steps));
        assert!(fwd.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!((bwd[0].0, bwd.last().unwrap().1), (0, steps));
        assert!(bwd.windows(2).all(|w| w[0].1 == w[1].0));

        let mut p = problem(relu, steps);
        p.meta = NetSpec::mlp(&[d, 16, 16, 1], relu, Activation::Identity);
        if let Learner::Gd(g) = &mut p.learner {
            g.spec = spec.clone();
            g.lr = lr;
            g.constrained = masked;
        }
        let s = StepSizes {
            tasks: 2,
            train,
            test: 40,
            batch,
            samples: 17,
        };
        let mut rng = support::rng(300 + i as u64);
        let theta = initial_theta(&p, &mut rng);
        let data: Vec<TaskData> = (0..s.tasks)
            .map(|_| {
                let w0: Vec<f64> = spec
                    .init_pytorch(&mut rng)
                    .into_iter()
                    .map(|v| f64::from(v as f32))
                    .collect();
                let constraints = if masked {
                    let mut mask = vec![1.0; spec.n_params()];
                    for unit in 0..100 {
                        for k in 0..d {
                            if k != unit % d && k != (unit + 1) % d {
                                mask[unit * (d + 1) + k] = 0.0;
                            }
                        }
                    }
                    occam_meta::learner::Constraints {
                        mask,
                        signs: Vec::new(),
                    }
                } else {
                    Default::default()
                };
                TaskData {
                    features: Vec::new(),
                    adversary_features: Vec::new(),
                    x_tr: support::uniform(&mut rng, train * d, -1.0, 1.0),
                    x_te: support::uniform(&mut rng, s.test * d, -1.0, 1.0),
                    w0: constraints.apply(&w0),
                    constraints,
                    batches: (0..steps)
                        .map(|_| {
                            if batch == train {
                                (0..train).collect()
                            } else {
                                (0..batch).map(|_| rng.random_range(0..train)).collect()
                            }
                        })
                        .collect(),
                    u: support::uniform(&mut rng, s.samples, -1.0, 1.0),
                }
            })
            .collect();
        let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
        for gpu in support::gpus() {
            let (execution, terms, grad) =
                gpu_step_showing_execution(gpu, &p, s, &theta, &data, &Orthogonality::default());
            assert!(
                matches!(execution, UnrollExecution::Fused { .. }),
                "case {i}: {execution}"
            );
            let rel = (terms.generalisation - want.terms.generalisation).abs()
                / want.terms.generalisation.abs();
            assert!(
                rel < 1e-4,
                "case {i} on {}: {terms:?} vs {:?}",
                gpu.adapter(),
                want.terms
            );
            let err = rel_error(&[grad], std::slice::from_ref(&want.theta_bar));
            assert!(
                err < TOL,
                "case {i} on {}: meta-gradient error {err:e}",
                gpu.adapter()
            );
        }
    }
}
