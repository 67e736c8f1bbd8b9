// Shared by the crate and its build script (`include!`d there): the import
// step that puts shared WGSL into a shader before it is embedded, and the
// map back from a line of the result to the file and line it came from.

/// Expands every `// #import NAME` line of `source` into the text of
/// `shaders/lib/NAME.wgsl` (read with `read`), each library at most once per
/// shader and libraries' own imports first. Errors name the shader and the
/// missing library.
pub fn expand_imports(
    shader: &str,
    source: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    expand_imports_traced(shader, source, read).map(|(text, _)| text)
}

/// As [`expand_imports`], with the origin of each line of the result: the
/// file (`shader`, or `shaders/lib/NAME.wgsl` for an imported line) and its
/// 1-based line there.
pub fn expand_imports_traced(
    shader: &str,
    source: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<(String, usize)>), String> {
    let mut seen = Vec::new();
    let mut out = String::with_capacity(source.len());
    let mut origins = Vec::new();
    expand(
        shader,
        shader,
        source,
        read,
        &mut seen,
        &mut out,
        &mut origins,
    )?;
    Ok((out, origins))
}

fn expand(
    shader: &str,
    file: &str,
    source: &str,
    read: &dyn Fn(&str) -> Option<String>,
    seen: &mut Vec<String>,
    out: &mut String,
    origins: &mut Vec<(String, usize)>,
) -> Result<(), String> {
    for (number, line) in source.split_inclusive('\n').enumerate() {
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
                let lib_file = format!("shaders/lib/{name}.wgsl");
                expand(shader, &lib_file, &lib, read, seen, out, origins)?;
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                origins.push((file.to_string(), number + 1));
            }
        }
    }
    Ok(())
}

/// naga's report on an expanded shader with every location `shader:LINE:COL`
/// rewritten to the file and line that line came from (the excerpt naga
/// quotes keeps the expanded numbering, which a last line says).
pub fn locate_in_sources(report: &str, shader: &str, origins: &[(String, usize)]) -> String {
    let prefix = format!("{shader}:");
    let mut out = String::with_capacity(report.len());
    let mut rest = report;
    let mut moved = false;
    while let Some(at) = rest.find(&prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let origin = after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|line| origins.get(line.wrapping_sub(1)));
        match origin {
            Some((file, line)) => {
                out.push_str(&format!("{file}:{line}"));
                moved |= file != shader || after[..digits] != line.to_string();
            }
            None => out.push_str(&rest[at..at + prefix.len() + digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    if moved {
        out.push_str(&format!(
            "\n(locations are in the files as written; the excerpt's line numbers count {shader}'s imports expanded)"
        ));
    }
    out
}
