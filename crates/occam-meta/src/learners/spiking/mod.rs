//! Spiking learners: a network of current-based leaky integrate-and-fire
//! neurons trained by unrolled gradient descent with backpropagation
//! through time and a surrogate spike derivative (the paper's Figure 5;
//! its code was not published, so the design is this project's, see
//! docs/design.md §9).
//!
//! - the network's four passes in f64 are the op's twin,
//!   [`occam_ops::snn::SnnSpec`], a [`occam_ops::Model`] that the unrolled
//!   gradient-descent machinery trains and differentiates through;
//! - [`gpu`]: the same passes on the GPU (`occam_ops::snn`), trained by the
//!   same per-step unroll as a layer list;
//! - [`config`]: the `spiking` kind of experiment files.

pub mod config;
pub mod gpu;

use super::Derivative;
use super::gd::gpu::{GdGpu, UnrollSettings};
use super::gd::{UnrolledFit, task_data};
use super::{
    CpuFit, Footprint, GpuLearner, KernelMachine, Learner, LearnerData, LearnerShape, UsageCounter,
};
use crate::error::Result;
use crate::sampling::{Batching, round_f32};
use occam_gpu::Gpu;
use occam_ops::constraint::Constraints;
use occam_ops::snn::{ResetGradient, SnnSpec, Spike};
use rand_chacha::ChaCha8Rng;

/// A spiking network trained by T unrolled steps of (minibatch) gradient
/// descent on the squared error, from a fresh PyTorch-default
/// initialisation per task.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikingLearner {
    /// The network.
    pub snn: SnnSpec,
    /// Inner steps T.
    pub steps: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// How each inner step picks its rows.
    pub batching: Batching,
    /// Keep w_t only every this many inner steps (recomputing the rest).
    pub checkpoint_every: usize,
    /// W₁ is drawn as PyTorch's default times this gain (the readout W₂
    /// as PyTorch's default), so that input currents reach the threshold.
    pub init_gain: f64,
}

impl Learner for SpikingLearner {
    /// Exact only with smooth spikes and the reset differentiated too:
    /// Heaviside spikes are differentiated by their surrogate, and a
    /// detached reset drops a path of the dynamics' true derivative.
    fn derivative(&self) -> Derivative {
        let spike = match self.snn.spike {
            Spike::Sigmoid { .. } => None,
            Spike::FastSigmoid { .. } => Some("fast_sigmoid"),
            Spike::Arctan { .. } => Some("arctan"),
        };
        let detached = self.snn.reset == ResetGradient::Detached;
        let mut why = Vec::new();
        if let Some(surrogate) = spike {
            why.push(format!(
                "its spikes are Heaviside steps, differentiated by the {surrogate} surrogate"
            ));
        }
        if detached {
            why.push("its reset is detached from the gradient".to_string());
        }
        if why.is_empty() {
            return Derivative::Exact;
        }
        Derivative::NotExact {
            why: why.join(" and "),
            exact_with: vec![("spike", "sigmoid"), ("reset_gradient", "through")],
        }
    }

    fn kind(&self) -> &'static str {
        "spiking"
    }

    /// w_0 (W₁ scaled by the gain, rounded to f32), then the rows of every step.
    fn draw(&self, rng: &mut ChaCha8Rng, train: usize) -> LearnerData {
        let mut w0 = self.snn.init_pytorch(rng);
        let n1 = self.snn.hidden * (self.snn.inputs + 1);
        for w in &mut w0[..n1] {
            *w *= self.init_gain;
        }
        let w0 = round_f32(w0);
        let batches: Vec<Vec<usize>> = (0..self.steps)
            .map(|_| self.batching.draw(rng, train))
            .collect();
        task_data(w0, &batches, &Constraints::default())
    }

    fn fit_cpu<'a>(
        &'a self,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<Box<dyn CpuFit + 'a>> {
        let fit = UnrolledFit::of_task(
            &self.snn,
            self.snn.n_params(),
            (self.lr, self.steps),
            data,
            (x_tr, z_tr, x_te),
        )?;
        Ok(Box::new(fit))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        let settings = UnrollSettings {
            steps: self.steps,
            lr: self.lr,
            batch: self.batching.size(shape.train),
            checkpoint_every: self.checkpoint_every,
            constrained: false,
        };
        let reason = "spiking networks run step by step".to_string();
        Ok(Box::new(GdGpu::with_model(
            gpu,
            settings,
            &self.snn,
            shape,
            Err(reason),
        )?))
    }

    fn footprint(&self, shape: LearnerShape) -> Vec<Footprint> {
        let batch = self.batching.size(shape.train);
        let w1 = self.snn.hidden * (self.snn.inputs + 1);
        let mut f = super::unrolled_footprint(
            shape,
            self.steps,
            self.checkpoint_every,
            batch,
            (w1 + self.snn.hidden + 1, w1.max(self.snn.hidden + 1)),
            self.snn.hidden,
            "hidden",
        );
        let segment = match self.snn.time_checkpoint_every {
            0 => self.snn.steps,
            k => k.min(self.snn.steps),
        };
        f.push(Footprint::new(
            "the membrane trace",
            &["sim_steps", "time_checkpoint_every", "hidden"],
            &["tasks", "data.train", "data.test"],
            &[shape.tasks, batch.max(shape.test), segment, self.snn.hidden],
        ));
        f
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
