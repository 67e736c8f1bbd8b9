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
pub mod snn;
pub mod std_reward;
pub mod unroll;

pub use activation::{Activation, ActivationCpu, ActivationGpu};
pub use constraint::ConstraintGpu;
pub use conv2d::{Conv2dCpu, Conv2dGpu, Conv2dKernels, Conv2dShape};
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
pub use sinkhorn::{SinkhornFolds, SinkhornGpu, SinkhornPlan};
pub use std_reward::StdRewardGpu;
pub use unroll::{UnrollGpu, UnrollShape};

#[cfg(test)]
mod params_layout_tests {
    use occam_gpu::shaders::ShaderRegistry;

    /// Every host parameter struct matches its shader's struct (names,
    /// offsets, sizes, total size) — checked without a GPU.
    #[test]
    fn every_params_struct_matches_its_shader() {
        let r = ShaderRegistry::global().unwrap();
        let checks = [
            r.check_params::<crate::activation::gpu::ActParams>(),
            r.check_params::<crate::constraint::ConstraintParams>(),
            r.check_params::<crate::conv2d::gpu::ConvParams>(),
            r.check_params::<crate::dense::gpu::DenseParams>(),
            r.check_params::<crate::energy::EnergyParams>(),
            r.check_params::<crate::gather::GatherParams>(),
            r.check_params::<crate::maxpool::PoolParams>(),
            r.check_params::<crate::mse::gpu::MseParams>(),
            r.check_params::<crate::optimizer::OptParams>(),
            r.check_params::<crate::orthogonality::OrthParams>(),
            r.check_params::<crate::ridge::gpu::RidgeParams>(),
            r.check_params::<crate::sinkhorn::SinkhornParams>(),
            r.check_params::<crate::sinkhorn::Steps>(),
            r.check_params::<crate::snn::SnnParams>(),
            r.check_params::<crate::std_reward::StdParams>(),
            r.check_params::<crate::unroll::UnrollParams>(),
            r.check_params::<crate::unroll::Range>(),
        ];
        let failures: Vec<String> = checks
            .into_iter()
            .filter_map(|c| c.err().map(|e| e.to_string()))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    occam_gpu::uniform_params! {
        /// A host struct that has drifted from std_reward.wgsl's (weight moved).
        pub(crate) struct StdParams in "std_reward" { tasks: u32, weight: f32, n: u32, _pad: u32 }
    }

    #[test]
    fn a_drifted_params_struct_is_refused_naming_it() {
        let e = ShaderRegistry::global()
            .unwrap()
            .check_params::<StdParams>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("StdParams") && e.contains("std_reward"), "{e}");
    }
}
