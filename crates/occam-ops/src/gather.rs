//! Per-step minibatch selection on the GPU (`shaders/gather.wgsl`): rows of a
//! per-task source picked by an index table, at the inner step held by a
//! [`StepCursor`], and the deterministic scatter-add that is its adjoint.
//! The CPU twin is a plain row gather (`occam_meta::learner::gather_rows`).

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
