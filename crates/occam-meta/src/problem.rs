//! One meta-learning problem, independent of where it runs: the meta-learner,
//! the learner and its training, the meta-loss, and the random data of one
//! meta-step.

use crate::mlp::MlpSpec;

/// Which labels the distribution term compares with the target samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributionSet {
    /// The test labels z_te.
    Test,
    /// Training and test labels, z_tr ∪ z_te.
    All,
}

/// The distribution term D(z_S, U).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DistributionKind {
    /// Energy distance (geomloss "energy").
    Energy,
    /// Debiased Sinkhorn divergence (geomloss "sinkhorn", p = 2).
    Sinkhorn {
        /// geomloss's blur (ε = blur²); the paper uses 0.05.
        blur: f64,
        /// geomloss's ε-scaling factor (default 0.5).
        scaling: f64,
    },
}

/// Coefficients of the meta-loss
/// L = a·MSE_te + b·D(z_S, U) − s·std(z_S) + c·Σ_k (Σ_i f(x_orth,i) h_k(x_orth,i))².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetaLossWeights {
    /// a, on the learner's test mean-squared error.
    pub generalisation: f64,
    /// b, on the distribution term.
    pub distribution: f64,
    /// s, the reward for spread labels (subtracted).
    pub std_reward: f64,
    /// c, on the orthogonality penalty.
    pub orthogonality: f64,
}

/// A learner trained by unrolled gradient descent on the labels.
#[derive(Clone, Debug, PartialEq)]
pub struct GdLearner {
    /// Its architecture (output activation identity in the paper).
    pub spec: MlpSpec,
    /// Inner steps T.
    pub steps: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// Keep w_t only every this many steps and recompute the rest during the
    /// reverse sweep (memory ⌈T/k⌉ + k weight sets instead of T + 1); 1 keeps
    /// every w_t. Both give the same meta-gradient.
    pub checkpoint_every: usize,
}

/// Everything fixed about a meta-learning problem.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaProblem {
    /// The meta-learner f_θ.
    pub meta: MlpSpec,
    /// The learner.
    pub learner: GdLearner,
    /// Meta-loss coefficients.
    pub weights: MetaLossWeights,
    /// The distribution term.
    pub distribution: DistributionKind,
    /// Which labels it applies to.
    pub distribution_on: DistributionSet,
}

/// The random draws of one task of one meta-step.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskData {
    /// Training inputs, m × d.
    pub x_tr: Vec<f64>,
    /// Test inputs, M × d.
    pub x_te: Vec<f64>,
    /// Learner initialisation w_0.
    pub w0: Vec<f64>,
    /// Training-row indices of each inner step (T lists).
    pub batches: Vec<Vec<usize>>,
    /// Samples of the target label distribution.
    pub u: Vec<f64>,
}

/// The fixed orthogonality set of a series: points and the earlier functions on them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Orthogonality {
    /// Points, K × d (empty when the experiment has no orthogonality term).
    pub x: Vec<f64>,
    /// Earlier functions of the series evaluated on `x`, one K-vector each.
    pub earlier: Vec<Vec<f64>>,
}

/// The meta-loss of one meta-step, term by term (each already multiplied by
/// its coefficient), averaged over tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTerms {
    /// a · MSE_te.
    pub generalisation: f64,
    /// b · D(z_S, U).
    pub distribution: f64,
    /// −s · std(z_S).
    pub std_reward: f64,
    /// c · orthogonality penalty.
    pub orthogonality: f64,
}

impl LossTerms {
    /// The meta-loss L, the sum of the terms.
    pub fn total(&self) -> f64 {
        self.generalisation + self.distribution + self.std_reward + self.orthogonality
    }

    /// (name, value) of each term, for messages and logs.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("generalisation", self.generalisation),
            ("distribution", self.distribution),
            ("std_reward", self.std_reward),
            ("orthogonality", self.orthogonality),
        ]
    }
}
