//! Errors in experiment configuration that name the key at fault.

/// A configuration value that cannot be used, with the key path that holds it
/// (`learner.steps`, `connectivity.groups`, `meta_learner.layers[2]`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The key path.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl std::fmt::Display) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.to_string(),
        }
    }

    /// The same error with its key's first segment `from` replaced by `to`
    /// (a learner's keys under `[adversary]` instead of `[learner]`).
    pub fn rekey(mut self, from: &str, to: &str) -> ConfigError {
        if let Some(rest) = self.key.strip_prefix(from) {
            self.key = format!("{to}{rest}");
        }
        self
    }
}

/// `v`, or an error saying `key` must be positive.
pub fn positive(key: &str, v: usize) -> Result<usize, ConfigError> {
    if v == 0 {
        Err(ConfigError::new(key, "must be positive"))
    } else {
        Ok(v)
    }
}

/// `v`, or an error saying `key` must be a finite number within f32's range.
pub fn finite(key: &str, v: f64) -> Result<f64, ConfigError> {
    if !v.is_finite() {
        Err(ConfigError::new(key, "must be a finite number"))
    } else if v.abs() > f64::from(f32::MAX) {
        Err(ConfigError::new(
            key,
            format!("{v:e} is beyond f32's range (±3.4e38): the GPU computes in f32"),
        ))
    } else {
        Ok(v)
    }
}
