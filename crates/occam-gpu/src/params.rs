//! Uniform parameter structs shared by the host and a shader, checked
//! against the shader's own layout. A struct declared with
//! [`uniform_params!`](crate::uniform_params) knows which shader declares its
//! WGSL twin; [`ShaderRegistry::check_params`] compares field names, offsets
//! and sizes and the total size with naga's layout of that WGSL struct, so a
//! field added, moved or retyped on one side only is an error naming both.

use crate::error::{GpuError, Result};
use crate::shaders::ShaderRegistry;

/// One field of a host-side parameter struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// The field's name (the WGSL member's name).
    pub name: &'static str,
    /// Byte offset.
    pub offset: usize,
    /// Byte size.
    pub size: usize,
}

/// A host-side twin of a WGSL uniform struct.
pub trait UniformParams: bytemuck::Pod {
    /// The shader (file stem) that declares the WGSL struct.
    const SHADER: &'static str;
    /// The WGSL struct's name.
    const STRUCT: &'static str;
    /// The host struct's fields, in declaration order.
    fn fields() -> Vec<FieldLayout>;
}

/// Declares a `#[repr(C)]`, `Pod` parameter struct and its
/// [`UniformParams`] link to the WGSL struct of the same name in `shader`:
///
/// ```text
/// occam_gpu::uniform_params! {
///     /// Parameters of std_reward.wgsl.
///     pub(crate) struct StdParams in "std_reward" { tasks: u32, n: u32, weight: f32, _pad: u32 }
/// }
/// ```
#[macro_export]
macro_rules! uniform_params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident in $shader:literal {
        $($field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($field: $ty),*
        }

        impl $crate::params::UniformParams for $name {
            const SHADER: &'static str = $shader;
            const STRUCT: &'static str = stringify!($name);
            fn fields() -> Vec<$crate::params::FieldLayout> {
                vec![$($crate::params::FieldLayout {
                    name: stringify!($field),
                    offset: ::std::mem::offset_of!($name, $field),
                    size: ::std::mem::size_of::<$ty>(),
                }),*]
            }
        }
    };
}

/// A WGSL struct's layout as naga computes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// (name, offset, size) of each member, in order.
    pub members: Vec<(String, u32, u32)>,
    /// The struct's size in bytes.
    pub span: u32,
}

impl ShaderRegistry {
    /// Checks `P` against the layout of its WGSL struct; the error names the
    /// struct, the shader and the first difference.
    pub fn check_params<P: UniformParams>(&self) -> Result<()> {
        let mismatch = |message: String| GpuError::BindingMismatch {
            shader: P::SHADER.into(),
            entry: P::STRUCT.into(),
            message,
        };
        let info = self
            .shader(P::SHADER)
            .ok_or_else(|| mismatch(format!("no shader {:?} is embedded", P::SHADER)))?;
        let layout = info.structs.get(P::STRUCT).ok_or_else(|| {
            mismatch(format!(
                "shaders/{}.wgsl declares no struct {}",
                P::SHADER,
                P::STRUCT
            ))
        })?;
        let host: Vec<(String, u32, u32)> = P::fields()
            .iter()
            .map(|f| (f.name.to_string(), f.offset as u32, f.size as u32))
            .collect();
        if host != layout.members {
            return Err(mismatch(format!(
                "the host struct's fields (name, offset, size) {host:?} differ from the shader's {:?}",
                layout.members
            )));
        }
        let size = std::mem::size_of::<P>() as u32;
        if size != layout.span {
            return Err(mismatch(format!(
                "the host struct is {size} bytes, the shader's {}",
                layout.span
            )));
        }
        Ok(())
    }
}

/// Every named struct of `module` with its layout.
pub(crate) fn struct_layouts(
    module: &naga::Module,
) -> std::collections::BTreeMap<String, StructLayout> {
    let ctx = module.to_ctx();
    module
        .types
        .iter()
        .filter_map(|(_, ty)| match &ty.inner {
            naga::TypeInner::Struct { members, span } => Some((
                ty.name.clone()?,
                StructLayout {
                    members: members
                        .iter()
                        .map(|m| {
                            (
                                m.name.clone().unwrap_or_default(),
                                m.offset,
                                module.types[m.ty].inner.size(ctx),
                            )
                        })
                        .collect(),
                    span: *span,
                },
            )),
            _ => None,
        })
        .collect()
}

/// The names of the structs a module's `var<uniform>` globals have: the
/// WGSL side of every host parameter struct its kernels bind.
pub(crate) fn uniform_structs(module: &naga::Module) -> Vec<String> {
    let mut names: Vec<String> = module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::Uniform)
        .filter_map(|(_, v)| module.types[v.ty].name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}
