//! The `blackbox` kind of experiment files: a registered learner (its own
//! table, `[learner.inner]`) used only through its fits.

use super::BlackBoxLearner;
use super::estimator::EsSettings;
use super::regression::RegressionSettings;

/// The most sessions a regression window may hold (each keeps m + M values).
const MAX_WINDOW: usize = 100_000;
use crate::config_error::{ConfigError, finite, positive};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext, resolve, resolved_keys};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a black box estimates its pullback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    /// 2P + 1 fits a task every meta-step, on antithetic pairs of perturbed
    /// labels (the default).
    #[default]
    Antithetic,
    /// One session a task every `refresh` meta-steps; the Jacobian fitted by
    /// least squares on the last `window` sessions of its stimulus set.
    Regression,
}

/// `kind = "blackbox"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackBoxConfig {
    /// `"antithetic"` (default) or `"regression"`.
    #[serde(default)]
    pub estimator: Estimator,
    /// P, antithetic pairs of label perturbations per task (2P + 1 fits);
    /// antithetic estimator only.
    #[serde(default)]
    pub population: Option<usize>,
    /// σ, the perturbations' scale in label units.
    pub sigma: f64,
    /// Replace the pairs' differences by their centred ranks (default
    /// false); antithetic estimator only.
    #[serde(default)]
    pub fitness_shaping: Option<bool>,
    /// Sessions of a stimulus set the regression fits (default 64).
    #[serde(default)]
    pub window: Option<usize>,
    /// A session every `refresh` meta-steps (default 4).
    #[serde(default)]
    pub refresh: Option<usize>,
    /// The regression's ridge μ, relative to the mean label variance
    /// (default 1e-6).
    #[serde(default)]
    pub ridge: Option<f64>,
    /// The learner in the box: a table with its own `kind`.
    pub inner: toml::Table,
}

impl LearnerConfig for BlackBoxConfig {
    /// The keys, the inner learner's resolved too.
    fn keys(&self) -> Result<toml::Table, String> {
        let mut keys = toml::Table::try_from(self).map_err(|e| e.to_string())?;
        let inner = resolved_keys(&self.inner, "inner").map_err(|e| e.to_string())?;
        keys.insert("inner".into(), toml::Value::Table(inner));
        Ok(keys)
    }

    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        let sigma = finite(&format!("{}.sigma", ctx.key), self.sigma)?;
        if sigma <= 0.0 {
            return Err(ctx.bad("sigma", "must be > 0"));
        }
        let key = |k: &str| format!("{}.{k}", ctx.key);
        // A key of the other estimator is refused, naming it.
        let refuse = |keys: &[(&str, bool)], message: &str| match keys.iter().find(|k| k.1) {
            Some((name, _)) => Err(ctx.bad(name, message)),
            None => Ok(()),
        };
        let (population, regression) = match self.estimator {
            Estimator::Antithetic => {
                refuse(
                    &[
                        ("window", self.window.is_some()),
                        ("refresh", self.refresh.is_some()),
                        ("ridge", self.ridge.is_some()),
                    ],
                    "is a key of estimator = \"regression\"",
                )?;
                let p = self.population.ok_or_else(|| {
                    ctx.bad("population", "is needed by the antithetic estimator")
                })?;
                (positive(&key("population"), p)?, None)
            }
            Estimator::Regression => {
                refuse(
                    &[
                        ("population", self.population.is_some()),
                        ("fitness_shaping", self.fitness_shaping.is_some()),
                    ],
                    "is a key of estimator = \"antithetic\" (the regression runs one session a task)",
                )?;
                let ridge = finite(&key("ridge"), self.ridge.unwrap_or(1e-6))?;
                if ridge < 0.0 {
                    return Err(ctx.bad("ridge", "must be ≥ 0"));
                }
                let settings = RegressionSettings {
                    window: positive(&key("window"), self.window.unwrap_or(64))?,
                    refresh: positive(&key("refresh"), self.refresh.unwrap_or(4))?,
                    ridge,
                };
                if settings.window > MAX_WINDOW {
                    return Err(ctx.bad("window", format!("must be at most {MAX_WINDOW}")));
                }
                (1, Some(settings))
            }
        };
        if self.inner.get("kind").and_then(|k| k.as_str()) == Some("blackbox") {
            return Err(ctx.bad("inner.kind", "a black box cannot hold another black box"));
        }
        let key = format!("{}.inner", ctx.key);
        let inner = resolve(&self.inner, &ResolveContext { key: &key, ..*ctx })?;
        Ok(Arc::new(BlackBoxLearner::new(
            inner,
            EsSettings {
                population,
                sigma,
                fitness_shaping: self.fitness_shaping.unwrap_or(false),
                regression,
            },
        )))
    }
}
