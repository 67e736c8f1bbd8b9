//! Occam's meta-learning engine.
//!
//! - [`net`]: networks as layer lists (conv, pool, dense, activation; MLPs
//!   are one case): parameter layout, PyTorch-default init, CPU passes.
//! - [`learner`]: unrolled gradient descent and its exact reverse sweep (CPU).
//! - [`losses`]: the meta-loss terms (CPU).
//! - [`problem`]: what a meta-learning problem and one meta-step's data are.
//! - [`reference`]: the whole meta-step in f64 on the CPU — the oracle.
//! - [`gpu_net`], [`engine`]: the same meta-step on the GPU; small learners'
//!   unrolls run fused, one dispatch each way (`fused`).
//! - [`connectivity`]: first-layer wiring schemes and connectome files.
//! - [`images`]: IDX image files (MNIST's format).
//! - [`analysis`]: harmonic decomposition, linear and group fits, kernel eigenfunctions.
//! - [`sampling`]: seeded streams, input domains, per-task draws.

pub mod analysis;
pub mod connectivity;
pub mod engine;
mod fused;
pub mod gpu_net;
pub mod images;
pub mod learner;
pub mod losses;
pub mod net;
pub mod problem;
pub mod reference;
pub mod sampling;
