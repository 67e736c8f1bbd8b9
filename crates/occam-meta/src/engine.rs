//! The meta-step on the GPU: labels from the meta-learner, T unrolled learner
//! steps, the meta-loss, the exact reverse sweep, the meta-learner's backward
//! pass and the optimiser step — recorded into one command submission with no
//! read-back inside it (DESIGN.md §1–§2, §6). Tasks of a meta-batch run side
//! by side as the batch dimension of every learner op.

use crate::gpu_mlp::GpuMlp;
use crate::problem::{
    DistributionKind, DistributionSet, LossTerms, MetaProblem, Orthogonality, TaskData,
};
use occam_gpu::{Gpu, GpuTensor};
use occam_ops::{
    EnergyGpu, GatherGpu, MseGpu, MseShape, OpError, OptimizerGpu, OptimizerKind, OrthogonalityGpu,
    Result, SinkhornGpu, StdRewardGpu, StepCursor,
};

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

/// All GPU state of a meta-learning run: parameters, optimiser state, ops and scratch.
pub struct GpuMetaEngine {
    problem: MetaProblem,
    sizes: StepSizes,
    meta: GpuMlp,
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
    meta_step_count: u64,
    /// The series' orthogonality term, when it has earlier functions.
    orth: Option<OrthState>,
    /// The unrolled gradient-descent learner.
    gd: GdState,
}

/// GPU state of a learner trained by unrolled gradient descent.
struct GdState {
    train_net: GpuMlp,
    test_net: GpuMlp,
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
    cursor: StepCursor,
    gather_x: GatherGpu,
    gather_z: GatherGpu,
    mse_inner: MseGpu,
    zeros_tasks: GpuTensor,
    zeros_batch: GpuTensor,
    g_bar: GpuTensor,
    g_bar_dot: GpuTensor,
    scratch_batch: GpuTensor,
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
    /// `theta` (flat, [`crate::mlp::MlpSpec`] layout) and optimiser `optimizer`.
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
            batch: n,
            samples,
        } = sizes;
        let meta_spec = &problem.meta;
        let learner = &problem.learner;
        let spec = &learner.spec;
        let d = meta_spec.d_in();
        if spec.d_in() != d || meta_spec.d_out() != 1 || spec.d_out() != 1 {
            return Err(unsupported(format!(
                "meta-learner {:?} and learner {:?} must share the input width and have one output",
                meta_spec.sizes, spec.sizes
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
        let gd = GdState {
            train_net: GpuMlp::new(gpu, spec, tasks, n, "learner")?,
            test_net: GpuMlp::new(gpu, spec, tasks, big_m, "learner test")?,
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
        };
        let engine = GpuMetaEngine {
            meta: GpuMlp::new(gpu, meta_spec, 1, rows, "meta")?,
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
            gd,
        };
        Ok(engine)
    }

    /// Uploads one meta-step's random data (one [`TaskData`] per task).
    pub fn load(&self, gpu: &Gpu, tasks: &[TaskData]) -> Result<()> {
        let s = self.sizes;
        let spec = &self.problem.learner.spec;
        let d = spec.d_in();
        let bad = |what: String| Err(unsupported(what));
        if tasks.len() != s.tasks {
            return bad(format!(
                "{} tasks given, the engine was built for {}",
                tasks.len(),
                s.tasks
            ));
        }
        let f32s = |v: &mut dyn Iterator<Item = f64>| -> Vec<f32> { v.map(|a| a as f32).collect() };
        for (b, t) in tasks.iter().enumerate() {
            let ok = t.x_tr.len() == s.train * d
                && t.x_te.len() == s.test * d
                && t.u.len() == s.samples
                && t.w0.len() == spec.n_params()
                && t.batches.len() == self.problem.learner.steps
                && t.batches
                    .iter()
                    .all(|i| i.len() == s.batch && i.iter().all(|&r| r < s.train));
            if !ok {
                return bad(format!(
                    "task {b}'s data does not match the engine's sizes {s:?}"
                ));
            }
        }
        let x_all = f32s(
            &mut tasks
                .iter()
                .flat_map(|t| t.x_tr.iter().copied())
                .chain(tasks.iter().flat_map(|t| t.x_te.iter().copied())),
        );
        let mut x_all = x_all;
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
        for l in 0..spec.depth() {
            let (off, len) = (spec.offset(l), spec.block_len(l));
            gpu.write(
                &self.gd.w[l],
                &f32s(
                    &mut tasks
                        .iter()
                        .flat_map(|t| t.w0[off..off + len].iter().copied()),
                ),
            )?;
        }
        let idx: Vec<u32> = (0..self.problem.learner.steps)
            .flat_map(|step| {
                tasks
                    .iter()
                    .flat_map(move |t| t.batches[step].iter().map(|&i| i as u32))
            })
            .collect();
        gpu.write_u32(&self.gd.idx, &idx)?;
        Ok(())
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

    fn prepare(&mut self, gpu: &Gpu, update: bool) {
        if update {
            self.meta_step_count += 1;
            for opt in &self.meta_opt {
                opt.set_step(gpu, self.meta_step_count);
            }
        }
    }

    fn record(&self, enc: &mut occam_gpu::Encoder<'_>, phase: Phase, update: bool) -> Result<()> {
        let s = self.sizes;
        let learner = &self.problem.learner;
        let depth = learner.spec.depth();
        let (m, big_m, tasks) = (s.train, s.test, s.tasks);
        let k = self.checkpoint_every();
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
                for l in 0..depth {
                    enc.copy(&self.gd.w[l], 0, &self.gd.history[l], 0, self.gd.w[l].len())?;
                }
            }
            Phase::Unroll => {
                // T unrolled steps of gradient descent, keeping w_t at the checkpoints.
                for t in 0..learner.steps {
                    self.gd.cursor.set(enc, t)?;
                    self.inner_gradient(enc)?;
                    for l in 0..depth {
                        self.gd.inner_sgd[l].step(enc, &self.gd.w[l], &self.gd.grad[l])?;
                        if (t + 1) % k == 0 && t + 1 < learner.steps {
                            let len = self.gd.w[l].len();
                            enc.copy(
                                &self.gd.w[l],
                                0,
                                &self.gd.history[l],
                                (t + 1) / k * len,
                                len,
                            )?;
                        }
                    }
                }
            }
            Phase::Loss => {
                // Meta-loss at w_T, its cotangents z̄_te and w̄_T (into v).
                self.gd.test_net.forward(enc, &self.gd.w, &self.x_te)?;
                let g_te = self.gd.test_net.output();
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
                self.gd.test_net.backward(
                    enc,
                    &self.gd.w,
                    &self.x_te,
                    &self.test_g_bar,
                    &self.gd.v,
                )?;
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
                self.dist.forward(enc, zs, &self.u, &self.dist_loss)?;
                self.dist.backward(enc, zs, &self.u, zs_bar)?;
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
                // Reverse sweep: z̄_tr += η ḡ̇ on each step's batch, v ← v − η H_t v,
                // segment by segment between checkpoints, recomputing each segment's
                // w_t from its checkpoint first when k > 1.
                for c in (0..learner.steps.div_ceil(k)).rev() {
                    let (start, end) = (c * k, ((c + 1) * k).min(learner.steps));
                    for l in 0..depth {
                        let len = self.gd.w[l].len();
                        enc.copy(&self.gd.history[l], c * len, &self.gd.w[l], 0, len)?;
                    }
                    if k > 1 {
                        for t in start..end {
                            for l in 0..depth {
                                let len = self.gd.w[l].len();
                                enc.copy(
                                    &self.gd.w[l],
                                    0,
                                    &self.gd.segment[l],
                                    (t - start) * len,
                                    len,
                                )?;
                            }
                            if t + 1 < end {
                                self.gd.cursor.set(enc, t)?;
                                self.inner_gradient(enc)?;
                                for l in 0..depth {
                                    self.gd.inner_sgd[l].step(
                                        enc,
                                        &self.gd.w[l],
                                        &self.gd.grad[l],
                                    )?;
                                }
                            }
                        }
                    }
                    for t in (start..end).rev() {
                        self.gd.cursor.set(enc, t)?;
                        if k > 1 {
                            for l in 0..depth {
                                let len = self.gd.w[l].len();
                                enc.copy(
                                    &self.gd.segment[l],
                                    (t - start) * len,
                                    &self.gd.w[l],
                                    0,
                                    len,
                                )?;
                            }
                        }
                        self.adjoint_step(enc)?;
                    }
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

    /// One step of the reverse sweep at the current w = w_t (cursor at t).
    fn adjoint_step(&self, enc: &mut occam_gpu::Encoder<'_>) -> Result<()> {
        self.inner_gradient(enc)?;
        self.gd
            .train_net
            .tangent_forward(enc, &self.gd.w, &self.gd.xb, &self.gd.v)?;
        self.gd.mse_inner.tangent_backward(
            enc,
            self.gd.train_net.output(),
            &self.gd.zb,
            &self.ones,
            self.gd.train_net.output_tangent(),
            &self.gd.zeros_batch,
            &self.gd.zeros_tasks,
            &self.gd.g_bar_dot,
            &self.gd.scratch_batch,
        )?;
        self.gd.train_net.tangent_backward(
            enc,
            &self.gd.w,
            &self.gd.xb,
            &self.gd.g_bar,
            &self.gd.v,
            &self.gd.g_bar_dot,
            &self.gd.hv,
        )?;
        self.gd.gather_z.backward(
            enc,
            &self.gd.cursor,
            &self.gd.idx,
            &self.gd.g_bar_dot,
            &self.z_tr_bar,
        )?;
        for (v, (hv, sgd)) in self
            .gd
            .v
            .iter()
            .zip(self.gd.hv.iter().zip(&self.gd.inner_sgd))
        {
            sgd.step(enc, v, hv)?;
        }
        Ok(())
    }

    fn checkpoint_every(&self) -> usize {
        let steps = self.problem.learner.steps;
        self.problem.learner.checkpoint_every.min(steps.max(1))
    }

    /// Gathers step t's batch and records ∇_w L_t at the current w into `grad`
    /// (leaving the forward and backward scratch for the tangent passes).
    fn inner_gradient(&self, enc: &mut occam_gpu::Encoder<'_>) -> Result<()> {
        self.gd
            .gather_x
            .forward(enc, &self.gd.cursor, &self.gd.idx, &self.x_tr, &self.gd.xb)?;
        self.gd
            .gather_z
            .forward(enc, &self.gd.cursor, &self.gd.idx, &self.z_tr, &self.gd.zb)?;
        self.gd.train_net.forward(enc, &self.gd.w, &self.gd.xb)?;
        let g = self.gd.train_net.output();
        self.gd.mse_inner.backward(
            enc,
            g,
            &self.gd.zb,
            &self.ones,
            &self.gd.g_bar,
            &self.gd.scratch_batch,
        )?;
        self.gd
            .train_net
            .backward(enc, &self.gd.w, &self.gd.xb, &self.gd.g_bar, &self.gd.grad)
    }

    /// Reads back the meta-loss terms of the last step (averaged over tasks).
    pub fn read_terms(&self, gpu: &Gpu) -> Result<LossTerms> {
        let sum =
            |t: &GpuTensor| -> Result<f64> { Ok(gpu.read(t)?.iter().map(|&v| f64::from(v)).sum()) };
        Ok(LossTerms {
            generalisation: sum(&self.gen_loss)?,
            distribution: sum(&self.dist_loss)?,
            std_reward: match &self.spread {
                Some((_, loss)) => sum(loss)?,
                None => 0.0,
            },
            orthogonality: match &self.orth {
                Some(o) => sum(&o.loss)?,
                None => 0.0,
            },
        })
    }

    /// Reads back ∂L/∂θ of the last step, flat in the [`crate::mlp::MlpSpec`] layout.
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
        let net = GpuMlp::new(gpu, &self.problem.meta, 1, n, "evaluation")?;
        let x = gpu.upload(
            "evaluation points",
            &points.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        )?;
        let mut enc = gpu.encoder();
        net.forward(&mut enc, &self.theta, &x)?;
        enc.submit()?;
        Ok(gpu.read(net.output())?.into_iter().map(f64::from).collect())
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
