//! The fused execution of a gradient-descent learner (docs/design.md §6): the
//! whole unroll and the whole reverse sweep as one dispatch each, one
//! workgroup per task ([`occam_ops::unroll`]). The engine uses it whenever
//! the learner is a chain of dense layers and activations that fits the
//! adapter's workgroup limits, and falls back to the per-step kernels
//! otherwise; [`FusedUnroll::plan`] says which, and why.

use super::{GdLearner, GdTask};
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::loop_budget::loop_budget;
use occam_ops::net::NetSpec;
use occam_ops::unroll::{UnrollGpu, UnrollInputs, UnrollLayout, UnrollShape};
use serde::{Deserialize, Serialize};

/// The layout a configuration asks of the fused kernels
/// ([`UnrollLayout`]): `learner.fused_layout`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusedLayout {
    /// Occam's choice for the learner and adapter ([`UnrollLayout::preferred`]),
    /// and the workgroup layout where the learner does not fit the lanes layout.
    #[default]
    Auto,
    /// One subgroup per task (needs subgroup operations).
    Lanes,
    /// One workgroup per task.
    Workgroup,
}

/// The fused unroll's op and its layer-major buffers: parameter layer l of
/// task b at `tasks · offset(l) + b · block_len(l)`, which is the per-layer
/// buffers `[tasks, block_len(l)]` laid end to end.
pub(crate) struct FusedUnroll {
    op: UnrollGpu,
    /// w_0 on load, w_T after the unroll.
    w: GpuTensor,
    hist: GpuTensor,
    /// w̄_T before the sweep, w̄_0 after it.
    v: GpuTensor,
    mask: GpuTensor,
    signs: GpuTensor,
    /// (offset, length) of each parameter block in one task's parameters.
    blocks: Vec<(usize, usize)>,
}

/// The checkpoint interval to use: `every`, or a larger one when ⌈T/every⌉
/// checkpoints of `per_checkpoint` floats would not fit `limit` floats (the
/// sweep then recomputes more, with the same result bit for bit).
fn fitting_interval(steps: usize, every: usize, per_checkpoint: usize, limit: usize) -> usize {
    if per_checkpoint == 0 || steps.div_ceil(every) * per_checkpoint <= limit {
        return every;
    }
    let most = (limit / per_checkpoint).max(1);
    every.max(steps.div_ceil(most))
}

impl FusedUnroll {
    /// The fused kernels' shape for `learner` on `tasks` tasks of `train`
    /// points and `batch`-row minibatches, or why it must run step by step.
    pub(crate) fn plan(
        gpu: &Gpu,
        learner: &GdLearner,
        tasks: usize,
        train: usize,
        batch: usize,
    ) -> std::result::Result<(UnrollShape, UnrollLayout), String> {
        if !learner.fused {
            return Err("fused = false in the configuration".into());
        }
        let mut shape = UnrollShape {
            tasks,
            batch,
            train,
            steps: learner.steps,
            every: learner.checkpoint_every.min(learner.steps.max(1)),
            lr: learner.lr,
            constrained: learner.constrained,
            layers: learner.spec.unroll_layers()?,
        };
        shape.every = fitting_interval(
            learner.steps,
            shape.every,
            tasks * shape.n_params(),
            gpu.limits().max_storage_buffer_binding_size as usize / 4,
        );
        let budget = loop_budget(gpu);
        // The fused kernels bind more storage buffers than WebGPU's default
        // limit (8 per stage; browsers offer 8 to 10 without asking more).
        let storage = storage_bindings(gpu, "unroll");
        let most = gpu.limits().max_storage_buffers_per_shader_stage;
        if storage > most {
            return Err(format!(
                "the fused kernels bind {storage} storage buffers, the adapter allows {most} per stage"
            ));
        }
        let fits = |layout: UnrollLayout| match shape.unfit_reason(gpu.limits(), budget, layout) {
            Some(reason) => Err(format!("{reason} ({} layout)", layout.name())),
            None => Ok(layout),
        };
        let layout = match learner.fused_layout {
            FusedLayout::Auto => {
                fits(UnrollLayout::preferred(gpu)).or_else(|_| fits(UnrollLayout::workgroup(gpu)))
            }
            FusedLayout::Lanes => UnrollLayout::lanes(gpu).and_then(fits),
            FusedLayout::Workgroup => fits(UnrollLayout::workgroup(gpu)),
        }?;
        Ok((shape, layout))
    }

    /// Kernels and buffers for `shape` (from [`FusedUnroll::plan`]).
    pub(crate) fn new(
        gpu: &Gpu,
        spec: &NetSpec,
        (shape, layout): (UnrollShape, UnrollLayout),
    ) -> Result<FusedUnroll> {
        let all = shape.tasks * shape.n_params();
        let side = if shape.constrained { all } else { 1 };
        Ok(FusedUnroll {
            w: gpu.zeros("fused w", all)?,
            hist: gpu.zeros("fused w checkpoints", shape.checkpoints() * all)?,
            v: gpu.zeros("fused v", all)?,
            mask: gpu.upload("fused mask", &vec![1.0; side])?,
            signs: gpu.zeros("fused signs", side)?,
            blocks: (0..spec.depth())
                .map(|l| (spec.offset(l), spec.block_len(l)))
                .collect(),
            op: UnrollGpu::with_layout(gpu, shape, layout)?,
        })
    }

    /// One task-major flat vector per task → the layer-major layout.
    fn layer_major(&self, per_task: &mut dyn Iterator<Item = &[f64]>) -> Vec<f32> {
        let rows: Vec<&[f64]> = per_task.collect();
        self.blocks
            .iter()
            .flat_map(|&(off, len)| {
                rows.iter()
                    .flat_map(move |r| r[off..off + len].iter().map(|&v| v as f32))
            })
            .collect()
    }

    /// Uploads every task's w_0 and, for a constrained learner, its mask and
    /// signs (all trained and free where a task gives none).
    pub(crate) fn load(&self, gpu: &Gpu, tasks: &[GdTask<'_>]) -> Result<()> {
        gpu.write(&self.w, &self.layer_major(&mut tasks.iter().map(|t| t.w0)))?;
        if self.op.shape().constrained {
            let p = self.op.shape().n_params();
            let constraints: Vec<_> = tasks.iter().map(GdTask::constraints).collect();
            let masks: Vec<_> = constraints.iter().map(|c| c.mask_or_ones(p)).collect();
            let signs: Vec<_> = constraints.iter().map(|c| c.signs_or_free(p)).collect();
            gpu.write(
                &self.mask,
                &self.layer_major(&mut masks.iter().map(|m| &**m)),
            )?;
            gpu.write(
                &self.signs,
                &self.layer_major(&mut signs.iter().map(|s| &**s)),
            )?;
        }
        Ok(())
    }

    fn inputs<'a>(
        &'a self,
        x: &'a GpuTensor,
        z: &'a GpuTensor,
        idx: &'a GpuTensor,
    ) -> UnrollInputs<'a> {
        UnrollInputs {
            x,
            z,
            idx,
            mask: &self.mask,
            signs: &self.signs,
        }
    }

    /// The whole unroll w_0 → w_T, then w_T copied into the per-layer buffers `w`.
    pub(crate) fn record_unroll(
        &self,
        enc: &mut Encoder<'_>,
        (x, z, idx): (&GpuTensor, &GpuTensor, &GpuTensor),
        w: &[GpuTensor],
    ) -> Result<()> {
        self.op
            .forward(enc, &self.inputs(x, z, idx), &self.w, &self.hist)?;
        let tasks = self.op.shape().tasks;
        for (&(off, _), layer) in self.blocks.iter().zip(w) {
            enc.copy(&self.w, tasks * off, layer, 0, layer.len())?;
        }
        Ok(())
    }

    /// The whole reverse sweep from w̄_T (the per-layer buffers `v`), adding
    /// every step's share into `z_bar`.
    pub(crate) fn record_adjoint(
        &self,
        enc: &mut Encoder<'_>,
        (x, z, idx): (&GpuTensor, &GpuTensor, &GpuTensor),
        v: &[GpuTensor],
        z_bar: &GpuTensor,
    ) -> Result<()> {
        let tasks = self.op.shape().tasks;
        for (&(off, _), layer) in self.blocks.iter().zip(v) {
            enc.copy(layer, 0, &self.v, tasks * off, layer.len())?;
        }
        Ok(self
            .op
            .backward(enc, &self.inputs(x, z, idx), &self.hist, &self.v, z_bar)?)
    }

    /// The checkpoint interval in use (larger than configured when the
    /// configured one did not fit the adapter).
    pub(crate) fn checkpoint_every(&self) -> usize {
        self.op.shape().every
    }

    /// The layout of the fused kernels.
    pub(crate) fn layout(&self) -> UnrollLayout {
        self.op.layout()
    }

    /// Dispatches of the unroll and of the sweep.
    pub(crate) fn dispatches(&self) -> (usize, usize) {
        self.op.dispatches()
    }

    /// Floating-point operations of one unroll and one reverse sweep.
    pub(crate) fn flops(&self) -> (f64, f64) {
        (self.op.forward_flops(), self.op.backward_flops())
    }
}

/// The most storage buffers one entry point of `shader` binds (0 for an
/// unknown shader).
fn storage_bindings(gpu: &Gpu, shader: &str) -> u32 {
    gpu.registry().shader(shader).map_or(0, |s| {
        s.entry_points
            .values()
            .map(|e| {
                e.bindings
                    .iter()
                    .filter(|b| b.kind != occam_gpu::shaders::BindingKind::Uniform)
                    .count() as u32
            })
            .max()
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::fitting_interval;

    #[test]
    fn the_checkpoint_interval_grows_only_as_far_as_the_buffer_limit_needs() {
        // 200 steps of 1000 floats: every w_t fits 300 000 floats.
        assert_eq!(fitting_interval(200, 1, 1000, 300_000), 1);
        // 50 checkpoints fit 50 000 floats: every 4th step.
        assert_eq!(fitting_interval(200, 1, 1000, 50_000), 4);
        assert!(200usize.div_ceil(4) * 1000 <= 50_000);
        // A configured interval larger than needed is kept.
        assert_eq!(fitting_interval(200, 10, 1000, 50_000), 10);
        // Not even one checkpoint fits: the largest interval (the engine's
        // limit checks then refuse the shape with their own message).
        assert_eq!(fitting_interval(200, 1, 1000, 10), 200);
    }
}
