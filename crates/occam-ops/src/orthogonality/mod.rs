//! The orthogonality penalty of a series on the GPU
//! (`shaders/orthogonality.wgsl`). CPU twin: [`orthogonality`] (`cpu.rs`).

mod cpu;

pub use cpu::orthogonality;

use crate::error::{OpError, Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/orthogonality.wgsl` (its `OrthParams`).
    pub(crate) struct OrthParams in "orthogonality" {
        points: u32,
        functions: u32,
        weight: f32,
        _pad: u32,
    }
}

/// weight · Σ_k (Σ_i z_i h_k,i)² over `points` fixed points and `functions` earlier functions.
pub struct OrthogonalityGpu {
    points: usize,
    functions: usize,
    params: wgpu::Buffer,
    dots: GpuTensor,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl OrthogonalityGpu {
    /// Kernels, parameters and the buffer of dot products.
    pub fn new(
        gpu: &Gpu,
        points: usize,
        functions: usize,
        weight: f64,
    ) -> Result<OrthogonalityGpu> {
        if points == 0 || functions == 0 {
            return Err(OpError::InvalidShape {
                op: "orthogonality",
                message: format!(
                    "points and functions must be positive (got {points}, {functions})"
                ),
            });
        }
        let params = OrthParams {
            points: points as u32,
            functions: functions as u32,
            weight: weight as f32,
            _pad: 0,
        };
        Ok(OrthogonalityGpu {
            points,
            functions,
            params: gpu.params("orthogonality params", &params)?,
            dots: gpu.zeros("orthogonality dots", functions)?,
            forward: gpu.kernel(kernels::ORTHOGONALITY_FORWARD, &[])?,
            backward: gpu.kernel(kernels::ORTHOGONALITY_BACKWARD, &[])?,
        })
    }

    /// d_k = Σ_i z_i h_k,i and loss_k = weight · d_k².
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        h: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        check_len("orthogonality", "z", z.len(), self.points)?;
        check_len("orthogonality", "h", h.len(), self.points * self.functions)?;
        check_len("orthogonality", "loss", loss.len(), self.functions)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("z", z.buffer()),
                ("h", h.buffer()),
                ("dots", self.dots.buffer()),
                ("loss", loss.buffer()),
            ],
            [self.functions as u32, 1, 1],
        )?;
        Ok(())
    }

    /// z_bar += 2·weight Σ_k d_k h_k (after [`OrthogonalityGpu::forward`]).
    pub fn backward(&self, enc: &mut Encoder<'_>, h: &GpuTensor, z_bar: &GpuTensor) -> Result<()> {
        check_len("orthogonality", "h", h.len(), self.points * self.functions)?;
        check_len("orthogonality", "z_bar", z_bar.len(), self.points)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("h", h.buffer()),
                ("dots_in", self.dots.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            [workgroups_for(self.points, 64), 1, 1],
        )?;
        Ok(())
    }
}

/// The orthogonality penalty in the registry.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "orthogonality",
    entry_points: &["orthogonality_forward", "orthogonality_backward"],
    params: &[crate::registry::params::<OrthParams>],
    twin: "occam_ops::orthogonality::orthogonality",
    check: |gpu| {
        use crate::registry::{self, Checks, FD_TOL, H, REDUCTION_TOL};
        let mut c = Checks::new(0x07);
        let (points, functions, weight) = (150, 3, 4.0);
        let z = c.uniform(points, -1.0, 1.0);
        let h = c.uniform(functions * points, -1.0, 1.0);
        let op = OrthogonalityGpu::new(gpu, points, functions, weight)?;
        let t = registry::upload(gpu, "orthogonality", &[&z, &h])?;
        let loss = gpu.zeros("orthogonality loss", functions)?;
        let z_bar = gpu.zeros("orthogonality z_bar", points)?;
        let got = registry::run(gpu, &[&loss, &z_bar], |enc| {
            op.forward(enc, &t[0], &t[1], &loss)?;
            op.backward(enc, &t[1], &z_bar)
        })?;
        let earlier: Vec<Vec<f64>> = h.chunks(points).map(<[f64]>::to_vec).collect();
        let (value, grad) = orthogonality(&z, &earlier);
        let total = vec![got[0].iter().sum::<f64>()];
        let grad: Vec<f64> = grad.iter().map(|g| weight * g).collect();
        c.compare("orthogonality forward: GPU vs twin", &[total], &[vec![weight * value]], REDUCTION_TOL);
        c.compare("orthogonality backward: GPU vs twin", &got[1..], &[grad], REDUCTION_TOL);
        c.gradient("orthogonality", |z| orthogonality(z, &earlier), &z, H, FD_TOL);
        Ok(c.finish())
    },
};
