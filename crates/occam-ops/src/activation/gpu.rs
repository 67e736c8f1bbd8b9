//! The activation op's GPU kernels (`shaders/activation.wgsl`).

use super::Activation;
use crate::error::Result;
use crate::launch::{dispatch_checked, spread_grid};
use occam_gpu::{Encoder, EntryPoint, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/activation.wgsl` (its `ActParams`).
    pub(crate) struct ActParams in "activation" {
        len: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

const WORKGROUP: u32 = 256;

/// An activation over `len` elements on the GPU.
pub struct ActivationGpu {
    act: Activation,
    len: usize,
    params: wgpu::Buffer,
    grid: [u32; 3],
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward: Arc<Kernel>,
}

impl ActivationGpu {
    /// Compiles (or fetches) the kernels of `act` for `len` elements.
    pub fn new(gpu: &Gpu, act: Activation, len: usize) -> Result<ActivationGpu> {
        let len32 = crate::error::to_u32("activation", "elements", len)?;
        // Spread workgroups over x and y so that large tensors stay under the
        // per-dimension dispatch limit; the shader flattens (x, y) back.
        let grid = spread_grid(
            len,
            WORKGROUP,
            gpu.limits().max_compute_workgroups_per_dimension,
        );
        let constants = [("ACT", f64::from(act.code()))];
        let k = |entry: EntryPoint<'static>| gpu.kernel(entry, &constants);
        Ok(ActivationGpu {
            act,
            len,
            params: gpu.params(
                "activation params",
                &ActParams {
                    len: len32,
                    _pad0: 0,
                    _pad1: 0,
                    _pad2: 0,
                },
            )?,
            grid,
            forward: k(kernels::ACTIVATION_FORWARD)?,
            backward: k(kernels::ACTIVATION_BACKWARD)?,
            tangent_forward: k(kernels::ACTIVATION_TANGENT_FORWARD)?,
            tangent_backward: k(kernels::ACTIVATION_TANGENT_BACKWARD)?,
        })
    }

    fn run(
        &self,
        enc: &mut Encoder<'_>,
        kernel: &Kernel,
        tensors: &[(&str, &GpuTensor)],
    ) -> Result<()> {
        let checked: Vec<(&str, &GpuTensor, usize)> =
            tensors.iter().map(|(n, t)| (*n, *t, self.len)).collect();
        dispatch_checked(enc, "activation", kernel, &self.params, &checked, self.grid)
    }

    /// a = σ(s).
    pub fn forward(&self, enc: &mut Encoder<'_>, s: &GpuTensor, a: &GpuTensor) -> Result<()> {
        self.run(enc, &self.forward, &[("s", s), ("a", a)])
    }

    /// s̄ = σ'(s) ā.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        s: &GpuTensor,
        a_bar: &GpuTensor,
        s_bar: &GpuTensor,
    ) -> Result<()> {
        self.run(
            enc,
            &self.backward,
            &[("s", s), ("a_bar", a_bar), ("s_bar", s_bar)],
        )
    }

    /// ȧ = σ'(s) ṡ.
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        s: &GpuTensor,
        s_dot: &GpuTensor,
        a_dot: &GpuTensor,
    ) -> Result<()> {
        self.run(
            enc,
            &self.tangent_forward,
            &[("s", s), ("s_dot", s_dot), ("a_dot", a_dot)],
        )
    }

    /// s̄̇ = σ''(s) ṡ ā + σ'(s) ā̇.
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        s: &GpuTensor,
        a_bar: &GpuTensor,
        s_dot: &GpuTensor,
        a_bar_dot: &GpuTensor,
        s_bar_dot: &GpuTensor,
    ) -> Result<()> {
        self.run(
            enc,
            &self.tangent_backward,
            &[
                ("s", s),
                ("a_bar", a_bar),
                ("s_dot", s_dot),
                ("a_bar_dot", a_bar_dot),
                ("s_bar_dot", s_bar_dot),
            ],
        )
    }
}

crate::passes::unary_op_passes!(
    ActivationGpu,
    name: |op| format!("activation {} x{}", op.act, op.len),
    lens: |op| (op.len, op.len),
    tangent_backward: |op, enc, x, y_bar, x_dot, y_bar_dot, x_bar_dot| op.tangent_backward(
        enc,
        x[0],
        y_bar[0],
        x_dot[0],
        y_bar_dot[0],
        x_bar_dot[0]
    ),
);
