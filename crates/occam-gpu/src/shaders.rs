//! The shader registry: every WGSL file of `shaders/`, embedded at compile
//! time, parsed and validated with naga, and reflected so that the host's
//! binding layouts are derived from the shader itself and cannot drift.

use crate::error::{GpuError, Result};
use std::collections::BTreeMap;
use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/embedded_shaders.rs"));

/// How a shader declares one of its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    StorageRead,
    /// `var<storage, read_write>`.
    StorageReadWrite,
}

/// One buffer binding that an entry point uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingInfo {
    /// The WGSL variable's name; the host binds buffers by this name.
    pub name: String,
    /// `@binding(n)` (all of Occam's shaders use `@group(0)`).
    pub binding: u32,
    /// Uniform, read-only storage or read-write storage.
    pub kind: BindingKind,
}

/// What the host needs to know about one compute entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPointInfo {
    /// Entry point name, e.g. `dense_forward`.
    pub name: String,
    /// `@workgroup_size` when it is a literal; overrides make it `None`.
    pub workgroup_size: Option<[u32; 3]>,
    /// The buffers this entry point statically uses, sorted by binding.
    pub bindings: Vec<BindingInfo>,
}

/// One validated shader file.
#[derive(Debug)]
pub struct ShaderInfo {
    /// Name (the file stem), e.g. `dense`.
    pub name: &'static str,
    /// File name relative to the workspace, e.g. `shaders/dense.wgsl`.
    pub file: &'static str,
    /// WGSL source.
    pub source: &'static str,
    /// Compute entry points by name.
    pub entry_points: BTreeMap<String, EntryPointInfo>,
    /// Names of the module's `override` constants.
    pub overrides: Vec<String>,
    /// Every named struct's layout (for checking host parameter structs).
    pub structs: BTreeMap<String, crate::params::StructLayout>,
    /// The structs its `var<uniform>` globals have: each needs a host twin
    /// declared with [`uniform_params!`](crate::uniform_params).
    pub uniform_structs: Vec<String>,
}

/// Parses and validates WGSL with naga, and reflects its compute entry
/// points. Errors carry naga's span-annotated report naming `file`.
pub fn reflect(file: &str, source: &str) -> Result<(Vec<EntryPointInfo>, Vec<String>)> {
    // Subgroup operations are allowed in every shader; a kernel that uses
    // them is only built on devices that offer them (`Gpu::subgroup_size`).
    let (module, info) = crate::validator::validate_wgsl(file, source).map_err(|message| {
        GpuError::InvalidShader {
            file: file.to_string(),
            message,
        }
    })?;

    let invalid = |message: String| GpuError::InvalidShader {
        file: file.to_string(),
        message,
    };
    let mut entry_points = Vec::new();
    for (index, ep) in module.entry_points.iter().enumerate() {
        if ep.stage != naga::ShaderStage::Compute {
            return Err(invalid(format!(
                "entry point {} is not a compute shader",
                ep.name
            )));
        }
        let usage = info.get_entry_point(index);
        let mut bindings = Vec::new();
        for (handle, var) in module.global_variables.iter() {
            if usage[handle].is_empty() {
                continue;
            }
            let kind = match var.space {
                naga::AddressSpace::Uniform => BindingKind::Uniform,
                naga::AddressSpace::Storage { access } => {
                    if access.contains(naga::StorageAccess::STORE) {
                        BindingKind::StorageReadWrite
                    } else {
                        BindingKind::StorageRead
                    }
                }
                naga::AddressSpace::WorkGroup
                | naga::AddressSpace::Private
                | naga::AddressSpace::Function => continue,
                other => {
                    return Err(invalid(format!(
                        "entry point {}: global {:?} uses address space {other:?}, which Occam does not bind",
                        ep.name, var.name
                    )));
                }
            };
            let name = var
                .name
                .clone()
                .ok_or_else(|| invalid(format!("entry point {}: unnamed binding", ep.name)))?;
            let rb = var.binding.as_ref().ok_or_else(|| {
                invalid(format!("entry point {}: {name} has no @binding", ep.name))
            })?;
            if rb.group != 0 {
                return Err(invalid(format!(
                    "entry point {}: {name} is in @group({}); Occam's shaders use @group(0) only",
                    ep.name, rb.group
                )));
            }
            bindings.push(BindingInfo {
                name,
                binding: rb.binding,
                kind,
            });
        }
        bindings.sort_by_key(|b| b.binding);
        if let Some(pair) = bindings.windows(2).find(|p| p[0].binding == p[1].binding) {
            return Err(invalid(format!(
                "entry point {}: {} and {} share @binding({})",
                ep.name, pair[0].name, pair[1].name, pair[0].binding
            )));
        }
        entry_points.push(EntryPointInfo {
            name: ep.name.clone(),
            workgroup_size: ep
                .workgroup_size_overrides
                .is_none()
                .then_some(ep.workgroup_size),
            bindings,
        });
    }
    let overrides = module
        .overrides
        .iter()
        .filter_map(|(_, o)| o.name.clone())
        .collect();
    Ok((entry_points, overrides))
}

/// WGSL that the host generated (see `Gpu::generated_kernel`) with its
/// `// #import NAME` lines expanded from the embedded `shaders/lib/`
/// libraries, validated and reflected; errors name `file`, and a validation
/// error's locations are the lines as written (in `file` or in the library
/// they were imported from).
pub fn expand_generated(file: &str, source: &str) -> Result<(String, Vec<EntryPointInfo>)> {
    let (expanded, eps, _) = expand_and_reflect(file, source, &embedded_lib)?;
    Ok((expanded, eps))
}

/// Expands `source`'s imports (libraries read with `read`), then validates
/// and reflects the result, with the locations of a validation error mapped
/// back to the files as written.
fn expand_and_reflect(
    file: &str,
    source: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<EntryPointInfo>, Vec<String>)> {
    let (expanded, origins) =
        crate::imports::expand_imports_traced(file, source, read).map_err(|message| {
            GpuError::InvalidShader {
                file: file.to_string(),
                message,
            }
        })?;
    let (eps, overrides) = reflect(file, &expanded).map_err(|e| match e {
        GpuError::InvalidShader { file, message } => GpuError::InvalidShader {
            message: crate::imports::locate_in_sources(&message, &file, &origins),
            file,
        },
        other => other,
    })?;
    Ok((expanded, eps, overrides))
}

/// The text of the embedded library `shaders/lib/NAME.wgsl`.
fn embedded_lib(name: &str) -> Option<String> {
    EMBEDDED_LIBS
        .iter()
        .find(|(lib, _)| *lib == name)
        .map(|(_, text)| text.to_string())
}

/// The environment variable naming a folder of WGSL files that replace the
/// embedded shaders of the same name for this process (`snn.wgsl` replaces
/// `shaders/snn.wgsl`; imports come from its `lib/` first, then from the
/// embedded libraries). For trying a changed kernel without rebuilding, and
/// for planting an error to show that a check catches it. Kernels the host
/// generates at run time are not affected.
pub const SHADER_DIR_VAR: &str = "OCCAM_SHADER_DIR";

/// The (name, file, source) of every shader that [`SHADER_DIR_VAR`]'s
/// folder replaces, imports expanded, leaked for the process (read once).
/// Says on stderr which shaders it replaced: the numbers are then not the
/// built-in kernels'.
fn overridden_shaders() -> Result<Vec<(&'static str, &'static str, &'static str)>> {
    let Some(dir) = std::env::var_os(SHADER_DIR_VAR) else {
        return Ok(Vec::new());
    };
    let dir = std::path::PathBuf::from(dir);
    let lib = dir.join("lib");
    let read = |name: &str| {
        std::fs::read_to_string(lib.join(format!("{name}.wgsl")))
            .ok()
            .or_else(|| embedded_lib(name))
    };
    let mut out = Vec::new();
    for &(name, _, _) in EMBEDDED_SHADERS {
        let path = dir.join(format!("{name}.wgsl"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let file: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        // Validated here too, so that an error points at the lines as written.
        let (expanded, _, _) = expand_and_reflect(file, &text, &read)?;
        eprintln!("occam: {SHADER_DIR_VAR}: {file} replaces the built-in shaders/{name}.wgsl");
        out.push((name, file, &*Box::leak(expanded.into_boxed_str())));
    }
    if out.is_empty() {
        return Err(GpuError::InvalidShader {
            file: dir.display().to_string(),
            message: format!(
                "{SHADER_DIR_VAR} names a folder with no file named like a built-in shader (e.g. snn.wgsl)"
            ),
        });
    }
    Ok(out)
}

/// All embedded shaders, validated once per process.
pub struct ShaderRegistry {
    shaders: BTreeMap<&'static str, ShaderInfo>,
}

impl ShaderRegistry {
    /// The process-wide registry. Fails if any embedded shader is invalid,
    /// with naga's report of the first broken one.
    pub fn global() -> Result<&'static ShaderRegistry> {
        static REGISTRY: OnceLock<std::result::Result<ShaderRegistry, String>> = OnceLock::new();
        REGISTRY
            .get_or_init(|| ShaderRegistry::build().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| GpuError::InvalidShader {
                file: "shaders/".to_string(),
                message: message.clone(),
            })
    }

    fn build() -> Result<ShaderRegistry> {
        let mut shaders = BTreeMap::new();
        let overrides = overridden_shaders()?;
        for &(name, file, source) in EMBEDDED_SHADERS {
            let (file, source) = match overrides.iter().find(|o| o.0 == name) {
                Some(&(_, file, source)) => (file, source),
                None => (file, source),
            };
            let (eps, overrides) = reflect(file, source)?;
            let module =
                naga::front::wgsl::parse_str(source).map_err(|e| GpuError::InvalidShader {
                    file: file.to_string(),
                    message: e.emit_to_string_with_path(source, file),
                })?;
            shaders.insert(
                name,
                ShaderInfo {
                    name,
                    file,
                    source,
                    entry_points: eps.into_iter().map(|e| (e.name.clone(), e)).collect(),
                    overrides,
                    structs: crate::params::struct_layouts(&module),
                    uniform_structs: crate::params::uniform_structs(&module),
                },
            );
        }
        Ok(ShaderRegistry { shaders })
    }

    /// A shader by name (its file stem).
    pub fn shader(&self, name: &str) -> Option<&ShaderInfo> {
        self.shaders.get(name)
    }

    /// All shaders, sorted by name.
    pub fn shaders(&self) -> impl Iterator<Item = &ShaderInfo> {
        self.shaders.values()
    }

    /// An entry point's reflection, or an error naming it.
    pub fn entry_point(&self, shader: &str, entry: &str) -> Result<(&ShaderInfo, &EntryPointInfo)> {
        let unknown = || GpuError::UnknownEntryPoint {
            shader: shader.to_string(),
            entry: entry.to_string(),
        };
        let info = self.shader(shader).ok_or_else(unknown)?;
        let ep = info.entry_points.get(entry).ok_or_else(unknown)?;
        Ok((info, ep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_reports_bindings_by_name_and_access() {
        let src = "
            struct P { n: u32 }
            @group(0) @binding(0) var<uniform> p: P;
            @group(0) @binding(1) var<storage, read> a: array<f32>;
            @group(0) @binding(2) var<storage, read_write> b: array<f32>;
            @group(0) @binding(3) var<storage, read_write> unused: array<f32>;
            @compute @workgroup_size(8, 2, 1)
            fn copy_forward(@builtin(global_invocation_id) g: vec3<u32>) {
                if g.x < p.n { b[g.x] = a[g.x]; }
            }";
        let (eps, _) = reflect("test.wgsl", src).unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].workgroup_size, Some([8, 2, 1]));
        let names: Vec<_> = eps[0]
            .bindings
            .iter()
            .map(|b| (b.name.as_str(), b.binding, b.kind))
            .collect();
        assert_eq!(
            names,
            vec![
                ("p", 0, BindingKind::Uniform),
                ("a", 1, BindingKind::StorageRead),
                ("b", 2, BindingKind::StorageReadWrite)
            ]
        );
    }

    #[test]
    fn broken_shader_gives_nagas_span_annotated_message() {
        let src = "@compute @workgroup_size(1)\nfn broken_forward() {\n  let x: f32 = 1u;\n}\n";
        let err = reflect("shaders/broken.wgsl", src).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("shaders/broken.wgsl"), "{msg}");
        assert!(
            msg.contains("let x: f32 = 1u;"),
            "naga's report quotes the line: {msg}"
        );
    }

    /// An error inside an imported library, or below an import in the shader
    /// itself, is reported at the line as written, not at its line in the
    /// expanded text.
    #[test]
    fn an_error_after_an_import_is_located_in_the_file_as_written() {
        let lib = "fn helper() -> f32 {\n  return 1.0;\n}\nfn bad() -> f32 {\n  return 1u;\n}\n";
        let read = |name: &str| (name == "helper").then(|| lib.to_string());
        let in_lib =
            "// header\n// #import helper\n@compute @workgroup_size(1)\nfn t_forward() {}\n";
        let msg = super::expand_and_reflect("shaders/t.wgsl", in_lib, &read)
            .unwrap_err()
            .to_string();
        // naga points at `fn bad`, line 4 of the library (line 6 expanded).
        assert!(msg.contains("shaders/lib/helper.wgsl:4:"), "{msg}");
        assert!(!msg.contains("shaders/t.wgsl:6:"), "{msg}");
        let good = "fn helper() -> f32 {\n  return 1.0;\n}\n";
        let read = |name: &str| (name == "helper").then(|| good.to_string());
        let below = "// #import helper\n@compute @workgroup_size(1)\nfn t_forward() {\n  let x: f32 = 1u;\n}\n";
        let msg = super::expand_and_reflect("shaders/t.wgsl", below, &read)
            .unwrap_err()
            .to_string();
        // Line 4 as written; line 6 in the expanded text.
        assert!(msg.contains("shaders/t.wgsl:4:"), "{msg}");
        assert!(
            msg.contains("count shaders/t.wgsl's imports expanded"),
            "{msg}"
        );
    }
}

#[cfg(test)]
mod embedded_tests {
    #[test]
    fn all_embedded_shaders_validate() {
        if let Err(e) = super::ShaderRegistry::global() {
            panic!("{e}");
        }
    }
}
