//! The simulated animal (`kind = "animal"`): its answers average binary
//! choices with the stated lapse rate and response noise, every fit is
//! counted in trials, and a spent budget stops it with a clear error.

use occam_meta::learners::Learner;
use occam_meta::learners::animal::AnimalLearner;
use occam_meta::learners::ridge::{FeatureMap, RidgeLearner};
use occam_meta::sampling::FeatureDraw;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::Ordering;

fn animal(lapse: f64, noise: f64, repeats: usize, budget: u64) -> AnimalLearner {
    let map = FeatureMap::RandomRelu {
        features: 30,
        bias: false,
        resample: false,
    };
    let kernel = RidgeLearner::new(map, 1e-3, FeatureDraw::fixed(4, 0, 3 * 30));
    AnimalLearner::kernel_ridge(kernel, lapse, noise, repeats, budget)
}

/// Φ, the standard normal CDF (Abramowitz–Stegun 7.1.26 erf, error < 2e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[test]
fn answers_average_choices_with_the_lapse_and_noise_and_trials_are_counted() {
    let (lapse, noise, repeats) = (0.2, 0.5, 20000);
    let a = animal(lapse, noise, repeats, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x_tr: Vec<f64> = (0..30).map(|_| rng.random_range(-1.0..1.0)).collect();
    let z_tr: Vec<f64> = (0..10).map(|_| rng.random_range(-1.0..1.0)).collect();
    let x_te: Vec<f64> = (0..12).map(|_| rng.random_range(-1.0..1.0)).collect();
    let data = a.draw(&mut rng, 10);
    let f = a.learns.fit_cpu(&x_tr, &z_tr, &x_te, &data).unwrap();
    let f = f.test_predictions().to_vec();
    let answers = a.fit_cpu(&x_tr, &z_tr, &x_te, &data).unwrap();
    let answers = answers.test_predictions().to_vec();
    for (fx, y) in f.iter().zip(&answers) {
        let want = (1.0 - lapse) * (2.0 * normal_cdf(fx / noise) - 1.0);
        // The mean of 20000 ±1 choices: standard error below 0.0071.
        assert!(
            (y - want).abs() < 0.03,
            "f = {fx}: answer {y}, expected {want}"
        );
    }
    assert_eq!(
        a.trials.load(Ordering::Relaxed),
        (10 + 4 * repeats) as u64,
        "one fit costs the training trials plus repeats per test query"
    );
    // The same seed gives the same choices (common random numbers).
    let again = a.fit_cpu(&x_tr, &z_tr, &x_te, &data).unwrap();
    assert_eq!(again.test_predictions(), &answers[..]);
}

#[test]
fn a_spent_trial_budget_stops_the_animal() {
    let a = animal(0.05, 0.3, 5, 60);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x: Vec<f64> = (0..12).map(|_| rng.random_range(-1.0..1.0)).collect();
    let z = [0.5, -0.5, 0.1, 0.2];
    let data = a.draw(&mut rng, 4);
    // 4 training + 4 × 5 test trials = 24 per fit: two fit, the third does not.
    assert!(a.fit_cpu(&x, &z, &x, &data).is_ok());
    assert!(a.fit_cpu(&x, &z, &x, &data).is_ok());
    let err = a
        .fit_cpu(&x, &z, &x, &data)
        .err()
        .expect("budget spent")
        .to_string();
    assert!(err.contains("trial budget of 60"), "{err}");
    assert_eq!(
        a.counter().unwrap().report(),
        "72 trials used of a budget of 60"
    );
}

#[test]
fn an_animal_has_no_pullback_and_says_so() {
    let a = animal(0.0, 0.3, 1, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let x: Vec<f64> = (0..12).map(|_| rng.random_range(-1.0..1.0)).collect();
    let z = [0.5, -0.5, 0.1, 0.2];
    let data = a.draw(&mut rng, 4);
    let fit = a.fit_cpu(&x, &z, &x, &data).unwrap();
    let err = fit.pullback(&[1.0; 4]).unwrap_err().to_string();
    assert!(
        err.contains("cannot be differentiated") && err.contains("blackbox"),
        "{err}"
    );
    // It counts trials and is a kernel machine: both parts are there.
    assert!(a.counter().is_some() && a.kernel().is_some());
}
