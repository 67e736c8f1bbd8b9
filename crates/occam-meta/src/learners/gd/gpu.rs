//! The gradient-descent learner on the GPU: T inner steps recorded step by
//! step (gather the minibatch, forward, backward, SGD), or fused into one
//! dispatch (see [`super::fused`]); and the reverse sweep of
//! docs/design.md §2, recomputing w_t from checkpoints when asked to.

use super::fused::FusedUnroll;
use super::model::{GpuModel, GpuModelSource};
use super::{GdLearner, GdTask};
use crate::error::Result;
use crate::learners::HostStage;
use crate::learners::{Execution, GpuLearner, LearnerData, LearnerIo, LearnerShape, invalid};
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::{
    ConstraintGpu, GatherGpu, MseGpu, MseShape, OptimizerGpu, OptimizerKind, StepCursor,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// GPU state of a learner trained by unrolled gradient descent.
pub(crate) struct GdGpu {
    settings: UnrollSettings,
    /// (offset, length) of each parameter block in one task's parameters.
    blocks: Vec<(usize, usize)>,
    shape: LearnerShape,
    /// Rows per inner step.
    batch: usize,
    test_net: Box<dyn GpuModel>,
    w: Vec<GpuTensor>,
    v: Vec<GpuTensor>,
    idx: GpuTensor,
    /// Whether `idx` holds every training row in order at every step (full
    /// batches, the same for every meta-step): then it is not uploaded again.
    idx_is_full_batch: AtomicBool,
    path: Path,
}

/// How the unroll and its reverse sweep run.
enum Path {
    /// Fused into one dispatch each.
    Fused(Box<FusedUnroll>),
    /// Step by step, because the unroll does not fit the fused kernels (the
    /// reason).
    PerStep(String, Box<PerStep>),
}

/// The step-by-step path's kernels and buffers, built only when the unroll
/// is not fused.
struct PerStep {
    /// The learner on a minibatch, with tangents.
    net: Box<dyn GpuModel>,
    inner_sgd: Vec<OptimizerGpu>,
    xb: GpuTensor,
    zb: GpuTensor,
    grad: Vec<GpuTensor>,
    /// w_{ck} for c = 0, 1, …: every w_t when checkpoint_every = 1.
    history: Vec<GpuTensor>,
    /// The recomputed w_t of one segment between checkpoints (empty when k = 1).
    segment: Vec<GpuTensor>,
    hv: Vec<GpuTensor>,
    cursor: StepCursor,
    gather_x: GatherGpu,
    gather_z: GatherGpu,
    mse_inner: MseGpu,
    zeros_tasks: GpuTensor,
    zeros_batch: GpuTensor,
    g_bar: GpuTensor,
    g_bar_dot: GpuTensor,
    scratch_batch: GpuTensor,
    /// Connectivity masks, sign constraints, the masked direction v_m and the
    /// constrained step, per layer (only for a constrained learner; the fused
    /// unroll keeps its own masks and signs).
    constraints: Option<GdConstraints>,
}

/// GPU state of a constrained learner's masks and signs.
struct GdConstraints {
    mask: Vec<GpuTensor>,
    signs: Vec<GpuTensor>,
    v_m: Vec<GpuTensor>,
    step: Vec<ConstraintGpu>,
}

/// How an unrolled learner trains: what the GPU unroll needs besides the
/// model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct UnrollSettings {
    /// Inner steps T.
    pub steps: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// Rows per inner step from `train` training points.
    pub batch: usize,
    /// Keep w_t every this many steps.
    pub checkpoint_every: usize,
    /// Whether tasks carry masks and signs.
    pub constrained: bool,
}

impl GdGpu {
    /// Kernels and buffers for `learner` at `shape`, fused where it fits.
    pub(super) fn new(gpu: &Gpu, learner: &GdLearner, shape: LearnerShape) -> Result<GdGpu> {
        let n = learner.batch(shape.train);
        let fused = match FusedUnroll::plan(gpu, learner, shape.tasks, shape.train, n) {
            Ok(plan) => Ok(FusedUnroll::new(gpu, &learner.spec, plan)?),
            Err(reason) => Err(reason),
        };
        let settings = UnrollSettings {
            steps: learner.steps,
            lr: learner.lr,
            batch: n,
            checkpoint_every: learner.checkpoint_every,
            constrained: learner.constrained,
        };
        GdGpu::with_model(gpu, settings, &learner.spec, shape, fused)
    }

    /// Kernels and buffers to train `model` as `settings` say, step by step
    /// (or with `fused`, the fused unroll of a layer list).
    pub(crate) fn with_model(
        gpu: &Gpu,
        settings: UnrollSettings,
        model: &dyn GpuModelSource,
        shape: LearnerShape,
        fused: std::result::Result<FusedUnroll, String>,
    ) -> Result<GdGpu> {
        let LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        } = shape;
        let learner = &settings;
        let n = settings.batch;
        if model.input_len() != d || model.output_len() != 1 {
            return Err(invalid(format!(
                "the learner must take the meta-learner's {d} inputs and have one output (it takes {} and has {})",
                model.input_len(),
                model.output_len()
            )));
        }
        let lens = model.blocks();
        let depth = lens.len();
        if learner.checkpoint_every == 0 {
            return Err(invalid("checkpoint_every must be at least 1".into()));
        }
        let k = learner.checkpoint_every.min(learner.steps.max(1));
        let checkpoints = learner.steps.div_ceil(k).max(1);
        let per_layer = |label: &str, f: &dyn Fn(usize) -> usize| -> Result<Vec<GpuTensor>> {
            (0..depth)
                .map(|l| Ok(gpu.zeros(&format!("{label} {l}"), f(l))?))
                .collect()
        };
        let block = |l: usize| tasks * lens[l];
        let blocks = lens
            .iter()
            .scan(0, |off, &len| {
                let b = (*off, len);
                *off += len;
                Some(b)
            })
            .collect();
        let path = match fused {
            Ok(f) => Path::Fused(Box::new(f)),
            Err(reason) => Path::PerStep(
                reason,
                Box::new(PerStep {
                    net: model.gpu_model(gpu, tasks, n, true, "learner")?,
                    inner_sgd: (0..depth)
                        .map(|l| {
                            OptimizerGpu::new(gpu, OptimizerKind::Sgd { lr: learner.lr }, block(l))
                        })
                        .collect::<occam_ops::Result<_>>()?,
                    xb: gpu.zeros("x_batch", tasks * n * d)?,
                    zb: gpu.zeros("z_batch", tasks * n)?,
                    grad: per_layer("grad", &block)?,
                    history: per_layer("w checkpoints", &|l| checkpoints * block(l))?,
                    segment: per_layer("w segment", &|l| if k > 1 { k * block(l) } else { 0 })?,
                    hv: per_layer("hv", &block)?,
                    cursor: StepCursor::new(gpu, learner.steps.max(1))?,
                    gather_x: GatherGpu::new(gpu, tasks, n, m, d, 0.0)?,
                    gather_z: GatherGpu::new(gpu, tasks, n, m, 1, learner.lr)?,
                    mse_inner: MseGpu::new(
                        gpu,
                        MseShape {
                            batch: tasks,
                            count: n,
                            weight: 1.0,
                        },
                    )?,
                    zeros_tasks: gpu.zeros("zeros per task", tasks)?,
                    zeros_batch: gpu.zeros("zeros per batch row", tasks * n)?,
                    g_bar: gpu.zeros("g_bar", tasks * n)?,
                    g_bar_dot: gpu.zeros("g_bar_dot", tasks * n)?,
                    scratch_batch: gpu.zeros("z_bar scratch", tasks * n)?,
                    constraints: if learner.constrained {
                        Some(GdConstraints {
                            mask: per_layer("mask", &block)?,
                            signs: per_layer("signs", &block)?,
                            v_m: per_layer("masked v", &block)?,
                            step: (0..depth)
                                .map(|l| ConstraintGpu::new(gpu, block(l), learner.lr))
                                .collect::<occam_ops::Result<_>>()?,
                        })
                    } else {
                        None
                    },
                }),
            ),
        };
        Ok(GdGpu {
            settings,
            blocks,
            shape,
            batch: n,
            test_net: model.gpu_model(gpu, tasks, big_m, false, "learner test")?,
            w: per_layer("w", &block)?,
            v: per_layer("v", &block)?,
            idx: gpu.zeros("batch indices", learner.steps * tasks * n)?,
            idx_is_full_batch: AtomicBool::new(false),
            path,
        })
    }
}

impl GdGpu {
    /// Checks every task's data against the learner's sizes.
    fn views<'a>(&self, data: &[&'a LearnerData]) -> Result<Vec<GdTask<'a>>> {
        let (learner, s) = (&self.settings, self.shape);
        let n_params = self.n_params();
        if data.len() != s.tasks {
            return Err(invalid(format!(
                "{} tasks given, the learner was built for {}",
                data.len(),
                s.tasks
            )));
        }
        let mut views = Vec::with_capacity(data.len());
        for (b, d) in data.iter().enumerate() {
            let t = GdTask::of(d)?;
            let ok = t.w0.len() == n_params
                && t.batches.len() == learner.steps * self.batch
                && t.batches
                    .iter()
                    .all(|&r| r >= 0.0 && (r as usize) < s.train);
            if !ok {
                return Err(invalid(format!(
                    "task {b}'s learner initialisation or minibatches do not match the learner's sizes \
                     ({} parameters, {} steps of {} rows from {})",
                    n_params, learner.steps, self.batch, s.train
                )));
            }
            views.push(t);
        }
        Ok(views)
    }

    /// Uploads w_0 (and a constrained learner's masks and signs) where the
    /// path reads them, and the minibatch indices of every inner step.
    fn upload(&self, gpu: &Gpu, tasks: &[GdTask<'_>]) -> Result<()> {
        let learner = &self.settings;
        self.check_constraints(tasks)?;
        match &self.path {
            Path::Fused(f) => f.load(gpu, tasks)?,
            Path::PerStep(_, s) => {
                for (l, &(off, len)) in self.blocks.iter().enumerate() {
                    let w0: Vec<f32> = tasks
                        .iter()
                        .flat_map(|t| t.w0[off..off + len].iter().map(|&v| v as f32))
                        .collect();
                    gpu.write(&self.w[l], &w0)?;
                }
                if let Some(c) = &s.constraints {
                    self.upload_constraints(gpu, c, tasks)?;
                }
            }
        }
        // Full batches are the same rows 0‥n at every step of every meta-step:
        // upload them once (for thousands of tasks they are most of the data).
        let n = self.batch;
        let full = n == self.shape.train
            && tasks.iter().all(|t| {
                t.batches
                    .chunks(n)
                    .all(|rows| rows.iter().enumerate().all(|(i, &r)| i as f64 == r))
            });
        if full && self.idx_is_full_batch.load(Ordering::Relaxed) {
            return Ok(());
        }
        let idx: Vec<u32> = (0..learner.steps)
            .flat_map(|step| {
                tasks.iter().flat_map(move |t| {
                    t.batches[step * n..(step + 1) * n]
                        .iter()
                        .map(|&i| i as u32)
                })
            })
            .collect();
        gpu.write_u32(&self.idx, &idx)?;
        self.idx_is_full_batch.store(full, Ordering::Relaxed);
        Ok(())
    }
}

impl GpuLearner for GdGpu {
    fn load(&self, gpu: &Gpu, data: &[&LearnerData]) -> Result<()> {
        let views = self.views(data)?;
        self.upload(gpu, &views)
    }

    /// T unrolled steps of gradient descent from w_0, keeping w_t at the checkpoints.
    fn record_fit(&self, enc: &mut Encoder<'_>, io: &LearnerIo<'_>) -> Result<()> {
        let s = match &self.path {
            Path::Fused(f) => return f.record_unroll(enc, (io.x_tr, io.z_tr, &self.idx), &self.w),
            Path::PerStep(_, s) => s,
        };
        let learner = &self.settings;
        let k = self.checkpoint_every();
        for (w, h) in self.w.iter().zip(&s.history) {
            enc.copy(w, 0, h, 0, w.len())?;
        }
        for t in 0..learner.steps {
            s.cursor.set(enc, t)?;
            self.inner_gradient(s, enc, io)?;
            self.step_weights(s, enc)?;
            if (t + 1) % k == 0 && t + 1 < learner.steps {
                for (w, h) in self.w.iter().zip(&s.history) {
                    enc.copy(w, 0, h, (t + 1) / k * w.len(), w.len())?;
                }
            }
        }
        Ok(())
    }

    /// The predictions g_{w_T}(x_te).
    fn record_predict<'s>(
        &'s self,
        enc: &mut Encoder<'_>,
        io: &LearnerIo<'_>,
    ) -> Result<&'s GpuTensor> {
        self.test_net.forward(enc, &self.w, io.x_te)?;
        Ok(self.test_net.output())
    }

    /// The reverse sweep: w̄_T from ŷ̄ (into v), then z̄_tr += η ḡ̇ on each
    /// step's batch and v ← v − η H_t v, segment by segment between
    /// checkpoints, recomputing each segment's w_t first when k > 1.
    fn record_adjoint(
        &self,
        enc: &mut Encoder<'_>,
        io: &LearnerIo<'_>,
        y_bar: &GpuTensor,
    ) -> Result<()> {
        self.test_net
            .backward(enc, &self.w, io.x_te, y_bar, &self.v)?;
        let s = match &self.path {
            Path::Fused(f) => {
                return f.record_adjoint(enc, (io.x_tr, io.z_tr, &self.idx), &self.v, io.z_tr_bar);
            }
            Path::PerStep(_, s) => s,
        };
        let learner = &self.settings;
        let k = self.checkpoint_every();
        for c in (0..learner.steps.div_ceil(k)).rev() {
            let (start, end) = (c * k, ((c + 1) * k).min(learner.steps));
            for (w, h) in self.w.iter().zip(&s.history) {
                enc.copy(h, c * w.len(), w, 0, w.len())?;
            }
            if k > 1 {
                for t in start..end {
                    for (w, seg) in self.w.iter().zip(&s.segment) {
                        enc.copy(w, 0, seg, (t - start) * w.len(), w.len())?;
                    }
                    if t + 1 < end {
                        s.cursor.set(enc, t)?;
                        self.inner_gradient(s, enc, io)?;
                        self.step_weights(s, enc)?;
                    }
                }
            }
            for t in (start..end).rev() {
                s.cursor.set(enc, t)?;
                if k > 1 {
                    for (w, seg) in self.w.iter().zip(&s.segment) {
                        enc.copy(seg, (t - start) * w.len(), w, 0, w.len())?;
                    }
                }
                self.adjoint_step(s, enc, io)?;
            }
        }
        Ok(())
    }

    fn execution(&self) -> Execution {
        match &self.path {
            Path::Fused(f) => {
                let (unroll_flops, sweep_flops) = f.flops();
                Execution::Fused {
                    unroll_flops,
                    sweep_flops,
                    checkpoint_every: f.checkpoint_every(),
                    dispatches: f.dispatches(),
                    layout: f.layout().name(),
                }
            }
            Path::PerStep(reason, _) => Execution::PerStep {
                reason: reason.clone(),
            },
        }
    }

    /// Nothing to check: an unrolled fit has no failure to report.
    fn check<'a>(&'a self, _gpu: &'a Gpu) -> crate::error::ReadFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn host_stage(&self) -> Option<&dyn HostStage> {
        None
    }
}

impl GdGpu {
    /// Parameters per task.
    fn n_params(&self) -> usize {
        self.blocks.iter().map(|b| b.1).sum()
    }

    fn checkpoint_every(&self) -> usize {
        self.settings
            .checkpoint_every
            .min(self.settings.steps.max(1))
    }

    /// One step of the reverse sweep at the current w = w_t (cursor at t).
    fn adjoint_step(&self, s: &PerStep, enc: &mut Encoder<'_>, io: &LearnerIo<'_>) -> Result<()> {
        self.inner_gradient(s, enc, io)?;
        // The direction the step's tangent passes see: v, or M ⊙ P'(u) ⊙ v
        // (with v itself replaced by P'(u) ⊙ v) under constraints.
        let direction = match &s.constraints {
            None => &self.v,
            Some(c) => {
                for l in 0..self.w.len() {
                    c.step[l].adjoint(
                        enc,
                        &c.mask[l],
                        &c.signs[l],
                        &s.grad[l],
                        &self.w[l],
                        &self.v[l],
                        &c.v_m[l],
                    )?;
                }
                &c.v_m
            }
        };
        s.net.tangent_forward(enc, &self.w, &s.xb, direction)?;
        s.mse_inner.tangent_backward(
            enc,
            s.net.output(),
            &s.zb,
            io.ones,
            s.net.output_tangent(),
            &s.zeros_batch,
            &s.zeros_tasks,
            &s.g_bar_dot,
            &s.scratch_batch,
        )?;
        s.net.tangent_backward(
            enc,
            &self.w,
            &s.xb,
            &s.g_bar,
            direction,
            &s.g_bar_dot,
            &s.hv,
        )?;
        s.gather_z
            .backward(enc, &s.cursor, &self.idx, &s.g_bar_dot, io.z_tr_bar)?;
        for (v, (hv, sgd)) in self.v.iter().zip(s.hv.iter().zip(&s.inner_sgd)) {
            sgd.step(enc, v, hv)?;
        }
        Ok(())
    }

    /// Refuses constrained tasks for an unconstrained learner, and masks or
    /// signs that do not cover the learner's parameters.
    fn check_constraints(&self, tasks: &[GdTask<'_>]) -> Result<()> {
        if !self.settings.constrained {
            return match tasks
                .iter()
                .position(|t| !(t.mask.is_empty() && t.signs.is_empty()))
            {
                Some(b) => Err(invalid(format!(
                    "task {b} has connectivity constraints, but the learner was not built as constrained"
                ))),
                None => Ok(()),
            };
        }
        let p = self.n_params();
        for (b, t) in tasks.iter().enumerate() {
            let (m, s) = (t.mask, t.signs);
            if !(m.is_empty() || m.len() == p) || !(s.is_empty() || s.len() == p) {
                return Err(invalid(format!(
                    "task {b}'s mask or signs do not cover the learner's {p} parameters"
                )));
            }
        }
        Ok(())
    }

    /// Uploads each task's mask and signs (all-ones and all-free where a task
    /// gives none) for the per-step path.
    fn upload_constraints(&self, gpu: &Gpu, c: &GdConstraints, tasks: &[GdTask<'_>]) -> Result<()> {
        let p = self.n_params();
        for (l, &(off, len)) in self.blocks.iter().enumerate() {
            let block =
                |v: &[f64]| -> Vec<f32> { v[off..off + len].iter().map(|&a| a as f32).collect() };
            let mask: Vec<f32> = tasks
                .iter()
                .flat_map(|t| block(&t.constraints().mask_or_ones(p)))
                .collect();
            let signs: Vec<f32> = tasks
                .iter()
                .flat_map(|t| block(&t.constraints().signs_or_free(p)))
                .collect();
            gpu.write(&c.mask[l], &mask)?;
            gpu.write(&c.signs[l], &signs)?;
        }
        Ok(())
    }

    /// w ← w − η ∇L (into place), or w ← P(w − η M ⊙ ∇L) under constraints.
    fn step_weights(&self, s: &PerStep, enc: &mut Encoder<'_>) -> Result<()> {
        for (l, (w, g)) in self.w.iter().zip(&s.grad).enumerate() {
            match &s.constraints {
                None => s.inner_sgd[l].step(enc, w, g)?,
                Some(c) => c.step[l].step(enc, &c.mask[l], &c.signs[l], g, w)?,
            }
        }
        Ok(())
    }

    /// Gathers step t's batch and records ∇_w L_t at the current w into `grad`
    /// (leaving the forward and backward scratch for the tangent passes).
    fn inner_gradient(&self, s: &PerStep, enc: &mut Encoder<'_>, io: &LearnerIo<'_>) -> Result<()> {
        s.gather_x
            .forward(enc, &s.cursor, &self.idx, io.x_tr, &s.xb)?;
        s.gather_z
            .forward(enc, &s.cursor, &self.idx, io.z_tr, &s.zb)?;
        s.net.forward(enc, &self.w, &s.xb)?;
        let g = s.net.output();
        s.mse_inner
            .backward(enc, g, &s.zb, io.ones, &s.g_bar, &s.scratch_batch)?;
        s.net.backward(enc, &self.w, &s.xb, &s.g_bar, &s.grad)
    }
}
