//! Learners that cannot be differentiated: their share of the meta-gradient,
//! ∂L/∂z_tr = Jᵀ ŷ̄, is estimated from fits on antithetically perturbed
//! training labels ([`estimator`]); the paths through z_te and the target
//! distribution, and the backward pass of the meta-learner, stay exact
//! (docs/design.md §10).
//!
//! - [`BlackBoxLearner`]: any registered learner run as a black box (only
//!   its fits are used, never its adjoint) — the check that the estimate
//!   finds what the exact gradient finds;
//! - [`regression`]: the other estimator, a least-squares Jacobian from
//!   every past session on a fixed stimulus set;
//! - [`gpu`]: the 2P + 1 fits of each task (unperturbed, then the pairs) as
//!   one batch of the inner learner's GPU side;
//! - [`config`]: the `blackbox` kind of experiment files.

pub mod config;
pub mod estimator;
pub mod gpu;
pub mod regression;

use super::Derivative;
use super::{
    CpuFit, Footprint, GpuLearner, KernelMachine, Learner, LearnerData, LearnerMemory,
    LearnerShape, UsageCounter, invalid,
};
use crate::error::Result;
use estimator::{EsSettings, Perturbations, pair_difference};
use occam_gpu::Gpu;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regression::{AffineModel, Session, SessionMemory, stimulus_key};
use std::sync::{Arc, Mutex, MutexGuard};

/// The name of the tensor holding a task's perturbation seed.
pub const ES_SEED: &str = "es_seed";

/// A learner used only through its fits.
#[derive(Clone, Debug)]
pub struct BlackBoxLearner {
    /// The learner inside the box.
    pub inner: Arc<dyn Learner>,
    /// How the pullback is estimated.
    pub es: EsSettings,
    /// The regression estimator's sessions (shared by every copy of this
    /// learner: every engine of the run reads one record, which only
    /// meta-learning steps add to).
    pub memory: Arc<Mutex<SessionMemory>>,
}

impl BlackBoxLearner {
    /// The learner in the box, its pullback estimated as `es` says.
    pub fn new(inner: Arc<dyn Learner>, es: EsSettings) -> BlackBoxLearner {
        BlackBoxLearner {
            inner,
            es,
            memory: Default::default(),
        }
    }

    /// The regression estimator's record of sessions.
    pub fn sessions(&self) -> MutexGuard<'_, SessionMemory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The task's perturbations of `n` labels, from its `es_seed`.
    pub fn perturbations(&self, data: &LearnerData, n: usize) -> Result<Perturbations> {
        let seed = data.require("blackbox", ES_SEED)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed[0] as u64);
        Ok(Perturbations::draw(n, &self.es, &mut rng))
    }
}

impl Learner for BlackBoxLearner {
    /// An antithetic evolution-strategies estimate from P perturbed fits,
    /// or a least-squares Jacobian from past sessions.
    fn derivative(&self) -> Derivative {
        let why = match self.es.regression {
            None => {
                "a black box's pullback is an evolution-strategies estimate \
                     from antithetic pairs of perturbed labels"
            }
            Some(_) => {
                "a black box's pullback is a least-squares Jacobian \
                        fitted on its past sessions"
            }
        };
        Derivative::NotExact {
            why: why.to_string(),
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
        if let Some(reg) = self.es.regression {
            return Ok(Box::new(RegressionFit::new(
                self, reg, x_tr, z_tr, x_te, data,
            )?));
        }
        // Only the unperturbed fit here: the perturbed ones (and their
        // trials) are paid for when a pullback is asked for.
        let fit = self.inner.fit_cpu(x_tr, z_tr, x_te, data)?;
        Ok(Box::new(BlackBoxFit {
            learner: self,
            x_tr,
            z_tr,
            x_te,
            data,
            fit,
        }))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        if self.es.population == 0 && self.es.regression.is_none() {
            return Err(invalid("a black box needs a population ≥ 1".into()));
        }
        Ok(Box::new(gpu::GpuBlackBox::new(gpu, self, shape)?))
    }

    fn footprint(&self, shape: LearnerShape) -> Vec<Footprint> {
        // Every task's 2P + 1 fits run side by side as tasks of the inner learner.
        let rows = self.rows();
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

    fn memory(&self) -> Option<&dyn LearnerMemory> {
        self.es.regression.map(|_| self as &dyn LearnerMemory)
    }

    fn fixed_stimuli(&self) -> Option<&'static str> {
        self.es.regression.map(|_| "estimator = \"regression\"")
    }
}

impl BlackBoxLearner {
    /// Fits per task side by side: 2P + 1 for the antithetic estimator (the
    /// unperturbed labels, then the pairs), 1 for the regression estimator.
    pub fn rows(&self) -> usize {
        match self.es.regression {
            Some(_) => 1,
            None => 2 * self.es.population + 1,
        }
    }
}

impl LearnerMemory for BlackBoxLearner {
    fn save(&self) -> serde_json::Value {
        serde_json::to_value(&*self.sessions()).unwrap_or(serde_json::Value::Null)
    }

    fn restore(&self, saved: &serde_json::Value) -> Result<()> {
        let memory: SessionMemory = serde_json::from_value(saved.clone())
            .map_err(|e| invalid(format!("the checkpoint's sessions do not read back: {e}")))?;
        *self.sessions() = memory;
        Ok(())
    }
}

/// A black-box fit in f64: the unperturbed fit now, the estimate's own
/// fits when a pullback is asked for.
struct BlackBoxFit<'a> {
    learner: &'a BlackBoxLearner,
    x_tr: &'a [f64],
    z_tr: &'a [f64],
    x_te: &'a [f64],
    data: &'a LearnerData,
    fit: Box<dyn CpuFit + 'a>,
}

impl CpuFit for BlackBoxFit<'_> {
    fn test_predictions(&self) -> &[f64] {
        self.fit.test_predictions()
    }

    /// The estimate, not the exact pullback: (1/P) Σ_p d_p ε_p from 2P
    /// perturbed fits.
    fn pullback(&self, y_bar: &[f64]) -> Result<Vec<f64>> {
        let (learner, z_tr) = (self.learner, self.z_tr);
        let es = &learner.es;
        let pert = learner.perturbations(self.data, z_tr.len())?;
        let diffs = (0..pert.eps.len())
            .map(|p| {
                let at = |sign| -> Result<Vec<f64>> {
                    let z = pert.labels(z_tr, p, sign, es.sigma);
                    let fit = learner.inner.fit_cpu(self.x_tr, &z, self.x_te, self.data)?;
                    Ok(fit.test_predictions().to_vec())
                };
                Ok(pair_difference(&at(1.0)?, &at(-1.0)?, y_bar, es.sigma))
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(pert.combine(&diffs, es))
    }

    fn train_predictions(&self) -> Result<Vec<f64>> {
        self.fit.train_predictions()
    }

    fn weights(&self) -> Option<Vec<f64>> {
        self.fit.weights()
    }
}

/// The regression estimator's fit in f64, as a meta-step on the GPU forms
/// it: one session shown z + σ ε, the model fitted on the stimulus set's
/// record plus that session (which the f64 twin does not add to the
/// record), its prediction at z and its Jacobian's transpose.
struct RegressionFit<'a> {
    learner: &'a BlackBoxLearner,
    x_tr: &'a [f64],
    z_tr: &'a [f64],
    data: &'a LearnerData,
    model: AffineModel,
    predictions: Vec<f64>,
}

impl<'a> RegressionFit<'a> {
    fn new(
        learner: &'a BlackBoxLearner,
        reg: regression::RegressionSettings,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<RegressionFit<'a>> {
        let shown = learner
            .perturbations(data, z_tr.len())?
            .labels(z_tr, 0, 1.0, learner.es.sigma);
        let answers = learner
            .inner
            .fit_cpu(x_tr, &shown, x_te, data)?
            .test_predictions()
            .to_vec();
        let f32s = |v: &[f64]| -> Vec<f32> { v.iter().map(|&a| a as f32).collect() };
        let key = stimulus_key(&f32s(x_tr), &f32s(x_te));
        let session = Session {
            labels: shown,
            answers,
        };
        let model = learner.sessions().model(&key, Some(&session), &reg)?;
        let predictions = model.predict(z_tr);
        Ok(RegressionFit {
            learner,
            x_tr,
            z_tr,
            data,
            model,
            predictions,
        })
    }
}

impl CpuFit for RegressionFit<'_> {
    /// The model's prediction at the labels.
    fn test_predictions(&self) -> &[f64] {
        &self.predictions
    }

    /// Ĵᵀ ŷ̄, an estimate.
    fn pullback(&self, y_bar: &[f64]) -> Result<Vec<f64>> {
        Ok(self.model.pullback(y_bar))
    }

    /// The learner in the box asked about its training points after a
    /// session on the labels themselves.
    fn train_predictions(&self) -> Result<Vec<f64>> {
        let (x_tr, z) = (self.x_tr, self.z_tr);
        self.learner
            .inner
            .fit_cpu(x_tr, z, x_tr, self.data)?
            .test_predictions()
            .get(..z.len())
            .map(<[f64]>::to_vec)
            .ok_or_else(|| invalid("the learner answered too few queries".into()))
    }

    fn weights(&self) -> Option<Vec<f64>> {
        None
    }
}
