//! A network (an MLP, a CNN — any layer list) trained by T unrolled steps of
//! (minibatch) gradient descent on the squared error, from a fresh
//! PyTorch-default initialisation per task, optionally with a sparse,
//! sign-constrained first layer. Its meta-gradient is exact through the
//! whole of training (docs/design.md §2).
//!
//! - the unroll and its reverse sweep in f64 (the oracle) are the fused
//!   unroll op's twin, [`occam_ops::unroll::train`] and
//!   [`occam_ops::unroll::adjoint`];
//! - `gpu`: the same on the GPU step by step, or fused (`fused`) into one
//!   dispatch each way when the learner is small;
//! - [`config`]: the `mlp_gd` and `net_gd` kinds of experiment files and the
//!   `[learner.connectivity]` table.

pub mod config;
mod fused;
pub use fused::FusedLayout;
pub(crate) mod gpu;
pub mod model;

use super::Derivative;
use super::{
    CpuFit, Footprint, GpuLearner, KernelMachine, Learner, LearnerData, LearnerShape, UsageCounter,
    invalid,
};
use crate::connectivity::Connectivity;
use crate::error::Result;
use crate::sampling::Batching;
use model::Model;
use occam_gpu::Gpu;
use occam_ops::constraint::Constraints;
use occam_ops::net::NetSpec;
use occam_ops::unroll::{adjoint, train};
use rand_chacha::ChaCha8Rng;

/// A learner trained by unrolled gradient descent.
#[derive(Clone, Debug, PartialEq)]
pub struct GdLearner {
    /// Its architecture (output activation identity in the paper).
    pub spec: NetSpec,
    /// Inner steps T.
    pub steps: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// How each inner step picks its training rows.
    pub batching: Batching,
    /// Keep w_t only every this many steps and recompute the rest during the
    /// reverse sweep (memory ⌈T/k⌉ + k weight sets instead of T + 1); 1 keeps
    /// every w_t. Both give the same meta-gradient.
    pub checkpoint_every: usize,
    /// Whether tasks carry connectivity masks and sign constraints (the GPU
    /// side allocates their buffers up front).
    pub constrained: bool,
    /// Run the unroll and the reverse sweep each as one fused dispatch (one
    /// workgroup per task, docs/design.md §6) when the learner fits the
    /// adapter; false, or a learner that does not fit, runs them step by
    /// step. Both give the same meta-gradient up to f32 rounding.
    pub fused: bool,
    /// The fused kernels' layout.
    pub fused_layout: FusedLayout,
    /// The first layer's wiring rule, drawn per task, with the run's fixed
    /// draw when it has one.
    pub connectivity: Option<(Connectivity, Option<Constraints>)>,
}

impl GdLearner {
    /// A fully connected learner with every w_t kept, fused where it fits.
    pub fn new(spec: NetSpec, steps: usize, lr: f64, batching: Batching) -> GdLearner {
        GdLearner {
            spec,
            steps,
            lr,
            batching,
            checkpoint_every: 1,
            constrained: false,
            fused: true,
            fused_layout: FusedLayout::Auto,
            connectivity: None,
        }
    }

    /// Rows per inner step for `train` training points.
    pub fn batch(&self, train: usize) -> usize {
        self.batching.size(train)
    }
}

/// One task's data of a [`GdLearner`], borrowed from its [`LearnerData`]:
/// `w0` (the initialisation), `batches` (T × n row indices), and, for a
/// constrained learner, `mask` and `signs` (one per parameter).
#[derive(Clone, Copy, Debug)]
pub struct GdTask<'a> {
    /// w_0.
    pub w0: &'a [f64],
    /// Row indices of every inner step, T × n.
    pub batches: &'a [f64],
    /// M (empty: every parameter trained).
    pub mask: &'a [f64],
    /// s (empty: every sign free).
    pub signs: &'a [f64],
}

impl<'a> GdTask<'a> {
    /// The view of `data`.
    pub fn of(data: &'a LearnerData) -> Result<GdTask<'a>> {
        Ok(GdTask {
            w0: data.require("gradient-descent", "w0")?,
            batches: data.require("gradient-descent", "batches")?,
            mask: data.get("mask").unwrap_or_default(),
            signs: data.get("signs").unwrap_or_default(),
        })
    }

    /// The constraints, owned.
    pub fn constraints(&self) -> Constraints {
        Constraints {
            mask: self.mask.to_vec(),
            signs: self.signs.to_vec(),
        }
    }

    /// The batches as index lists of `n` rows each.
    pub fn batch_lists(&self, steps: usize) -> Vec<Vec<usize>> {
        let n = self.batches.len().checked_div(steps).unwrap_or(0);
        self.batches
            .chunks(n.max(1))
            .take(steps)
            .map(|c| c.iter().map(|&i| i as usize).collect())
            .collect()
    }
}

/// The [`LearnerData`] of a gradient-descent task: w_0 (made valid under the
/// constraints), the minibatch rows of every step, and the mask and signs
/// when there are any.
pub fn task_data(w0: Vec<f64>, batches: &[Vec<usize>], constraints: &Constraints) -> LearnerData {
    let mut data = LearnerData::default();
    let n = batches.first().map_or(0, Vec::len);
    let p = w0.len();
    data.push("w0", vec![p], w0);
    data.push(
        "batches",
        vec![batches.len(), n],
        batches.iter().flatten().map(|&i| i as f64).collect(),
    );
    if !constraints.mask.is_empty() {
        data.push("mask", vec![p], constraints.mask.clone());
    }
    if !constraints.signs.is_empty() {
        data.push("signs", vec![p], constraints.signs.clone());
    }
    data
}

impl Learner for GdLearner {
    /// The unroll is differentiated exactly (relu's kinks aside, which
    /// finite differences at a random point do not meet).
    fn derivative(&self) -> Derivative {
        Derivative::Exact
    }

    fn kind(&self) -> &'static str {
        "gradient-descent"
    }

    /// w_0 (PyTorch defaults, rounded to f32), the rows of every step, then
    /// the wiring, in that order from `rng`.
    fn draw(&self, rng: &mut ChaCha8Rng, train: usize) -> LearnerData {
        let w0 = crate::sampling::round_f32(self.spec.init_pytorch(rng));
        let batches: Vec<Vec<usize>> = (0..self.steps)
            .map(|_| self.batching.draw(rng, train))
            .collect();
        let constraints = match &self.connectivity {
            Some((_, Some(fixed))) => fixed.clone(),
            Some((c, None)) => c.constraints(rng, &self.spec),
            None => Constraints::default(),
        };
        let w0 = if constraints.is_empty() {
            w0
        } else {
            constraints.apply(&w0)
        };
        task_data(w0, &batches, &constraints)
    }

    fn fit_cpu<'a>(
        &'a self,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<Box<dyn CpuFit + 'a>> {
        let fit = UnrolledFit::of_task(
            &self.spec,
            self.spec.n_params(),
            (self.lr, self.steps),
            data,
            (x_tr, z_tr, x_te),
        )?;
        Ok(Box::new(fit))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        Ok(Box::new(gpu::GdGpu::new(gpu, self, shape)?))
    }

    fn footprint(&self, shape: LearnerShape) -> Vec<Footprint> {
        super::unrolled_footprint(
            shape,
            self.steps,
            self.checkpoint_every,
            self.batch(shape.train),
            (self.spec.n_params(), self.spec.largest_block()),
            self.spec.widest(),
            "hidden",
        )
    }

    fn inner_steps(&self) -> usize {
        self.steps
    }
    fn kernel(&self) -> Option<&dyn KernelMachine> {
        None
    }

    fn counter(&self) -> Option<&dyn UsageCounter> {
        None
    }
}

/// A model trained by unrolled gradient descent on the CPU: every w_t, kept
/// for the reverse sweep. Any [`Model`] (a layer list, a spiking network).
pub struct UnrolledFit<'a, M: Model> {
    model: &'a M,
    lr: f64,
    x_tr: &'a [f64],
    z_tr: &'a [f64],
    batches: Vec<Vec<usize>>,
    constraints: Constraints,
    ws: Vec<Vec<f64>>,
    w_final: Vec<f64>,
    test: M::Trace,
}

impl<'a, M: Model> UnrolledFit<'a, M> {
    /// Trains `model` (of `n_params` parameters) with (η, T) = `lr_steps`
    /// from a task's [`LearnerData`] (w0, batches, mask and signs), after
    /// checking its size.
    pub fn of_task(
        model: &'a M,
        n_params: usize,
        (lr, steps): (f64, usize),
        data: &LearnerData,
        xz: (&'a [f64], &'a [f64], &[f64]),
    ) -> Result<UnrolledFit<'a, M>> {
        let task = GdTask::of(data)?;
        if task.w0.len() != n_params {
            return Err(invalid(format!(
                "w0 has {} values, the learner {n_params} parameters",
                task.w0.len()
            )));
        }
        Ok(UnrolledFit::new(
            model,
            lr,
            task.w0,
            xz,
            task.batch_lists(steps),
            task.constraints(),
        ))
    }

    /// Trains `model` from `w0` with step `lr` on (x_tr, z_tr), one batch
    /// of rows per step, and predicts on x_te.
    pub fn new(
        model: &'a M,
        lr: f64,
        w0: &[f64],
        (x_tr, z_tr, x_te): (&'a [f64], &'a [f64], &[f64]),
        batches: Vec<Vec<usize>>,
        constraints: Constraints,
    ) -> UnrolledFit<'a, M> {
        let ws = train(model, w0, x_tr, z_tr, &batches, lr, &constraints);
        let w_final = ws.last().expect("w_T").clone();
        let test = model.forward(&w_final, x_te);
        UnrolledFit {
            model,
            lr,
            x_tr,
            z_tr,
            batches,
            constraints,
            ws,
            w_final,
            test,
        }
    }
}

impl<M: Model> CpuFit for UnrolledFit<'_, M> {
    fn test_predictions(&self) -> &[f64] {
        self.model.output(&self.test)
    }

    fn pullback(&self, y_bar: &[f64]) -> Result<Vec<f64>> {
        let w_bar_final = self.model.backward(&self.w_final, &self.test, y_bar);
        Ok(adjoint(
            self.model,
            &self.ws,
            self.x_tr,
            self.z_tr,
            &self.batches,
            self.lr,
            &self.constraints,
            &w_bar_final,
        )
        .0)
    }

    fn train_predictions(&self) -> Result<Vec<f64>> {
        let tr = self.model.forward(&self.w_final, self.x_tr);
        Ok(self.model.output(&tr).to_vec())
    }

    fn weights(&self) -> Option<Vec<f64>> {
        Some(self.w_final.clone())
    }
}
