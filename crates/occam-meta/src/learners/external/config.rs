//! The `external` kind of experiment files.

use super::ExternalLearner;
use crate::config_error::{ConfigError, finite};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// `kind = "external"` (only as a black box's `inner`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// The program and its arguments, run in the experiment file's folder,
    /// e.g. `["python3", "external/ridge_learner.py"]`.
    pub command: Vec<String>,
    /// The longest wait for one reply, in seconds (default 30).
    #[serde(default = "thirty")]
    pub timeout_s: f64,
}

fn thirty() -> f64 {
    30.0
}

impl LearnerConfig for ExternalConfig {
    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        ctx.require_inner("an external program")?;
        if self.command.first().is_none_or(|p| p.is_empty()) {
            return Err(ctx.bad("command", "must name a program"));
        }
        let timeout = finite(&format!("{}.timeout_s", ctx.key), self.timeout_s)?;
        if timeout <= 0.0 {
            return Err(ctx.bad("timeout_s", "must be > 0"));
        }
        Ok(Arc::new(ExternalLearner::new(
            self.command,
            ctx.base_dir.to_path_buf(),
            Duration::from_secs_f64(timeout),
        )))
    }
}
