//! Occam's op library. Every op a learner is built from has four passes —
//! forward, backward (VJP), tangent forward (JVP) and tangent backward (the JVP
//! of the VJP) — as WGSL kernels ([`DenseGpu`], [`ActivationGpu`], [`MseGpu`])
//! and as CPU f64 twins ([`DenseCpu`], [`ActivationCpu`], [`MseCpu`]) that serve
//! as test oracles. [`check`] holds the derivative checks both are held to.

pub mod activation;
pub mod axpy;
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
pub use axpy::{AxpyGpu, axpy_cpu};
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
pub use passes::{
    Bilinear, BilinearGpu, Cotangents, EncodePasses, OnGpu, Operands, Passes, Tensors,
};
pub use ridge::{RidgeCpu, RidgeGpu, RidgeShape, RidgeSolution};
pub use sinkhorn::{SinkhornFolds, SinkhornGpu, SinkhornPlan};
pub use std_reward::StdRewardGpu;
pub use unroll::{UnrollGpu, UnrollShape};

#[cfg(test)]
mod params_layout_tests {
    use occam_gpu::UniformParams;
    use occam_gpu::shaders::ShaderRegistry;

    /// The host side of every uniform struct of every shader.
    fn host_structs(
        r: &ShaderRegistry,
    ) -> Vec<(&'static str, &'static str, occam_gpu::Result<()>)> {
        fn check<P: UniformParams>(
            r: &ShaderRegistry,
        ) -> (&'static str, &'static str, occam_gpu::Result<()>) {
            (P::SHADER, P::STRUCT, r.check_params::<P>())
        }
        vec![
            check::<crate::activation::gpu::ActParams>(r),
            check::<crate::axpy::AxpyParams>(r),
            check::<crate::constraint::ConstraintParams>(r),
            check::<crate::conv2d::gpu::ConvParams>(r),
            check::<crate::dense::gpu::DenseParams>(r),
            check::<crate::energy::EnergyParams>(r),
            check::<crate::gather::GatherParams>(r),
            check::<crate::gather::Cursor>(r),
            check::<crate::maxpool::PoolParams>(r),
            check::<crate::mse::gpu::MseParams>(r),
            check::<crate::optimizer::OptParams>(r),
            check::<crate::orthogonality::OrthParams>(r),
            check::<crate::ridge::gpu::RidgeParams>(r),
            check::<crate::sinkhorn::SinkhornParams>(r),
            check::<crate::sinkhorn::Steps>(r),
            check::<crate::snn::SnnParams>(r),
            check::<crate::std_reward::StdParams>(r),
            check::<crate::unroll::UnrollParams>(r),
            check::<crate::unroll::Range>(r),
        ]
    }

    /// Every host parameter struct matches its shader's struct (names,
    /// offsets, sizes, total size) — checked without a GPU.
    #[test]
    fn every_params_struct_matches_its_shader() {
        let r = ShaderRegistry::global().unwrap();
        let failures: Vec<String> = host_structs(r)
            .into_iter()
            .filter_map(|(_, _, c)| c.err().map(|e| e.to_string()))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The list above is complete: every struct a shader binds as a uniform
    /// has its host twin checked there (a new shader's parameters cannot be
    /// left out).
    #[test]
    fn every_uniform_struct_of_every_shader_has_a_checked_host_twin() {
        let r = ShaderRegistry::global().unwrap();
        let host: Vec<(&str, &str)> = host_structs(r).iter().map(|&(s, n, _)| (s, n)).collect();
        let missing: Vec<String> = r
            .shaders()
            .flat_map(|sh| sh.uniform_structs.iter().map(move |u| (sh.name, u)))
            .filter(|(_, u)| !host.iter().any(|(_, n)| n == u))
            .map(|(sh, u)| format!("{u} (shaders/{sh}.wgsl)"))
            .collect();
        assert!(
            missing.is_empty(),
            "uniform structs with no host twin in host_structs: {}",
            missing.join(", ")
        );
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
