//! The meta-step on the GPU: labels from the meta-learner, T unrolled learner
//! steps, the meta-loss, the exact reverse sweep, the meta-learner's backward
//! pass and the optimiser step — recorded into one command submission with no
//! read-back inside it (DESIGN.md §1–§2, §6). Tasks of a meta-batch run side
//! by side as the batch dimension of every learner op.

use crate::fused::FusedUnroll;
use crate::gpu_net::GpuNet;
use crate::problem::{
    DistributionKind, DistributionSet, FeatureMap, GdLearner, Learner, LossTerms, MetaProblem,
    Orthogonality, RidgeLearner, TaskData,
};
use occam_gpu::{Gpu, GpuTensor};
use occam_ops::{
    ActivationGpu, ConstraintGpu, DenseGpu, DenseShape, EnergyGpu, GatherGpu, MseGpu, MseShape,
    OpError, OptimizerGpu, OptimizerKind, OrthogonalityGpu, Result, RidgeGpu, RidgeShape,
    SinkhornGpu, StdRewardGpu, StepCursor,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// The distribution term's kernels.
enum DistributionOp {
    Energy(EnergyGpu),
    Sinkhorn(SinkhornGpu),
}

impl DistributionOp {
    fn new(
        gpu: &Gpu,
        kind: DistributionKind,
        tasks: usize,
        n: usize,
        samples: usize,
        weight: f64,
    ) -> Result<DistributionOp> {
        Ok(match kind {
            DistributionKind::Energy => {
                DistributionOp::Energy(EnergyGpu::new(gpu, tasks, n, samples, weight)?)
            }
            DistributionKind::Sinkhorn { blur, scaling } => DistributionOp::Sinkhorn(
                SinkhornGpu::new(gpu, tasks, n, samples, weight, blur, scaling)?,
            ),
        })
    }

    fn forward(
        &self,
        enc: &mut occam_gpu::Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        match self {
            DistributionOp::Energy(op) => op.forward(enc, z, u, loss),
            DistributionOp::Sinkhorn(op) => op.forward(enc, z, u, loss),
        }
    }

    fn backward(
        &self,
        enc: &mut occam_gpu::Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        z_bar: &GpuTensor,
    ) -> Result<()> {
        match self {
            DistributionOp::Energy(op) => op.backward(enc, z, u, z_bar),
            DistributionOp::Sinkhorn(op) => op.backward(enc, z_bar),
        }
    }
}

/// The phases of a meta-step, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Labels z = f_θ(X): the meta-learner's forward pass.
    Labels,
    /// T inner gradient-descent steps.
    Unroll,
    /// The meta-loss at w_T and its cotangents.
    Loss,
    /// The reverse sweep through the unroll.
    Adjoint,
    /// The meta-learner's backward pass and the optimiser step.
    MetaBackward,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [
        Phase::Labels,
        Phase::Unroll,
        Phase::Loss,
        Phase::Adjoint,
        Phase::MetaBackward,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Labels => "meta-learner forward",
            Phase::Unroll => "unroll",
            Phase::Loss => "meta-loss",
            Phase::Adjoint => "adjoint sweep",
            Phase::MetaBackward => "meta-learner backward + optimiser",
        }
    }
}

/// Sizes of one meta-step's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepSizes {
    /// Independent tasks per meta-step.
    pub tasks: usize,
    /// Training points per task.
    pub train: usize,
    /// Test points per task.
    pub test: usize,
    /// Rows per inner minibatch.
    pub batch: usize,
    /// Target-distribution samples per task.
    pub samples: usize,
}

/// How a learner's inner loop runs on the GPU.
#[derive(Clone, Debug, PartialEq)]
pub enum UnrollExecution {
    /// One dispatch for the unroll and one for the reverse sweep.
    Fused {
        /// Floating-point operations of the unroll (all tasks).
        unroll_flops: f64,
        /// Floating-point operations of the reverse sweep (all tasks).
        sweep_flops: f64,
        /// w_t is kept every this many steps (the rest recomputed).
        checkpoint_every: usize,
        /// Dispatches of the unroll and of the sweep (more than one each
        /// only on software adapters, whose invocations have a loop cap).
        dispatches: (usize, usize),
    },
    /// Step-by-step kernels.
    PerStep {
        /// Why the fused kernels do not apply.
        reason: String,
    },
    /// A closed-form learner: no unroll.
    ClosedForm,
}

impl std::fmt::Display for UnrollExecution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnrollExecution::Fused {
                checkpoint_every,
                dispatches: (unroll, sweep),
                ..
            } => write!(
                f,
                "fused ({unroll} dispatch(es) for the unroll, {sweep} for the sweep; w_t kept every {checkpoint_every} steps)"
            ),
            UnrollExecution::PerStep { reason } => write!(f, "step by step ({reason})"),
            UnrollExecution::ClosedForm => write!(f, "closed form"),
        }
    }
}

/// All GPU state of a meta-learning run: parameters, optimiser state, ops and scratch.
pub struct GpuMetaEngine {
    problem: MetaProblem,
    sizes: StepSizes,
    meta: GpuNet,
    theta: Vec<GpuTensor>,
    theta_bar: Vec<GpuTensor>,
    meta_opt: Vec<OptimizerGpu>,
    x_all: GpuTensor,
    x_tr: GpuTensor,
    x_te: GpuTensor,
    z_tr: GpuTensor,
    z_te: GpuTensor,
    z_tr_bar: GpuTensor,
    z_te_bar: GpuTensor,
    z_bar_all: GpuTensor,
    mse_test: MseGpu,
    dist: DistributionOp,
    /// Labels the distribution term sees, per task ([tasks, n_s]); for
    /// `DistributionSet::Test` this is z_te itself and these stay unused.
    z_s: GpuTensor,
    z_s_bar: GpuTensor,
    /// z̄_s de-interleaved into the layout of z̄_all, to be added to it.
    z_s_bar_all: GpuTensor,
    add: OptimizerGpu,
    /// The std reward on the same labels as the distribution term, when on.
    spread: Option<(StdRewardGpu, GpuTensor)>,
    ones: GpuTensor,
    test_g_bar: GpuTensor,
    u: GpuTensor,
    gen_loss: GpuTensor,
    dist_loss: GpuTensor,
    /// DistributionSet::Separate: the term on the training labels, and its loss.
    dist_train: Option<(DistributionOp, GpuTensor)>,
    meta_step_count: u64,
    /// The series' orthogonality term, when it has earlier functions.
    orth: Option<OrthState>,
    /// The learner's own state.
    learner: LearnerState,
    /// An adversarial pair's second learner, when there is one.
    adversary: Option<Box<AdversarySlot>>,
}

/// The learner's GPU state.
enum LearnerState {
    Gd(Box<GdState>),
    Ridge(Box<RidgeState>),
}

/// GPU state of a closed-form learner: ridge regression on features
/// Φ = σ([x, 1] Wᵀ), the feature map as a dense layer with per-task weights.
struct RidgeState {
    map: FeatureMap,
    /// Feature-map weights per task, [tasks, K × (d + 1)].
    weights: GpuTensor,
    dense_tr: DenseGpu,
    dense_te: DenseGpu,
    act_tr: ActivationGpu,
    act_te: ActivationGpu,
    pre_tr: GpuTensor,
    pre_te: GpuTensor,
    phi_tr: GpuTensor,
    phi_te: GpuTensor,
    ridge: RidgeGpu,
    /// Test predictions ŷ.
    y_te: GpuTensor,
}

impl RidgeState {
    fn new(gpu: &Gpu, learner: &RidgeLearner, sizes: StepSizes, d: usize) -> Result<RidgeState> {
        let StepSizes {
            tasks,
            train: m,
            test: big_m,
            ..
        } = sizes;
        let k = learner.features.count(d);
        let dense = |rows: usize| {
            DenseGpu::new(
                gpu,
                DenseShape {
                    batch: tasks,
                    rows,
                    d_in: d,
                    d_out: k,
                },
                false,
            )
        };
        let act = learner.features.activation();
        Ok(RidgeState {
            map: learner.features,
            weights: gpu.zeros("feature weights", tasks * k * (d + 1))?,
            dense_tr: dense(m)?,
            dense_te: dense(big_m)?,
            act_tr: ActivationGpu::new(gpu, act, tasks * m * k)?,
            act_te: ActivationGpu::new(gpu, act, tasks * big_m * k)?,
            pre_tr: gpu.zeros("features before activation, train", tasks * m * k)?,
            pre_te: gpu.zeros("features before activation, test", tasks * big_m * k)?,
            phi_tr: gpu.zeros("phi_tr", tasks * m * k)?,
            phi_te: gpu.zeros("phi_te", tasks * big_m * k)?,
            ridge: RidgeGpu::new(
                gpu,
                RidgeShape {
                    tasks,
                    train: m,
                    test: big_m,
                    features: k,
                    lambda: learner.lambda,
                },
            )?,
            y_te: gpu.zeros("ridge predictions", tasks * big_m)?,
        })
    }

    /// Uploads each task's feature-map weights from its J (`features` picks
    /// the learner's or the adversary's).
    fn load(
        &self,
        gpu: &Gpu,
        tasks: &[TaskData],
        d: usize,
        features: fn(&TaskData) -> &[f64],
    ) -> Result<()> {
        let need = self.map.random_values(d);
        let mut w = Vec::new();
        for (b, t) in tasks.iter().enumerate() {
            let j = features(t);
            if j.len() != need {
                return Err(unsupported(format!(
                    "task {b} has {} random-feature values, the feature map needs {need}",
                    j.len()
                )));
            }
            w.extend(self.map.dense_weights(d, j).into_iter().map(|v| v as f32));
        }
        Ok(gpu.write(&self.weights, &w)?)
    }

    /// Features of both point sets, the fit, and the test predictions ŷ.
    fn record_fit(
        &self,
        enc: &mut occam_gpu::Encoder<'_>,
        x_tr: &GpuTensor,
        x_te: &GpuTensor,
        z_tr: &GpuTensor,
    ) -> Result<()> {
        self.dense_tr
            .forward(enc, x_tr, &self.weights, &self.pre_tr)?;
        self.act_tr.forward(enc, &self.pre_tr, &self.phi_tr)?;
        self.dense_te
            .forward(enc, x_te, &self.weights, &self.pre_te)?;
        self.act_te.forward(enc, &self.pre_te, &self.phi_te)?;
        self.ridge
            .forward(enc, &self.phi_tr, z_tr, &self.phi_te, &self.y_te)
    }
}

/// The second learner B of an adversarial pair and its −a'·MSE_B term.
struct AdversarySlot {
    state: RidgeState,
    /// MSE with weight −a'/tasks.
    mse: MseGpu,
    loss: GpuTensor,
    /// ∂L/∂ŷ_B.
    g_bar: GpuTensor,
    /// ∂(−a'·MSE_B)/∂z_te, added to z̄_te.
    z_te_bar: GpuTensor,
    add: OptimizerGpu,
}

/// GPU state of a learner trained by unrolled gradient descent.
struct GdState {
    train_net: GpuNet,
    test_net: GpuNet,
    inner_sgd: Vec<OptimizerGpu>,
    xb: GpuTensor,
    zb: GpuTensor,
    w: Vec<GpuTensor>,
    grad: Vec<GpuTensor>,
    /// w_{ck} for c = 0, 1, …: every w_t when checkpoint_every = 1.
    history: Vec<GpuTensor>,
    /// The recomputed w_t of one segment between checkpoints (empty when k = 1).
    segment: Vec<GpuTensor>,
    v: Vec<GpuTensor>,
    hv: Vec<GpuTensor>,
    idx: GpuTensor,
    /// Whether `idx` holds every training row in order at every step (full
    /// batches, the same for every meta-step): then it is not uploaded again.
    idx_is_full_batch: AtomicBool,
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
    /// constrained step, per layer (only for a constrained learner).
    constraints: Option<GdConstraints>,
    /// The fused unroll and sweep, or why the learner runs step by step.
    fused: std::result::Result<FusedUnroll, String>,
}

/// GPU state of a constrained learner's masks and signs.
struct GdConstraints {
    mask: Vec<GpuTensor>,
    signs: Vec<GpuTensor>,
    v_m: Vec<GpuTensor>,
    step: Vec<ConstraintGpu>,
}

impl GdState {
    fn new(gpu: &Gpu, learner: &GdLearner, sizes: StepSizes, d: usize) -> Result<GdState> {
        let StepSizes {
            tasks,
            train: m,
            test: big_m,
            batch: n,
            ..
        } = sizes;
        let spec = &learner.spec;
        if spec.d_in() != d || spec.d_out() != 1 {
            return Err(unsupported(format!(
                "the learner {:?} must take the meta-learner's {d} inputs and have one output",
                spec.layers
            )));
        }
        let depth = spec.depth();
        if learner.checkpoint_every == 0 {
            return Err(unsupported("checkpoint_every must be at least 1".into()));
        }
        let k = learner.checkpoint_every.min(learner.steps.max(1));
        let checkpoints = learner.steps.div_ceil(k).max(1);
        let per_layer = |label: &str, f: &dyn Fn(usize) -> usize| -> Result<Vec<GpuTensor>> {
            (0..depth)
                .map(|l| Ok(gpu.zeros(&format!("{label} {l}"), f(l))?))
                .collect()
        };
        let block = |l: usize| tasks * spec.block_len(l);
        let fused = match FusedUnroll::plan(gpu, learner, tasks, m, n) {
            Ok(shape) => Ok(FusedUnroll::new(gpu, spec, shape)?),
            Err(reason) => Err(reason),
        };
        // The per-step path's checkpoints are not needed when the unroll is fused.
        let (checkpoints, k) = if fused.is_ok() {
            (0, 1)
        } else {
            (checkpoints, k)
        };
        Ok(GdState {
            fused,
            train_net: GpuNet::new(gpu, spec, tasks, n, true, "learner")?,
            test_net: GpuNet::new(gpu, spec, tasks, big_m, false, "learner test")?,
            inner_sgd: (0..depth)
                .map(|l| OptimizerGpu::new(gpu, OptimizerKind::Sgd { lr: learner.lr }, block(l)))
                .collect::<Result<_>>()?,
            xb: gpu.zeros("x_batch", tasks * n * d)?,
            zb: gpu.zeros("z_batch", tasks * n)?,
            w: per_layer("w", &block)?,
            grad: per_layer("grad", &block)?,
            history: per_layer("w checkpoints", &|l| checkpoints * block(l))?,
            segment: per_layer("w segment", &|l| if k > 1 { k * block(l) } else { 0 })?,
            v: per_layer("v", &block)?,
            hv: per_layer("hv", &block)?,
            idx: gpu.zeros("batch indices", learner.steps * tasks * n)?,
            idx_is_full_batch: AtomicBool::new(false),
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
                        .collect::<Result<_>>()?,
                })
            } else {
                None
            },
        })
    }
}

impl GdState {
    /// Uploads w_0 and the minibatch indices of every inner step.
    fn load(&self, gpu: &Gpu, tasks: &[TaskData], s: StepSizes, learner: &GdLearner) -> Result<()> {
        let spec = &learner.spec;
        for (b, t) in tasks.iter().enumerate() {
            let ok = t.w0.len() == spec.n_params()
                && t.batches.len() == learner.steps
                && t.batches
                    .iter()
                    .all(|i| i.len() == s.batch && i.iter().all(|&r| r < s.train));
            if !ok {
                return Err(unsupported(format!(
                    "task {b}'s learner initialisation or minibatches do not match the engine's sizes {s:?}"
                )));
            }
        }
        for l in 0..spec.depth() {
            let (off, len) = (spec.offset(l), spec.block_len(l));
            let w0: Vec<f32> = tasks
                .iter()
                .flat_map(|t| t.w0[off..off + len].iter().map(|&v| v as f32))
                .collect();
            gpu.write(&self.w[l], &w0)?;
        }
        self.load_constraints(gpu, tasks, spec)?;
        if let Ok(f) = &self.fused {
            f.load(gpu, tasks)?;
        }
        // Full batches are the same rows 0‥n at every step of every meta-step:
        // upload them once (for thousands of tasks they are most of the data).
        let full = tasks.iter().all(|t| {
            t.batches
                .iter()
                .all(|rows| rows.iter().enumerate().all(|(i, &r)| i == r))
        });
        if full && self.idx_is_full_batch.load(Ordering::Relaxed) {
            return Ok(());
        }
        let idx: Vec<u32> = (0..learner.steps)
            .flat_map(|step| {
                tasks
                    .iter()
                    .flat_map(move |t| t.batches[step].iter().map(|&i| i as u32))
            })
            .collect();
        gpu.write_u32(&self.idx, &idx)?;
        self.idx_is_full_batch.store(full, Ordering::Relaxed);
        Ok(())
    }
}

/// The engine's buffers a learner reads and writes.
struct LearnerIo<'a> {
    x_tr: &'a GpuTensor,
    x_te: &'a GpuTensor,
    z_tr: &'a GpuTensor,
    /// ∂L/∂z_tr, accumulated.
    z_tr_bar: &'a GpuTensor,
    ones: &'a GpuTensor,
    /// ∂L/∂ŷ, the cotangent of the test predictions.
    test_g_bar: &'a GpuTensor,
}

impl GdState {
    fn checkpoint_every(learner: &GdLearner) -> usize {
        learner.checkpoint_every.min(learner.steps.max(1))
    }

    /// T unrolled steps of gradient descent from w_0, keeping w_t at the checkpoints.
    fn record_unroll(
        &self,
        enc: &mut occam_gpu::Encoder<'_>,
        io: &LearnerIo<'_>,
        learner: &GdLearner,
    ) -> Result<()> {
        if let Ok(f) = &self.fused {
            return f.record_unroll(enc, (io.x_tr, io.z_tr, &self.idx), &self.w);
        }
        let k = Self::checkpoint_every(learner);
        for (w, h) in self.w.iter().zip(&self.history) {
            enc.copy(w, 0, h, 0, w.len())?;
        }
        for t in 0..learner.steps {
            self.cursor.set(enc, t)?;
            self.inner_gradient(enc, io)?;
            self.step_weights(enc)?;
            if (t + 1) % k == 0 && t + 1 < learner.steps {
                for (w, h) in self.w.iter().zip(&self.history) {
                    enc.copy(w, 0, h, (t + 1) / k * w.len(), w.len())?;
                }
            }
        }
        Ok(())
    }

    /// The predictions g_{w_T}(x_te) (for the meta-loss).
    fn record_test<'s>(
        &'s self,
        enc: &mut occam_gpu::Encoder<'_>,
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
        enc: &mut occam_gpu::Encoder<'_>,
        io: &LearnerIo<'_>,
        learner: &GdLearner,
    ) -> Result<()> {
        self.test_net
            .backward(enc, &self.w, io.x_te, io.test_g_bar, &self.v)?;
        if let Ok(f) = &self.fused {
            return f.record_adjoint(enc, (io.x_tr, io.z_tr, &self.idx), &self.v, io.z_tr_bar);
        }
        let k = Self::checkpoint_every(learner);
        for c in (0..learner.steps.div_ceil(k)).rev() {
            let (start, end) = (c * k, ((c + 1) * k).min(learner.steps));
            for (w, h) in self.w.iter().zip(&self.history) {
                enc.copy(h, c * w.len(), w, 0, w.len())?;
            }
            if k > 1 {
                for t in start..end {
                    for (w, seg) in self.w.iter().zip(&self.segment) {
                        enc.copy(w, 0, seg, (t - start) * w.len(), w.len())?;
                    }
                    if t + 1 < end {
                        self.cursor.set(enc, t)?;
                        self.inner_gradient(enc, io)?;
                        self.step_weights(enc)?;
                    }
                }
            }
            for t in (start..end).rev() {
                self.cursor.set(enc, t)?;
                if k > 1 {
                    for (w, seg) in self.w.iter().zip(&self.segment) {
                        enc.copy(seg, (t - start) * w.len(), w, 0, w.len())?;
                    }
                }
                self.adjoint_step(enc, io)?;
            }
        }
        Ok(())
    }

    /// One step of the reverse sweep at the current w = w_t (cursor at t).
    fn adjoint_step(&self, enc: &mut occam_gpu::Encoder<'_>, io: &LearnerIo<'_>) -> Result<()> {
        self.inner_gradient(enc, io)?;
        // The direction the step's tangent passes see: v, or M ⊙ P'(u) ⊙ v
        // (with v itself replaced by P'(u) ⊙ v) under constraints.
        let direction = match &self.constraints {
            None => &self.v,
            Some(c) => {
                for l in 0..self.w.len() {
                    c.step[l].adjoint(
                        enc,
                        &c.mask[l],
                        &c.signs[l],
                        &self.grad[l],
                        &self.w[l],
                        &self.v[l],
                        &c.v_m[l],
                    )?;
                }
                &c.v_m
            }
        };
        self.train_net
            .tangent_forward(enc, &self.w, &self.xb, direction)?;
        self.mse_inner.tangent_backward(
            enc,
            self.train_net.output(),
            &self.zb,
            io.ones,
            self.train_net.output_tangent(),
            &self.zeros_batch,
            &self.zeros_tasks,
            &self.g_bar_dot,
            &self.scratch_batch,
        )?;
        self.train_net.tangent_backward(
            enc,
            &self.w,
            &self.xb,
            &self.g_bar,
            direction,
            &self.g_bar_dot,
            &self.hv,
        )?;
        self.gather_z
            .backward(enc, &self.cursor, &self.idx, &self.g_bar_dot, io.z_tr_bar)?;
        for (v, (hv, sgd)) in self.v.iter().zip(self.hv.iter().zip(&self.inner_sgd)) {
            sgd.step(enc, v, hv)?;
        }
        Ok(())
    }

    /// Uploads each task's mask and signs (all-ones and all-free where a task
    /// gives none); refuses constrained tasks for an unconstrained learner.
    fn load_constraints(
        &self,
        gpu: &Gpu,
        tasks: &[TaskData],
        spec: &crate::net::NetSpec,
    ) -> Result<()> {
        let Some(c) = &self.constraints else {
            return match tasks.iter().position(|t| !t.constraints.is_empty()) {
                Some(b) => Err(unsupported(format!(
                    "task {b} has connectivity constraints, but the learner was not built as constrained"
                ))),
                None => Ok(()),
            };
        };
        let p = spec.n_params();
        for (b, t) in tasks.iter().enumerate() {
            let (m, s) = (&t.constraints.mask, &t.constraints.signs);
            if !(m.is_empty() || m.len() == p) || !(s.is_empty() || s.len() == p) {
                return Err(unsupported(format!(
                    "task {b}'s mask or signs do not cover the learner's {p} parameters"
                )));
            }
        }
        for l in 0..spec.depth() {
            let (off, len) = (spec.offset(l), spec.block_len(l));
            let block =
                |v: &[f64]| -> Vec<f32> { v[off..off + len].iter().map(|&a| a as f32).collect() };
            let mask: Vec<f32> = tasks
                .iter()
                .flat_map(|t| block(&t.constraints.mask_or_ones(p)))
                .collect();
            let signs: Vec<f32> = tasks
                .iter()
                .flat_map(|t| block(&t.constraints.signs_or_free(p)))
                .collect();
            gpu.write(&c.mask[l], &mask)?;
            gpu.write(&c.signs[l], &signs)?;
        }
        Ok(())
    }

    /// w ← w − η ∇L (into place), or w ← P(w − η M ⊙ ∇L) under constraints.
    fn step_weights(&self, enc: &mut occam_gpu::Encoder<'_>) -> Result<()> {
        for (l, (w, g)) in self.w.iter().zip(&self.grad).enumerate() {
            match &self.constraints {
                None => self.inner_sgd[l].step(enc, w, g)?,
                Some(c) => c.step[l].step(enc, &c.mask[l], &c.signs[l], g, w)?,
            }
        }
        Ok(())
    }

    /// Gathers step t's batch and records ∇_w L_t at the current w into `grad`
    /// (leaving the forward and backward scratch for the tangent passes).
    fn inner_gradient(&self, enc: &mut occam_gpu::Encoder<'_>, io: &LearnerIo<'_>) -> Result<()> {
        self.gather_x
            .forward(enc, &self.cursor, &self.idx, io.x_tr, &self.xb)?;
        self.gather_z
            .forward(enc, &self.cursor, &self.idx, io.z_tr, &self.zb)?;
        self.train_net.forward(enc, &self.w, &self.xb)?;
        let g = self.train_net.output();
        self.mse_inner
            .backward(enc, g, &self.zb, io.ones, &self.g_bar, &self.scratch_batch)?;
        self.train_net
            .backward(enc, &self.w, &self.xb, &self.g_bar, &self.grad)
    }
}

/// GPU state of the orthogonality term.
struct OrthState {
    op: OrthogonalityGpu,
    x: Vec<f32>,
    h: GpuTensor,
    z: GpuTensor,
    z_bar: GpuTensor,
    loss: GpuTensor,
}

fn unsupported(message: String) -> OpError {
    OpError::InvalidShape {
        op: "meta-step",
        message,
    }
}

impl GpuMetaEngine {
    /// Allocates everything for `problem` at `sizes`, with meta-parameters
    /// `theta` (flat, [`crate::net::NetSpec`] layout) and optimiser `optimizer`.
    pub fn new(
        gpu: &Gpu,
        problem: &MetaProblem,
        sizes: StepSizes,
        theta: &[f64],
        optimizer: OptimizerKind,
        orth: &Orthogonality,
    ) -> Result<GpuMetaEngine> {
        let w = &problem.weights;
        let StepSizes {
            tasks,
            train: m,
            test: big_m,
            samples,
            ..
        } = sizes;
        let meta_spec = &problem.meta;
        let d = meta_spec.d_in();
        if meta_spec.d_out() != 1 {
            return Err(unsupported(format!(
                "the meta-learner {:?} must have one output",
                meta_spec.layers
            )));
        }
        let k_orth = if w.orthogonality != 0.0 && !orth.earlier.is_empty() {
            orth.x.len() / d
        } else {
            0
        };
        if k_orth > 0 && orth.earlier.iter().any(|h| h.len() != k_orth) {
            return Err(unsupported(format!(
                "every earlier function must have {k_orth} values on the orthogonality points"
            )));
        }
        let rows = tasks * (m + big_m) + k_orth;
        let all = problem.distribution_on == DistributionSet::All;
        let n_s = if all { m + big_m } else { big_m };
        let theta_layers: Vec<GpuTensor> = (0..meta_spec.depth())
            .map(|l| {
                let off = meta_spec.offset(l);
                let vals: Vec<f32> = theta[off..off + meta_spec.block_len(l)]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                Ok(gpu.upload(&format!("theta {l}"), &vals)?)
            })
            .collect::<Result<_>>()?;
        let adversary = match &problem.adversary {
            Some((b, weight)) => {
                let n = tasks * big_m;
                Some(Box::new(AdversarySlot {
                    state: RidgeState::new(gpu, b, sizes, d)?,
                    mse: MseGpu::new(
                        gpu,
                        MseShape {
                            batch: tasks,
                            count: big_m,
                            weight: -weight / tasks as f64,
                        },
                    )?,
                    loss: gpu.zeros("adversary loss", tasks)?,
                    g_bar: gpu.zeros("adversary g_bar", n)?,
                    z_te_bar: gpu.zeros("adversary z_te_bar", n)?,
                    add: OptimizerGpu::new(gpu, OptimizerKind::Sgd { lr: -1.0 }, n)?,
                }))
            }
            None => None,
        };
        let learner = match &problem.learner {
            Learner::Gd(g) => LearnerState::Gd(Box::new(GdState::new(gpu, g, sizes, d)?)),
            Learner::Ridge(r) => LearnerState::Ridge(Box::new(RidgeState::new(gpu, r, sizes, d)?)),
        };
        let engine = GpuMetaEngine {
            meta: GpuNet::new(gpu, meta_spec, 1, rows, false, "meta")?,
            theta_bar: (0..meta_spec.depth())
                .map(|l| Ok(gpu.zeros(&format!("theta_bar {l}"), meta_spec.block_len(l))?))
                .collect::<Result<_>>()?,
            meta_opt: (0..meta_spec.depth())
                .map(|l| OptimizerGpu::new(gpu, optimizer, meta_spec.block_len(l)))
                .collect::<Result<_>>()?,
            theta: theta_layers,
            x_all: gpu.zeros("x_all", rows * d)?,
            x_tr: gpu.zeros("x_tr", tasks * m * d)?,
            x_te: gpu.zeros("x_te", tasks * big_m * d)?,
            z_tr: gpu.zeros("z_tr", tasks * m)?,
            z_te: gpu.zeros("z_te", tasks * big_m)?,
            z_tr_bar: gpu.zeros("z_tr_bar", tasks * m)?,
            z_te_bar: gpu.zeros("z_te_bar", tasks * big_m)?,
            z_bar_all: gpu.zeros("z_bar_all", rows)?,
            mse_test: MseGpu::new(
                gpu,
                MseShape {
                    batch: tasks,
                    count: big_m,
                    weight: w.generalisation / tasks as f64,
                },
            )?,
            dist: DistributionOp::new(
                gpu,
                problem.distribution,
                tasks,
                n_s,
                samples,
                w.distribution / tasks as f64,
            )?,
            z_s: gpu.zeros("z_s", if all { tasks * n_s } else { 0 })?,
            z_s_bar: gpu.zeros("z_s_bar", if all { tasks * n_s } else { 0 })?,
            z_s_bar_all: gpu.zeros("z_s_bar in z_all layout", if all { rows } else { 0 })?,
            spread: if w.std_reward != 0.0 {
                Some((
                    StdRewardGpu::new(gpu, tasks, n_s, w.std_reward / tasks as f64)?,
                    gpu.zeros("std reward", tasks)?,
                ))
            } else {
                None
            },
            add: OptimizerGpu::new(
                gpu,
                OptimizerKind::Sgd { lr: -1.0 },
                if all { rows } else { 0 },
            )?,
            ones: gpu.upload("ones", &vec![1.0; tasks])?,
            test_g_bar: gpu.zeros("test g_bar", tasks * big_m)?,
            u: gpu.zeros("u", tasks * samples)?,
            gen_loss: gpu.zeros("generalisation loss", tasks)?,
            dist_loss: gpu.zeros("distribution loss", tasks)?,
            dist_train: if problem.distribution_on == DistributionSet::Separate {
                Some((
                    DistributionOp::new(
                        gpu,
                        problem.distribution,
                        tasks,
                        m,
                        samples,
                        w.distribution / tasks as f64,
                    )?,
                    gpu.zeros("distribution loss, training labels", tasks)?,
                ))
            } else {
                None
            },
            problem: problem.clone(),
            sizes,
            meta_step_count: 0,
            orth: if k_orth > 0 {
                let h: Vec<f32> = orth.earlier.iter().flatten().map(|&v| v as f32).collect();
                Some(OrthState {
                    op: OrthogonalityGpu::new(gpu, k_orth, orth.earlier.len(), w.orthogonality)?,
                    x: orth.x.iter().map(|&v| v as f32).collect(),
                    h: gpu.upload("earlier functions", &h)?,
                    z: gpu.zeros("z_orth", k_orth)?,
                    z_bar: gpu.zeros("z_orth_bar", k_orth)?,
                    loss: gpu.zeros("orthogonality loss", orth.earlier.len())?,
                })
            } else {
                None
            },
            learner,
            adversary,
        };
        Ok(engine)
    }

    /// Uploads one meta-step's random data (one [`TaskData`] per task).
    pub fn load(&self, gpu: &Gpu, tasks: &[TaskData]) -> Result<()> {
        let s = self.sizes;
        let d = self.problem.meta.d_in();
        if tasks.len() != s.tasks {
            return Err(unsupported(format!(
                "{} tasks given, the engine was built for {}",
                tasks.len(),
                s.tasks
            )));
        }
        for (b, t) in tasks.iter().enumerate() {
            if t.x_tr.len() != s.train * d || t.x_te.len() != s.test * d || t.u.len() != s.samples {
                return Err(unsupported(format!(
                    "task {b}'s data does not match the engine's sizes {s:?}"
                )));
            }
        }
        let f32s = |v: &mut dyn Iterator<Item = f64>| -> Vec<f32> { v.map(|a| a as f32).collect() };
        let mut x_all = f32s(
            &mut tasks
                .iter()
                .flat_map(|t| t.x_tr.iter().copied())
                .chain(tasks.iter().flat_map(|t| t.x_te.iter().copied())),
        );
        if let Some(o) = &self.orth {
            x_all.extend_from_slice(&o.x);
        }
        gpu.write(&self.x_all, &x_all)?;
        gpu.write(
            &self.x_tr,
            &f32s(&mut tasks.iter().flat_map(|t| t.x_tr.iter().copied())),
        )?;
        gpu.write(
            &self.x_te,
            &f32s(&mut tasks.iter().flat_map(|t| t.x_te.iter().copied())),
        )?;
        gpu.write(
            &self.u,
            &f32s(&mut tasks.iter().flat_map(|t| t.u.iter().copied())),
        )?;
        if let Some(a) = &self.adversary {
            a.state.load(gpu, tasks, d, |t| &t.adversary_features)?;
        }
        match (&self.learner, &self.problem.learner) {
            (LearnerState::Gd(gd), Learner::Gd(learner)) => gd.load(gpu, tasks, s, learner),
            (LearnerState::Ridge(r), _) => r.load(gpu, tasks, d, |t| &t.features),
            (LearnerState::Gd(_), Learner::Ridge(_)) => {
                unreachable!("the state is built from the problem")
            }
        }
    }

    /// Records and submits one meta-step on the loaded data: the meta-loss and
    /// ∂L/∂θ, followed by the optimiser step when `update` is true. One
    /// command submission, no read-back.
    pub fn step(&mut self, gpu: &Gpu, update: bool) -> Result<()> {
        self.prepare(gpu, update);
        let mut enc = gpu.encoder();
        for phase in Phase::ALL {
            self.record(&mut enc, phase, update)?;
        }
        enc.submit()?;
        Ok(())
    }

    /// Like [`GpuMetaEngine::step`], but submits each phase on its own and
    /// waits for it, returning each phase's wall time in seconds (on a
    /// software adapter that is its GPU time; elsewhere it includes a
    /// submission's latency).
    pub fn step_timed(&mut self, gpu: &Gpu, update: bool) -> Result<Vec<(Phase, f64)>> {
        self.prepare(gpu, update);
        gpu.wait("before a timed meta-step")?;
        let mut times = Vec::new();
        for phase in Phase::ALL {
            let start = std::time::Instant::now();
            let mut enc = gpu.encoder();
            self.record(&mut enc, phase, update)?;
            enc.submit()?;
            gpu.wait(phase.name())?;
            times.push((phase, start.elapsed().as_secs_f64()));
        }
        Ok(times)
    }

    /// Like [`GpuMetaEngine::step`] (one submission), with every dispatch
    /// timed by `profiler` and scoped by its phase; waits and returns each
    /// dispatch's GPU time and counted FLOPs.
    pub fn step_profiled(
        &mut self,
        gpu: &Gpu,
        update: bool,
        profiler: &mut occam_gpu::Profiler,
    ) -> Result<Vec<occam_gpu::KernelTime>> {
        self.prepare(gpu, update);
        {
            let mut enc = gpu.profiled_encoder(profiler);
            for phase in Phase::ALL {
                enc.set_scope(phase.name());
                self.record(&mut enc, phase, update)?;
            }
            enc.submit()?;
        }
        Ok(profiler.read(gpu)?)
    }

    fn prepare(&mut self, gpu: &Gpu, update: bool) {
        if update {
            self.meta_step_count += 1;
            for opt in &self.meta_opt {
                opt.set_step(gpu, self.meta_step_count);
            }
        }
    }

    fn io(&self) -> LearnerIo<'_> {
        LearnerIo {
            x_tr: &self.x_tr,
            x_te: &self.x_te,
            z_tr: &self.z_tr,
            z_tr_bar: &self.z_tr_bar,
            ones: &self.ones,
            test_g_bar: &self.test_g_bar,
        }
    }

    fn record(&self, enc: &mut occam_gpu::Encoder<'_>, phase: Phase, update: bool) -> Result<()> {
        let s = self.sizes;
        let (m, big_m, tasks) = (s.train, s.test, s.tasks);
        let io = self.io();
        match phase {
            Phase::Labels => {
                // Labels z = f_θ(X) for every task's training and test points.
                self.meta.forward(enc, &self.theta, &self.x_all)?;
                let z = self.meta.output();
                enc.copy(z, 0, &self.z_tr, 0, tasks * m)?;
                enc.copy(z, tasks * m, &self.z_te, 0, tasks * big_m)?;
                if let Some(o) = &self.orth {
                    enc.copy(z, tasks * (m + big_m), &o.z, 0, o.z.len())?;
                }
                enc.clear(&self.z_tr_bar);
            }
            Phase::Unroll => {
                match (&self.learner, &self.problem.learner) {
                    (LearnerState::Gd(gd), Learner::Gd(learner)) => {
                        gd.record_unroll(enc, &io, learner)?
                    }
                    (LearnerState::Ridge(r), _) => {
                        r.record_fit(enc, &self.x_tr, &self.x_te, &self.z_tr)?
                    }
                    _ => unreachable!("the state is built from the problem"),
                }
                if let Some(a) = &self.adversary {
                    a.state
                        .record_fit(enc, &self.x_tr, &self.x_te, &self.z_tr)?;
                }
            }
            Phase::Loss => {
                // The learner's test predictions, the generalisation term and its
                // cotangents ŷ̄ (test_g_bar) and z̄_te.
                let g_te = match &self.learner {
                    LearnerState::Gd(gd) => gd.record_test(enc, &io)?,
                    LearnerState::Ridge(r) => &r.y_te,
                };
                self.mse_test
                    .forward(enc, g_te, &self.z_te, &self.gen_loss)?;
                self.mse_test.backward(
                    enc,
                    g_te,
                    &self.z_te,
                    &self.ones,
                    &self.test_g_bar,
                    &self.z_te_bar,
                )?;
                if let Some(a) = &self.adversary {
                    // −a'·MSE_B: its cotangent ŷ̄_B, and its share of z̄_te added in.
                    let y_b = &a.state.y_te;
                    a.mse.forward(enc, y_b, &self.z_te, &a.loss)?;
                    a.mse
                        .backward(enc, y_b, &self.z_te, &self.ones, &a.g_bar, &a.z_te_bar)?;
                    a.add.step(enc, &self.z_te_bar, &a.z_te_bar)?;
                }
                // The labels the distribution term (and the std reward) see.
                let (zs, zs_bar) = if self.problem.distribution_on == DistributionSet::All {
                    // z_s[b] = [z_tr[b], z_te[b]]; its gradient is added to z̄_all later.
                    for b in 0..tasks {
                        enc.copy(&self.z_tr, b * m, &self.z_s, b * (m + big_m), m)?;
                        enc.copy(&self.z_te, b * big_m, &self.z_s, b * (m + big_m) + m, big_m)?;
                    }
                    enc.clear(&self.z_s_bar);
                    (&self.z_s, &self.z_s_bar)
                } else {
                    (&self.z_te, &self.z_te_bar)
                };
                // (Left out at weight 0: its loss buffer stays 0.)
                if self.problem.weights.distribution != 0.0 {
                    self.dist.forward(enc, zs, &self.u, &self.dist_loss)?;
                    if let Some((op, loss)) = &self.dist_train {
                        op.forward(enc, &self.z_tr, &self.u, loss)?;
                        op.backward(enc, &self.z_tr, &self.u, &self.z_tr_bar)?;
                    }
                    self.dist.backward(enc, zs, &self.u, zs_bar)?;
                }
                if let Some((op, loss)) = &self.spread {
                    op.forward(enc, zs, loss)?;
                    op.backward(enc, zs, zs_bar)?;
                }
                if let Some(o) = &self.orth {
                    o.op.forward(enc, &o.z, &o.h, &o.loss)?;
                    enc.clear(&o.z_bar);
                    o.op.backward(enc, &o.h, &o.z_bar)?;
                }
            }
            Phase::Adjoint => {
                match (&self.learner, &self.problem.learner) {
                    (LearnerState::Gd(gd), Learner::Gd(learner)) => {
                        gd.record_adjoint(enc, &io, learner)?
                    }
                    (LearnerState::Ridge(r), _) => {
                        // z̄_tr += Φ_tr A⁻¹ Φ_teᵀ ŷ̄.
                        r.ridge.backward(
                            enc,
                            &r.phi_tr,
                            &r.phi_te,
                            &self.test_g_bar,
                            &self.z_tr_bar,
                        )?
                    }
                    _ => unreachable!("the state is built from the problem"),
                }
                if let Some(a) = &self.adversary {
                    let r = &a.state;
                    r.ridge
                        .backward(enc, &r.phi_tr, &r.phi_te, &a.g_bar, &self.z_tr_bar)?;
                }
            }
            Phase::MetaBackward => {
                // One backprop of the meta-learner, then the optimiser.
                enc.copy(&self.z_tr_bar, 0, &self.z_bar_all, 0, tasks * m)?;
                enc.copy(&self.z_te_bar, 0, &self.z_bar_all, tasks * m, tasks * big_m)?;
                if let Some(o) = &self.orth {
                    enc.copy(
                        &o.z_bar,
                        0,
                        &self.z_bar_all,
                        tasks * (m + big_m),
                        o.z_bar.len(),
                    )?;
                }
                if self.problem.distribution_on == DistributionSet::All {
                    for b in 0..tasks {
                        let (src, tr, te) = (b * (m + big_m), b * m, tasks * m + b * big_m);
                        enc.copy(&self.z_s_bar, src, &self.z_s_bar_all, tr, m)?;
                        enc.copy(&self.z_s_bar, src + m, &self.z_s_bar_all, te, big_m)?;
                    }
                    // z̄_all ← z̄_all − (−1)·z̄_s: the distribution term's share.
                    self.add.step(enc, &self.z_bar_all, &self.z_s_bar_all)?;
                }
                self.meta.backward(
                    enc,
                    &self.theta,
                    &self.x_all,
                    &self.z_bar_all,
                    &self.theta_bar,
                )?;
                if update {
                    for l in 0..self.theta.len() {
                        self.meta_opt[l].step(enc, &self.theta[l], &self.theta_bar[l])?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads back the meta-loss terms of the last step (averaged over tasks).
    /// Fails when a closed-form learner's system was singular (λ too small).
    pub fn read_terms(&self, gpu: &Gpu) -> Result<LossTerms> {
        if let LearnerState::Ridge(r) = &self.learner {
            r.ridge.check_status(gpu)?;
        }
        if let Some(a) = &self.adversary {
            a.state.ridge.check_status(gpu)?;
        }
        let sum =
            |t: &GpuTensor| -> Result<f64> { Ok(gpu.read(t)?.iter().map(|&v| f64::from(v)).sum()) };
        Ok(LossTerms {
            generalisation: sum(&self.gen_loss)?,
            distribution: sum(&self.dist_loss)?
                + match &self.dist_train {
                    Some((_, loss)) => sum(loss)?,
                    None => 0.0,
                },
            std_reward: match &self.spread {
                Some((_, loss)) => sum(loss)?,
                None => 0.0,
            },
            orthogonality: match &self.orth {
                Some(o) => sum(&o.loss)?,
                None => 0.0,
            },
            adversary: match &self.adversary {
                Some(a) => sum(&a.loss)?,
                None => 0.0,
            },
        })
    }

    /// Reads back ∂L/∂θ of the last step, flat in the [`crate::net::NetSpec`] layout.
    pub fn read_theta_bar(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        self.read_layers(gpu, &self.theta_bar)
    }

    /// Reads back θ, flat.
    pub fn read_theta(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        self.read_layers(gpu, &self.theta)
    }

    fn read_layers(&self, gpu: &Gpu, layers: &[GpuTensor]) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        for t in layers {
            out.extend(gpu.read(t)?.into_iter().map(f64::from));
        }
        Ok(out)
    }

    /// Evaluates the meta-learner f_θ at arbitrary points (n × d, row-major).
    pub fn evaluate(&self, gpu: &Gpu, points: &[f64]) -> Result<Vec<f64>> {
        let d = self.problem.meta.d_in();
        let n = points.len() / d;
        if n == 0 {
            return Ok(Vec::new());
        }
        // In chunks, so that no layer's values exceed 2^25 floats.
        let per_row = self
            .problem
            .meta
            .shapes()
            .iter()
            .map(|(c, h, w)| c * h * w)
            .max()
            .unwrap_or(1);
        let chunk = ((1usize << 25) / per_row).clamp(1, n);
        let mut out = Vec::with_capacity(n);
        for rows in points.chunks(chunk * d) {
            let net = GpuNet::new(
                gpu,
                &self.problem.meta,
                1,
                rows.len() / d,
                false,
                "evaluation",
            )?;
            let x = gpu.upload(
                "evaluation points",
                &rows.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            )?;
            let mut enc = gpu.encoder();
            net.forward(&mut enc, &self.theta, &x)?;
            enc.submit()?;
            out.extend(gpu.read(net.output())?.into_iter().map(f64::from));
        }
        Ok(out)
    }

    /// How the learner's unroll and reverse sweep run on this adapter.
    pub fn unroll_execution(&self) -> UnrollExecution {
        match &self.learner {
            LearnerState::Gd(gd) => match &gd.fused {
                Ok(f) => {
                    let (unroll_flops, sweep_flops) = f.flops();
                    UnrollExecution::Fused {
                        unroll_flops,
                        sweep_flops,
                        checkpoint_every: f.checkpoint_every(),
                        dispatches: f.dispatches(),
                    }
                }
                Err(reason) => UnrollExecution::PerStep {
                    reason: reason.clone(),
                },
            },
            LearnerState::Ridge(_) => UnrollExecution::ClosedForm,
        }
    }

    /// Evaluates the meta-learner f_θ on the loaded points (train then test,
    /// task by task) and reads the labels back.
    pub fn read_labels(&self, gpu: &Gpu) -> Result<Vec<f64>> {
        let mut enc = gpu.encoder();
        self.meta.forward(&mut enc, &self.theta, &self.x_all)?;
        enc.submit()?;
        Ok(gpu
            .read(self.meta.output())?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}
