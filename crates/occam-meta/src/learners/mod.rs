//! Learners as plug-ins. A learner is whatever turns labelled training
//! points into predictions on test points in a way the meta-gradient can be
//! taken through (docs/design.md §1–§3). Each one lives in its own folder and
//! provides:
//!
//! - its configuration (a serde struct, registered in
//!   [`registry`] under its `kind`) and how that resolves into a [`Learner`];
//! - [`Learner::draw`]: its share of one task's random data (an
//!   initialisation, minibatch rows, a wiring mask, random features…), as
//!   named tensors ([`LearnerData`]);
//! - a CPU f64 side ([`Learner::fit_cpu`]): test predictions and the exact
//!   pullback from their cotangent ŷ̄ to ∂L/∂z_tr — the oracle;
//! - a GPU side ([`Learner::gpu`] → [`GpuLearner`]): allocate, load a
//!   meta-step's data, record the fit, record the predictions, record the
//!   adjoint from ŷ̄ to z̄_tr, and say how it executes.
//!
//! The engine ([`crate::engine`]) and the reference ([`crate::reference`])
//! only ever talk to these traits.

pub mod animal;
pub mod blackbox;
pub mod external;
pub mod gd;
pub mod host;
pub mod registry;
pub mod ridge;
pub mod spiking;

use crate::MetaError;
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use rand_chacha::ChaCha8Rng;

/// One named tensor of a task's learner data.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Its name (also the name of the `.npy` file `gradcheck --dump` writes).
    pub name: String,
    /// Its shape (row-major).
    pub shape: Vec<usize>,
    /// Its values.
    pub values: Vec<f64>,
}

/// One learner's random draws for one task, as named tensors: everything a
/// fit depends on besides the inputs and labels. Every tensor is written by
/// `occam gradcheck --dump`, so a dump is complete whatever the learner.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LearnerData {
    /// The tensors, in the order the learner drew them.
    pub tensors: Vec<Tensor>,
}

impl LearnerData {
    /// Adds a tensor.
    pub fn push(&mut self, name: &str, shape: Vec<usize>, values: Vec<f64>) {
        self.tensors.push(Tensor {
            name: name.to_string(),
            shape,
            values,
        });
    }

    /// The values of tensor `name`, if the learner drew it.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.values.as_slice())
    }

    /// The values of tensor `name`, or an error naming the learner and the tensor.
    pub fn require(&self, learner: &str, name: &str) -> Result<&[f64]> {
        self.get(name).ok_or_else(|| {
            invalid(format!(
                "the {learner} learner's task data has no tensor {name:?}"
            ))
        })
    }
}

/// An error about a learner's shapes or data.
pub fn invalid(message: String) -> MetaError {
    MetaError::Learner(message)
}

/// The sizes a learner's GPU side is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerShape {
    /// Tasks side by side.
    pub tasks: usize,
    /// Training points per task.
    pub train: usize,
    /// Test points per task.
    pub test: usize,
    /// Values per input (d, or c·h·w for images).
    pub input_len: usize,
}

/// One large buffer a learner needs, and the keys that size it.
#[derive(Clone, Debug, PartialEq)]
pub struct Footprint {
    /// What it holds.
    pub what: String,
    /// The learner's own keys that size it (relative to its table).
    pub own: Vec<String>,
    /// Experiment keys that size it (`tasks`, `data.train`, …).
    pub shared: Vec<&'static str>,
    /// Its length in f32 values.
    pub values: u128,
}

impl Footprint {
    /// A buffer of the product of `factors` values.
    pub fn new(what: &str, own: &[&str], shared: &[&'static str], factors: &[usize]) -> Footprint {
        Footprint {
            what: what.to_string(),
            own: own.iter().map(|k| k.to_string()).collect(),
            shared: shared.to_vec(),
            values: factors
                .iter()
                .fold(1u128, |p, &f| p.saturating_mul(f as u128)),
        }
    }
}

/// The buffers of a learner trained by T unrolled steps of minibatch
/// gradient descent: weight checkpoints, minibatch indices, activations.
/// Each is a lower bound over the ways the unroll can run (the fused kernels
/// thin their checkpoints to fit; step by step keeps ⌈T/k⌉ per layer), so a
/// size over a limit can never run.
pub fn unrolled_footprint(
    shape: LearnerShape,
    steps: usize,
    checkpoint_every: usize,
    batch: usize,
    (params, largest_block): (usize, usize),
    widest: usize,
    size_key: &str,
) -> Vec<Footprint> {
    let k = checkpoint_every.clamp(1, steps.max(1));
    let per_task = (steps.div_ceil(k).max(1) as u128 * largest_block as u128).min(params as u128);
    let mut checkpoints = Footprint::new(
        "the unrolled weight checkpoints",
        &["steps", "checkpoint_every", size_key],
        &["tasks"],
        &[shape.tasks],
    );
    checkpoints.values = checkpoints.values.saturating_mul(per_task);
    vec![
        checkpoints,
        Footprint::new(
            "the minibatch indices",
            &["steps", "batch"],
            &["tasks", "data.train"],
            &[steps, shape.tasks, batch],
        ),
        Footprint::new(
            "the activations",
            &[size_key],
            &["tasks", "data.train", "data.test"],
            &[shape.tasks, batch.max(shape.test), widest],
        ),
    ]
}

/// How a learner runs on the GPU.
#[derive(Clone, Debug, PartialEq)]
pub enum Execution {
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
        /// The kernels' layout: `"lanes"` or `"workgroup"` (docs/design.md §6).
        layout: &'static str,
    },
    /// Step-by-step kernels.
    PerStep {
        /// Why the fused kernels do not apply.
        reason: String,
    },
    /// A closed-form learner: no unroll.
    ClosedForm,
    /// A black box: its fits run as a batch of 2P + 1 per task (the
    /// unperturbed labels and P antithetic pairs), between two read-backs.
    Host {
        /// P, antithetic pairs per task.
        population: usize,
        /// How the inner learner's batched fits run.
        inner: Box<Execution>,
    },
}

impl std::fmt::Display for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Execution::Fused {
                checkpoint_every,
                dispatches: (unroll, sweep),
                layout,
                ..
            } => write!(
                f,
                "fused, {layout} layout ({unroll} dispatch(es) for the unroll, {sweep} for the sweep; w_t kept every {checkpoint_every} steps)"
            ),
            Execution::PerStep { reason } => write!(f, "step by step ({reason})"),
            Execution::ClosedForm => write!(f, "closed form"),
            Execution::Host { population, inner } => write!(
                f,
                "black box: {} fits per task as one batch, {inner}; pullback estimated on the host from {population} antithetic pairs",
                2 * population + 1
            ),
        }
    }
}

/// A learner's kernel written as explicit features on a point set, for the
/// kernel-eigenfunction analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelFeatures {
    /// What the kernel is (for the summary).
    pub description: String,
    /// Φ, `points × features`, row-major.
    pub phi: Vec<f64>,
    /// Features per point.
    pub features: usize,
}

/// What a learner's pullback (∂L/∂z_tr from ∂L/∂ŷ) is, which decides what
/// finite differences of its f64 fit can check.
#[derive(Clone, Debug, PartialEq)]
pub enum Derivative {
    /// The exact derivative of its fit: finite differences check it.
    Exact,
    /// Not the derivative of the fit's value (a surrogate gradient, an
    /// estimate): finite differences of the meta-loss do not check it.
    NotExact {
        /// Why, in words (e.g. "Heaviside spikes, differentiated by the
        /// fast_sigmoid surrogate").
        why: String,
        /// Keys of the learner's table, with values, under which its
        /// pullback becomes exact, when there are any (finite differences
        /// then check the same code paths).
        exact_with: Vec<(&'static str, &'static str)>,
    },
}

/// A learner whose inductive bias can be meta-learned.
pub trait Learner: std::fmt::Debug + Send + Sync {
    /// Its `kind` in experiment files.
    fn kind(&self) -> &'static str;

    /// Whether its pullback is the exact derivative of its fit.
    fn derivative(&self) -> Derivative;

    /// Draws its share of one task's random data from `rng` (after the
    /// task's inputs and target samples), for `train` training points.
    fn draw(&self, rng: &mut ChaCha8Rng, train: usize) -> LearnerData;

    /// Fits on (x_tr, z_tr) in f64 and predicts on x_te.
    fn fit_cpu<'a>(
        &'a self,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<Box<dyn CpuFit + 'a>>;

    /// Its GPU side for `shape`.
    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>>;

    /// Inner optimisation steps per fit (0 for a closed-form learner, an
    /// animal or a program).
    fn inner_steps(&self) -> usize;

    /// The large buffers its GPU side needs for `shape`, with the keys that
    /// size them, so that a run can refuse sizes the adapter cannot hold
    /// before allocating anything (an estimate of the dominant buffers;
    /// empty for a learner that keeps its fits off the GPU).
    fn footprint(&self, shape: LearnerShape) -> Vec<Footprint>;

    /// Its kernel, when it is a kernel machine (the kernel-eigenfunction
    /// analysis reads it).
    fn kernel(&self) -> Option<&dyn KernelMachine>;

    /// What it counts over a run (an animal's trials), when it counts
    /// anything.
    fn counter(&self) -> Option<&dyn UsageCounter>;

    /// What it remembers across meta-steps (a black box's past sessions),
    /// when it remembers anything: a checkpoint saves it.
    fn memory(&self) -> Option<&dyn LearnerMemory> {
        None
    }

    /// The setting of it (in words) that needs every task to come from a
    /// fixed set of stimuli (`data.stimulus_sets`), when one does.
    fn fixed_stimuli(&self) -> Option<&'static str> {
        None
    }
}

/// What a learner remembers across meta-steps (a black box's past
/// sessions), which a checkpoint saves so that a resumed run goes on exactly
/// as the uninterrupted one.
pub trait LearnerMemory {
    /// The memory as JSON (exact: f64 values are written to round-trip).
    fn save(&self) -> serde_json::Value;

    /// Puts back what [`LearnerMemory::save`] wrote.
    fn restore(&self, saved: &serde_json::Value) -> Result<()>;
}

/// A learner that is a kernel machine.
pub trait KernelMachine {
    /// Its kernel as features on `points` (`d` values each; `seed`: the
    /// run's, for kernels that must be sampled).
    fn kernel_features(&self, points: &[f64], d: usize, seed: u64) -> KernelFeatures;
}

/// A count a learner keeps over the run (an animal's trials), which a
/// checkpoint saves so that a resumed run reports and budgets the same.
pub trait UsageCounter {
    /// The count so far.
    fn used(&self) -> u64;

    /// Sets the count (on resuming a run).
    fn restore(&self, used: u64);

    /// The count in words for the run's report (e.g. `"72 trials used of a
    /// budget of 60"`).
    fn report(&self) -> String;
}

/// A fit on the CPU in f64.
pub trait CpuFit {
    /// ŷ, the predictions on the test points.
    fn test_predictions(&self) -> &[f64];

    /// ∂L/∂z_tr from ŷ̄ = ∂L/∂ŷ, through the fit (exactly, or as
    /// [`Learner::derivative`] says); an error for a learner that cannot be
    /// differentiated at all (a program, an animal), which only a black box
    /// may wrap.
    fn pullback(&self, y_bar: &[f64]) -> Result<Vec<f64>>;

    /// The fitted learner's predictions on the training points themselves.
    fn train_predictions(&self) -> Result<Vec<f64>>;

    /// The fitted learner's parameters, flat (w_T of a gradient-descent
    /// learner), when it has any to show.
    fn weights(&self) -> Option<Vec<f64>>;
}

/// The engine's buffers a learner reads and writes, all `[tasks, …]`.
pub struct LearnerIo<'a> {
    /// Training inputs.
    pub x_tr: &'a GpuTensor,
    /// Test inputs.
    pub x_te: &'a GpuTensor,
    /// Training labels.
    pub z_tr: &'a GpuTensor,
    /// ∂L/∂z_tr, accumulated.
    pub z_tr_bar: &'a GpuTensor,
    /// One 1.0 per task.
    pub ones: &'a GpuTensor,
}

/// A learner's GPU side: its kernels and buffers for a fixed [`LearnerShape`].
pub trait GpuLearner: Send + Sync {
    /// Uploads one meta-step's data (one [`LearnerData`] per task).
    fn load(&self, gpu: &Gpu, data: &[&LearnerData]) -> Result<()>;

    /// Records the fit on (x_tr, z_tr).
    fn record_fit(&self, enc: &mut Encoder<'_>, io: &LearnerIo<'_>) -> Result<()>;

    /// Records the predictions ŷ on x_te and returns their buffer `[tasks, test]`.
    fn record_predict<'s>(
        &'s self,
        enc: &mut Encoder<'_>,
        io: &LearnerIo<'_>,
    ) -> Result<&'s GpuTensor>;

    /// Records the adjoint: z̄_tr += (∂ŷ/∂z_tr)ᵀ ŷ̄.
    fn record_adjoint(
        &self,
        enc: &mut Encoder<'_>,
        io: &LearnerIo<'_>,
        y_bar: &GpuTensor,
    ) -> Result<()>;

    /// How it runs on this adapter.
    fn execution(&self) -> Execution;

    /// Checks what the last fit reported (e.g. a singular system; `Ok`
    /// for a learner whose fits cannot fail on the GPU).
    fn check<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, ()>;

    /// Its stage on the host, when its fits need the host between the
    /// meta-step's phases (a program, an animal, a black box): then the
    /// engine submits the labels, calls [`HostStage::fit`], submits the
    /// meta-loss, calls [`HostStage::adjoint`], and submits the rest.
    fn host_stage(&self) -> Option<&dyn HostStage>;
}

/// What a meta-step asks of a host stage's fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitPurpose {
    /// Whether ∂L/∂θ is wanted: false for a held-out evaluation, whose
    /// meta-loss alone is read (a black box then runs only the fits the loss
    /// needs).
    pub gradient: bool,
    /// Whether the meta-step updates θ (a meta-learning step): only such a
    /// step adds to what a learner remembers across meta-steps, so that a
    /// check (gradcheck) or an evaluation leaves the run as it found it.
    pub update: bool,
}

/// The part of a learner's GPU side that runs on the host between
/// submissions.
pub trait HostStage {
    /// With the labels on the GPU (submitted): fit, so that
    /// [`GpuLearner::record_predict`] can serve the predictions.
    /// `purpose` says whether ∂L/∂θ is wanted and whether θ is updated.
    fn fit(&self, gpu: &Gpu, io: &LearnerIo<'_>, purpose: FitPurpose) -> Result<()>;

    /// With ŷ̄ on the GPU (submitted): form the pullback, so that
    /// [`GpuLearner::record_adjoint`] can add it to z̄_tr.
    fn adjoint(&self, gpu: &Gpu, io: &LearnerIo<'_>, y_bar: &GpuTensor) -> Result<()>;

    /// What it has to report about the run so far (e.g. trials used).
    fn report(&self) -> Option<String>;
}
