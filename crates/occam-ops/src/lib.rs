//! Occam's op library. Every op a learner is built from has four passes —
//! forward, backward (VJP), tangent forward (JVP) and tangent backward (the JVP
//! of the VJP) — as WGSL kernels ([`DenseGpu`], [`ActivationGpu`], [`MseGpu`])
//! and as CPU f64 twins ([`DenseCpu`], [`ActivationCpu`], [`MseCpu`]) that serve
//! as test oracles. [`check`] holds the derivative checks both are held to.

pub mod activation;
pub mod check;
pub mod constraint;
pub mod conv2d;
pub mod dense;
pub mod energy;
mod error;
pub mod gather;
mod launch;
pub mod loop_budget;
pub mod maxpool;
pub mod mse;
pub mod optimizer;
pub mod orthogonality;
pub mod passes;
pub mod ridge;
pub mod sinkhorn;
pub mod std_reward;
pub mod unroll;

pub use activation::{Activation, ActivationCpu, ActivationGpu};
pub use constraint::ConstraintGpu;
pub use conv2d::{Conv2dCpu, Conv2dGpu, Conv2dShape};
pub use dense::{DenseCpu, DenseGpu, DenseKernels, DenseShape, RowSplit};
pub use energy::EnergyGpu;
pub use error::{OpError, Result};
pub use gather::{GatherGpu, StepCursor};
pub use maxpool::{MaxPoolCpu, MaxPoolGpu, MaxPoolShape};
pub use mse::{MseCpu, MseGpu, MseShape};
pub use optimizer::{OptimizerGpu, OptimizerKind};
pub use orthogonality::OrthogonalityGpu;
pub use passes::{Bilinear, EncodePasses, OnGpu, Passes, Tensors};
pub use ridge::{RidgeCpu, RidgeGpu, RidgeShape, RidgeSolution};
pub use sinkhorn::SinkhornGpu;
pub use std_reward::StdRewardGpu;
pub use unroll::{UnrollGpu, UnrollShape};
