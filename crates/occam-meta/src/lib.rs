//! Occam's meta-learning engine.
//!
//! - networks as layer lists (conv, pool, dense, activation; MLPs are one
//!   case) are [`occam_ops::net`]'s: parameter layout, PyTorch-default init,
//!   CPU passes; [`layers`] reads them from experiment files.
//! - [`learners`]: learners as plug-ins — gradient descent unrolled
//!   ([`learners::gd`]) and ridge in closed form ([`learners::ridge`]) — each
//!   with its configuration, its CPU f64 side and its GPU side, and the
//!   [`learners::registry`] of the kinds experiment files can name.
//! - [`loss`]: the meta-loss terms as plug-ins, each with a CPU twin and a
//!   GPU side.
//! - [`problem`]: what a meta-learning problem and one meta-step's data are.
//! - [`reference`](mod@reference): the whole meta-step in f64 on the CPU — the oracle.
//! - [`gpu_net`], [`engine`]: the same meta-step on the GPU.
//! - [`connectivity`]: first-layer wiring schemes and connectome files.
//! - [`images`]: IDX image files (MNIST's format).
//! - [`analysis`]: harmonic decomposition, linear and group fits, kernel eigenfunctions.
//! - [`sampling`]: seeded streams, input domains, per-task draws.
//! - [`config_error`]: configuration errors that name their key.
//! - [`error`](mod@error): the errors of this layer ([`MetaError`]).

pub mod analysis;
pub mod config_error;
pub mod connectivity;
pub mod engine;
pub mod error;
pub mod gpu_net;
pub mod images;
pub mod layers;
pub mod learners;
pub mod loss;
pub mod problem;
pub mod reference;
pub mod sampling;

pub use error::{MetaError, Result};
