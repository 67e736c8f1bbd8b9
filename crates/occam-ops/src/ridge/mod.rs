//! Ridge regression in closed form on features, per task (see
//! `shaders/ridge.wgsl` for the math): the learner of the paper's ridge and
//! kernel experiments. A = Φ_trᵀΦ_tr + λI is factorised by Cholesky, never
//! inverted; a failed factorisation is reported, not turned into NaN.

mod cpu;
mod gpu;

pub use cpu::{RidgeCpu, RidgeSolution, cholesky, cholesky_solve};
pub use gpu::RidgeGpu;

/// Sizes of a batched ridge problem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RidgeShape {
    /// Independent tasks.
    pub tasks: usize,
    /// Training rows per task.
    pub train: usize,
    /// Test rows per task.
    pub test: usize,
    /// Features.
    pub features: usize,
    /// Ridge λ.
    pub lambda: f64,
}
