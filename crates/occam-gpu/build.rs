//! Embeds every WGSL file under the workspace's `shaders/` folder into the
//! crate at compile time, so that adding a shader file registers it without
//! touching any Rust code.

use std::{env, fs, path::PathBuf};

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
    for (stem, path) in &names {
        println!("cargo:rerun-if-changed={}", path.display());
        let canonical = path.canonicalize().expect("canonical shader path");
        out.push_str(&format!(
            "    ({stem:?}, \"shaders/{stem}.wgsl\", include_str!({:?})),\n",
            canonical.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("embedded_shaders.rs");
    fs::write(dest, out).expect("write embedded_shaders.rs");
}
