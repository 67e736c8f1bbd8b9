//! The ridge op's GPU kernels (`shaders/ridge.wgsl`).

use super::RidgeShape;
use crate::error::{OpError, Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/ridge.wgsl` (its `RidgeParams`).
    pub(crate) struct RidgeParams in "ridge" {
        tasks: u32,
        m: u32,
        big_m: u32,
        k: u32,
        lambda: f32,
        refine: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// Batched closed-form ridge regression on the GPU, with its Cholesky factors
/// and a per-task status (0, or the 1-based column where Cholesky failed).
pub struct RidgeGpu {
    shape: RidgeShape,
    params: wgpu::Buffer,
    chol: GpuTensor,
    sol: GpuTensor,
    scratch: GpuTensor,
    resid: GpuTensor,
    rows: GpuTensor,
    status: GpuTensor,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl RidgeGpu {
    /// Kernels and per-task state for `shape`.
    pub fn new(gpu: &Gpu, shape: RidgeShape) -> Result<RidgeGpu> {
        let RidgeShape {
            tasks,
            train,
            test,
            features,
            lambda,
        } = shape;
        if tasks == 0 || train == 0 || test == 0 || features == 0 || lambda.is_nan() || lambda < 0.0
        {
            return Err(OpError::InvalidShape {
                op: "ridge",
                message: format!("sizes must be positive and λ ≥ 0, got {shape:?}"),
            });
        }
        // As many refinement steps (up to 2) as a software adapter's loop
        // cap leaves room for; none needed to fit is an error.
        let budget = crate::loop_budget::loop_budget(gpu);
        let refine = (0..=REFINE)
            .rev()
            .find(|&r| budget.is_none_or(|b| loop_iterations(train, test, features, r) <= b))
            .unwrap_or(0);
        crate::loop_budget::check_loop_budget(
            gpu,
            "ridge",
            &format!("{features} features, {train} training and {test} test rows"),
            loop_iterations(train, test, features, refine),
        )?;
        let params = RidgeParams {
            tasks: tasks as u32,
            m: train as u32,
            big_m: test as u32,
            k: features as u32,
            lambda: lambda as f32,
            refine: refine as u32,
            _pad1: 0,
            _pad2: 0,
        };
        Ok(RidgeGpu {
            shape,
            params: gpu.params("ridge params", &params)?,
            chol: gpu.zeros("ridge cholesky", tasks * features * features)?,
            sol: gpu.zeros("ridge weights", tasks * features)?,
            scratch: gpu.zeros("ridge adjoint", tasks * features)?,
            resid: gpu.zeros("ridge refinement", tasks * features)?,
            rows: gpu.zeros("ridge refinement rows", tasks * train)?,
            status: gpu.zeros("ridge status", tasks)?,
            forward: gpu.kernel(kernels::RIDGE_FORWARD, &[])?,
            backward: gpu.kernel(kernels::RIDGE_BACKWARD, &[])?,
        })
    }

    /// Records the fit and the test predictions ŷ = Φ_te w.
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        phi_tr: &GpuTensor,
        z: &GpuTensor,
        phi_te: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        s.check_inputs(phi_tr.len(), z.len(), phi_te.len())?;
        check_len("ridge", "y", y.len(), s.tasks * s.test)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("phi_tr", phi_tr.buffer()),
                ("z", z.buffer()),
                ("phi_te", phi_te.buffer()),
                ("chol", self.chol.buffer()),
                ("sol", self.sol.buffer()),
                ("y", y.buffer()),
                ("status", self.status.buffer()),
                ("scratch", self.scratch.buffer()),
                ("resid", self.resid.buffer()),
                ("rows", self.rows.buffer()),
            ],
            [s.tasks as u32, 1, 1],
        )?;
        Ok(())
    }

    /// Records z̄ += Φ_tr A⁻¹ Φ_teᵀ ŷ̄ (after [`RidgeGpu::forward`]).
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        phi_tr: &GpuTensor,
        phi_te: &GpuTensor,
        y_bar: &GpuTensor,
        z_bar: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        check_len("ridge", "y_bar", y_bar.len(), s.tasks * s.test)?;
        check_len("ridge", "z_bar", z_bar.len(), s.tasks * s.train)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("phi_tr", phi_tr.buffer()),
                ("phi_te", phi_te.buffer()),
                ("chol", self.chol.buffer()),
                ("sol", self.sol.buffer()),
                ("y_bar", y_bar.buffer()),
                ("scratch", self.scratch.buffer()),
                ("resid", self.resid.buffer()),
                ("rows", self.rows.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            [s.tasks as u32, 1, 1],
        )?;
        Ok(())
    }

    /// Reads the per-task status: `Err` naming the first task whose A was
    /// not numerically positive definite.
    pub fn check_status(&self, gpu: &Gpu) -> Result<()> {
        occam_gpu::block_on(self.check_status_async(gpu))
    }

    /// The same, as a future (a browser awaits it).
    pub async fn check_status_async(&self, gpu: &Gpu) -> Result<()> {
        let status: Vec<u32> = bytemuck::cast_slice(&gpu.read_async(&self.status).await?).to_vec();
        match status.iter().enumerate().find(|(_, s)| **s != 0) {
            None => Ok(()),
            Some((b, col)) => Err(OpError::Numerical {
                op: "ridge",
                message: format!(
                    "task {b}: A = ΦᵀΦ + λI is not numerically positive definite in f32 (Cholesky failed at column {col}); increase λ"
                ),
            }),
        }
    }
}

/// Loop iterations of the busiest invocation (thread 0 of shaders/ridge.wgsl,
/// 256 threads): forward — the Gram matrix and right-hand side (a loop over
/// the m training rows per entry), the left-looking Cholesky (the pivot's
/// loop over j earlier columns, then every 256th row below it, each a loop
/// over j), both triangular solves, each refinement step (every 256th row's
/// dot product over k, every 256th feature's sum over the m rows, both solves
/// and the update), and ŷ (a loop over k per test row); backward — Φ_teᵀ ŷ̄, both
/// solves, each refinement step (as forward, plus Φ_teᵀ ŷ̄ again), and z̄.
fn loop_iterations(m: usize, big_m: usize, k: usize, refine: usize) -> usize {
    let per = |n: usize| n.div_ceil(256);
    let solves = 2 * (k + k * k.saturating_sub(1) / 2);
    let cholesky: usize = (0..k).map(|j| 1 + j + per(k - j - 1) * (1 + j)).sum();
    let residual = per(m) * (k + 1) + per(k) * (m + 1);
    let steps = refine;
    let refine = steps * (residual + solves + k + 1);
    let forward =
        per(k * k) * (m + 1) + per(k) * (m + 1) + cholesky + solves + refine + per(big_m) * (k + 1);
    let backward = per(k) * (big_m + 1)
        + solves
        + k
        + refine
        + steps * per(k) * (big_m + 1)
        + per(m) * (k + 1);
    forward.max(backward)
}

/// Refinement steps after each solve where the loop budget allows (the
/// shader's `refine`): two bring an ill-conditioned f32 solve to within a few
/// f32 roundings of the f64 result.
const REFINE: usize = 2;

#[cfg(test)]
mod tests {
    #[test]
    fn loop_iterations_are_quadratic_in_the_features() {
        use crate::loop_budget::SOFTWARE_LOOP_BUDGET;
        // kernel_sphere (20 features) and kernel_series (100) fit llvmpipe
        // with both refinement steps.
        assert!(super::loop_iterations(20, 80, 20, 2) < 2_000);
        assert!(super::loop_iterations(20, 80, 100, 2) < SOFTWARE_LOOP_BUDGET);
        // 135 features on 150 rows fit only without refinement, which is
        // what the kernel then runs.
        assert!(super::loop_iterations(150, 40, 135, 0) < SOFTWARE_LOOP_BUDGET);
        assert!(super::loop_iterations(150, 40, 135, 1) > SOFTWARE_LOOP_BUDGET);
        // The triangular solves alone are k² for thread 0.
        assert!(super::loop_iterations(20, 80, 300, 0) > SOFTWARE_LOOP_BUDGET);
    }
}
