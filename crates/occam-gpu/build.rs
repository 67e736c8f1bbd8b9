//! Embeds every WGSL file under the workspace's `shaders/` folder into the
//! crate at compile time, so that adding a shader file registers it without
//! touching any Rust code. Shared WGSL in `shaders/lib/` is put in place of
//! each `// #import NAME` line first (see `src/imports.rs`).

use std::{env, fs, path::PathBuf};

include!("src/imports.rs");
include!("src/validator.rs");

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../shaders");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the shader folder {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "wgsl").then(|| {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, path)
            })
        })
        .collect();
    names.sort();
    let mut out = String::from(
        "/// Every embedded shader: (name, file name, WGSL source), sorted by name.\n\
         pub const EMBEDDED_SHADERS: &[(&str, &str, &str)] = &[\n",
    );
    let lib = dir.join("lib");
    println!("cargo:rerun-if-changed={}", lib.display());
    if let Ok(entries) = fs::read_dir(&lib) {
        for entry in entries.flatten() {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    let read = |name: &str| fs::read_to_string(lib.join(format!("{name}.wgsl"))).ok();
    // The libraries themselves, for kernels the host generates at run time
    // (`Gpu::generated_kernel`), whose imports are expanded then.
    let mut libs: Vec<PathBuf> = fs::read_dir(&lib)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
                .collect()
        })
        .unwrap_or_default();
    libs.sort();
    let mut lib_table = String::from(
        "/// Every shared WGSL library of `shaders/lib/`: (name, source), sorted by name.\n\
         pub const EMBEDDED_LIBS: &[(&str, &str)] = &[\n",
    );
    for path in &libs {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = fs::read_to_string(path).expect("read a shader library");
        lib_table.push_str(&format!("    ({stem:?}, {source:?}),\n"));
    }
    lib_table.push_str("];\n");
    let mut handles = String::new();
    let mut all =
        String::from("/// Every handle above.\npub const ALL: &[EntryPoint<'static>] = &[\n");
    for (stem, path) in &names {
        println!("cargo:rerun-if-changed={}", path.display());
        let source = fs::read_to_string(path).expect("read a shader");
        let (expanded, origins) =
            expand_imports_traced(&format!("shaders/{stem}.wgsl"), &source, &read)
                .unwrap_or_else(|e| panic!("{e}"));
        out.push_str(&format!(
            "    ({stem:?}, \"shaders/{stem}.wgsl\", {expanded:?}),\n"
        ));
        // Validated here, so that a shader error fails `cargo build` with
        // naga's report (file, line, column); the handles below are the
        // module's compute entry points.
        let file = format!("shaders/{stem}.wgsl");
        let (module, _) = validate_wgsl(&file, &expanded).unwrap_or_else(|report| {
            eprintln!(
                "{file} does not validate:\n{}",
                locate_in_sources(&report, &file, &origins)
            );
            std::process::exit(1)
        });
        let entries = module
            .entry_points
            .iter()
            .filter(|ep| ep.stage == naga::ShaderStage::Compute)
            .map(|ep| ep.name.clone());
        for entry in entries {
            handles.push_str(&format!(
                "/// `{entry}` of `shaders/{stem}.wgsl`.\n\
                 pub const {}: EntryPoint<'static> = EntryPoint {{ shader: {stem:?}, entry: {entry:?} }};\n",
                entry.to_uppercase()
            ));
            all.push_str(&format!("    {},\n", entry.to_uppercase()));
        }
    }
    out.push_str("];\n");
    out.push_str(&lib_table);
    all.push_str("];\n");
    handles.push_str(&all);
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    fs::write(out_dir.join("embedded_shaders.rs"), out).expect("write embedded_shaders.rs");
    fs::write(out_dir.join("kernel_handles.rs"), handles).expect("write kernel_handles.rs");
}
