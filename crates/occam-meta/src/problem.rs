//! One meta-learning problem, independent of where it runs: the meta-learner,
//! the learner and its training, the meta-loss, and the random data of one
//! meta-step.

use crate::learner::Constraints;
use crate::net::NetSpec;

/// Which labels the distribution term compares with the target samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributionSet {
    /// The test labels z_te.
    Test,
    /// Training and test labels, z_tr ∪ z_te.
    All,
    /// Training and test labels separately: D(z_tr, U) + D(z_te, U), with the
    /// same target samples (the spread term, if any, applies to z_te).
    Separate,
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
    pub spec: NetSpec,
    /// Inner steps T.
    pub steps: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// Keep w_t only every this many steps and recompute the rest during the
    /// reverse sweep (memory ⌈T/k⌉ + k weight sets instead of T + 1); 1 keeps
    /// every w_t. Both give the same meta-gradient.
    pub checkpoint_every: usize,
    /// Whether the tasks carry connectivity masks and sign constraints
    /// (`TaskData::constraints`); the engine allocates their buffers up front.
    pub constrained: bool,
    /// Run the unroll and the reverse sweep each as one fused dispatch (one
    /// workgroup per task, DESIGN.md §6) when the learner fits the adapter;
    /// false, or a learner that does not fit, runs them step by step. Both
    /// give the same meta-gradient up to f32 rounding.
    pub fused: bool,
}

/// How a closed-form learner turns inputs into features Φ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FeatureMap {
    /// Φ = X: linear ridge regression.
    Linear {
        /// Append a constant feature (an intercept).
        bias: bool,
    },
    /// Φ = relu(X J) with J ~ N(0, I) (d × K): random-feature kernel ridge.
    RandomRelu {
        /// K, the number of random features.
        features: usize,
        /// Append a constant feature (an intercept).
        bias: bool,
        /// Draw a fresh J every meta-step (per task); otherwise one J for the run.
        resample: bool,
    },
}

impl FeatureMap {
    /// Number of features for inputs of dimension d.
    pub fn count(&self, d: usize) -> usize {
        match *self {
            FeatureMap::Linear { bias } => d + usize::from(bias),
            FeatureMap::RandomRelu { features, bias, .. } => features + usize::from(bias),
        }
    }

    /// Values of J to draw per task (0 for linear features).
    pub fn random_values(&self, d: usize) -> usize {
        match *self {
            FeatureMap::Linear { .. } => 0,
            FeatureMap::RandomRelu { features, .. } => d * features,
        }
    }

    /// The feature map as a dense layer [x, 1] ↦ Φ (before the activation):
    /// a `count × (d + 1)` weight block (bias last), from J (d × K, row-major).
    pub fn dense_weights(&self, d: usize, j: &[f64]) -> Vec<f64> {
        let k = self.count(d);
        let mut w = vec![0.0; k * (d + 1)];
        let (random, bias) = match *self {
            FeatureMap::Linear { bias } => (0, bias),
            FeatureMap::RandomRelu { features, bias, .. } => (features, bias),
        };
        if random == 0 {
            for i in 0..d {
                w[i * (d + 1) + i] = 1.0;
            }
        } else {
            for f in 0..random {
                for i in 0..d {
                    w[f * (d + 1) + i] = j[i * random + f];
                }
            }
        }
        if bias {
            w[(k - 1) * (d + 1) + d] = 1.0;
        }
        w
    }

    /// The activation after the dense layer: relu for random features
    /// (relu(1) = 1 keeps the constant feature), identity for linear ones.
    pub fn activation(&self) -> occam_ops::Activation {
        match self {
            FeatureMap::Linear { .. } => occam_ops::Activation::Identity,
            FeatureMap::RandomRelu { .. } => occam_ops::Activation::Relu,
        }
    }

    /// Φ for `x` (n × d) on the CPU in f64.
    pub fn apply(&self, x: &[f64], d: usize, j: &[f64]) -> Vec<f64> {
        let k = self.count(d);
        let w = self.dense_weights(d, j);
        let act = self.activation();
        x.chunks(d)
            .flat_map(|row| {
                (0..k)
                    .map(|f| {
                        let wr = &w[f * (d + 1)..(f + 1) * (d + 1)];
                        act.eval(row.iter().zip(wr).map(|(a, b)| a * b).sum::<f64>() + wr[d])
                            .0
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// A learner fitted in closed form: ridge regression on a feature map.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeLearner {
    /// The feature map.
    pub features: FeatureMap,
    /// Ridge λ.
    pub lambda: f64,
}

/// The learner whose inductive bias is meta-learned.
#[derive(Clone, Debug, PartialEq)]
pub enum Learner {
    /// An MLP trained by unrolled gradient descent.
    Gd(GdLearner),
    /// Ridge regression on features, in closed form.
    Ridge(RidgeLearner),
}

/// Everything fixed about a meta-learning problem.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaProblem {
    /// The meta-learner f_θ.
    pub meta: NetSpec,
    /// The learner.
    pub learner: Learner,
    /// Meta-loss coefficients.
    pub weights: MetaLossWeights,
    /// The distribution term.
    pub distribution: DistributionKind,
    /// Which labels it applies to.
    pub distribution_on: DistributionSet,
    /// An adversarial pair: a second, closed-form learner B and a' ≥ 0; the
    /// meta-loss gains −a'·MSE_B, so labels are sought that the learner
    /// generalises well and B badly.
    pub adversary: Option<(RidgeLearner, f64)>,
}

impl MetaProblem {
    /// The gradient-descent learner, if that is the learner.
    pub fn gd(&self) -> Option<&GdLearner> {
        match &self.learner {
            Learner::Gd(g) => Some(g),
            Learner::Ridge(_) => None,
        }
    }

    /// Inner steps of the learner (0 for a closed-form one).
    pub fn inner_steps(&self) -> usize {
        self.gd().map_or(0, |g| g.steps)
    }
}

/// The random draws of one task of one meta-step.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskData {
    /// Training inputs, m × d.
    pub x_tr: Vec<f64>,
    /// Test inputs, M × d.
    pub x_te: Vec<f64>,
    /// Learner initialisation w_0 (empty for a closed-form learner).
    pub w0: Vec<f64>,
    /// Training-row indices of each inner step (T lists; empty for a closed-form learner).
    pub batches: Vec<Vec<usize>>,
    /// The random feature matrix J (d × K, row-major) of a random-feature
    /// learner; empty otherwise.
    pub features: Vec<f64>,
    /// The adversary's random feature matrix, likewise.
    pub adversary_features: Vec<f64>,
    /// Connectivity mask and sign constraints of a gradient-descent learner
    /// (empty: a fully connected, unconstrained learner).
    pub constraints: Constraints,
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
    /// −a' · MSE_B of an adversarial pair's second learner.
    pub adversary: f64,
}

impl LossTerms {
    /// The meta-loss L, the sum of the terms.
    pub fn total(&self) -> f64 {
        self.generalisation
            + self.distribution
            + self.std_reward
            + self.orthogonality
            + self.adversary
    }

    /// (name, value) of each term, for messages and logs.
    pub fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("generalisation", self.generalisation),
            ("distribution", self.distribution),
            ("std_reward", self.std_reward),
            ("orthogonality", self.orthogonality),
            ("adversary", self.adversary),
        ]
    }

    /// self += scale · other, term by term (averaging over tasks).
    pub fn add_scaled(&mut self, other: &LossTerms, scale: f64) {
        self.generalisation += scale * other.generalisation;
        self.distribution += scale * other.distribution;
        self.std_reward += scale * other.std_reward;
        self.orthogonality += scale * other.orthogonality;
        self.adversary += scale * other.adversary;
    }
}
