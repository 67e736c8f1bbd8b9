//! Errors of the GPU layer.

use thiserror::Error;

/// Everything that can go wrong between Occam and the GPU.
///
/// [`GpuError::is_user_error`] tells whether the cause is on the user's side
/// (bad selection, missing driver, a size over the adapter's limits), which the
/// `occam` binary reports with exit code 2.
#[derive(Debug, Error)]
pub enum GpuError {
    /// A backend name that Occam does not know.
    #[error(
        "unknown backend {given:?} (from {source_name}); accepted values: vulkan, gl, metal, dx12"
    )]
    UnknownBackend {
        /// The value as given.
        given: String,
        /// Where it came from, e.g. `--backend` or `OCCAM_BACKEND`.
        source_name: String,
    },
    /// No adapter at all on this machine for the enabled backends.
    #[error(
        "no GPU adapter found (backends tried: {backends}).\n\
         Occam needs a Vulkan, Metal, DX12 or OpenGL driver. On a machine without a GPU install a software one:\n  \
         Debian/Ubuntu: sudo apt-get install -y mesa-vulkan-drivers   (lavapipe, Vulkan)\n  \
         or:            sudo apt-get install -y libgl1-mesa-dri libegl1 (llvmpipe, OpenGL)\n\
         On a machine with a GPU, install its vendor's Vulkan driver."
    )]
    NoAdapter {
        /// The backends that were enabled.
        backends: String,
    },
    /// Adapters exist, but none matches `--backend` / `--adapter`.
    #[error("no adapter matches {filter}; available adapters:\n{available}")]
    NoMatchingAdapter {
        /// The filter, in words.
        filter: String,
        /// One line per available adapter.
        available: String,
    },
    /// The device could not be created.
    #[error("could not open a device on adapter {adapter:?}: {message}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
    /// A shader that does not parse or validate; `message` is naga's span-annotated report.
    #[error("shader {file} is invalid:\n{message}")]
    InvalidShader {
        /// The shader's file, relative to the workspace.
        file: String,
        /// naga's report, with the source lines it points at.
        message: String,
    },
    /// A shader or entry point that is not in the registry.
    #[error("no shader entry point {shader}::{entry}")]
    UnknownEntryPoint {
        /// Shader name.
        shader: String,
        /// Entry point name.
        entry: String,
    },
    /// The host bound buffers that do not match what the shader declares.
    #[error("binding mismatch for {shader}::{entry}: {message}")]
    BindingMismatch {
        /// Shader name.
        shader: String,
        /// Entry point name.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// A buffer, a dispatch or a workgroup over the adapter's limits.
    #[error("{what} needs {needed}, over the adapter's limit of {limit} ({limit_name})")]
    OverLimit {
        /// The thing that is too large, e.g. the buffer's label.
        what: String,
        /// The size it needs.
        needed: u64,
        /// The adapter's limit.
        limit: u64,
        /// The name of the wgpu limit.
        limit_name: &'static str,
    },
    /// wgpu reported a validation or out-of-memory error.
    #[error("GPU error in {context}: {message}")]
    Wgpu {
        /// What Occam was doing.
        context: String,
        /// wgpu's message.
        message: String,
    },
    /// Reading a buffer back failed, or the device was lost.
    #[error("GPU readback failed: {0}")]
    Readback(String),
}

impl GpuError {
    /// True when the cause is the user's input or machine setup (exit code 2),
    /// false for internal failures.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            GpuError::UnknownBackend { .. }
                | GpuError::NoAdapter { .. }
                | GpuError::NoMatchingAdapter { .. }
                | GpuError::OverLimit { .. }
        )
    }
}

/// Result with a [`GpuError`].
pub type Result<T> = std::result::Result<T, GpuError>;
