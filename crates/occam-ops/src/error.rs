//! Errors of the op library.

use occam_gpu::GpuError;
use thiserror::Error;

/// An op was given tensors of the wrong size or a shape it cannot run, the
/// adapter cannot run it, its numbers broke down, or the GPU failed.
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
    /// The adapter cannot run the op as asked (no subgroups of the size a
    /// kernel needs, a loop longer than a software adapter runs).
    #[error("{op}: {message}")]
    Unsupported {
        /// The op.
        op: &'static str,
        /// What the adapter lacks, naming it.
        message: String,
    },
    /// The numbers broke down (a factorisation of a matrix that is not
    /// numerically positive definite).
    #[error("{op}: {message}")]
    Numerical {
        /// The op.
        op: &'static str,
        /// What failed, and what to change.
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

/// `v` as the u32 a shader's parameters hold, or an error naming the op and
/// what `v` counts (e.g. `"parameters"`, `"rows"`).
pub(crate) fn to_u32(op: &'static str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| OpError::InvalidShape {
        op,
        message: format!("{what} = {v} does not fit in 32 bits"),
    })
}
