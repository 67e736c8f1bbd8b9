//! Per-step minibatch selection on the GPU (`shaders/gather.wgsl`): rows of a
//! per-task source picked by an index table, at the inner step held by a
//! [`StepCursor`], and the deterministic scatter-add that is its adjoint.
//! The CPU twin is a plain row gather, [`gather_rows`] (`cpu.rs`).

mod cpu;

pub use cpu::{gather_rows, scatter_rows};

use crate::error::{OpError, Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/gather.wgsl` (its `GatherParams`).
    pub(crate) struct GatherParams in "gather" {
        tasks: u32,
        n: u32,
        m: u32,
        width: u32,
        alpha: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

occam_gpu::uniform_params! {
    /// The uniform of `shaders/gather.wgsl` that names the current step (its
    /// `Cursor`): written by a copy from the cursor's table.
    pub(crate) struct Cursor in "gather" {
        t: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// A uniform block holding the current inner step t, set on the GPU timeline
/// by a buffer copy, so one recorded sequence of dispatches serves every step.
pub struct StepCursor {
    uniform: wgpu::Buffer,
    table: GpuTensor,
    steps: usize,
}

impl StepCursor {
    /// A cursor over steps 0..steps.
    pub fn new(gpu: &Gpu, steps: usize) -> Result<StepCursor> {
        let table: Vec<u32> = (0..steps.max(1) as u32)
            .flat_map(|t| [t, 0, 0, 0])
            .collect();
        Ok(StepCursor {
            uniform: gpu.params(
                "step cursor",
                &Cursor {
                    t: 0,
                    _pad0: 0,
                    _pad1: 0,
                    _pad2: 0,
                },
            )?,
            table: gpu.upload_u32("step cursor table", &table)?,
            steps,
        })
    }

    /// Records "the current step is t".
    pub fn set(&self, enc: &mut Encoder<'_>, t: usize) -> Result<()> {
        if t >= self.steps {
            return Err(OpError::InvalidShape {
                op: "gather",
                message: format!("step {t} is past the cursor's {} steps", self.steps),
            });
        }
        enc.copy_raw(self.table.buffer(), t as u64 * 16, &self.uniform, 0, 16);
        Ok(())
    }

    /// The uniform buffer bound as `cursor`.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.uniform
    }
}

/// Minibatch gather for `tasks` tasks of `m` source rows of `width` values,
/// `n` rows per minibatch, indices `[steps, tasks, n]`.
pub struct GatherGpu {
    tasks: usize,
    n: usize,
    m: usize,
    width: usize,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl GatherGpu {
    /// Kernels and parameters; `alpha` scales the backward scatter-add.
    pub fn new(
        gpu: &Gpu,
        tasks: usize,
        n: usize,
        m: usize,
        width: usize,
        alpha: f64,
    ) -> Result<GatherGpu> {
        let u = |v: usize| crate::error::to_u32("gather", "a size", v);
        let params = GatherParams {
            tasks: u(tasks)?,
            n: u(n)?,
            m: u(m)?,
            width: u(width)?,
            alpha: alpha as f32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        Ok(GatherGpu {
            tasks,
            n,
            m,
            width,
            params: gpu.params("gather params", &params)?,
            forward: gpu.kernel(kernels::GATHER_FORWARD, &[])?,
            backward: gpu.kernel(kernels::GATHER_BACKWARD, &[])?,
        })
    }

    /// dst[b, i, :] = src[b, idx_t[b, i], :].
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        cursor: &StepCursor,
        idx: &GpuTensor,
        src: &GpuTensor,
        dst: &GpuTensor,
    ) -> Result<()> {
        check_len(
            "gather",
            "idx",
            idx.len(),
            cursor.steps * self.tasks * self.n,
        )?;
        check_len("gather", "src", src.len(), self.tasks * self.m * self.width)?;
        check_len("gather", "dst", dst.len(), self.tasks * self.n * self.width)?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("cursor", cursor.buffer()),
                ("idx", idx.buffer()),
                ("src", src.buffer()),
                ("dst", dst.buffer()),
            ],
            [workgroups_for(dst.len(), 64), 1, 1],
        )?;
        Ok(())
    }

    /// src_bar[b, j, :] += alpha · Σ_{i: idx_t[b, i] = j} dst_bar[b, i, :].
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        cursor: &StepCursor,
        idx: &GpuTensor,
        dst_bar: &GpuTensor,
        src_bar: &GpuTensor,
    ) -> Result<()> {
        check_len(
            "gather",
            "idx",
            idx.len(),
            cursor.steps * self.tasks * self.n,
        )?;
        check_len(
            "gather",
            "dst_bar",
            dst_bar.len(),
            self.tasks * self.n * self.width,
        )?;
        check_len(
            "gather",
            "src_bar",
            src_bar.len(),
            self.tasks * self.m * self.width,
        )?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("cursor", cursor.buffer()),
                ("idx", idx.buffer()),
                ("dst_bar", dst_bar.buffer()),
                ("src_bar", src_bar.buffer()),
            ],
            [workgroups_for(src_bar.len(), 64), 1, 1],
        )?;
        Ok(())
    }
}

/// The gather in the registry: one step's rows (drawn with replacement) and
/// their scatter-add against the twin, and the twin's scatter against the
/// transpose identity ⟨gather(s), d⟩ = ⟨s, scatter(d)⟩.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "gather",
    entry_points: &["gather_forward", "gather_backward"],
    params: &[
        crate::registry::params::<GatherParams>,
        crate::registry::params::<Cursor>,
    ],
    twin: "occam_ops::gather::gather_rows",
    check: |gpu| {
        use crate::check::dot;
        use crate::registry::{self, Checks, DOT_TOL, ELEMENTWISE_TOL};
        let mut c = Checks::new(0x6A);
        let (tasks, n, m, width, steps, alpha) = (2, 5, 4, 3, 3, 0.5);
        let src = c.uniform(tasks * m * width, -1.0, 1.0);
        let dst_bar = c.uniform(tasks * n * width, -1.0, 1.0);
        // With replacement: rows repeat within a batch.
        let idx: Vec<usize> = (0..steps * tasks * n).map(|k| (k * 7 + k / 3) % m).collect();
        let idx32: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
        let op = GatherGpu::new(gpu, tasks, n, m, width, alpha)?;
        let cursor = StepCursor::new(gpu, steps)?;
        let idx_t = gpu.upload_u32("gather idx", &idx32)?;
        let t = registry::upload(gpu, "gather", &[&src, &dst_bar])?;
        let dst = gpu.zeros("gather dst", tasks * n * width)?;
        let src_bar = gpu.zeros("gather src_bar", tasks * m * width)?;
        let step = 2;
        let got = registry::run(gpu, &[&dst, &src_bar], |enc| {
            cursor.set(enc, step)?;
            op.forward(enc, &cursor, &idx_t, &t[0], &dst)?;
            op.backward(enc, &cursor, &idx_t, &t[1], &src_bar)
        })?;
        let (mut rows, mut bars) = (Vec::new(), Vec::new());
        for b in 0..tasks {
            let at = &idx[(step * tasks + b) * n..(step * tasks + b + 1) * n];
            let s = &src[b * m * width..(b + 1) * m * width];
            let d = &dst_bar[b * n * width..(b + 1) * n * width];
            let gathered = gather_rows(s, width, at);
            let scattered = scatter_rows(d, width, at, m, alpha);
            let identity = (dot(std::slice::from_ref(&gathered), &[d.to_vec()]) * alpha
                - dot(&[s.to_vec()], std::slice::from_ref(&scattered)))
            .abs();
            c.record(format!("gather twin, task {b}: ⟨gather s, d⟩ = ⟨s, scatter d⟩"), identity, DOT_TOL);
            rows.extend(gathered);
            bars.extend(scattered);
        }
        c.compare("gather forward: GPU vs twin", &got[..1], &[rows], 0.0);
        c.compare("gather backward: GPU vs twin", &got[1..], &[bars], ELEMENTWISE_TOL);
        Ok(c.finish())
    },
};
