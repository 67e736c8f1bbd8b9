//! Energy distance between labels and target samples, per task, on the GPU
//! (`shaders/energy.wgsl`). CPU twin: [`energy_distance`] (`cpu.rs`).

mod cpu;

pub use cpu::energy_distance;

use crate::error::{OpError, Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/energy.wgsl` (its `EnergyParams`).
    pub(crate) struct EnergyParams in "energy" {
        tasks: u32,
        n: u32,
        n_u: u32,
        weight: f32,
    }
}

/// weight · Energy(z_b, u_b) for each task b: n labels and n_u samples per task.
pub struct EnergyGpu {
    tasks: usize,
    n: usize,
    n_u: usize,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl EnergyGpu {
    /// Kernels and parameters.
    pub fn new(gpu: &Gpu, tasks: usize, n: usize, n_u: usize, weight: f64) -> Result<EnergyGpu> {
        if tasks == 0 || n == 0 || n_u == 0 {
            return Err(OpError::InvalidShape {
                op: "energy",
                message: format!(
                    "tasks, labels and samples must be positive (got {tasks}, {n}, {n_u})"
                ),
            });
        }
        crate::loop_budget::check_loop_budget(
            gpu,
            "energy",
            &format!("{n} labels against {n_u} samples"),
            loop_iterations(n, n_u),
        )?;
        let params = EnergyParams {
            tasks: tasks as u32,
            n: n as u32,
            n_u: n_u as u32,
            weight: weight as f32,
        };
        Ok(EnergyGpu {
            tasks,
            n,
            n_u,
            params: gpu.params("energy params", &params)?,
            forward: gpu.kernel(kernels::ENERGY_FORWARD, &[])?,
            backward: gpu.kernel(kernels::ENERGY_BACKWARD, &[])?,
        })
    }

    fn check(&self, z: &GpuTensor, u: &GpuTensor) -> Result<()> {
        check_len("energy", "z", z.len(), self.tasks * self.n)?;
        check_len("energy", "u", u.len(), self.tasks * self.n_u)
    }

    /// loss\[b\] = weight · E(z_b, u_b).
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        self.check(z, u)?;
        check_len("energy", "loss", loss.len(), self.tasks)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("z", z.buffer()),
                ("u", u.buffer()),
                ("loss", loss.buffer()),
            ],
            [self.tasks as u32, 1, 1],
        )?;
        Ok(())
    }

    /// z_bar += weight · ∂E/∂z.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        z_bar: &GpuTensor,
    ) -> Result<()> {
        self.check(z, u)?;
        check_len("energy", "z_bar", z_bar.len(), self.tasks * self.n)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("z", z.buffer()),
                ("u", u.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            [workgroups_for(self.tasks * self.n, 64), 1, 1],
        )?;
        Ok(())
    }
}

/// Loop iterations of the busiest invocation (shaders/energy.wgsl): the
/// forward's 256 threads each take every 256th label (a loop over all samples
/// and all labels) and every 256th sample (a loop over all samples), then an
/// 8-level tree; the backward's one thread per label loops over both sets.
fn loop_iterations(n: usize, n_u: usize) -> usize {
    let forward = n.div_ceil(256) * (n_u + n + 1) + n_u.div_ceil(256) * (n_u + 1) + 9;
    let backward = n_u + n + 1;
    forward.max(backward)
}

/// The energy-distance term in the registry: value and gradient per task
/// against the twin, and the twin's gradient against central differences.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "energy",
    entry_points: &["energy_forward", "energy_backward"],
    params: &[crate::registry::params::<EnergyParams>],
    twin: "occam_ops::energy::energy_distance",
    check: |gpu| {
        use crate::registry::{self, Checks, FD_TOL, H, REDUCTION_TOL};
        let mut c = Checks::new(0xE4);
        let (tasks, n, n_u, weight) = (3, 70, 57, 7.0);
        let z = c.uniform(tasks * n, -1.2, 1.2);
        let u = c.uniform(tasks * n_u, -1.0, 1.0);
        let op = EnergyGpu::new(gpu, tasks, n, n_u, weight)?;
        let t = registry::upload(gpu, "energy", &[&z, &u])?;
        let loss = gpu.zeros("energy loss", tasks)?;
        let z_bar = gpu.zeros("energy z_bar", tasks * n)?;
        let got = registry::run(gpu, &[&loss, &z_bar], |enc| {
            op.forward(enc, &t[0], &t[1], &loss)?;
            op.backward(enc, &t[0], &t[1], &z_bar)
        })?;
        let (mut value, mut grad) = (Vec::new(), Vec::new());
        for b in 0..tasks {
            let (v, g) = energy_distance(&z[b * n..(b + 1) * n], &u[b * n_u..(b + 1) * n_u]);
            value.push(weight * v);
            grad.extend(g.iter().map(|g| weight * g));
        }
        c.compare("energy forward: GPU vs twin", &got[..1], &[value], REDUCTION_TOL);
        c.compare("energy backward: GPU vs twin", &got[1..], &[grad], REDUCTION_TOL);
        // Piecewise linear: a few points, so that no |z_i − u_j| crosses 0 within h.
        let (zs, us) = (&z[..6], &u[..5]);
        c.gradient("energy", |z| energy_distance(z, us), zs, H, FD_TOL);
        Ok(c.finish())
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn loop_iterations_grow_with_both_sets() {
        // mlp_gd's 300 labels against 300 samples: far under the budget.
        assert_eq!(super::loop_iterations(300, 300), 2 * 601 + 2 * 301 + 9);
        assert!(super::loop_iterations(5000, 5000) > crate::loop_budget::SOFTWARE_LOOP_BUDGET);
    }
}
