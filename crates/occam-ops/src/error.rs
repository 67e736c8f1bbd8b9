//! Errors of the op library.

use occam_gpu::GpuError;
use thiserror::Error;

/// An op was given tensors of the wrong size, or the GPU failed.
#[derive(Debug, Error)]
pub enum OpError {
    /// A tensor's length does not match the op's shape.
    #[error("{op}: {tensor} has {got} values, the shape needs {expected}")]
    Shape {
        /// The op, e.g. `dense`.
        op: &'static str,
        /// Which tensor.
        tensor: String,
        /// Its length.
        got: usize,
        /// The length the shape needs.
        expected: usize,
    },
    /// A shape that cannot be run (e.g. a zero dimension where one is needed).
    #[error("{op}: invalid shape: {message}")]
    InvalidShape {
        /// The op.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A learner that runs outside Occam (a program) failed.
    #[error("{op}: {message}")]
    External {
        /// What ran, e.g. `external learner`.
        op: &'static str,
        /// What went wrong, naming the program.
        message: String,
    },
    /// The GPU layer failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// Result with an [`OpError`].
pub type Result<T> = std::result::Result<T, OpError>;

/// Checks that `tensor` holds `expected` values.
pub(crate) fn check_len(op: &'static str, tensor: &str, got: usize, expected: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(OpError::Shape {
            op,
            tensor: tensor.to_string(),
            got,
            expected,
        })
    }
}
