//! Occam's experiment layer: everything between an experiment file and a
//! results folder, as a library (the `occam` binary adds argument parsing,
//! plots and printing).
//!
//! - [`config`]: experiment files (TOML, every key checked and named on
//!   error; learners tagged by `kind`), `key=value` overrides, and
//!   [`config::Experiment::resolve`] into a meta-learning problem;
//! - [`run`]: the run loop — one function or an orthogonal series — with
//!   held-out evaluation, writing the output folder, and [`seeds`] for
//!   several seeds on one device;
//! - [`summary`]: the analyses written to `summary.json`;
//! - [`gradcheck`] and [`bench`](mod@bench): one meta-step checked three ways, and
//!   meta-steps timed and profiled;
//! - [`sweep`] and [`collect`]: runs over settings and seeds, and their
//!   table; [`reproduction`]: the paper's figures over seeds, beside the
//!   paper's values, as one page;
//! - [`output`]: the output folder's files; [`layout`]: parameter layouts;
//! - [`Error`]: errors that map to exit codes.

pub mod bench;
pub mod checkpoint;
pub mod collect;
pub mod config;
mod error;
pub mod footprint;
pub mod gradcheck;
pub mod layout;
pub mod output;
pub mod reproduction;
pub mod run;
pub mod seeds;
pub mod summary;
pub mod sweep;

pub use error::Error;
