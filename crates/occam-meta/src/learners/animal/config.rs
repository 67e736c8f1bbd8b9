//! The `animal` kind of experiment files (only as a black box's `inner`).

use super::AnimalLearner;
use crate::config_error::{ConfigError, finite, positive};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext, resolve, resolved_keys};
use crate::learners::ridge::config::MAX_FEATURES;
use crate::learners::ridge::{FeatureMap, RidgeLearner};
use crate::sampling::FeatureDraw;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `kind = "animal"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnimalConfig {
    /// K random ReLU features of the animal's kernel (its bias); or give `learns`.
    #[serde(default)]
    pub features: Option<usize>,
    /// The kernel ridge λ (≥ 0), with `features`.
    #[serde(default)]
    pub lambda: Option<f64>,
    /// How the animal learns, as a learner's own table (e.g. `kind =
    /// "mlp_gd"`), instead of kernel ridge on `features`.
    #[serde(default)]
    pub learns: Option<toml::Table>,
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
    /// How strongly each input drives the animal's features (one factor per
    /// input, ≥ 0; default 1 each): the rows of its random J scaled, so that
    /// an animal can attend to some inputs more than to others.
    #[serde(default)]
    pub input_scale: Option<Vec<f64>>,
}

fn one() -> usize {
    1
}

/// The most trials per query.
const MAX_REPEATS: usize = 1_000_000;

impl LearnerConfig for AnimalConfig {
    /// The keys, how it learns resolved too.
    fn keys(&self) -> Result<toml::Table, String> {
        let mut keys = toml::Table::try_from(self).map_err(|e| e.to_string())?;
        if let Some(learns) = &self.learns {
            let learns = resolved_keys(learns, "learns").map_err(|e| e.to_string())?;
            keys.insert("learns".into(), toml::Value::Table(learns));
        }
        Ok(keys)
    }

    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        ctx.require_inner("an animal")?;
        let key = |k: &str| format!("{}.{k}", ctx.key);
        let lapse = finite(&key("lapse"), self.lapse)?;
        if !(0.0..1.0).contains(&lapse) {
            return Err(ctx.bad("lapse", "must be in [0, 1)"));
        }
        let noise = finite(&key("response_noise"), self.response_noise)?;
        if noise <= 0.0 {
            return Err(ctx.bad("response_noise", "must be > 0"));
        }
        if self.repeats > MAX_REPEATS {
            return Err(ctx.bad(
                "repeats",
                format!("must be at most {MAX_REPEATS} trials per query"),
            ));
        }
        let learns: Arc<dyn Learner> = match (&self.learns, self.features, self.lambda) {
            (Some(table), None, None) => {
                if self.input_scale.is_some() {
                    return Err(ctx.bad(
                        "input_scale",
                        "scales the kernel's features: not with `learns`",
                    ));
                }
                let kind = table.get("kind").and_then(|k| k.as_str()).unwrap_or("");
                if matches!(kind, "animal" | "blackbox" | "external") {
                    return Err(ctx.bad(
                        "learns.kind",
                        format!("an animal learns like a learner, not like `{kind}`"),
                    ));
                }
                let key = key("learns");
                resolve(table, &ResolveContext { key: &key, ..*ctx })?
            }
            (Some(_), _, _) => {
                let name = if self.features.is_some() {
                    "features"
                } else {
                    "lambda"
                };
                return Err(ctx.bad(
                    name,
                    "is the kernel's: give either `learns` or features and lambda",
                ));
            }
            (None, features, lambda) => {
                let features = features.ok_or_else(|| {
                    ctx.bad(
                        "features",
                        "is needed (or give `learns`, how the animal learns)",
                    )
                })?;
                let lambda = lambda.ok_or_else(|| ctx.bad("lambda", "is needed with features"))?;
                Arc::new(self.kernel(features, lambda, ctx)?)
            }
        };
        Ok(Arc::new(AnimalLearner {
            learns,
            lapse,
            response_noise: noise,
            repeats: positive(&key("repeats"), self.repeats)?,
            budget: self.trial_budget,
            trials: Default::default(),
        }))
    }
}

impl AnimalConfig {
    /// Kernel ridge on `features` random ReLU features (rows of J scaled by
    /// `input_scale`).
    fn kernel(
        &self,
        features: usize,
        lambda: f64,
        ctx: &ResolveContext<'_>,
    ) -> Result<RidgeLearner, ConfigError> {
        let key = |k: &str| format!("{}.{k}", ctx.key);
        let lambda = finite(&key("lambda"), lambda)?;
        if lambda < 0.0 {
            return Err(ctx.bad("lambda", "must be ≥ 0"));
        }
        // It drives allocations and loops before any other size check.
        if features > MAX_FEATURES {
            return Err(ctx.bad("features", format!("must be at most {MAX_FEATURES}")));
        }
        let map = FeatureMap::RandomRelu {
            features: positive(&key("features"), features)?,
            bias: false,
            resample: false,
        };
        let d = ctx.input_len();
        let mut draw = FeatureDraw::fixed(ctx.seed, ctx.index, map.random_values(d));
        if let Some(scale) = &self.input_scale {
            if scale.len() != d {
                return Err(ctx.bad(
                    "input_scale",
                    format!("needs one factor per input ({d}), not {}", scale.len()),
                ));
            }
            for (i, &s) in scale.iter().enumerate() {
                if !s.is_finite() || s < 0.0 {
                    return Err(ctx.bad(&format!("input_scale[{i}]"), "must be finite and ≥ 0"));
                }
            }
            if let FeatureDraw::Fixed(j) = &mut draw {
                // J is d × K, row-major: row i holds input i's weights.
                for (row, &s) in j.chunks_mut(features).zip(scale) {
                    for v in row {
                        *v = f64::from((*v * s) as f32);
                    }
                }
            }
        }
        Ok(RidgeLearner::new(map, lambda, draw))
    }
}
