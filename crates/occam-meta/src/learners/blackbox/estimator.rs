//! The pullback of a learner that can only be run, not differentiated:
//! ∂L/∂z_tr = Jᵀ ŷ̄ with J = ∂ŷ/∂z_tr, estimated from 2P fits on
//! antithetically perturbed training labels (docs/design.md §10):
//!
//! ```text
//! φ(z) = ⟨ŷ̄, ŷ(z)⟩,   d_p = (φ(z + σ ε_p) − φ(z − σ ε_p)) / 2σ,   ε_p ~ N(0, I)
//! z̄ ≈ (1/P) Σ_p d_p ε_p
//! ```
//!
//! E[d_p ε_p] = Jᵀ ŷ̄ + O(σ²) for a smooth fit (d_p ≈ ε_pᵀ Jᵀ ŷ̄), so the
//! estimate is unbiased to second order in σ with variance ~ |Jᵀŷ̄|² n / P.
//! ŷ̄ is held fixed (the loss linearised at the unperturbed predictions),
//! which removes the curvature of the loss from the noise. Both fits of a
//! pair share the learner's own noise (common random numbers: the same
//! `noise` seed), so noise that does not depend on the labels cancels.

use crate::error::Result;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A black-box fit: training labels and a noise seed in, test predictions out.
pub type BlackBoxFit<'a> = dyn FnMut(&[f64], u64) -> Result<Vec<f64>> + 'a;

/// How the estimate is formed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EsSettings {
    /// P, antithetic pairs (2P fits).
    pub population: usize,
    /// σ, the perturbation's scale (in label units).
    pub sigma: f64,
    /// Replace the pair differences d_p by their centred ranks (rescaled to
    /// the differences' spread): robust to outlying fits, at some bias.
    pub fitness_shaping: bool,
    /// Estimate the Jacobian by least squares on every past session of the
    /// task's stimulus set instead ([`super::regression`]); P is then 1 (the
    /// one perturbation ε of each session's labels).
    pub regression: Option<super::regression::RegressionSettings>,
}

/// The label perturbations of one estimate: ε_p ~ N(0, I) and the noise
/// seed shared by the two fits of pair p.
#[derive(Clone, Debug, PartialEq)]
pub struct Perturbations {
    /// ε_p, one vector of `n` values per pair.
    pub eps: Vec<Vec<f64>>,
    /// The learner's noise seed of each pair.
    pub noise: Vec<u64>,
}

impl Perturbations {
    /// Draws P pairs for `n` labels from `rng` (ε_p, then its noise seed, pair
    /// by pair: the CPU and GPU sides draw the same values from the same seed).
    pub fn draw(n: usize, settings: &EsSettings, rng: &mut ChaCha8Rng) -> Perturbations {
        let p = settings.population.max(1);
        let mut eps = Vec::with_capacity(p);
        let mut noise = Vec::with_capacity(p);
        for _ in 0..p {
            eps.push((0..n).map(|_| StandardNormal.sample(rng)).collect());
            noise.push(rng.random());
        }
        Perturbations { eps, noise }
    }

    /// z ± σ ε_p.
    pub fn labels(&self, z: &[f64], pair: usize, sign: f64, sigma: f64) -> Vec<f64> {
        z.iter()
            .zip(&self.eps[pair])
            .map(|(z, e)| z + sign * sigma * e)
            .collect()
    }

    /// z̄ = (1/P) Σ_p d_p ε_p from the pair differences d_p (rank-shaped
    /// first when the settings ask for it).
    pub fn combine(&self, diffs: &[f64], settings: &EsSettings) -> Vec<f64> {
        let diffs = match settings.fitness_shaping {
            true => centred_ranks(diffs),
            false => diffs.to_vec(),
        };
        let p = self.eps.len() as f64;
        let n = self.eps.first().map_or(0, Vec::len);
        let mut z_bar = vec![0.0; n];
        for (e, d) in self.eps.iter().zip(&diffs) {
            for (z, ei) in z_bar.iter_mut().zip(e) {
                *z += d * ei / p;
            }
        }
        z_bar
    }
}

/// d_p = ⟨ŷ̄, ŷ₊ − ŷ₋⟩ / 2σ.
pub fn pair_difference(plus: &[f64], minus: &[f64], y_bar: &[f64], sigma: f64) -> f64 {
    let phi = |y: &[f64]| -> f64 { y.iter().zip(y_bar).map(|(a, b)| a * b).sum() };
    (phi(plus) - phi(minus)) / (2.0 * sigma)
}

/// Estimates Jᵀ ŷ̄ for the black-box fit `fit(z_tr, noise)` → ŷ (test
/// predictions). `noise` seeds the learner's own randomness; the two fits of
/// a pair get the same seed.
pub fn estimate_pullback(
    fit: &mut BlackBoxFit<'_>,
    z_tr: &[f64],
    y_bar: &[f64],
    settings: &EsSettings,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>> {
    let pert = Perturbations::draw(z_tr.len(), settings, rng);
    let sigma = settings.sigma;
    let mut diffs = Vec::with_capacity(pert.eps.len());
    for (p, &noise) in pert.noise.iter().enumerate() {
        let plus = fit(&pert.labels(z_tr, p, 1.0, sigma), noise)?;
        let minus = fit(&pert.labels(z_tr, p, -1.0, sigma), noise)?;
        diffs.push(pair_difference(&plus, &minus, y_bar, sigma));
    }
    Ok(pert.combine(&diffs, settings))
}

/// The values replaced by their ranks, centred on zero and rescaled to the
/// values' standard deviation.
fn centred_ranks(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if n < 2 {
        return v.to_vec();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; n];
    for (r, &i) in order.iter().enumerate() {
        ranks[i] = r as f64 / (n - 1) as f64 - 0.5;
    }
    let sd = |x: &[f64]| {
        let m = x.iter().sum::<f64>() / n as f64;
        (x.iter().map(|a| (a - m).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let (s_v, s_r) = (sd(v), sd(&ranks));
    let scale = if s_r > 0.0 { s_v / s_r } else { 0.0 };
    ranks.iter().map(|r| r * scale).collect()
}

/// The cosine of the angle between two vectors (0 when either is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}
