//! The spiking network's GPU side: the four passes of `occam_ops::snn` as a
//! [`GpuModel`], so the unrolled gradient-descent machinery
//! ([`crate::learners::gd`]) trains it step by step and sweeps back through
//! its training exactly as it does for a layer list.

use crate::error::Result;
use crate::learners::gd::model::{GpuModel, GpuModelSource};
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::snn::{SnnGpu, SnnSpec};

/// The op with its output buffers; parameters are [W₁, W₂].
struct SnnModelGpu {
    op: SnnGpu,
    g: GpuTensor,
    g_dot: GpuTensor,
}

impl GpuModel for SnnModelGpu {
    fn forward(&self, enc: &mut Encoder<'_>, w: &[GpuTensor], x: &GpuTensor) -> Result<()> {
        Ok(self.op.forward(enc, x, (&w[0], &w[1]), &self.g)?)
    }

    fn output(&self) -> &GpuTensor {
        &self.g
    }

    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        w_bar: &[GpuTensor],
    ) -> Result<()> {
        Ok(self
            .op
            .backward(enc, x, (&w[0], &w[1]), g_bar, (&w_bar[0], &w_bar[1]))?)
    }

    fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        v: &[GpuTensor],
    ) -> Result<()> {
        Ok(self
            .op
            .tangent_forward(enc, x, (&w[0], &w[1]), (&v[0], &v[1]), &self.g_dot)?)
    }

    fn output_tangent(&self) -> &GpuTensor {
        &self.g_dot
    }

    fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        v: &[GpuTensor],
        g_bar_dot: &GpuTensor,
        hv: &[GpuTensor],
    ) -> Result<()> {
        Ok(self.op.tangent_backward(
            enc,
            x,
            (&w[0], &w[1]),
            (&v[0], &v[1]),
            g_bar,
            g_bar_dot,
            (&hv[0], &hv[1]),
        )?)
    }
}

impl GpuModelSource for SnnSpec {
    fn input_len(&self) -> usize {
        self.inputs
    }

    fn output_len(&self) -> usize {
        1
    }

    fn blocks(&self) -> Vec<usize> {
        vec![self.hidden * (self.inputs + 1), self.hidden + 1]
    }

    fn gpu_model(
        &self,
        gpu: &Gpu,
        tasks: usize,
        rows: usize,
        _tangents: bool,
        label: &str,
    ) -> Result<Box<dyn GpuModel>> {
        Ok(Box::new(SnnModelGpu {
            op: SnnGpu::new(gpu, self.gpu_shape(tasks, rows))?,
            g: gpu.zeros(&format!("{label} output"), tasks * rows)?,
            g_dot: gpu.zeros(&format!("{label} output tangent"), tasks * rows)?,
        }))
    }
}
