//! The experiment layer's error: what went wrong, for the user, and the
//! exit code it maps to.

use occam_gpu::GpuError;
use occam_meta::MetaError;
use occam_meta::config_error::ConfigError;
use occam_ops::OpError;

/// An error for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bad input or machine setup: a configuration value, a file, an
    /// adapter that cannot do what is asked (exit code 2).
    #[error("{0}")]
    Input(String),
    /// Something that should not happen with valid input, or a run that
    /// failed (a diverged meta-loss, a failed gradient check; exit code 1).
    #[error("{0}")]
    Internal(String),
    /// The run was stopped by a signal after writing a checkpoint (exit
    /// code 130, as for SIGINT).
    #[error("{0}")]
    Interrupted(String),
}

impl Error {
    /// Bad input (exit code 2).
    pub fn input(message: impl Into<String>) -> Error {
        Error::Input(message.into())
    }

    /// An internal failure (exit code 1).
    pub fn internal(message: impl Into<String>) -> Error {
        Error::Internal(message.into())
    }

    /// The process exit code: 2 for bad input, 130 for an interrupted run, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) => 2,
            Error::Internal(_) => 1,
            Error::Interrupted(_) => 130,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Error::Input(m) | Error::Internal(m) | Error::Interrupted(m) => m,
        }
    }

    /// The same error with `prefix: ` before its message.
    pub fn context(self, prefix: &str) -> Error {
        match self {
            Error::Input(m) => Error::Input(format!("{prefix}: {m}")),
            Error::Internal(m) => Error::Internal(format!("{prefix}: {m}")),
            Error::Interrupted(m) => Error::Interrupted(format!("{prefix}: {m}")),
        }
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Error {
        match e {
            OpError::Gpu(g) => g.into(),
            other => Error::input(other.to_string()),
        }
    }
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Error {
        match e {
            MetaError::Op(op) => op.into(),
            other => Error::input(other.to_string()),
        }
    }
}

impl From<GpuError> for Error {
    fn from(e: GpuError) -> Error {
        if e.is_user_error() {
            Error::input(e.to_string())
        } else {
            Error::internal(e.to_string())
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::input(e.to_string())
    }
}
