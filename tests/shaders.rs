//! Every WGSL file under `shaders/` parses and validates with naga, opens with
//! a comment stating its math, names its entry points after the op and the
//! pass, and is the same set the GPU crate embeds.

use occam_gpu::shaders::{ShaderRegistry, reflect};
use std::fs;
use std::path::Path;

fn shader_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("shaders/ folder")
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
