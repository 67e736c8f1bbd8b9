//! Debiased Sinkhorn divergence with geomloss semantics on the GPU
//! (`shaders/sinkhorn.wgsl`). CPU twin: `occam_meta::loss::twins::sinkhorn_divergence`.

use crate::error::{OpError, Result, check_len};
use crate::loop_budget::{SOFTWARE_LOOP_CAP, loop_budget};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/sinkhorn.wgsl` (its `SinkhornParams`).
    pub(crate) struct SinkhornParams in "sinkhorn" {
        tasks: u32,
        n: u32,
        m: u32,
        weight: f32,
        blur: f32,
        scaling: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

occam_gpu::uniform_params! {
    /// The `stages` uniform of one forward dispatch.
    pub(crate) struct Stages in "sinkhorn" {
        k0: u32,
        k1: u32,
        first: u32,
        last: u32,
    }
}

/// Threads of the forward kernel's one workgroup per task (the shader's `WG`).
const THREADS: usize = 256;
/// Points staged per tile in the forward kernel (the shader's `TILE`).
const TILE: usize = 256;

/// Loop iterations one forward invocation runs for one ε step: an update
/// (every block of `THREADS` queries streams both sets through the tiles,
/// a quad of points per iteration) and a settle.
fn step_iterations(n: usize, m: usize) -> usize {
    let blocks = (n + m).div_ceil(THREADS);
    let per_block = n.div_ceil(4) + m.div_ceil(4) + 2 * (n.div_ceil(TILE) + m.div_ceil(TILE)) + 1;
    blocks * per_block + n.div_ceil(THREADS) + m.div_ceil(THREADS) + 1
}

/// Entries of the ε list [d², exp(2 ln d + k · 2 ln s) while above 2 ln blur,
/// blur²] for the largest diameter an f32 can hold: an upper bound on the
/// list the shader builds from the data, whatever the labels.
fn max_schedule_len(blur: f64, scaling: f64) -> usize {
    let start = 2.0 * f64::from(f32::MAX).ln();
    let count = ((2.0 * blur.ln() - start) / (2.0 * scaling.ln()))
        .ceil()
        .max(0.0);
    count as usize + 3
}

/// How the forward pass cuts the ε list into dispatches: list ranges
/// `[k0, k1)`. One dispatch covering everything without a loop budget;
/// with one, ranges whose invocations stay under it (an error when a single
/// ε step is over it).
fn forward_stages(
    n: usize,
    m: usize,
    blur: f64,
    scaling: f64,
    loop_budget: Option<usize>,
) -> std::result::Result<Vec<(usize, usize)>, String> {
    let Some(budget) = loop_budget else {
        return Ok(vec![(0, usize::MAX)]);
    };
    let rows = n.div_ceil(THREADS) + m.div_ceil(THREADS);
    let per_step = step_iterations(n, m);
    // Copies, diameter and loss reductions, and the first and final updates.
    let fixed = 2 * rows + 3 * THREADS.ilog2() as usize + 2 * per_step;
    let fit = budget.saturating_sub(fixed) / per_step;
    if fit == 0 {
        return Err(format!(
            "{n} labels against {m} samples need about {} loop iterations per invocation for one ε step, over the software adapter's cap of {SOFTWARE_LOOP_CAP}; use a hardware adapter or fewer samples",
            fixed + per_step
        ));
    }
    let len = max_schedule_len(blur, scaling);
    Ok((0..len.div_ceil(fit))
        .map(|i| (i * fit, ((i + 1) * fit).min(len)))
        .collect())
}

/// weight · S_ε(z_b, u_b) for each task b: n labels, m samples per task.
pub struct SinkhornGpu {
    tasks: usize,
    n: usize,
    m: usize,
    params: wgpu::Buffer,
    /// One `stages` uniform per forward dispatch.
    stages: Vec<wgpu::Buffer>,
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
            _pad0: 0,
            _pad1: 0,
        };
        let budget = loop_budget(gpu);
        let ranges = forward_stages(n, m, blur, scaling, budget).map_err(|message| {
            OpError::InvalidShape {
                op: "sinkhorn",
                message,
            }
        })?;
        let last = ranges.len() - 1;
        let stages = ranges
            .iter()
            .enumerate()
            .map(|(i, &(k0, k1))| {
                let s = Stages {
                    k0: k0 as u32,
                    k1: k1.min(u32::MAX as usize) as u32,
                    first: u32::from(i == 0),
                    last: u32::from(i == last),
                };
                gpu.params("sinkhorn stages", &s)
            })
            .collect::<occam_gpu::Result<Vec<_>>>()?;
        Ok(SinkhornGpu {
            tasks,
            n,
            m,
            params: gpu.params("sinkhorn params", &params)?,
            stages,
            work: gpu.zeros("sinkhorn potentials", tasks * 5 * (n + m))?,
            forward: gpu.kernel(kernels::SINKHORN_FORWARD, &[])?,
            backward: gpu.kernel(kernels::SINKHORN_BACKWARD, &[])?,
        })
    }

    fn check(&self, z: &GpuTensor, u: &GpuTensor) -> Result<()> {
        check_len("sinkhorn", "z", z.len(), self.tasks * self.n)?;
        check_len("sinkhorn", "u", u.len(), self.tasks * self.m)
    }

    /// loss\[b\] = weight · S_ε(z_b, u_b); keeps the potentials for the backward pass.
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        self.check(z, u)?;
        check_len("sinkhorn", "loss", loss.len(), self.tasks)?;
        for stages in &self.stages {
            enc.dispatch(
                &self.forward,
                &[
                    ("p", &self.params),
                    ("stages", stages),
                    ("z", z.buffer()),
                    ("u", u.buffer()),
                    ("work", self.work.buffer()),
                    ("loss", loss.buffer()),
                ],
                [self.tasks as u32, 1, 1],
            )?;
        }
        Ok(())
    }

    /// Dispatches of one forward pass (several on software adapters).
    pub fn forward_dispatches(&self) -> usize {
        self.stages.len()
    }

    /// z_bar += weight · ∂S/∂z (after [`SinkhornGpu::forward`] on the same data).
    pub fn backward(&self, enc: &mut Encoder<'_>, z_bar: &GpuTensor) -> Result<()> {
        check_len("sinkhorn", "z_bar", z_bar.len(), self.tasks * self.n)?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("work", self.work.buffer()),
                ("z_bar", z_bar.buffer()),
            ],
            [workgroups_for(self.n, THREADS), self.tasks as u32, 1],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{forward_stages, max_schedule_len};

    #[test]
    fn the_epsilon_list_is_cut_under_the_loop_budget_and_covers_any_diameter() {
        // blur 0.05, scaling 0.5: d up to f32::MAX gives at most 133 + 3 entries.
        assert_eq!(max_schedule_len(0.05, 0.5), 136);
        assert_eq!(
            forward_stages(300, 300, 0.05, 0.5, None).unwrap(),
            vec![(0, usize::MAX)]
        );
        // 300 × 300: 3 blocks of queries × (75 + 75 quads + 2 × 4 tile
        // loops + 1) per update, + 2 + 2 + 1 for the settle: 482 per ε step.
        assert_eq!(super::step_iterations(300, 300), 482);
        let ranges = forward_stages(1500, 1500, 0.05, 0.5, Some(50_000)).unwrap();
        assert!(ranges.len() > 1);
        assert_eq!(ranges.first().unwrap().0, 0);
        assert_eq!(ranges.last().unwrap().1, 136);
        assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0));
        // Each range's invocations, with the first and final updates, stay
        // under 50 000 in all.
        let step = super::step_iterations(1500, 1500);
        assert!(ranges.iter().all(|&(a, b)| (b - a + 2) * step < 50_000));
        // One ε step alone over the cap is an error that names the sizes.
        let e = forward_stages(5000, 5000, 0.05, 0.5, Some(50_000)).unwrap_err();
        assert!(e.contains("5000 labels against 5000 samples"), "{e}");
    }
}
