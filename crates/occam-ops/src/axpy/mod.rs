//! y ← y + a·x in place (`shaders/axpy.wgsl`): how one buffer is added into
//! another on the GPU — a loss term's cotangent into the shared one, an
//! estimator's into the learner's — with its f64 twin [`axpy_cpu`].

use crate::error::{Result, check_len, to_u32};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/axpy.wgsl` (its `AxpyParams`).
    pub(crate) struct AxpyParams in "axpy" {
        len: u32,
        a: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// y ← y + a·x over tensors of one length, on the GPU.
pub struct AxpyGpu {
    len: usize,
    params: wgpu::Buffer,
    kernel: Arc<Kernel>,
}

impl AxpyGpu {
    /// The op for tensors of `len` values, scaling x by `a` (in f32).
    pub fn new(gpu: &Gpu, a: f64, len: usize) -> Result<AxpyGpu> {
        let len32 = to_u32("axpy", "values", len)?;
        let params = AxpyParams {
            len: len32,
            a: a as f32,
            _pad0: 0,
            _pad1: 0,
        };
        Ok(AxpyGpu {
            len,
            params: gpu.params("axpy params", &params)?,
            kernel: gpu.kernel(kernels::AXPY_FORWARD, &[])?,
        })
    }

    /// Records y ← y + a·x.
    pub fn record(&self, enc: &mut Encoder<'_>, y: &GpuTensor, x: &GpuTensor) -> Result<()> {
        check_len("axpy", "y", y.len(), self.len)?;
        check_len("axpy", "x", x.len(), self.len)?;
        enc.dispatch(
            &self.kernel,
            &[("p", &self.params), ("y", y.buffer()), ("x", x.buffer())],
            [workgroups_for(self.len, 64), 1, 1],
        )?;
        Ok(())
    }
}

/// The f64 twin: y ← y + a·x.
pub fn axpy_cpu(a: f64, x: &[f64], y: &mut [f64]) -> Result<()> {
    check_len("axpy", "x", x.len(), y.len())?;
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
    Ok(())
}

/// The add op in the registry.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "axpy",
    entry_points: &["axpy_forward"],
    params: &[crate::registry::params::<AxpyParams>],
    twin: "occam_ops::axpy::axpy_cpu",
    check: |gpu| {
        use crate::registry::{self, Checks, ELEMENTWISE_TOL};
        let mut c = Checks::new(0xA9);
        let x = c.uniform(133, -3.0, 3.0);
        let y0 = c.uniform(133, -3.0, 3.0);
        for a in [1.0, -0.5, 2.25] {
            let t = registry::upload(gpu, "axpy", &[&x, &y0])?;
            let op = AxpyGpu::new(gpu, a, x.len())?;
            let got = registry::run(gpu, &[&t[1]], |enc| op.record(enc, &t[1], &t[0]))?;
            let mut want = y0.clone();
            axpy_cpu(a, &x, &mut want)?;
            c.compare(format!("axpy a = {a}: GPU vs twin"), &got, &[want], ELEMENTWISE_TOL);
        }
        Ok(c.finish())
    },
};
