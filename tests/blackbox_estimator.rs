//! The black-box pullback estimator (antithetic label perturbations) against
//! exact pullbacks: a learner linear in its labels (ridge), where the
//! estimate is unbiased; the mlp_gd learner (3-20-20-1, 100 full-batch GD
//! steps, as in the quickstart) treated as a black box, where the cosine
//! similarity to the exact meta-gradient must grow with the population; and
//! common random numbers, which cancel a learner's label-independent noise.

mod support;

use occam_meta::learners::blackbox::estimator::{EsSettings, cosine, estimate_pullback};
use occam_meta::learners::gd::GdLearner;
use occam_meta::learners::ridge::{FeatureMap, RidgeLearner};
use occam_meta::learners::{Learner, LearnerData};
use occam_meta::sampling::{Batching, FeatureDraw, InputDomain};
use occam_ops::Activation;
use occam_ops::net::NetSpec;
use rand::Rng;

/// A task on S²: inputs, labels (a smooth function), and ŷ̄ of a·MSE_te.
struct Task {
    x_tr: Vec<f64>,
    x_te: Vec<f64>,
    z_tr: Vec<f64>,
    data: LearnerData,
    z_te: Vec<f64>,
}

fn task(learner: &dyn Learner, seed: u64, m: usize, big_m: usize) -> Task {
    let mut rng = support::rng(seed);
    let sphere = InputDomain::Sphere { dim: 3 };
    let x_tr = sphere.sample(&mut rng, m);
    let x_te = sphere.sample(&mut rng, big_m);
    let f = |x: &[f64]| -> Vec<f64> {
        x.chunks(3)
            .map(|p| (1.5 * p[0] + 0.5 * p[1] * p[2]).tanh())
            .collect()
    };
    let (z_tr, z_te) = (f(&x_tr), f(&x_te));
    let data = learner.draw(&mut rng, m);
    Task {
        x_tr,
        x_te,
        z_tr,
        data,
        z_te,
    }
}

/// ŷ̄ of MSE_te at the unperturbed fit, and the exact pullback.
fn exact(learner: &dyn Learner, t: &Task) -> (Vec<f64>, Vec<f64>) {
    let fit = learner.fit_cpu(&t.x_tr, &t.z_tr, &t.x_te, &t.data).unwrap();
    let m = t.z_te.len() as f64;
    let y_bar: Vec<f64> = fit
        .test_predictions()
        .iter()
        .zip(&t.z_te)
        .map(|(y, z)| 2.0 / m * (y - z))
        .collect();
    let z_bar = fit.pullback(&y_bar).unwrap();
    (y_bar, z_bar)
}

fn estimate(learner: &dyn Learner, t: &Task, y_bar: &[f64], s: &EsSettings, seed: u64) -> Vec<f64> {
    let mut fit = |z: &[f64], _noise: u64| {
        let f = learner.fit_cpu(&t.x_tr, z, &t.x_te, &t.data)?;
        Ok(f.test_predictions().to_vec())
    };
    estimate_pullback(&mut fit, &t.z_tr, y_bar, s, &mut support::rng(seed)).unwrap()
}

#[test]
fn a_learner_linear_in_its_labels_is_estimated_without_bias() {
    let ridge = RidgeLearner::new(FeatureMap::Linear { bias: true }, 1e-3, FeatureDraw::None);
    let t = task(&ridge, 1, 12, 40);
    let (y_bar, want) = exact(&ridge, &t);
    let s = |population| EsSettings {
        population,
        sigma: 0.1,
        fitness_shaping: false,
        regression: None,
    };
    let mut last = 0.0;
    for p in [16, 256, 4096] {
        let c = cosine(&estimate(&ridge, &t, &y_bar, &s(p), 2), &want);
        assert!(c > last - 0.02, "population {p}: cosine {c} after {last}");
        last = c;
    }
    assert!(last > 0.99, "4096 pairs: cosine {last}");
}

/// The mlp_gd learner of the quickstart as a black box: cosine similarity
/// between the estimated and the exact ∂L/∂z_tr against the population,
/// averaged over 4 tasks (printed as a table; `--show-output`).
#[test]
fn the_mlp_gd_learner_as_a_black_box_approaches_the_exact_meta_gradient() {
    let learner = GdLearner::new(
        NetSpec::mlp(&[3, 20, 20, 1], Activation::Relu, Activation::Identity),
        100,
        0.05,
        Batching::Full,
    );
    let tasks: Vec<Task> = (0..4).map(|i| task(&learner, 10 + i, 30, 100)).collect();
    let exacts: Vec<_> = tasks.iter().map(|t| exact(&learner, t)).collect();
    println!("population  σ      cosine (mean of 4 tasks)  shaped");
    let mut means = Vec::new();
    for p in [4, 16, 64, 256] {
        let mut row = Vec::new();
        for shaping in [false, true] {
            let s = EsSettings {
                population: p,
                sigma: 0.02,
                fitness_shaping: shaping,
                regression: None,
            };
            let mean = tasks
                .iter()
                .zip(&exacts)
                .enumerate()
                .map(|(i, (t, (y_bar, want)))| {
                    cosine(&estimate(&learner, t, y_bar, &s, 100 + i as u64), want)
                })
                .sum::<f64>()
                / tasks.len() as f64;
            row.push(mean);
        }
        println!("{p:>10}  0.02   {:>24.3}  {:>6.3}", row[0], row[1]);
        means.push(row[0]);
    }
    assert!(
        means.windows(2).all(|w| w[1] > w[0] - 0.05),
        "the cosine should grow with the population: {means:?}"
    );
    assert!(means[3] > 0.85, "256 pairs: mean cosine {}", means[3]);
}

#[test]
fn common_random_numbers_cancel_label_independent_noise() {
    let ridge = RidgeLearner::new(FeatureMap::Linear { bias: true }, 1e-3, FeatureDraw::None);
    let t = task(&ridge, 3, 12, 40);
    let (y_bar, _) = exact(&ridge, &t);
    let s = EsSettings {
        population: 32,
        sigma: 0.1,
        fitness_shaping: false,
        regression: None,
    };
    let clean = estimate(&ridge, &t, &y_bar, &s, 4);
    // The same learner with response noise drawn from the pair's seed.
    let mut noisy_fit = |z: &[f64], noise: u64| {
        let f = ridge.fit_cpu(&t.x_tr, z, &t.x_te, &t.data)?;
        let mut rng = support::rng(noise);
        Ok(f.test_predictions()
            .iter()
            .map(|y| y + rng.random_range(-0.3..0.3))
            .collect())
    };
    let noisy =
        estimate_pullback(&mut noisy_fit, &t.z_tr, &y_bar, &s, &mut support::rng(4)).unwrap();
    let err = clean
        .iter()
        .zip(&noisy)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let scale = clean.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        err < 1e-9 * scale.max(1.0),
        "noise left in the estimate: {err} of {scale}"
    );
}
