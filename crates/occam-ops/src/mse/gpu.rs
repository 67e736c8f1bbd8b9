//! The MSE op's GPU kernels (`shaders/mse.wgsl`).

use super::MseShape;
use crate::error::{OpError, Result, check_len};
use crate::passes::EncodePasses;
use occam_gpu::{Encoder, EntryPoint, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/mse.wgsl` (its `MseParams`).
    pub(crate) struct MseParams in "mse" {
        batch: u32,
        count: u32,
        weight: f32,
        _pad: u32,
    }
}

/// Batched weighted MSE on the GPU.
pub struct MseGpu {
    shape: MseShape,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward: Arc<Kernel>,
}

impl MseGpu {
    /// Compiles (or fetches) the kernels for `shape`.
    pub fn new(gpu: &Gpu, shape: MseShape) -> Result<MseGpu> {
        let invalid = |message: String| OpError::InvalidShape { op: "mse", message };
        if shape.batch == 0 || shape.count == 0 {
            return Err(invalid(format!(
                "batch and count must be positive, got {shape:?}"
            )));
        }
        let params = MseParams {
            batch: u32::try_from(shape.batch).map_err(|_| invalid("batch too large".into()))?,
            count: u32::try_from(shape.count).map_err(|_| invalid("count too large".into()))?,
            weight: shape.weight as f32,
            _pad: 0,
        };
        u32::try_from(shape.len()).map_err(|_| invalid("batch × count too large".into()))?;
        let k = |entry: EntryPoint<'static>| gpu.kernel(entry, &[]);
        Ok(MseGpu {
            shape,
            params: gpu.params("mse params", &params)?,
            forward: k(kernels::MSE_FORWARD)?,
            backward: k(kernels::MSE_BACKWARD)?,
            tangent_forward: k(kernels::MSE_TANGENT_FORWARD)?,
            tangent_backward: k(kernels::MSE_TANGENT_BACKWARD)?,
        })
    }

    fn check(
        &self,
        elements: &[(&str, &GpuTensor)],
        per_problem: &[(&str, &GpuTensor)],
    ) -> Result<()> {
        for (n, t) in elements {
            check_len("mse", n, t.len(), self.shape.len())?;
        }
        for (n, t) in per_problem {
            check_len("mse", n, t.len(), self.shape.batch)?;
        }
        Ok(())
    }

    fn elementwise_grid(&self) -> [u32; 3] {
        [workgroups_for(self.shape.len(), 256), 1, 1]
    }

    /// loss_b = c Σ (g − z)².
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        g: &GpuTensor,
        z: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        self.check(&[("g", g), ("z", z)], &[("loss", loss)])?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("g", g.buffer()),
                ("z", z.buffer()),
                ("loss", loss.buffer()),
            ],
            [self.shape.batch as u32, 1, 1],
        )?;
        Ok(())
    }

    /// ḡ = 2c L̄ (g − z), z̄ = −ḡ.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        g: &GpuTensor,
        z: &GpuTensor,
        loss_bar: &GpuTensor,
        g_bar: &GpuTensor,
        z_bar: &GpuTensor,
    ) -> Result<()> {
        self.check(
            &[("g", g), ("z", z), ("g_bar", g_bar), ("z_bar", z_bar)],
            &[("loss_bar", loss_bar)],
        )?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("g", g.buffer()),
                ("z", z.buffer()),
                ("loss_bar", loss_bar.buffer()),
                ("g_bar", g_bar.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            self.elementwise_grid(),
        )?;
        Ok(())
    }

    /// L̇ = 2c Σ (g − z)(ġ − ż).
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        g: &GpuTensor,
        z: &GpuTensor,
        g_dot: &GpuTensor,
        z_dot: &GpuTensor,
        loss_dot: &GpuTensor,
    ) -> Result<()> {
        self.check(
            &[("g", g), ("z", z), ("g_dot", g_dot), ("z_dot", z_dot)],
            &[("loss_dot", loss_dot)],
        )?;
        enc.dispatch(
            &self.tangent_forward,
            &[
                ("p", &self.params),
                ("g", g.buffer()),
                ("z", z.buffer()),
                ("g_dot", g_dot.buffer()),
                ("z_dot", z_dot.buffer()),
                ("loss_dot", loss_dot.buffer()),
            ],
            [self.shape.batch as u32, 1, 1],
        )?;
        Ok(())
    }

    /// ḡ̇ = 2c [L̄̇ (g − z) + L̄ (ġ − ż)], z̄̇ = −ḡ̇.
    #[allow(clippy::too_many_arguments)]
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        g: &GpuTensor,
        z: &GpuTensor,
        loss_bar: &GpuTensor,
        g_dot: &GpuTensor,
        z_dot: &GpuTensor,
        loss_bar_dot: &GpuTensor,
        g_bar_dot: &GpuTensor,
        z_bar_dot: &GpuTensor,
    ) -> Result<()> {
        self.check(
            &[
                ("g", g),
                ("z", z),
                ("g_dot", g_dot),
                ("z_dot", z_dot),
                ("g_bar_dot", g_bar_dot),
                ("z_bar_dot", z_bar_dot),
            ],
            &[("loss_bar", loss_bar), ("loss_bar_dot", loss_bar_dot)],
        )?;
        enc.dispatch(
            &self.tangent_backward,
            &[
                ("p", &self.params),
                ("g", g.buffer()),
                ("z", z.buffer()),
                ("loss_bar", loss_bar.buffer()),
                ("g_dot", g_dot.buffer()),
                ("z_dot", z_dot.buffer()),
                ("loss_bar_dot", loss_bar_dot.buffer()),
                ("g_bar_dot", g_bar_dot.buffer()),
                ("z_bar_dot", z_bar_dot.buffer()),
            ],
            self.elementwise_grid(),
        )?;
        Ok(())
    }
}

impl EncodePasses for MseGpu {
    fn name(&self) -> String {
        format!("mse {:?}", self.shape)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.shape.len(), self.shape.len()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.shape.batch]
    }
    fn encode_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y: &[&GpuTensor],
    ) -> Result<()> {
        self.forward(enc, x[0], x[1], y[0])
    }
    fn encode_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_bar: &[&GpuTensor],
    ) -> Result<()> {
        self.backward(enc, x[0], x[1], y_bar[0], x_bar[0], x_bar[1])
    }
    fn encode_tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_dot: &[&GpuTensor],
    ) -> Result<()> {
        self.tangent_forward(enc, x[0], x[1], x_dot[0], x_dot[1], y_dot[0])
    }
    fn encode_tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_bar_dot: &[&GpuTensor],
        x_bar_dot: &[&GpuTensor],
    ) -> Result<()> {
        self.tangent_backward(
            enc,
            x[0],
            x[1],
            y_bar[0],
            x_dot[0],
            x_dot[1],
            y_bar_dot[0],
            x_bar_dot[0],
            x_bar_dot[1],
        )
    }
}
