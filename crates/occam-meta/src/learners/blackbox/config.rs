//! The `blackbox` kind of experiment files: a registered learner (its own
//! table, `[learner.inner]`) used only through its fits.

use super::BlackBoxLearner;
use super::estimator::EsSettings;
use crate::config_error::{ConfigError, finite, positive};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext, resolve, resolved_keys};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `kind = "blackbox"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackBoxConfig {
    /// P, antithetic pairs of label perturbations per task (2P + 1 fits).
    pub population: usize,
    /// σ, the perturbations' scale in label units.
    pub sigma: f64,
    /// Replace the pairs' differences by their centred ranks (default false).
    #[serde(default)]
    pub fitness_shaping: bool,
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
        let population = positive(&format!("{}.population", ctx.key), self.population)?;
        let sigma = finite(&format!("{}.sigma", ctx.key), self.sigma)?;
        if sigma <= 0.0 {
            return Err(ctx.bad("sigma", "must be > 0"));
        }
        if self.inner.get("kind").and_then(|k| k.as_str()) == Some("blackbox") {
            return Err(ctx.bad("inner.kind", "a black box cannot hold another black box"));
        }
        let key = format!("{}.inner", ctx.key);
        let inner = resolve(&self.inner, &ResolveContext { key: &key, ..*ctx })?;
        Ok(Arc::new(BlackBoxLearner {
            inner,
            es: EsSettings {
                population,
                sigma,
                fitness_shaping: self.fitness_shaping,
            },
        }))
    }
}
