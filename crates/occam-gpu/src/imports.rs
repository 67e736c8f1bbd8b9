// Shared by the crate and its build script (`include!`d there): the import
// step that puts shared WGSL into a shader before it is embedded.

/// Expands every `// #import NAME` line of `source` into the text of
/// `shaders/lib/NAME.wgsl` (read with `read`), each library at most once per
/// shader and libraries' own imports first. Errors name the shader and the
/// missing library.
pub fn expand_imports(
    shader: &str,
    source: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut seen = Vec::new();
    expand(shader, source, read, &mut seen)
}

fn expand(
    shader: &str,
    source: &str,
    read: &dyn Fn(&str) -> Option<String>,
    seen: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(source.len());
    for line in source.split_inclusive('\n') {
        match line.trim().strip_prefix("// #import ") {
            Some(name) => {
                let name = name.trim().to_string();
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name.clone());
                let lib = read(&name).ok_or_else(|| {
                    format!("{shader}: `// #import {name}` names no file shaders/lib/{name}.wgsl")
                })?;
                out.push_str(&expand(shader, &lib, read, seen)?);
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    Ok(out)
}
