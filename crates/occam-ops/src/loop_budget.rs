//! llvmpipe (Mesa's gallivm, behind both lavapipe on Vulkan and llvmpipe on
//! GL) silently ends every loop of a shader invocation once 65535 loop
//! iterations have run in that invocation in all; the kernel then carries on
//! with whatever its sums held. Kernels whose invocations loop long either
//! cut their work into dispatches that stay under [`SOFTWARE_LOOP_BUDGET`]
//! (the fused unroll, the Sinkhorn forward, the dense parameter passes) or,
//! where the work cannot be cut, refuse such sizes on software adapters
//! (`check_loop_budget`: energy distance, ridge, the shader's convolution
//! parameter passes). Hardware has no such cap. The count is a model: the
//! convolution's lanes parameter passes were measured to be cut short at
//! counts it put just under the budget, and keep an 8× margin
//! (`conv2d::lanes::params_split`).

use crate::error::{OpError, Result};
use occam_gpu::Gpu;

/// The iterations llvmpipe runs per invocation before it ends the loops.
pub const SOFTWARE_LOOP_CAP: usize = 65_535;

/// What the host plans for on software adapters: the iteration counts it
/// models are upper bounds of the shaders' loops, kept well under the cap.
pub const SOFTWARE_LOOP_BUDGET: usize = 50_000;

/// The per-invocation loop budget on `gpu`: [`SOFTWARE_LOOP_BUDGET`] on
/// software adapters, none on hardware.
pub fn loop_budget(gpu: &Gpu) -> Option<usize> {
    gpu.adapter().is_software.then_some(SOFTWARE_LOOP_BUDGET)
}

/// Refuses `op` at sizes whose invocations would loop about `iterations`
/// times on a software adapter (a bound the op computes from its shape).
pub(crate) fn check_loop_budget(
    gpu: &Gpu,
    op: &'static str,
    sizes: &str,
    iterations: usize,
) -> Result<()> {
    match loop_budget(gpu) {
        Some(budget) if iterations > budget => Err(OpError::Unsupported {
            op,
            message: format!(
                "{sizes} need up to {iterations} loop iterations in one shader invocation; \
                 the software adapter {} stops every loop after {SOFTWARE_LOOP_CAP} and would \
                 give wrong numbers. Use a hardware adapter or smaller sizes",
                gpu.adapter().name
            ),
        }),
        _ => Ok(()),
    }
}
