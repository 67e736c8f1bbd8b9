//! Ridge regression in closed form on features, per task (see
//! `shaders/ridge.wgsl` for the math): the learner of the paper's ridge and
//! kernel experiments. A = Φ_trᵀΦ_tr + λI is factorised by Cholesky, never
//! inverted; a failed factorisation is reported, not turned into NaN.

mod cpu;
pub(crate) mod gpu;

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

impl RidgeShape {
    /// Checks the lengths of Φ_tr, z and Φ_te (CPU and GPU alike).
    pub(crate) fn check_inputs(&self, phi_tr: usize, z: usize, phi_te: usize) -> crate::Result<()> {
        let s = self;
        crate::error::check_len("ridge", "phi_tr", phi_tr, s.tasks * s.train * s.features)?;
        crate::error::check_len("ridge", "z", z, s.tasks * s.train)?;
        crate::error::check_len("ridge", "phi_te", phi_te, s.tasks * s.test * s.features)
    }
}
