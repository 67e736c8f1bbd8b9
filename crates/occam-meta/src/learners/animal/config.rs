//! The `animal` kind of experiment files (only as a black box's `inner`).

use super::AnimalLearner;
use crate::config_error::{ConfigError, finite, positive};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext};
use crate::learners::ridge::config::MAX_FEATURES;
use crate::learners::ridge::{FeatureMap, RidgeLearner};
use crate::sampling::FeatureDraw;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `kind = "animal"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnimalConfig {
    /// K random ReLU features of the animal's kernel (its bias).
    pub features: usize,
    /// The kernel ridge λ (≥ 0).
    pub lambda: f64,
    /// Probability of a random choice on a trial, in [0, 1).
    pub lapse: f64,
    /// Standard deviation of the response noise (> 0).
    pub response_noise: f64,
    /// Trials per test query (default 1).
    #[serde(default = "one")]
    pub repeats: usize,
    /// The most trials the run may use (default 0: no limit).
    #[serde(default)]
    pub trial_budget: u64,
}

fn one() -> usize {
    1
}

/// The most trials per query.
const MAX_REPEATS: usize = 1_000_000;

impl LearnerConfig for AnimalConfig {
    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        ctx.require_inner("an animal")?;
        let key = |k: &str| format!("{}.{k}", ctx.key);
        let lambda = finite(&key("lambda"), self.lambda)?;
        if lambda < 0.0 {
            return Err(ctx.bad("lambda", "must be ≥ 0"));
        }
        let lapse = finite(&key("lapse"), self.lapse)?;
        if !(0.0..1.0).contains(&lapse) {
            return Err(ctx.bad("lapse", "must be in [0, 1)"));
        }
        let noise = finite(&key("response_noise"), self.response_noise)?;
        if noise <= 0.0 {
            return Err(ctx.bad("response_noise", "must be > 0"));
        }
        // Both drive allocations and loops before any other size check.
        if self.features > MAX_FEATURES {
            return Err(ctx.bad("features", format!("must be at most {MAX_FEATURES}")));
        }
        if self.repeats > MAX_REPEATS {
            return Err(ctx.bad(
                "repeats",
                format!("must be at most {MAX_REPEATS} trials per query"),
            ));
        }
        let map = FeatureMap::RandomRelu {
            features: positive(&key("features"), self.features)?,
            bias: false,
            resample: false,
        };
        let draw = FeatureDraw::fixed(ctx.seed, ctx.index, map.random_values(ctx.input_len()));
        Ok(Arc::new(AnimalLearner {
            kernel: RidgeLearner::new(map, lambda, draw),
            lapse,
            response_noise: noise,
            repeats: positive(&key("repeats"), self.repeats)?,
            budget: self.trial_budget,
            trials: Default::default(),
        }))
    }
}
