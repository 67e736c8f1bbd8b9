//! Debiased Sinkhorn divergence with geomloss semantics on the GPU
//! (`shaders/sinkhorn.wgsl`). CPU twin: `occam_meta::losses::sinkhorn_divergence`.

use crate::error::{OpError, Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, wgpu, workgroups_for};
use std::sync::Arc;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SinkhornParams {
    tasks: u32,
    n: u32,
    m: u32,
    weight: f32,
    blur: f32,
    scaling: f32,
    _pad: [u32; 2],
}

/// weight · S_ε(z_b, u_b) for each task b: n labels, m samples per task.
pub struct SinkhornGpu {
    tasks: usize,
    n: usize,
    m: usize,
    params: wgpu::Buffer,
    work: GpuTensor,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl SinkhornGpu {
    /// Kernels, parameters and the per-task potentials.
    pub fn new(
        gpu: &Gpu,
        tasks: usize,
        n: usize,
        m: usize,
        weight: f64,
        blur: f64,
        scaling: f64,
    ) -> Result<SinkhornGpu> {
        let valid = blur.is_finite() && blur > 0.0 && scaling > 0.0 && scaling < 1.0;
        if tasks == 0 || n == 0 || m == 0 || !valid {
            return Err(OpError::InvalidShape {
                op: "sinkhorn",
                message: format!(
                    "needs positive tasks, labels and samples, blur > 0 and 0 < scaling < 1 (got {tasks}, {n}, {m}, {blur}, {scaling})"
                ),
            });
        }
        let params = SinkhornParams {
            tasks: tasks as u32,
            n: n as u32,
            m: m as u32,
            weight: weight as f32,
            blur: blur as f32,
            scaling: scaling as f32,
            _pad: [0; 2],
        };
        Ok(SinkhornGpu {
            tasks,
            n,
            m,
            params: gpu.uniform("sinkhorn params", &params),
            work: gpu.zeros("sinkhorn potentials", tasks * 5 * (n + m))?,
            forward: gpu.kernel("sinkhorn", "sinkhorn_forward", &[])?,
            backward: gpu.kernel("sinkhorn", "sinkhorn_backward", &[])?,
        })
    }

    fn check(&self, z: &GpuTensor, u: &GpuTensor) -> Result<()> {
        check_len("sinkhorn", "z", z.len(), self.tasks * self.n)?;
        check_len("sinkhorn", "u", u.len(), self.tasks * self.m)
    }

    /// loss[b] = weight · S_ε(z_b, u_b); keeps the potentials for the backward pass.
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        self.check(z, u)?;
        check_len("sinkhorn", "loss", loss.len(), self.tasks)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("z", z.buffer()),
                ("u", u.buffer()),
                ("work", self.work.buffer()),
                ("loss", loss.buffer()),
            ],
            [self.tasks as u32, 1, 1],
        )?;
        Ok(())
    }

    /// z_bar += weight · ∂S/∂z (after [`SinkhornGpu::forward`] on the same data).
    pub fn backward(&self, enc: &mut Encoder<'_>, z_bar: &GpuTensor) -> Result<()> {
        check_len("sinkhorn", "z_bar", z_bar.len(), self.tasks * self.n)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("work_in", self.work.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            [workgroups_for(self.tasks * self.n, 64), 1, 1],
        )?;
        Ok(())
    }
}
