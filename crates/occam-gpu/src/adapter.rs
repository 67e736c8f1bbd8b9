//! Adapter discovery and selection: which GPU (or software rasteriser) runs the work.
//!
//! Rule: among the adapters that pass the user's filters (`--backend`,
//! `--adapter`), prefer hardware (discrete, then integrated, then virtual),
//! then anything else, and software (CPU) adapters last; among equals prefer
//! Vulkan, then Metal, DX12 and OpenGL.

use crate::error::{GpuError, Result};
use std::fmt;
use std::str::FromStr;

/// A graphics API that wgpu can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Vulkan (lavapipe on CPU-only Linux machines).
    Vulkan,
    /// OpenGL / OpenGL ES (llvmpipe on CPU-only Linux machines).
    Gl,
    /// Apple's Metal.
    Metal,
    /// Direct3D 12.
    Dx12,
    /// A browser's WebGPU (the page's only backend; not selectable on the
    /// command line).
    WebGpu,
}

impl Backend {
    /// Every accepted backend name, as typed on the command line.
    pub const NAMES: [&'static str; 4] = ["vulkan", "gl", "metal", "dx12"];

    /// Parses a backend name; `source_name` says where it came from for the error message.
    pub fn parse(value: &str, source_name: &str) -> Result<Backend> {
        match value.trim().to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(Backend::Vulkan),
            "gl" | "gles" | "opengl" => Ok(Backend::Gl),
            "metal" | "mtl" => Ok(Backend::Metal),
            "dx12" | "d3d12" => Ok(Backend::Dx12),
            _ => Err(GpuError::UnknownBackend {
                given: value.to_string(),
                source_name: source_name.to_string(),
            }),
        }
    }

    fn wgpu(self) -> wgpu::Backends {
        match self {
            Backend::Vulkan => wgpu::Backends::VULKAN,
            Backend::Gl => wgpu::Backends::GL,
            Backend::Metal => wgpu::Backends::METAL,
            Backend::Dx12 => wgpu::Backends::DX12,
            Backend::WebGpu => wgpu::Backends::BROWSER_WEBGPU,
        }
    }

    fn from_wgpu(backend: wgpu::Backend) -> Option<Backend> {
        match backend {
            wgpu::Backend::Vulkan => Some(Backend::Vulkan),
            wgpu::Backend::Gl => Some(Backend::Gl),
            wgpu::Backend::Metal => Some(Backend::Metal),
            wgpu::Backend::Dx12 => Some(Backend::Dx12),
            wgpu::Backend::BrowserWebGpu => Some(Backend::WebGpu),
            _ => None,
        }
    }

    fn preference(self) -> u8 {
        match self {
            Backend::Vulkan => 0,
            Backend::Metal => 1,
            Backend::Dx12 => 2,
            Backend::Gl => 3,
            Backend::WebGpu => 4,
        }
    }
}

impl FromStr for Backend {
    type Err = GpuError;
    fn from_str(s: &str) -> Result<Backend> {
        Backend::parse(s, "backend name")
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Vulkan => "vulkan",
            Backend::Gl => "gl",
            Backend::Metal => "metal",
            Backend::Dx12 => "dx12",
            Backend::WebGpu => "webgpu",
        })
    }
}

/// The user's adapter filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdapterSelection {
    /// Only adapters of this backend.
    pub backend: Option<Backend>,
    /// Only adapters whose name or driver contains this text (case-insensitive).
    pub adapter: Option<String>,
}

impl AdapterSelection {
    /// Reads the filters from the environment variables `OCCAM_BACKEND` and
    /// `OCCAM_ADAPTER` (unset or empty means no filter).
    pub fn from_env() -> Result<AdapterSelection> {
        let backend = match std::env::var("OCCAM_BACKEND") {
            Ok(v) if !v.trim().is_empty() => Some(Backend::parse(&v, "OCCAM_BACKEND")?),
            _ => None,
        };
        let adapter = std::env::var("OCCAM_ADAPTER")
            .ok()
            .filter(|v| !v.trim().is_empty());
        Ok(AdapterSelection { backend, adapter })
    }

    fn backends(&self) -> wgpu::Backends {
        // A browser has one backend, its WebGPU.
        let all = if cfg!(target_arch = "wasm32") {
            wgpu::Backends::BROWSER_WEBGPU
        } else {
            wgpu::Backends::VULKAN
                | wgpu::Backends::GL
                | wgpu::Backends::METAL
                | wgpu::Backends::DX12
        };
        self.backend.map_or(all, Backend::wgpu)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = self.backend {
            parts.push(format!("backend {b}"));
        }
        if let Some(a) = &self.adapter {
            parts.push(format!("adapter name containing {a:?}"));
        }
        if parts.is_empty() {
            "no filter".to_string()
        } else {
            parts.join(" and ")
        }
    }
}

/// What Occam reports about an adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterDescription {
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// The backend it runs on.
    pub backend: Backend,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub device_type: String,
    /// Driver name and version, as the driver reports them.
    pub driver: String,
    /// True for software rasterisers (device type CPU).
    pub is_software: bool,
    /// The subgroup size, when the adapter runs every compute subgroup at
    /// one size (its minimum and maximum agree) and offers subgroup operations.
    pub subgroup_size: Option<u32>,
}

impl AdapterDescription {
    pub(crate) fn from_info(info: &wgpu::AdapterInfo) -> Option<AdapterDescription> {
        let backend = Backend::from_wgpu(info.backend)?;
        let driver = match (info.driver.is_empty(), info.driver_info.is_empty()) {
            (false, false) => format!("{} {}", info.driver, info.driver_info),
            (false, true) => info.driver.clone(),
            (true, false) => info.driver_info.clone(),
            (true, true) => "unknown".to_string(),
        };
        Some(AdapterDescription {
            name: info.name.clone(),
            backend,
            device_type: format!("{:?}", info.device_type),
            driver,
            subgroup_size: (info.subgroup_min_size == info.subgroup_max_size
                && info.subgroup_min_size > 0)
                .then_some(info.subgroup_min_size),
            is_software: info.device_type == wgpu::DeviceType::Cpu,
        })
    }

    fn rank(&self) -> (u8, u8) {
        let kind = match self.device_type.as_str() {
            "DiscreteGpu" => 0,
            "IntegratedGpu" => 1,
            "VirtualGpu" => 2,
            "Other" => 3,
            _ => 4,
        };
        (kind, self.backend.preference())
    }

    fn matches(&self, selection: &AdapterSelection) -> bool {
        let backend_ok = selection.backend.is_none_or(|b| b == self.backend);
        let name_ok = selection.adapter.as_ref().is_none_or(|needle| {
            let needle = needle.to_lowercase();
            self.name.to_lowercase().contains(&needle)
                || self.driver.to_lowercase().contains(&needle)
        });
        backend_ok && name_ok
    }
}

impl fmt::Display for AdapterDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}, {}, driver: {}]",
            self.name, self.backend, self.device_type, self.driver
        )
    }
}

/// Every adapter on the machine, and which one a selection picks.
pub struct AdapterList {
    /// All adapters of the enabled backends, in the order wgpu lists them.
    pub adapters: Vec<AdapterDescription>,
    /// Index into `adapters` of the one that would be used, if any matches.
    pub selected: Option<usize>,
    handles: Vec<wgpu::Adapter>,
}

impl AdapterList {
    /// Enumerates the adapters visible to the backends the selection allows
    /// (all backends when it names none), and applies the preference rule.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn enumerate(selection: &AdapterSelection) -> AdapterList {
        pollster::block_on(AdapterList::enumerate_async(selection))
    }

    /// The same, as a future (a browser's only way: its one adapter comes
    /// from `navigator.gpu.requestAdapter()`).
    pub async fn enumerate_async(selection: &AdapterSelection) -> AdapterList {
        let instance = new_instance(selection.backends());
        let mut adapters = Vec::new();
        let mut handles = Vec::new();
        for adapter in instance.enumerate_adapters(selection.backends()).await {
            if let Some(description) = AdapterDescription::from_info(&adapter.get_info()) {
                adapters.push(description);
                handles.push(adapter);
            }
        }
        let mut list = AdapterList {
            adapters,
            selected: None,
            handles,
        };
        list.selected = list.pick(selection);
        list
    }

    /// The index of the adapter that `selection` picks among these, if any.
    pub fn pick(&self, selection: &AdapterSelection) -> Option<usize> {
        self.adapters
            .iter()
            .enumerate()
            .filter(|(_, a)| a.matches(selection))
            .min_by_key(|(i, a)| (a.rank(), *i))
            .map(|(i, _)| i)
    }

    /// The selected adapter, or a user-facing error that explains why there is none.
    pub(crate) fn take_selected(
        mut self,
        selection: &AdapterSelection,
    ) -> Result<(AdapterDescription, wgpu::Adapter)> {
        match self.selected {
            Some(i) => Ok((self.adapters.swap_remove(i), self.handles.swap_remove(i))),
            None if self.adapters.is_empty() => Err(GpuError::NoAdapter {
                backends: selection
                    .backend
                    .map_or("vulkan, gl, metal, dx12".to_string(), |b| b.to_string()),
            }),
            None => Err(GpuError::NoMatchingAdapter {
                filter: selection.describe(),
                available: self
                    .adapters
                    .iter()
                    .map(|a| format!("  {a}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            }),
        }
    }
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_and_unknown_names_list_the_accepted_ones() {
        for name in Backend::NAMES {
            assert_eq!(Backend::parse(name, "test").unwrap().to_string(), name);
        }
        let err = Backend::parse("cuda", "--backend").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cuda") && msg.contains("--backend"), "{msg}");
        assert!(msg.contains("vulkan, gl, metal, dx12"), "{msg}");
        assert!(err.is_user_error());
    }

    fn desc(name: &str, backend: Backend, device_type: &str) -> AdapterDescription {
        AdapterDescription {
            name: name.into(),
            backend,
            device_type: device_type.into(),
            driver: "drv".into(),
            is_software: device_type == "Cpu",
            subgroup_size: None,
        }
    }

    #[test]
    fn hardware_is_preferred_over_software_and_vulkan_over_gl() {
        let sw_gl = desc("llvmpipe", Backend::Gl, "Cpu");
        let sw_vk = desc("llvmpipe", Backend::Vulkan, "Cpu");
        let igpu = desc("Intel", Backend::Gl, "IntegratedGpu");
        let dgpu = desc("NVIDIA", Backend::Vulkan, "DiscreteGpu");
        assert!(sw_vk.rank() < sw_gl.rank());
        assert!(igpu.rank() < sw_vk.rank());
        assert!(dgpu.rank() < igpu.rank());
    }

    #[test]
    fn filters_match_backend_and_case_insensitive_name() {
        let a = desc("llvmpipe (LLVM 15)", Backend::Vulkan, "Cpu");
        let by_name = AdapterSelection {
            backend: None,
            adapter: Some("LLVMPIPE".into()),
        };
        let by_backend = AdapterSelection {
            backend: Some(Backend::Gl),
            adapter: None,
        };
        assert!(a.matches(&by_name));
        assert!(!a.matches(&by_backend));
    }
}
