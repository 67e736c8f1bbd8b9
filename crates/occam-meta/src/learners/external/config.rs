//! The `external` kind of experiment files.

use super::ExternalLearner;
use crate::config_error::{ConfigError, finite};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
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
    /// The folder the program runs in (relative paths: to the experiment
    /// file's folder). Default: the experiment file's folder; the resolved
    /// configuration a run writes records it as an absolute path, so that a
    /// resumed run starts the program where the first start did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

fn thirty() -> f64 {
    30.0
}

/// The folder an external program runs in: `dir` relative to the experiment
/// file's folder `base` (the current folder when `base` is empty), or
/// `base` itself.
pub fn program_dir(base: &Path, dir: Option<&str>) -> PathBuf {
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    dir.map_or_else(|| base.to_path_buf(), |d| base.join(d))
}

/// The longest `timeout_s` accepted: a week.
const MAX_TIMEOUT_S: f64 = 7.0 * 24.0 * 3600.0;

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
        if timeout > MAX_TIMEOUT_S {
            return Err(ctx.bad(
                "timeout_s",
                format!("must be at most {MAX_TIMEOUT_S} s (a week)"),
            ));
        }
        let dir = program_dir(ctx.base_dir, self.dir.as_deref());
        if !dir.is_dir() {
            return Err(ctx.bad(
                "dir",
                format!("{}: no such folder to run the program in", dir.display()),
            ));
        }
        Ok(Arc::new(ExternalLearner::new(
            self.command,
            dir,
            Duration::from_secs_f64(timeout),
        )))
    }
}
