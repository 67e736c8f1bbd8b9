//! Every WGSL file under `shaders/` parses and validates with naga, opens with
//! a comment stating its math, names its entry points after the op and the
//! pass, and is the same set the GPU crate embeds.

use occam_gpu::imports::expand_imports;
use occam_gpu::shaders::{ShaderRegistry, reflect};
use std::fs;
use std::path::Path;

fn shader_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

/// (name, source) of every `.wgsl` file in `dir`, sorted.
fn wgsl_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("a shader folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The text of every `.rs` file below `dir`.
fn rust_sources(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                out.extend(rust_sources(&path));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// Every shader with its `// #import` lines expanded, as the registry embeds it.
fn shader_files() -> Vec<(String, String)> {
    let lib = shader_dir().join("lib");
    let read = |name: &str| fs::read_to_string(lib.join(format!("{name}.wgsl"))).ok();
    wgsl_files(&shader_dir())
        .into_iter()
        .map(|(name, src)| {
            let expanded = expand_imports(&name, &src, &read).unwrap_or_else(|e| panic!("{e}"));
            (name, expanded)
        })
        .collect()
}

/// Shared WGSL is imported, not copied: every library opens with its math,
/// is imported by some shader, and no shader defines a function a library
/// already defines.
#[test]
fn shared_wgsl_is_imported_where_it_is_used() {
    let libs = wgsl_files(&shader_dir().join("lib"));
    assert!(!libs.is_empty());
    let shaders = wgsl_files(&shader_dir());
    let generators = rust_sources(&shader_dir().join("../crates"));
    for (lib, src) in &libs {
        assert!(
            src.starts_with(&format!("// lib/{lib}.wgsl")),
            "shaders/lib/{lib}.wgsl must open with `// lib/{lib}.wgsl — …` stating its math"
        );
        let import = format!("// #import {lib}");
        // A kernel the host generates (e.g. occam_ops::unroll::lanes_kernel)
        // imports a library from Rust source.
        assert!(
            shaders
                .iter()
                .any(|(_, s)| s.lines().any(|l| l.trim() == import))
                || generators.iter().any(|g| g.contains(&import)),
            "shaders/lib/{lib}.wgsl is imported by no shader and no generated kernel"
        );
        for f in src.lines().filter_map(|l| l.strip_prefix("fn ")) {
            let name = f.split('(').next().unwrap();
            for (shader, s) in &shaders {
                assert!(
                    !s.lines().any(|l| l.starts_with(&format!("fn {name}("))),
                    "shaders/{shader}.wgsl defines {name}, which shaders/lib/{lib}.wgsl provides: import it"
                );
            }
        }
    }
    // A missing library is an error naming the shader.
    let e = expand_imports("x.wgsl", "// #import nothing_here\n", &|_| None).unwrap_err();
    assert!(e.contains("x.wgsl") && e.contains("nothing_here"), "{e}");
}

#[test]
fn every_shader_validates_with_naga() {
    let files = shader_files();
    assert!(!files.is_empty(), "no shaders found");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|(name, src)| reflect(&format!("shaders/{name}.wgsl"), src).err())
        .map(|e| e.to_string())
        .collect();
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn every_shader_opens_with_its_math_and_names_entry_points_after_op_and_pass() {
    const PASSES: [&str; 4] = ["forward", "backward", "tangent_forward", "tangent_backward"];
    for (name, src) in shader_files() {
        assert!(
            src.starts_with(&format!("// {name}.wgsl")),
            "shaders/{name}.wgsl must open with a comment `// {name}.wgsl — …` stating its math"
        );
        let (entry_points, _) = reflect(&name, &src).unwrap();
        let has = |pass: &str| {
            entry_points.iter().any(|e| {
                e.name == format!("{name}_{pass}") || e.name.starts_with(&format!("{name}_{pass}_"))
            })
        };
        for ep in &entry_points {
            assert!(
                ep.name.starts_with(&format!("{name}_")),
                "entry point {} of {name}.wgsl must start with `{name}_`",
                ep.name
            );
        }
        // An op differentiated inside the learner's training has all four
        // passes; meta-loss terms and optimisers need fewer, but an op with a
        // backward pass has a forward one, and a tangent pass means all four.
        if has("tangent_forward") || has("tangent_backward") {
            for pass in PASSES {
                assert!(
                    has(pass),
                    "{name}.wgsl has tangent passes but no {pass} pass"
                );
            }
        }
        if has("backward") {
            assert!(
                has("forward"),
                "{name}.wgsl has a backward pass but no forward pass"
            );
        }
    }
}

#[test]
fn the_registry_embeds_exactly_the_shader_folder() {
    let registry = ShaderRegistry::global().unwrap_or_else(|e| panic!("{e}"));
    let embedded: Vec<(String, String)> = registry
        .shaders()
        .map(|s| (s.name.to_string(), s.source.to_string()))
        .collect();
    assert_eq!(
        embedded,
        shader_files(),
        "rebuild: the embedded shaders are stale"
    );
}
