//! The GPU context: one adapter, its device and queue, the kernel cache and
//! the error channel that turns wgpu's validation errors into [`GpuError`]s.

use crate::adapter::{AdapterDescription, AdapterList, AdapterSelection};
use crate::error::{GpuError, Result};
use crate::kernel::{Kernel, KernelKey};
use crate::shaders::ShaderRegistry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An open device on the selected adapter. Cheap to share by reference across
/// threads; every method takes `&self`.
pub struct Gpu {
    description: AdapterDescription,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) limits: wgpu::Limits,
    features: wgpu::Features,
    pub(crate) registry: &'static ShaderRegistry,
    pub(crate) kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Gpu {
    /// Opens the adapter that `selection` picks (see [`crate::adapter`]). When
    /// it is a software adapter, says so on stderr unless `quiet`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(selection: &AdapterSelection, quiet: bool) -> Result<Gpu> {
        pollster::block_on(Gpu::open(selection, quiet))
    }

    /// The same, as a future: the one way to open a device, which native
    /// code drives with [`Gpu::new`] and a browser awaits.
    pub async fn open(selection: &AdapterSelection, quiet: bool) -> Result<Gpu> {
        let registry = ShaderRegistry::global()?;
        let list = AdapterList::enumerate_async(selection).await;
        let any_hardware = list.adapters.iter().any(|a| !a.is_software);
        let (mut description, adapter) = list.take_selected(selection)?;
        if description.is_software && !quiet {
            let why = if any_hardware {
                "selected"
            } else {
                "no hardware GPU found"
            };
            eprintln!(
                "occam: {why}; using software adapter {} ({}). Expect CPU speed.",
                description.name, description.backend
            );
        }
        let mut features = wgpu::Features::empty();
        if adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if adapter.features().contains(wgpu::Features::SUBGROUP) {
            features |= wgpu::Features::SUBGROUP;
        } else {
            description.subgroup_size = None;
        }
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("occam"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::default(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice {
                adapter: description.name.clone(),
                message: e.to_string(),
            })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        Ok(Gpu {
            description,
            device,
            queue,
            limits,
            features,
            registry,
            kernels: Mutex::new(HashMap::new()),
            errors,
        })
    }

    /// Opens the adapter chosen by `OCCAM_BACKEND` / `OCCAM_ADAPTER`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_env(quiet: bool) -> Result<Gpu> {
        Gpu::new(&AdapterSelection::from_env()?, quiet)
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterDescription {
        &self.description
    }

    /// The device's limits (the adapter's own: Occam asks for all it offers).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The size of every compute subgroup, when the device offers subgroup
    /// operations (WGSL `enable subgroups;`) and runs all subgroups at one size.
    pub fn subgroup_size(&self) -> Option<u32> {
        self.description.subgroup_size
    }

    /// The CPU threads a software adapter runs workgroups on (llvmpipe's
    /// `LP_NUM_THREADS` where set, else this machine's available
    /// parallelism, which is llvmpipe's default); `None` on hardware.
    /// Kernels choose between one workgroup per task and a grid spread
    /// over many by it: on a CPU a dispatch costs a thread wake-up, so
    /// spreading pays only where there are idle threads to wake.
    pub fn software_threads(&self) -> Option<usize> {
        if !self.description.is_software {
            return None;
        }
        let env = std::env::var("LP_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(env.unwrap_or(cores).max(1))
    }

    /// True when the device can time kernels with timestamp queries.
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The raw wgpu device, for code that needs more than Occam wraps.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The raw wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The validated shader registry.
    pub fn registry(&self) -> &'static ShaderRegistry {
        self.registry
    }

    /// Blocks until all submitted work has finished, then reports any error
    /// wgpu raised meanwhile, attributed to `context`.
    pub fn wait(&self, context: &str) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Wgpu {
                context: context.to_string(),
                message: e.to_string(),
            })?;
        self.check_errors(context)
    }

    /// Reports (and clears) errors wgpu raised outside an error scope.
    pub fn check_errors(&self, context: &str) -> Result<()> {
        let mut errors = self.errors.lock().unwrap();
        if errors.is_empty() {
            return Ok(());
        }
        let message = errors.join("\n");
        errors.clear();
        Err(GpuError::Wgpu {
            context: context.to_string(),
            message,
        })
    }

    /// Runs `f` inside a validation error scope and turns a captured error into [`GpuError::Wgpu`].
    pub(crate) fn scoped<T>(&self, context: &str, f: impl FnOnce() -> T) -> Result<T> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        #[cfg(not(target_arch = "wasm32"))]
        return match pollster::block_on(scope.pop()) {
            None => Ok(value),
            Some(e) => Err(GpuError::Wgpu {
                context: context.to_string(),
                message: e.to_string(),
            }),
        };
        // A page cannot wait for the scope: its error, if any, joins the
        // uncaptured ones that the next `wait` or `check_errors` reports.
        #[cfg(target_arch = "wasm32")]
        {
            let sink = self.errors.clone();
            let context = context.to_string();
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(e) = scope.pop().await {
                    sink.lock().unwrap().push(format!("{context}: {e}"));
                }
            });
            Ok(value)
        }
    }
}
