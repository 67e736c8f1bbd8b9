//! The engine's errors: what a learner, a loss term or the meta-step refused,
//! or what failed below it (an op or the GPU, carried unchanged).

use occam_gpu::GpuError;
use occam_ops::OpError;
use thiserror::Error;

/// An error of the meta-learning layer.
#[derive(Debug, Error)]
pub enum MetaError {
    /// An op refused its shapes or buffers, or the GPU failed.
    #[error(transparent)]
    Op(#[from] OpError),
    /// A learner cannot run with its settings, sizes or task data.
    #[error("learner: {0}")]
    Learner(String),
    /// The meta-step cannot run this problem (a combination of learners,
    /// terms and sizes it does not support).
    #[error("meta-step: {0}")]
    Unsupported(String),
    /// A saved engine state (a checkpoint) does not fit this engine.
    #[error("meta-step state: {0}")]
    State(String),
    /// A learner that runs outside Occam (a program, an animal's sessions)
    /// failed.
    #[error("{what}: {message}")]
    External {
        /// What ran, e.g. `external learner`.
        what: &'static str,
        /// What went wrong, naming the program.
        message: String,
    },
}

impl From<GpuError> for MetaError {
    fn from(e: GpuError) -> MetaError {
        MetaError::Op(OpError::Gpu(e))
    }
}

impl MetaError {
    /// The GPU error underneath, if that is what failed.
    pub fn gpu(&self) -> Option<&GpuError> {
        match self {
            MetaError::Op(OpError::Gpu(g)) => Some(g),
            _ => None,
        }
    }
}

/// Result with a [`MetaError`].
pub type Result<T> = std::result::Result<T, MetaError>;

/// A read-back in flight that ends in a [`Result`] (see [`occam_gpu::GpuFuture`]).
pub type ReadFuture<'a, T> = occam_gpu::GpuFuture<'a, T, MetaError>;
