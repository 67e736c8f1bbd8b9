//! The reward for spread-out labels, −weight · std(z) per task, on the GPU
//! (`shaders/std_reward.wgsl`). CPU twin: [`std_dev`] (`cpu.rs`).

mod cpu;

pub use cpu::std_dev;

use crate::error::{OpError, Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/std_reward.wgsl` (its `StdParams`).
    pub(crate) struct StdParams in "std_reward" {
        tasks: u32,
        n: u32,
        weight: f32,
        _pad: u32,
    }
}

/// −weight · std(z_b) (Bessel-corrected) for each task b of n labels.
pub struct StdRewardGpu {
    tasks: usize,
    n: usize,
    params: wgpu::Buffer,
    stats: GpuTensor,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl StdRewardGpu {
    /// Kernels, parameters and the per-task (mean, std) buffer.
    pub fn new(gpu: &Gpu, tasks: usize, n: usize, weight: f64) -> Result<StdRewardGpu> {
        if tasks == 0 || n < 2 {
            return Err(OpError::InvalidShape {
                op: "std_reward",
                message: format!(
                    "needs tasks ≥ 1 and at least 2 labels per task (got {tasks}, {n})"
                ),
            });
        }
        let params = StdParams {
            tasks: tasks as u32,
            n: n as u32,
            weight: weight as f32,
            _pad: 0,
        };
        Ok(StdRewardGpu {
            tasks,
            n,
            params: gpu.params("std reward params", &params)?,
            stats: gpu.zeros("std reward stats", 2 * tasks)?,
            forward: gpu.kernel(kernels::STD_REWARD_FORWARD, &[])?,
            backward: gpu.kernel(kernels::STD_REWARD_BACKWARD, &[])?,
        })
    }

    /// loss\[b\] = −weight · std(z_b).
    pub fn forward(&self, enc: &mut Encoder<'_>, z: &GpuTensor, loss: &GpuTensor) -> Result<()> {
        check_len("std_reward", "z", z.len(), self.tasks * self.n)?;
        check_len("std_reward", "loss", loss.len(), self.tasks)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("z", z.buffer()),
                ("stats", self.stats.buffer()),
                ("loss", loss.buffer()),
            ],
            [self.tasks as u32, 1, 1],
        )?;
        Ok(())
    }

    /// z_bar += ∂loss/∂z (after [`StdRewardGpu::forward`] on the same z).
    pub fn backward(&self, enc: &mut Encoder<'_>, z: &GpuTensor, z_bar: &GpuTensor) -> Result<()> {
        check_len("std_reward", "z", z.len(), self.tasks * self.n)?;
        check_len("std_reward", "z_bar", z_bar.len(), self.tasks * self.n)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("z", z.buffer()),
                ("stats_in", self.stats.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            [workgroups_for(self.tasks * self.n, 64), 1, 1],
        )?;
        Ok(())
    }
}

/// The standard-deviation reward in the registry.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "std_reward",
    entry_points: &["std_reward_forward", "std_reward_backward"],
    params: &[crate::registry::params::<StdParams>],
    twin: "occam_ops::std_reward::std_dev",
    check: |gpu| {
        use crate::registry::{self, Checks, FD_TOL, H, REDUCTION_TOL};
        let mut c = Checks::new(0x57);
        let (tasks, n, weight) = (3, 133, 2.5);
        let z = c.uniform(tasks * n, -1.5, 0.5);
        let op = StdRewardGpu::new(gpu, tasks, n, weight)?;
        let t = registry::upload(gpu, "std_reward", &[&z])?;
        let loss = gpu.zeros("std_reward loss", tasks)?;
        let z_bar = gpu.zeros("std_reward z_bar", tasks * n)?;
        let got = registry::run(gpu, &[&loss, &z_bar], |enc| {
            op.forward(enc, &t[0], &loss)?;
            op.backward(enc, &t[0], &z_bar)
        })?;
        let (mut value, mut grad) = (Vec::new(), Vec::new());
        for b in 0..tasks {
            let (v, g) = std_dev(&z[b * n..(b + 1) * n]);
            value.push(-weight * v);
            grad.extend(g.iter().map(|g| -weight * g));
        }
        c.compare("std_reward forward: GPU vs twin", &got[..1], &[value], REDUCTION_TOL);
        c.compare("std_reward backward: GPU vs twin", &got[1..], &[grad], REDUCTION_TOL);
        c.gradient("std_reward", std_dev, &z[..n], H, FD_TOL);
        Ok(c.finish())
    },
};
