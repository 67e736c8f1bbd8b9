// Shared by the crate and its build script (`include!`d there): the naga
// validator every shader passes, at build time for the embedded shaders
// and at run time for the kernels the host generates.

/// Parses and validates WGSL as Occam runs it: every capability a shader may
/// use, subgroup operations included (a kernel that uses them is only built
/// on devices that offer them). The error is naga's report with the file,
/// line and column.
pub fn validate_wgsl(
    file: &str,
    source: &str,
) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| e.emit_to_string_with_path(source, file))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default() | naga::valid::Capabilities::SUBGROUP,
    )
    .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
    .subgroup_operations(naga::valid::SubgroupOperationSet::all())
    .validate(&module)
    .map_err(|e| e.emit_to_string_with_path(source, file))?;
    Ok((module, info))
}
