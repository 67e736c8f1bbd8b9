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
pub mod params;

/// A handle for every compute entry point of every shader (generated from
/// `shaders/` at build time): `kernels::DENSE_FORWARD` names
/// `dense_forward` of `shaders/dense.wgsl`.
pub mod kernels {
    use crate::EntryPoint;
    include!(concat!(env!("OUT_DIR"), "/kernel_handles.rs"));
}
/// The import step that puts shared WGSL (`shaders/lib/`) into shaders.
pub mod imports;
mod profiler;
pub mod shaders;
mod tensor;
mod validator;

pub use adapter::{AdapterDescription, AdapterList, AdapterSelection, Backend};
pub use context::Gpu;
pub use error::{GpuError, Result};
pub use kernel::{Bind, Encoder, EntryPoint, Generated, Kernel};
pub use params::UniformParams;
pub use profiler::{KernelTime, Profiler};
pub use tensor::{GpuFuture, GpuTensor, block_on};
/// The wgpu version Occam is built on, re-exported so dependants use the same one.
pub use wgpu;

/// Number of workgroups of `size` threads needed to cover `n` items.
pub fn workgroups_for(n: usize, size: usize) -> u32 {
    n.div_ceil(size) as u32
}
