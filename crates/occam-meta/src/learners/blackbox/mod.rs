//! Learners that cannot be differentiated: their share of the meta-gradient,
//! ∂L/∂z_tr = Jᵀ ŷ̄, is estimated from fits on antithetically perturbed
//! training labels ([`estimator`]); the paths through z_te and the target
//! distribution, and the backward pass of the meta-learner, stay exact
//! (docs/design.md §10).
//!
//! - [`BlackBoxLearner`]: any registered learner run as a black box (only
//!   its fits are used, never its adjoint) — the check that the estimate
//!   finds what the exact gradient finds;
//! - [`gpu`]: the 2P + 1 fits of each task (unperturbed, then the pairs) as
//!   one batch of the inner learner's GPU side;
//! - [`config`]: the `blackbox` kind of experiment files.

pub mod config;
pub mod estimator;
pub mod gpu;

use super::Derivative;
use super::{
    CpuFit, Footprint, GpuLearner, KernelMachine, Learner, LearnerData, LearnerShape, UsageCounter,
    invalid,
};
use crate::error::Result;
use estimator::{EsSettings, Perturbations, pair_difference};
use occam_gpu::Gpu;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// The name of the tensor holding a task's perturbation seed.
pub const ES_SEED: &str = "es_seed";

/// A learner used only through its fits.
#[derive(Clone, Debug)]
pub struct BlackBoxLearner {
    /// The learner inside the box.
    pub inner: Arc<dyn Learner>,
    /// How the pullback is estimated.
    pub es: EsSettings,
}

impl BlackBoxLearner {
    /// The task's perturbations of `n` labels, from its `es_seed`.
    pub fn perturbations(&self, data: &LearnerData, n: usize) -> Result<Perturbations> {
        let seed = data.require("blackbox", ES_SEED)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed[0] as u64);
        Ok(Perturbations::draw(n, &self.es, &mut rng))
    }
}

impl Learner for BlackBoxLearner {
    /// An antithetic evolution-strategies estimate from P perturbed fits.
    fn derivative(&self) -> Derivative {
        Derivative::NotExact {
            why: "a black box's pullback is an evolution-strategies estimate \
                  from antithetic pairs of perturbed labels"
                .to_string(),
            exact_with: Vec::new(),
        }
    }

    fn kind(&self) -> &'static str {
        "blackbox"
    }

    /// The inner learner's draws (shared by every fit of the task: common
    /// random numbers), then a seed for the label perturbations.
    fn draw(&self, rng: &mut ChaCha8Rng, train: usize) -> LearnerData {
        let mut data = self.inner.draw(rng, train);
        let seed = rng.random::<u32>() as f64;
        data.push(ES_SEED, vec![1], vec![seed]);
        data
    }

    fn fit_cpu<'a>(
        &'a self,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<Box<dyn CpuFit + 'a>> {
        let fit = self.inner.fit_cpu(x_tr, z_tr, x_te, data)?;
        let pert = self.perturbations(data, z_tr.len())?;
        let sigma = self.es.sigma;
        let mut plus = Vec::new();
        let mut minus = Vec::new();
        for p in 0..pert.eps.len() {
            let at = |sign| -> Result<Vec<f64>> {
                let z = pert.labels(z_tr, p, sign, sigma);
                Ok(self
                    .inner
                    .fit_cpu(x_tr, &z, x_te, data)?
                    .test_predictions()
                    .to_vec())
            };
            plus.push(at(1.0)?);
            minus.push(at(-1.0)?);
        }
        Ok(Box::new(BlackBoxFit {
            fit,
            pert,
            plus,
            minus,
            es: self.es,
        }))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        if self.es.population == 0 {
            return Err(invalid("a black box needs a population ≥ 1".into()));
        }
        Ok(Box::new(gpu::GpuBlackBox::new(gpu, self, shape)?))
    }

    fn footprint(&self, shape: LearnerShape) -> Vec<Footprint> {
        // Every task's 2P + 1 fits run side by side as tasks of the inner learner.
        let rows = 2 * self.es.population + 1;
        let inner = LearnerShape {
            tasks: shape.tasks.saturating_mul(rows),
            ..shape
        };
        self.inner
            .footprint(inner)
            .into_iter()
            .map(|mut f| {
                f.own = f.own.iter().map(|k| format!("inner.{k}")).collect();
                f.own.push("population".into());
                f
            })
            .chain([Footprint::new(
                "the perturbed inputs",
                &["population"],
                &["tasks", "data.train", "data.test", "inputs.dim"],
                &[shape.tasks, rows, shape.train + shape.test, shape.input_len],
            )])
            .collect()
    }

    fn inner_steps(&self) -> usize {
        self.inner.inner_steps()
    }

    fn kernel(&self) -> Option<&dyn KernelMachine> {
        self.inner.kernel()
    }

    fn counter(&self) -> Option<&dyn UsageCounter> {
        self.inner.counter()
    }
}

/// A black-box fit in f64: the unperturbed fit and every perturbed one.
struct BlackBoxFit<'a> {
    fit: Box<dyn CpuFit + 'a>,
    pert: Perturbations,
    plus: Vec<Vec<f64>>,
    minus: Vec<Vec<f64>>,
    es: EsSettings,
}

impl CpuFit for BlackBoxFit<'_> {
    fn test_predictions(&self) -> &[f64] {
        self.fit.test_predictions()
    }

    /// The estimate (1/P) Σ_p d_p ε_p, not the exact pullback.
    fn pullback(&self, y_bar: &[f64]) -> Result<Vec<f64>> {
        let diffs: Vec<f64> = self
            .plus
            .iter()
            .zip(&self.minus)
            .map(|(p, m)| pair_difference(p, m, y_bar, self.es.sigma))
            .collect();
        Ok(self.pert.combine(&diffs, &self.es))
    }

    fn train_predictions(&self) -> Result<Vec<f64>> {
        self.fit.train_predictions()
    }

    fn weights(&self) -> Option<Vec<f64>> {
        self.fit.weights()
    }
}
