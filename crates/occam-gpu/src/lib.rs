//! Occam's GPU layer.
//!
//! - [`adapter`]: finds every adapter and picks one (hardware first, software
//!   fallback), honouring `--backend` / `--adapter` / `OCCAM_BACKEND`.
//! - [`Gpu`]: the open device, with f32 tensors ([`GpuTensor`]) and kernels.
//! - [`shaders`]: the WGSL files of `shaders/`, embedded at compile time,
//!   validated by naga and reflected into binding layouts.
//! - [`Kernel`] / [`Encoder`]: pipelines specialised with `override`
//!   constants, dispatched with buffers bound by their WGSL names.
//! - [`Profiler`]: per-dispatch GPU times from timestamp queries.

pub mod adapter;
mod context;
mod error;
mod kernel;
mod profiler;
pub mod shaders;
mod tensor;

pub use adapter::{AdapterDescription, AdapterList, AdapterSelection, Backend};
pub use context::Gpu;
pub use error::{GpuError, Result};
pub use kernel::{Bind, Encoder, Kernel};
pub use profiler::{KernelTime, Profiler};
pub use tensor::GpuTensor;
/// The wgpu version Occam is built on, re-exported so dependants use the same one.
pub use wgpu;

/// Number of workgroups of `size` threads needed to cover `n` items.
pub fn workgroups_for(n: usize, size: usize) -> u32 {
    n.div_ceil(size) as u32
}
