//! The GPU meta-step against the CPU f64 reference: meta-loss terms and the
//! whole meta-gradient ∂L/∂θ, for relu and tanh learners, full-batch and
//! minibatch with replacement, checkpointed, constrained, fused and step by
//! step, with two tasks side by side. (Every learner crossed with every term
//! is in `learner_term_matrix.rs`.)

mod support;

use occam_meta::engine::{GpuMetaEngine, StepSizes, UnrollExecution};
use occam_meta::learners::gd::{FusedLayout, GdLearner};
use occam_meta::problem::{MetaProblem, Orthogonality};
use occam_meta::reference::meta_step;
use occam_meta::sampling::Batching;
use occam_ops::check::rel_error;
use occam_ops::constraint::Constraints;
use occam_ops::loop_budget::SOFTWARE_LOOP_BUDGET;
use occam_ops::net::NetSpec;
use occam_ops::unroll::UnrollLayout;
use occam_ops::{Activation, OptimizerKind};
use std::sync::Arc;
use support::meta::{
    assert_terms_close, constrain, default_loss, gd, gpu_step, initial_theta, problem_with, tasks,
};

/// f32 through T unrolled steps and two backward sweeps: agreement to ~1e-5 is
/// typical; 1e-3 leaves room for the conditioning of longer unrolls.
const TOL: f64 = 1e-3;

/// The sizes most tests use: two tasks of 10 training and 13 test points.
const SIZES: StepSizes = StepSizes {
    tasks: 2,
    train: 10,
    test: 13,
    samples: 17,
};

/// Minibatches of 6 drawn with replacement, or full batches.
fn batching(full_batch: bool) -> Batching {
    if full_batch {
        Batching::Full
    } else {
        Batching::WithReplacement { size: 6 }
    }
}

fn problem(learner: GdLearner) -> MetaProblem {
    problem_with(
        Activation::Identity,
        vec![Arc::new(learner)],
        default_loss(),
    )
}

/// One engine over several meta-steps whose minibatches switch between full
/// batches (uploaded once, then kept) and drawn rows of the same size: every
/// step must see its own rows.
#[test]
fn full_batch_indices_are_kept_across_meta_steps_and_replaced_when_rows_change() {
    let full = problem(gd(Activation::Tanh, 6, Batching::Full));
    let drawn = problem(gd(
        Activation::Tanh,
        6,
        Batching::WithReplacement { size: SIZES.train },
    ));
    let mut rng = support::rng(71);
    let theta = initial_theta(&full, &mut rng);
    let steps = [(true, 72), (true, 73), (false, 74), (true, 75)];
    for gpu in support::gpus() {
        let mut engine = GpuMetaEngine::new(
            gpu,
            &full,
            SIZES,
            &theta,
            OptimizerKind::Sgd { lr: 0.0 },
            &Orthogonality::default(),
        )
        .unwrap();
        for &(full_batch, seed) in &steps {
            let data = tasks(if full_batch { &full } else { &drawn }, SIZES, seed);
            let want = meta_step(&full, &theta, &data, &Orthogonality::default()).unwrap();
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
    let p = problem(gd(hidden, 15, batching(full_batch)));
    let mut rng = support::rng(seed);
    let theta = initial_theta(&p, &mut rng);
    let data = tasks(&p, SIZES, seed + 1);
    let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
    for gpu in support::gpus() {
        let (_, terms, grad) = gpu_step(gpu, &p, SIZES, &theta, &data, &Orthogonality::default());
        let what = format!(
            "{hidden} learner, full batch {full_batch}, on {}",
            gpu.adapter()
        );
        assert_terms_close(&terms, &want.terms, TOL, &what);
        let err = rel_error(&[grad], std::slice::from_ref(&want.theta_bar));
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
    let base = gd(Activation::Relu, 23, batching(false));
    let p = problem(base.clone());
    let mut rng = support::rng(7);
    let theta = initial_theta(&p, &mut rng);
    let data = tasks(&p, SIZES, 8);
    let reference = meta_step(&p, &theta, &data, &Orthogonality::default())
        .unwrap()
        .theta_bar;
    for gpu in support::gpus() {
        let mut grads = Vec::new();
        for k in [1, 5, 23, 40] {
            let p = problem(GdLearner {
                checkpoint_every: k,
                ..base.clone()
            });
            let (_, _, grad) = gpu_step(gpu, &p, SIZES, &theta, &data, &Orthogonality::default());
            grads.push((k, grad));
        }
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

/// A mask hiding input `pick(unit)` from every first-layer unit and
/// (optionally) positive first-layer weights.
fn first_layer_constraints(
    spec: &NetSpec,
    positive: bool,
    pick: fn(usize, usize) -> usize,
) -> Constraints {
    let (d, h) = spec.first_dense().unwrap();
    let mut mask = vec![1.0; spec.n_params()];
    let mut signs = vec![0.0; spec.n_params()];
    for unit in 0..h {
        mask[unit * (d + 1) + pick(unit, d)] = 0.0;
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
fn gpu_constrained_learner_matches_reference_and_keeps_its_mask() {
    for (positive, seed) in [(false, 100), (true, 101)] {
        let learner = GdLearner {
            constrained: true,
            ..gd(Activation::Relu, 11, batching(false))
        };
        let c = first_layer_constraints(&learner.spec, positive, |unit, d| unit % d);
        let p = problem(learner);
        let mut rng = support::rng(seed);
        let theta = initial_theta(&p, &mut rng);
        let mut data = tasks(&p, SIZES, seed + 1);
        constrain(&mut data, 11, &|_| c.clone());
        let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
        for gpu in support::gpus() {
            let (_, _, grad) = gpu_step(gpu, &p, SIZES, &theta, &data, &Orthogonality::default());
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

#[test]
fn fused_and_per_step_unrolls_give_the_same_meta_gradient() {
    // (activation, full batch, checkpoint interval, constraints: None / Some(positive))
    let variants = [
        (Activation::Relu, true, 1, None),
        (Activation::Tanh, false, 1, None),
        (Activation::Relu, false, 4, None),
        (Activation::Tanh, false, 3, Some(false)),
        (Activation::Relu, false, 1, Some(true)),
    ];
    for (i, &(act, full_batch, k, constraints)) in variants.iter().enumerate() {
        let base = GdLearner {
            checkpoint_every: k,
            constrained: constraints.is_some(),
            ..gd(act, 13, batching(full_batch))
        };
        let p = problem(base.clone());
        let seed = 200 + i as u64;
        let mut rng = support::rng(seed);
        let theta = initial_theta(&p, &mut rng);
        let mut data = tasks(&p, SIZES, seed + 1);
        if let Some(positive) = constraints {
            let c = first_layer_constraints(&base.spec, positive, |unit, d| (unit + 1) % d);
            constrain(&mut data, 13, &|_| c.clone());
        }
        let want = meta_step(&p, &theta, &data, &Orthogonality::default())
            .unwrap()
            .theta_bar;
        for gpu in support::gpus() {
            let mut grads = Vec::new();
            for fused in [true, false] {
                let p = problem(GdLearner {
                    fused,
                    ..base.clone()
                });
                let (execution, _, grad) =
                    gpu_step(gpu, &p, SIZES, &theta, &data, &Orthogonality::default());
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
        // Long enough that even the lanes layout, whose generated kernel
        // keeps only the loops over steps and rows, splits its sweep.
        (
            NetSpec::mlp(&[2, 4, 1], relu, Activation::Identity),
            1000,
            0.01,
            60,
            60,
            false,
        ),
    ];
    for (i, (spec, steps, lr, train, batch, masked)) in cases.into_iter().enumerate() {
        let d = spec.d_in();
        // The plan splits both passes under the software budget.
        let shape = UnrollShape {
            tasks: 2,
            batch,
            train,
            steps,
            every: 1,
            lr,
            constrained: masked,
            layers: spec.unroll_layers().unwrap(),
        };
        let layouts = [
            UnrollLayout::Workgroup { threads: 64 },
            UnrollLayout::Lanes { lanes: 8 },
        ];
        for layout in layouts {
            let (fwd, bwd) = shape.chunks(layout, Some(SOFTWARE_LOOP_BUDGET)).unwrap();
            // The generated lanes kernel runs the paper's unrolls in one
            // dispatch per pass; the workgroup layout's loops over sizes split them.
            if matches!(layout, UnrollLayout::Lanes { .. }) && i < 2 {
                assert_eq!((fwd.len(), bwd.len()), (1, 1), "case {i}: {fwd:?} {bwd:?}");
            } else {
                assert!(
                    fwd.len() + bwd.len() > 2,
                    "case {i}, {layout:?}: {fwd:?} {bwd:?}"
                );
            }
            assert_eq!((fwd[0].0, fwd.last().unwrap().1), (0, steps));
            assert!(fwd.windows(2).all(|w| w[0].1 == w[1].0));
            assert_eq!((bwd[0].0, bwd.last().unwrap().1), (0, steps));
            assert!(bwd.windows(2).all(|w| w[0].1 == w[1].0));
        }

        let batching = if batch == train {
            Batching::Full
        } else {
            Batching::WithReplacement { size: batch }
        };
        let problem = |fused_layout| MetaProblem {
            meta: NetSpec::mlp(&[d, 16, 16, 1], relu, Activation::Identity),
            learners: vec![Arc::new(GdLearner {
                constrained: masked,
                fused_layout,
                ..GdLearner::new(spec.clone(), steps, lr, batching)
            })],
            terms: default_loss().terms(),
        };
        let p = problem(FusedLayout::Workgroup);
        let s = StepSizes {
            tasks: 2,
            train,
            test: 40,
            samples: 17,
        };
        let mut rng = support::rng(300 + i as u64);
        let theta = initial_theta(&p, &mut rng);
        let mut data = tasks(&p, s, 301 + i as u64);
        if masked {
            let mut mask = vec![1.0; spec.n_params()];
            for unit in 0..100 {
                for k in 0..d {
                    if k != unit % d && k != (unit + 1) % d {
                        mask[unit * (d + 1) + k] = 0.0;
                    }
                }
            }
            let c = Constraints {
                mask,
                signs: Vec::new(),
            };
            constrain(&mut data, steps, &|_| c.clone());
        }
        let want = meta_step(&p, &theta, &data, &Orthogonality::default()).unwrap();
        let runs = support::gpus()
            .iter()
            .map(|g| (g, FusedLayout::Workgroup, "workgroup"))
            .chain(
                support::lanes_gpus()
                    .into_iter()
                    .map(|g| (g, FusedLayout::Lanes, "lanes")),
            );
        for (gpu, layout, name) in runs {
            let p = problem(layout);
            let (execution, terms, grad) =
                gpu_step(gpu, &p, s, &theta, &data, &Orthogonality::default());
            assert!(
                matches!(execution, UnrollExecution::Fused { layout, .. } if layout == name),
                "case {i}: {execution}"
            );
            let what = format!("case {i} on {}, {name} layout", gpu.adapter());
            assert_terms_close(&terms, &want.terms, 1e-4, &what);
            let err = rel_error(&[grad], std::slice::from_ref(&want.theta_bar));
            assert!(err < TOL, "{what}: meta-gradient error {err:e}");
        }
    }
}
