//! Learners that cannot be differentiated (issue 15, in progress): their
//! share of the meta-gradient is estimated from fits on perturbed labels
//! ([`estimator`]); everything else in the meta-step stays exact.

pub mod estimator;
