//! Meta-loss terms as plug-ins. The meta-loss is a named list of terms
//! (docs/design.md §1, §4); each term says which labels it reads, computes
//! its weighted value and its gradients on the CPU in f64 (the oracle), and
//! records the same on the GPU. The engine, `metrics.jsonl`, `loss.png` and
//! `summary.json` are all generated from the list, so a new term is one
//! file here and one line where the problem is assembled.
//!
//! - [`generalisation`]: a·MSE between a learner's test predictions and the
//!   test labels (also −a'·MSE_B, the adversary's term);
//! - [`distribution`]: b·D(z_S, U), energy distance or Sinkhorn divergence;
//! - [`std_reward`]: the reward −s·std(z_S) for spread labels;
//! - [`orthogonality`]: c·Σ_k (Σ_i f(x_i) h_k(x_i))² against a series'
//!   earlier functions;
//!
//! The f64 twins of the GPU terms live with their ops (`occam_ops::energy`,
//! `occam_ops::sinkhorn`, `occam_ops::std_reward`, `occam_ops::orthogonality`).

pub mod distribution;
pub mod generalisation;
pub mod orthogonality;
pub mod std_reward;

use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
pub use orthogonality::Orthogonality;

/// A set of labels (or predictions) a term reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// z_tr, the training labels.
    Train,
    /// z_te, the test labels.
    Test,
    /// z_tr ∪ z_te per task (training labels first).
    All,
    /// The labels on a series' fixed orthogonality points.
    Orthogonality,
    /// The test predictions ŷ of learner `i`.
    Predictions(usize),
    /// U, the samples of the target label distribution.
    Targets,
}

/// The labels of one task on the CPU.
pub struct CpuLabels<'a> {
    /// z_tr.
    pub z_tr: &'a [f64],
    /// z_te.
    pub z_te: &'a [f64],
    /// Labels on the orthogonality points (empty without a series).
    pub z_orth: &'a [f64],
    /// Target samples U.
    pub u: &'a [f64],
    /// Each learner's test predictions.
    pub predictions: &'a [&'a [f64]],
    /// The series' earlier functions on the orthogonality points.
    pub earlier: &'a [Vec<f64>],
}

/// Gradients of the meta-loss with respect to one task's labels and
/// predictions, accumulated term by term.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuGrads {
    /// ∂L/∂z_tr.
    pub z_tr: Vec<f64>,
    /// ∂L/∂z_te.
    pub z_te: Vec<f64>,
    /// ∂L/∂z_orth.
    pub z_orth: Vec<f64>,
    /// ∂L/∂ŷ of each learner.
    pub predictions: Vec<Vec<f64>>,
}

impl CpuGrads {
    /// Zeros shaped like `labels`.
    pub fn zeros(labels: &CpuLabels<'_>) -> CpuGrads {
        CpuGrads {
            z_tr: vec![0.0; labels.z_tr.len()],
            z_te: vec![0.0; labels.z_te.len()],
            z_orth: vec![0.0; labels.z_orth.len()],
            predictions: labels
                .predictions
                .iter()
                .map(|p| vec![0.0; p.len()])
                .collect(),
        }
    }
}

/// Sizes a term's GPU side is built for, and the fixed data it may need.
#[derive(Clone, Copy, Debug)]
pub struct TermShape<'a> {
    /// Tasks side by side.
    pub tasks: usize,
    /// Training labels per task.
    pub train: usize,
    /// Test labels per task.
    pub test: usize,
    /// Target samples per task.
    pub samples: usize,
    /// The series' orthogonality points and earlier functions.
    pub orth: &'a Orthogonality,
}

/// The engine's label buffers a term reads and the gradient buffers it
/// adds into, all `[tasks, …]`. The gradients start at zero every
/// meta-step; terms add into them.
pub struct GpuLabels<'a> {
    /// z_tr.
    pub z_tr: &'a GpuTensor,
    /// z_te.
    pub z_te: &'a GpuTensor,
    /// z_tr ∪ z_te per task, when some term reads [`Labels::All`].
    pub z_all: Option<&'a GpuTensor>,
    /// Labels on the orthogonality points, when there are earlier functions.
    pub z_orth: Option<&'a GpuTensor>,
    /// U.
    pub u: &'a GpuTensor,
    /// One 1.0 per task.
    pub ones: &'a GpuTensor,
    /// Each learner's test predictions.
    pub predictions: &'a [&'a GpuTensor],
    /// ∂L/∂z_tr.
    pub z_tr_bar: &'a GpuTensor,
    /// ∂L/∂z_te.
    pub z_te_bar: &'a GpuTensor,
    /// ∂L/∂(z_tr ∪ z_te), with `z_all`.
    pub z_all_bar: Option<&'a GpuTensor>,
    /// ∂L/∂z_orth, with `z_orth`.
    pub z_orth_bar: Option<&'a GpuTensor>,
    /// ∂L/∂ŷ of each learner: written (not added) by the one term that
    /// reads that learner's predictions.
    pub y_bar: &'a [GpuTensor],
}

/// A term of the meta-loss.
pub trait LossTerm: std::fmt::Debug + Send + Sync {
    /// Its name: the key of its weighted value in `metrics.jsonl`.
    fn name(&self) -> &'static str;

    /// Its coefficient (the value reported is already multiplied by it).
    fn weight(&self) -> f64;

    /// The key of its unweighted value (value / weight) in `metrics.jsonl`
    /// and in `summary.json`'s `final`.
    fn raw_key(&self) -> &'static str;

    /// A short formula for plot legends, e.g. `a·MSE_te`.
    fn label(&self) -> String;

    /// What it reads.
    fn reads(&self) -> Vec<Labels>;

    /// Whether its gradient is the exact derivative of its value (false for
    /// geomloss's Sinkhorn envelope gradient at unconverged potentials):
    /// finite differences check only such terms.
    fn exact_gradient(&self) -> bool {
        true
    }

    /// Its weighted value on one task, adding its gradients into `grads`.
    fn cpu(&self, labels: &CpuLabels<'_>, grads: &mut CpuGrads) -> f64;

    /// Its GPU side.
    fn gpu(&self, gpu: &Gpu, shape: TermShape<'_>) -> Result<Box<dyn GpuTerm>>;
}

/// A term's GPU side.
pub trait GpuTerm: Send + Sync {
    /// Records the term's value (per task, into its own buffer) and adds its
    /// gradients into `labels`' gradient buffers.
    fn record(&self, enc: &mut Encoder<'_>, labels: &GpuLabels<'_>) -> Result<()>;

    /// The weighted value of the last recorded meta-step, summed over
    /// tasks, once read back.
    fn read<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, f64>;
}

/// Sum over tasks of a per-task loss buffer.
pub(crate) async fn read_sum(gpu: &Gpu, t: &GpuTensor) -> Result<f64> {
    Ok(gpu.read_async(t).await?.iter().map(|&v| f64::from(v)).sum())
}

/// One term's value in a [`TermValues`].
#[derive(Clone, Debug, PartialEq)]
pub struct TermValue {
    /// The term's name.
    pub name: &'static str,
    /// The key of its unweighted value.
    pub raw_key: &'static str,
    /// Its coefficient.
    pub weight: f64,
    /// Its weighted value.
    pub value: f64,
}

impl TermValue {
    /// The unweighted value, value / weight (None at weight 0).
    pub fn raw(&self) -> Option<f64> {
        (self.weight != 0.0).then(|| self.value / self.weight)
    }
}

/// The meta-loss of one meta-step, term by term (each multiplied by its
/// coefficient), in the problem's term order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TermValues {
    /// The terms.
    pub terms: Vec<TermValue>,
}

impl TermValues {
    /// Zeros for `terms`.
    pub fn zeros(terms: &[std::sync::Arc<dyn LossTerm>]) -> TermValues {
        TermValues {
            terms: terms
                .iter()
                .map(|t| TermValue {
                    name: t.name(),
                    raw_key: t.raw_key(),
                    weight: t.weight(),
                    value: 0.0,
                })
                .collect(),
        }
    }

    /// The meta-loss L, the sum of the terms in order.
    pub fn total(&self) -> f64 {
        self.terms.iter().map(|t| t.value).fold(0.0, |a, b| a + b)
    }

    /// The weighted value of term `name` (0 when there is no such term).
    pub fn get(&self, name: &str) -> f64 {
        self.term(name).map_or(0.0, |t| t.value)
    }

    /// Term `name`, if the problem has it.
    pub fn term(&self, name: &str) -> Option<&TermValue> {
        self.terms.iter().find(|t| t.name == name)
    }

    /// self += scale · other, term by term (averaging over tasks).
    pub fn add_scaled(&mut self, other: &TermValues, scale: f64) {
        if self.terms.is_empty() {
            *self = TermValues {
                terms: other
                    .terms
                    .iter()
                    .map(|t| TermValue { value: 0.0, ..*t })
                    .collect(),
            };
        }
        for (a, b) in self.terms.iter_mut().zip(&other.terms) {
            a.value += scale * b.value;
        }
    }

    /// The first term whose value is not finite.
    pub fn first_non_finite(&self) -> Option<&TermValue> {
        self.terms.iter().find(|t| !t.value.is_finite())
    }
}

/// The paper's meta-loss, assembled as a term list:
/// L = a·MSE_te + b·D(z_S, U) − s·std(z_S) + c·orthogonality − a'·MSE_B,
/// leaving out the optional terms at weight 0 (the learner's own term is
/// always there: its predictions need a reader).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StandardLoss {
    /// a.
    pub generalisation: f64,
    /// b.
    pub distribution: f64,
    /// D.
    pub distribution_kind: distribution::DistributionKind,
    /// z_S.
    pub distribution_on: distribution::DistributionSet,
    /// s.
    pub std_reward: f64,
    /// c (0 outside a series).
    pub orthogonality: f64,
    /// a', when there is an adversary (learner 1).
    pub adversary: Option<f64>,
}

impl StandardLoss {
    /// a·MSE_te + b·D(z_te, U) (energy distance) and nothing else.
    pub fn new(generalisation: f64, distribution: f64) -> StandardLoss {
        StandardLoss {
            generalisation,
            distribution,
            distribution_kind: distribution::DistributionKind::Energy,
            distribution_on: distribution::DistributionSet::Test,
            std_reward: 0.0,
            orthogonality: 0.0,
            adversary: None,
        }
    }

    /// The terms, in the order they are summed and reported.
    pub fn terms(&self) -> Vec<std::sync::Arc<dyn LossTerm>> {
        use std::sync::Arc;
        let mut terms: Vec<Arc<dyn LossTerm>> = vec![Arc::new(
            generalisation::Generalisation::of_learner(self.generalisation),
        )];
        if self.distribution != 0.0 {
            terms.push(Arc::new(distribution::Distribution {
                kind: self.distribution_kind,
                on: self.distribution_on,
                weight: self.distribution,
            }));
        }
        if self.std_reward != 0.0 {
            terms.push(Arc::new(std_reward::StdReward {
                reward: self.std_reward,
                on: self.distribution_on.spread(),
            }));
        }
        if self.orthogonality != 0.0 {
            terms.push(Arc::new(orthogonality::OrthogonalityTerm {
                weight: self.orthogonality,
            }));
        }
        if let Some(a_prime) = self.adversary {
            terms.push(Arc::new(generalisation::Generalisation::of_adversary(
                a_prime,
            )));
        }
        terms
    }
}
