//! The phases of a meta-step and the sizes of its data.

/// The phases of a meta-step, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Labels z = f_θ(X): the meta-learner's forward pass.
    Labels,
    /// The learners' fits (T inner steps for a gradient-descent learner).
    Unroll,
    /// The learners' predictions and the meta-loss terms with their cotangents.
    Loss,
    /// The learners' adjoints (the reverse sweep through an unroll).
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
    /// Target-distribution samples per task.
    pub samples: usize,
}
