//! One meta-learning problem, independent of where it runs: the
//! meta-learner, the learners, the meta-loss as a list of terms, and the
//! random data of one meta-step.

use crate::learners::{Learner, LearnerData};
use crate::loss::{Labels, LossTerm};
use occam_ops::net::NetSpec;
use std::sync::Arc;

/// Everything fixed about a meta-learning problem.
#[derive(Clone, Debug)]
pub struct MetaProblem {
    /// The meta-learner f_θ.
    pub meta: NetSpec,
    /// The learners: the one whose inductive bias is meta-learned first,
    /// then any others the meta-loss compares it with (an adversary).
    pub learners: Vec<Arc<dyn Learner>>,
    /// The meta-loss terms, in the order they are summed and reported.
    pub terms: Vec<Arc<dyn LossTerm>>,
}

impl MetaProblem {
    /// Inner steps of the (first) learner (0 for a closed-form one).
    pub fn inner_steps(&self) -> usize {
        self.learners.first().map_or(0, |l| l.inner_steps())
    }

    /// Whether some term reads `labels`.
    pub fn reads(&self, labels: Labels) -> bool {
        self.terms.iter().any(|t| t.reads().contains(&labels))
    }

    /// Checks that the terms and learners fit together: every learner's
    /// predictions are read by exactly one term, and no term reads a
    /// learner that is not there.
    pub fn validate(&self) -> Result<(), String> {
        for (i, l) in self.learners.iter().enumerate() {
            let readers = self
                .terms
                .iter()
                .filter(|t| t.reads().contains(&Labels::Predictions(i)))
                .count();
            if readers != 1 {
                return Err(format!(
                    "learner {i} ({}) has {readers} loss terms reading its predictions; it needs exactly one",
                    l.kind()
                ));
            }
        }
        for t in &self.terms {
            for r in t.reads() {
                if let Labels::Predictions(i) = r
                    && i >= self.learners.len()
                {
                    return Err(format!(
                        "the {} term reads learner {i}, but there are {} learners",
                        t.name(),
                        self.learners.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The random draws of one task of one meta-step.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskData {
    /// Training inputs, m × d.
    pub x_tr: Vec<f64>,
    /// Test inputs, M × d.
    pub x_te: Vec<f64>,
    /// Samples of the target label distribution.
    pub u: Vec<f64>,
    /// Each learner's own draws (initialisation, minibatches, masks,
    /// random features…), in the problem's learner order.
    pub learners: Vec<LearnerData>,
}

/// The fixed orthogonality set of a series (defined with its loss term).
pub use crate::loss::Orthogonality;
