//! The meta-step on the GPU: labels from the meta-learner, each learner's
//! fit, the meta-loss term by term, each learner's adjoint, the
//! meta-learner's backward pass and the optimiser step — recorded into one
//! command submission with no read-back inside it (docs/design.md §1, §6).
//! Tasks of a meta-batch run side by side as the batch dimension of every
//! op. The engine knows learners and terms only through
//! [`crate::learners::GpuLearner`] and [`crate::loss::GpuTerm`].

mod phase;
mod read;
mod state;
mod submit;

pub use crate::learners::Execution as UnrollExecution;
pub use phase::{Phase, StepSizes};
pub use state::MetaState;

use crate::MetaError;
use crate::error::Result;
use crate::gpu_net::GpuNet;
use crate::learners::{GpuLearner, LearnerIo, LearnerShape};
use crate::loss::{GpuLabels, GpuTerm, Labels, TermShape};
use crate::problem::{MetaProblem, Orthogonality, TaskData};
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::concat::ConcatGpu;
use occam_ops::{OptimizerGpu, OptimizerKind};

/// Labels of every task's training and test points side by side
/// (`[tasks, m + M]`) for terms that read z_tr ∪ z_te, with their gradient,
/// and the op that builds the one from z_tr and z_te and splits the other
/// back onto z̄_tr and z̄_te.
struct AllLabels {
    z: GpuTensor,
    z_bar: GpuTensor,
    concat: ConcatGpu,
}

/// Which part of ∂L/∂θ a meta-step forms (`occam gradcheck` checks each
/// against the f64 reference's [`crate::reference::GradientPaths`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GradientPath {
    /// All of it (what training uses).
    #[default]
    All,
    /// Only the part through the learners' adjoints: the terms' own
    /// derivatives in the labels are cleared before the adjoints run.
    Learner,
    /// Only the terms' own derivatives in the labels: no adjoint runs.
    Direct,
}

/// All GPU state of a meta-learning run: parameters, optimiser state, the
/// learners' and terms' GPU sides, and the label buffers between them.
pub struct GpuMetaEngine {
    problem: MetaProblem,
    sizes: StepSizes,
    meta: GpuNet,
    theta: Vec<GpuTensor>,
    theta_bar: Vec<GpuTensor>,
    meta_opt: Vec<OptimizerGpu>,
    meta_step_count: u64,
    /// False while [`GpuMetaEngine::step_loss`] runs: host stages then skip
    /// the fits only a gradient needs.
    gradient: bool,
    path: GradientPath,
    x_all: GpuTensor,
    x_tr: GpuTensor,
    x_te: GpuTensor,
    u: GpuTensor,
    ones: GpuTensor,
    z_tr: GpuTensor,
    z_te: GpuTensor,
    z_tr_bar: GpuTensor,
    z_te_bar: GpuTensor,
    z_bar_all: GpuTensor,
    all: Option<AllLabels>,
    /// The orthogonality points (f32), the labels on them and their
    /// gradient (when a series has earlier functions).
    orth: Option<(Vec<f32>, GpuTensor, GpuTensor)>,
    learners: Vec<Box<dyn GpuLearner>>,
    /// ∂L/∂ŷ of each learner.
    y_bar: Vec<GpuTensor>,
    terms: Vec<Box<dyn GpuTerm>>,
    /// The order terms are recorded in: those that read a learner's
    /// predictions first (so every ŷ̄ is ready), then the rest, each group in
    /// list order.
    record_order: Vec<usize>,
}

fn unsupported(message: String) -> MetaError {
    MetaError::Unsupported(message)
}

impl GpuMetaEngine {
    /// Allocates everything for `problem` at `sizes`, with meta-parameters
    /// `theta` (flat, [`occam_ops::net::NetSpec`] layout) and optimiser `optimizer`.
    pub fn new(
        gpu: &Gpu,
        problem: &MetaProblem,
        sizes: StepSizes,
        theta: &[f64],
        optimizer: OptimizerKind,
        orth: &Orthogonality,
    ) -> Result<GpuMetaEngine> {
        problem.validate().map_err(unsupported)?;
        let StepSizes {
            tasks,
            train: m,
            test: big_m,
            ..
        } = sizes;
        let spec = &problem.meta;
        let d = spec.d_in();
        if spec.d_out() != 1 {
            return Err(unsupported(format!(
                "the meta-learner {:?} must have one output",
                spec.layers
            )));
        }
        let k_orth = if problem.reads(Labels::Orthogonality) && !orth.earlier.is_empty() {
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
        let per_layer = |label: &str, f: &dyn Fn(usize) -> Result<GpuTensor>| {
            (0..spec.depth())
                .map(|l| f(l).map_err(|e| unsupported(format!("{label} {l}: {e}"))))
                .collect::<Result<Vec<_>>>()
        };
        let shape = LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        };
        let term_shape = TermShape {
            tasks,
            train: m,
            test: big_m,
            samples: sizes.samples,
            orth,
        };
        let mut record_order: Vec<usize> = (0..problem.terms.len()).collect();
        record_order.sort_by_key(|&i| {
            let reads = problem.terms[i].reads();
            !reads.iter().any(|r| matches!(r, Labels::Predictions(_)))
        });
        let all = match problem.reads(Labels::All) {
            true => Some(AllLabels {
                z: gpu.zeros("z_tr ∪ z_te", tasks * (m + big_m))?,
                z_bar: gpu.zeros("z_tr ∪ z_te bar", tasks * (m + big_m))?,
                concat: ConcatGpu::new(gpu, tasks, m, big_m)?,
            }),
            false => None,
        };
        Ok(GpuMetaEngine {
            meta: GpuNet::new(gpu, spec, 1, rows, false, "meta")?,
            theta: per_layer("theta", &|l| {
                let off = spec.offset(l);
                let vals: Vec<f32> = theta[off..off + spec.block_len(l)]
                    .iter()
                    .map(|&v| v as f32)
                    .collect();
                Ok(gpu.upload(&format!("theta {l}"), &vals)?)
            })?,
            theta_bar: per_layer("theta_bar", &|l| {
                Ok(gpu.zeros(&format!("theta_bar {l}"), spec.block_len(l))?)
            })?,
            meta_opt: (0..spec.depth())
                .map(|l| OptimizerGpu::new(gpu, optimizer, spec.block_len(l)))
                .collect::<occam_ops::Result<_>>()?,
            meta_step_count: 0,
            gradient: true,
            path: GradientPath::All,
            x_all: gpu.zeros("x_all", rows * d)?,
            x_tr: gpu.zeros("x_tr", tasks * m * d)?,
            x_te: gpu.zeros("x_te", tasks * big_m * d)?,
            u: gpu.zeros("u", tasks * sizes.samples)?,
            ones: gpu.upload("ones", &vec![1.0; tasks])?,
            z_tr: gpu.zeros("z_tr", tasks * m)?,
            z_te: gpu.zeros("z_te", tasks * big_m)?,
            z_tr_bar: gpu.zeros("z_tr_bar", tasks * m)?,
            z_te_bar: gpu.zeros("z_te_bar", tasks * big_m)?,
            z_bar_all: gpu.zeros("z_bar_all", rows)?,
            all,
            orth: match k_orth {
                0 => None,
                k => Some((
                    orth.x.iter().map(|&v| v as f32).collect(),
                    gpu.zeros("z_orth", k)?,
                    gpu.zeros("z_orth_bar", k)?,
                )),
            },
            learners: problem
                .learners
                .iter()
                .map(|l| l.gpu(gpu, shape))
                .collect::<Result<_>>()?,
            y_bar: (0..problem.learners.len())
                .map(|i| Ok(gpu.zeros(&format!("y_bar {i}"), tasks * big_m)?))
                .collect::<Result<_>>()?,
            terms: problem
                .terms
                .iter()
                .map(|t| t.gpu(gpu, term_shape))
                .collect::<Result<_>>()?,
            record_order,
            problem: problem.clone(),
            sizes,
        })
    }

    /// Makes the following meta-steps form only `path`'s part of ∂L/∂θ
    /// (the meta-loss is the whole one whatever the path).
    pub fn set_path(&mut self, path: GradientPath) {
        self.path = path;
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
            if t.x_tr.len() != s.train * d
                || t.x_te.len() != s.test * d
                || t.u.len() != s.samples
                || t.learners.len() != self.learners.len()
            {
                return Err(unsupported(format!(
                    "task {b}'s data does not match the engine's sizes {s:?} and {} learner(s)",
                    self.learners.len()
                )));
            }
        }
        let f32s = |f: &dyn Fn(&TaskData) -> &[f64]| -> Vec<f32> {
            tasks
                .iter()
                .flat_map(|t| f(t).iter().map(|&a| a as f32))
                .collect()
        };
        let (x_tr, x_te) = (f32s(&|t| &t.x_tr), f32s(&|t| &t.x_te));
        let mut x_all = [&x_tr[..], &x_te[..]].concat();
        if let Some((x, ..)) = &self.orth {
            x_all.extend_from_slice(x);
        }
        gpu.write(&self.x_all, &x_all)?;
        gpu.write(&self.x_tr, &x_tr)?;
        gpu.write(&self.x_te, &x_te)?;
        gpu.write(&self.u, &f32s(&|t| &t.u))?;
        for (i, learner) in self.learners.iter().enumerate() {
            let data: Vec<_> = tasks.iter().map(|t| &t.learners[i]).collect();
            learner.load(gpu, &data)?;
        }
        Ok(())
    }

    fn io(&self) -> LearnerIo<'_> {
        LearnerIo {
            x_tr: &self.x_tr,
            x_te: &self.x_te,
            z_tr: &self.z_tr,
            z_tr_bar: &self.z_tr_bar,
            ones: &self.ones,
        }
    }

    fn record(&self, enc: &mut Encoder<'_>, phase: Phase, update: bool) -> Result<()> {
        let StepSizes {
            tasks,
            train: m,
            test: big_m,
            ..
        } = self.sizes;
        let io = self.io();
        match phase {
            Phase::Labels => {
                // Labels z = f_θ(X) for every task's training and test points.
                self.meta.forward(enc, &self.theta, &self.x_all)?;
                let z = self.meta.output();
                enc.copy(z, 0, &self.z_tr, 0, tasks * m)?;
                enc.copy(z, tasks * m, &self.z_te, 0, tasks * big_m)?;
                if let Some((_, z_orth, z_orth_bar)) = &self.orth {
                    enc.copy(z, tasks * (m + big_m), z_orth, 0, z_orth.len())?;
                    enc.clear(z_orth_bar);
                }
                enc.clear(&self.z_tr_bar);
                enc.clear(&self.z_te_bar);
            }
            Phase::Unroll => {
                for learner in &self.learners {
                    learner.record_fit(enc, &io)?;
                }
            }
            Phase::Loss => {
                let predictions = self
                    .learners
                    .iter()
                    .map(|l| l.record_predict(enc, &io))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(a) = &self.all {
                    // z_all[b] = [z_tr[b], z_te[b]]; its gradient is split back
                    // onto z̄_tr and z̄_te once the adjoints have added theirs.
                    a.concat.forward(enc, &self.z_tr, &self.z_te, &a.z)?;
                    enc.clear(&a.z_bar);
                }
                let labels = GpuLabels {
                    z_tr: &self.z_tr,
                    z_te: &self.z_te,
                    z_all: self.all.as_ref().map(|a| &a.z),
                    z_orth: self.orth.as_ref().map(|o| &o.1),
                    u: &self.u,
                    ones: &self.ones,
                    predictions: &predictions,
                    z_tr_bar: &self.z_tr_bar,
                    z_te_bar: &self.z_te_bar,
                    z_all_bar: self.all.as_ref().map(|a| &a.z_bar),
                    z_orth_bar: self.orth.as_ref().map(|o| &o.2),
                    y_bar: &self.y_bar,
                };
                for &i in &self.record_order {
                    self.terms[i].record(enc, &labels)?;
                }
                if self.path == GradientPath::Learner {
                    // Keep ∂L/∂ŷ only: the adjoints alone fill z̄ now.
                    enc.clear(&self.z_tr_bar);
                    enc.clear(&self.z_te_bar);
                    if let Some((_, _, z_orth_bar)) = &self.orth {
                        enc.clear(z_orth_bar);
                    }
                    if let Some(a) = &self.all {
                        enc.clear(&a.z_bar);
                    }
                }
            }
            Phase::Adjoint => {
                if self.path == GradientPath::Direct {
                    return Ok(());
                }
                for (learner, y_bar) in self.learners.iter().zip(&self.y_bar) {
                    learner.record_adjoint(enc, &io, y_bar)?;
                }
            }
            Phase::MetaBackward => {
                // One backprop of the meta-learner, then the optimiser.
                if let Some(a) = &self.all {
                    // The share of terms on z_tr ∪ z_te.
                    a.concat
                        .backward(enc, &a.z_bar, &self.z_tr_bar, &self.z_te_bar)?;
                }
                enc.copy(&self.z_tr_bar, 0, &self.z_bar_all, 0, tasks * m)?;
                enc.copy(&self.z_te_bar, 0, &self.z_bar_all, tasks * m, tasks * big_m)?;
                if let Some((_, _, z_orth_bar)) = &self.orth {
                    let at = tasks * (m + big_m);
                    enc.copy(z_orth_bar, 0, &self.z_bar_all, at, z_orth_bar.len())?;
                }
                self.meta.backward(
                    enc,
                    &self.theta,
                    &self.x_all,
                    &self.z_bar_all,
                    &self.theta_bar,
                )?;
                if update {
                    for (opt, (theta, bar)) in self
                        .meta_opt
                        .iter()
                        .zip(self.theta.iter().zip(&self.theta_bar))
                    {
                        opt.step(enc, theta, bar)?;
                    }
                }
            }
        }
        Ok(())
    }
}
