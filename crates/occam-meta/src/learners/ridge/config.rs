//! The `ridge` and `kernel_ridge` kinds of experiment files.

use super::{FeatureMap, RidgeLearner};
use crate::config_error::{ConfigError, finite, positive};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext};
use crate::sampling::FeatureDraw;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `kind = "ridge"`: linear ridge regression, Φ = x.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeConfig {
    /// The ridge λ (≥ 0).
    pub lambda: f64,
    /// Add a constant feature (an intercept; default false).
    #[serde(default)]
    pub bias: bool,
}

/// `kind = "kernel_ridge"`: ridge on K random ReLU features relu(x J),
/// J ~ N(0, I).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelRidgeConfig {
    /// The ridge λ (≥ 0).
    pub lambda: f64,
    /// Add a constant feature (an intercept; default false).
    #[serde(default)]
    pub bias: bool,
    /// K, the number of random features.
    pub features: usize,
    /// Draw a fresh J every meta-step (default: one J for the run).
    #[serde(default)]
    pub resample_features: bool,
}

/// λ checked.
fn lambda(lambda: f64, ctx: &ResolveContext<'_>) -> Result<f64, ConfigError> {
    let lambda = finite(&format!("{}.lambda", ctx.key), lambda)?;
    if lambda < 0.0 {
        return Err(ctx.bad("lambda", "must be ≥ 0"));
    }
    Ok(lambda)
}

impl LearnerConfig for RidgeConfig {
    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        Ok(Arc::new(RidgeLearner::new(
            FeatureMap::Linear { bias: self.bias },
            lambda(self.lambda, ctx)?,
            FeatureDraw::None,
        )))
    }
}

/// The most random features a kernel learner (kernel ridge, an animal) may
/// have: the feature draw is made when the experiment is read, before the
/// size checks against the adapter.
pub(crate) const MAX_FEATURES: usize = 1 << 20;

impl LearnerConfig for KernelRidgeConfig {
    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        if self.features > MAX_FEATURES {
            return Err(ctx.bad("features", format!("must be at most {MAX_FEATURES}")));
        }
        let map = FeatureMap::RandomRelu {
            features: positive(&format!("{}.features", ctx.key), self.features)?,
            bias: self.bias,
            resample: self.resample_features,
        };
        let values = map.random_values(ctx.input_len());
        let draw = if self.resample_features {
            FeatureDraw::Resample(values)
        } else {
            FeatureDraw::fixed(ctx.seed, ctx.index, values)
        };
        Ok(Arc::new(RidgeLearner::new(
            map,
            lambda(self.lambda, ctx)?,
            draw,
        )))
    }
}
