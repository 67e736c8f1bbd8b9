//! Occam's op library. Every op a learner is built from has four passes —
//! forward, backward (VJP), tangent forward (JVP) and tangent backward (the JVP
//! of the VJP) — as WGSL kernels ([`DenseGpu`], [`ActivationGpu`], [`MseGpu`])
//! and as CPU f64 twins ([`DenseCpu`], [`ActivationCpu`], [`MseCpu`]) that serve
//! as test oracles. [`check`] holds the derivative checks both are held to.

/// Declares the ops — each a folder `src/<op>/` with its GPU passes, its f64
/// twin and its `pub const OP` — and lists them in [`OPS`]. Adding an op is
/// one folder, its shader `shaders/<op>.wgsl`, and one name here.
macro_rules! ops {
    ($($op:ident),* $(,)?) => {
        $(pub mod $op;)*
        /// Every op of the library, in the order declared (see [`registry`]).
        pub static OPS: &[&registry::Op] = &[$(&$op::OP),*];
    };
}

ops! {
    activation, axpy, concat, constraint, conv2d, dense, energy, gather, maxpool, mse, optimizer,
    orthogonality, ridge, sinkhorn, snn, std_reward, unroll,
}

pub mod check;
mod error;
mod launch;
pub mod loop_budget;
pub mod model;
pub mod net;
pub mod passes;
pub mod registry;

pub use activation::{Activation, ActivationCpu, ActivationGpu};
pub use axpy::{AxpyGpu, axpy_cpu};
pub use constraint::ConstraintGpu;
pub use conv2d::{Conv2dCpu, Conv2dGpu, Conv2dKernels, Conv2dShape};
pub use dense::{DenseCpu, DenseGpu, DenseKernels, DenseShape, RowSplit};
pub use energy::EnergyGpu;
pub use error::{OpError, Result};
pub use gather::{GatherGpu, StepCursor};
pub use maxpool::{MaxPoolCpu, MaxPoolGpu, MaxPoolShape};
pub use model::Model;
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
    use occam_gpu::shaders::ShaderRegistry;

    /// The host side of every uniform struct of every shader: the ops'
    /// declared parameter structs.
    fn host_structs(
        r: &ShaderRegistry,
    ) -> Vec<(&'static str, &'static str, occam_gpu::Result<()>)> {
        crate::OPS
            .iter()
            .flat_map(|op| op.params.iter().map(|check| check(r)))
            .collect()
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

    /// The ops' lists are complete: every struct a shader binds as a
    /// uniform has its host twin declared by an op (a new shader's
    /// parameters cannot be left out).
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
            "uniform structs with no host twin among the ops' params: {}",
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
