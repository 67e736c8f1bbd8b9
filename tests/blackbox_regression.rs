//! The regression estimator of a black box's Jacobian (least squares on
//! every past session of a fixed stimulus set), run on the GPU the way a
//! meta-learning run runs it: for a learner linear in its labels (kernel
//! ridge on fixed random ReLU features) the meta-gradient becomes the exact
//! one once m + 1 sessions are on record — and is not before; a step that
//! does not update θ (a check) matches the f64 twin and keeps nothing; and a
//! held-out evaluation (the loss alone) costs one fit a task.

mod support;

use occam_meta::engine::{GpuMetaEngine, StepSizes};
use occam_meta::learners::blackbox::BlackBoxLearner;
use occam_meta::learners::blackbox::estimator::EsSettings;
use occam_meta::learners::blackbox::regression::RegressionSettings;
use occam_meta::learners::ridge::{FeatureMap, RidgeLearner};
use occam_meta::learners::{Learner, LearnerData};
use occam_meta::problem::{MetaProblem, Orthogonality, TaskData};
use occam_meta::reference::meta_step;
use occam_meta::sampling::{FeatureDraw, InputDomain};
use occam_ops::{Activation, OptimizerKind};
use std::sync::Arc;
use support::meta::{default_loss, initial_theta, problem_with};

const SIZES: StepSizes = StepSizes {
    tasks: 1,
    train: 8,
    test: 12,
    samples: 12,
};

fn ridge() -> RidgeLearner {
    let map = FeatureMap::RandomRelu {
        features: 24,
        bias: false,
        resample: false,
    };
    let draw = FeatureDraw::fixed(5, 0, map.random_values(3));
    RidgeLearner::new(map, 1e-3, draw)
}

fn boxed(inner: Arc<dyn Learner>, ridge: f64) -> BlackBoxLearner {
    BlackBoxLearner::new(
        inner,
        EsSettings {
            population: 1,
            sigma: 0.2,
            fitness_shaping: false,
            regression: Some(RegressionSettings {
                window: 64,
                refresh: 1,
                ridge,
            }),
        },
    )
}

/// The problem's learner in a regression black box (ridge μ), and an engine
/// for the boxed problem at θ whose updates leave θ as it is (SGD at rate 0).
fn boxed_engine(
    gpu: &occam_gpu::Gpu,
    exact: &MetaProblem,
    theta: &[f64],
    ridge: f64,
) -> (Arc<BlackBoxLearner>, GpuMetaEngine) {
    let learner = Arc::new(boxed(exact.learners[0].clone(), ridge));
    let problem = MetaProblem {
        learners: vec![learner.clone() as Arc<dyn Learner>],
        ..exact.clone()
    };
    let sgd = OptimizerKind::Sgd { lr: 0.0 };
    let engine =
        GpuMetaEngine::new(gpu, &problem, SIZES, theta, sgd, &Orthogonality::default()).unwrap();
    (learner, engine)
}

/// One fixed stimulus set: x_tr, x_te and the target samples (f32 values).
fn stimuli(seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = support::rng(seed);
    let sphere = InputDomain::Sphere { dim: 3 };
    let round = occam_meta::sampling::round_f32;
    (
        round(sphere.sample(&mut rng, SIZES.train)),
        round(sphere.sample(&mut rng, SIZES.test)),
        round(support::uniform(&mut rng, SIZES.samples, -1.0, 1.0)),
    )
}

fn rel_error(got: &[f64], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b).powi(2)).sum();
    let den: f64 = want.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

/// Meta-step `step`'s task on the one fixed stimulus set: the same inputs
/// and target samples every time, the black box's own fresh draws (its
/// perturbation seed).
fn task(stimuli: &(Vec<f64>, Vec<f64>, Vec<f64>), learner: &dyn Learner, step: u64) -> TaskData {
    let data: LearnerData = learner.draw(&mut support::rng(1000 + step), SIZES.train);
    TaskData {
        x_tr: stimuli.0.clone(),
        x_te: stimuli.1.clone(),
        u: stimuli.2.clone(),
        learners: vec![data],
    }
}

#[test]
fn a_learner_linear_in_its_labels_gets_its_exact_meta_gradient_after_m_plus_one_sessions() {
    let exact: Arc<dyn Learner> = Arc::new(ridge());
    let exact_problem = problem_with(Activation::Identity, vec![exact.clone()], default_loss());
    let theta = initial_theta(&exact_problem, &mut support::rng(2));
    let stimuli = stimuli(3);
    for gpu in support::gpus() {
        let (learner, mut engine) = boxed_engine(gpu, &exact_problem, &theta, 0.0);
        let mut errors = Vec::new();
        for step in 0..SIZES.train as u64 + 3 {
            let data = task(&stimuli, learner.as_ref(), step);
            let want = meta_step(
                &exact_problem,
                &theta,
                std::slice::from_ref(&data),
                &Default::default(),
            )
            .unwrap()
            .theta_bar;
            engine.load(gpu, &[data]).unwrap();
            // A meta-learning step (θ stays: the rate is 0) keeps its session.
            engine.step(gpu, true).unwrap();
            errors.push(rel_error(&engine.read_theta_bar(gpu).unwrap(), &want));
        }
        let sessions = learner.sessions().sets[0].sessions.len();
        assert_eq!(sessions, SIZES.train + 3, "one session a meta-step");
        let m = SIZES.train;
        let what = format!(
            "on {}: relative errors by sessions on record {errors:?}",
            gpu.adapter()
        );
        println!("{what}");
        // Fewer than m + 1 sessions cannot pin the Jacobian down…
        assert!(errors[m / 2] > 0.05, "{what}");
        // …m + 1 (step m) and more do, to the GPU's f32 precision.
        for (step, e) in errors.iter().enumerate().skip(m) {
            assert!(*e < 2e-3, "step {step} {what}");
        }
    }
}

#[test]
fn the_loss_alone_costs_one_fit_a_task_and_no_session_is_skipped() {
    let exact: Arc<dyn Learner> = Arc::new(ridge());
    let problem = problem_with(Activation::Identity, vec![exact.clone()], default_loss());
    let theta = initial_theta(&problem, &mut support::rng(4));
    let stimuli = stimuli(6);
    for gpu in support::gpus() {
        let (learner, mut engine) = boxed_engine(gpu, &problem, &theta, 0.0);
        let data = task(&stimuli, learner.as_ref(), 0);
        let want = meta_step(
            &problem,
            &theta,
            std::slice::from_ref(&data),
            &Default::default(),
        )
        .unwrap();
        engine.load(gpu, &[data]).unwrap();
        engine.step_loss(gpu).unwrap();
        // The loss is the learner's own on the labels themselves (one
        // session, shown z unperturbed), and nothing is kept.
        support::meta::assert_terms_close(
            &engine.read_terms(gpu).unwrap(),
            &want.terms,
            1e-4,
            "the loss alone",
        );
        let memory = learner.sessions();
        assert!(memory.sets.is_empty(), "an evaluation keeps no session");
        assert_eq!(memory.steps, 0, "an evaluation is not a meta-step");
    }
}

/// A network trained by gradient descent (nonlinear in its labels) in the
/// box: after 5 meta-learning steps on record, a step that does not update θ
/// gives the f64 twin's meta-gradient (the record plus its own session) and
/// leaves the record as it was.
#[test]
fn a_check_matches_the_f64_twin_and_keeps_nothing() {
    let gd: Arc<dyn Learner> = Arc::new(support::meta::gd(
        Activation::Tanh,
        6,
        occam_meta::sampling::Batching::Full,
    ));
    let problem = problem_with(Activation::Identity, vec![gd], default_loss());
    let theta = initial_theta(&problem, &mut support::rng(7));
    let stimuli = stimuli(8);
    for gpu in support::gpus() {
        let (learner, mut engine) = boxed_engine(gpu, &problem, &theta, 1e-3);
        let boxed_problem = MetaProblem {
            learners: vec![learner.clone() as Arc<dyn Learner>],
            ..problem.clone()
        };
        for step in 0..5 {
            engine
                .load(gpu, &[task(&stimuli, learner.as_ref(), step)])
                .unwrap();
            engine.step(gpu, true).unwrap();
        }
        let data = task(&stimuli, learner.as_ref(), 5);
        let want = meta_step(
            &boxed_problem,
            &theta,
            std::slice::from_ref(&data),
            &Default::default(),
        )
        .unwrap();
        let before = learner.sessions().clone();
        engine.load(gpu, &[data]).unwrap();
        engine.step(gpu, false).unwrap();
        let got = engine.read_theta_bar(gpu).unwrap();
        let e = rel_error(&got, &want.theta_bar);
        assert!(
            e < 1e-3,
            "on {}: GPU against the f64 twin {e:e}",
            gpu.adapter()
        );
        assert_eq!(*learner.sessions(), before, "a check keeps nothing");
        assert_eq!(before.sets[0].sessions.len(), 5);
    }
}
