//! Spiking learners: a network of current-based leaky integrate-and-fire
//! neurons trained by unrolled gradient descent with backpropagation
//! through time and a surrogate spike derivative (the paper's Figure 5;
//! its code was not published, so the design is this project's, see
//! docs/design.md §9).
//!
//! - [`model`]: the network's four passes in f64, as a
//!   [`Model`](crate::learners::gd::model::Model) that the unrolled
//!   gradient-descent machinery trains and differentiates through.

pub mod model;
