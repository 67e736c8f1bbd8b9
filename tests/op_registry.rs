//! Every op of the registry (`occam_ops::OPS`) held to the same rules: it
//! owns one shader and exactly that shader's entry points, every folder of
//! the op crate that is an op is registered, and — on every adapter the GPU
//! tests run on (lavapipe and llvmpipe in CI) — its check passes: its GPU
//! passes against its f64 twin, and the twin's derivatives against the
//! dot-product identity and central differences.

mod support;

use occam_gpu::shaders::ShaderRegistry;
use occam_ops::OPS;
use std::collections::BTreeSet;

#[test]
fn every_shader_belongs_to_one_op_with_exactly_its_entry_points() {
    let r = ShaderRegistry::global().unwrap();
    let names: Vec<&str> = OPS.iter().map(|op| op.name).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "an op is registered twice: {names:?}"
    );
    let mut problems = Vec::new();
    for sh in r.shaders() {
        if !unique.contains(sh.name) {
            problems.push(format!(
                "shaders/{}.wgsl belongs to no registered op",
                sh.name
            ));
        }
    }
    for op in OPS {
        let Some(sh) = r.shader(op.name) else {
            problems.push(format!("op {} has no shaders/{}.wgsl", op.name, op.name));
            continue;
        };
        let declared: BTreeSet<&str> = op.entry_points.iter().copied().collect();
        let reflected: BTreeSet<&str> = sh.entry_points.keys().map(String::as_str).collect();
        if declared != reflected {
            problems.push(format!(
                "op {}: declares entry points {declared:?}, its shader has {reflected:?}",
                op.name
            ));
        }
        let prefix = format!("{}_", op.name);
        for e in &reflected {
            if !e.starts_with(&prefix) {
                problems.push(format!(
                    "op {}: entry point {e} is not named {prefix}<pass>",
                    op.name
                ));
            }
        }
        if op.params.is_empty() {
            problems.push(format!("op {} declares no parameter struct", op.name));
        }
        for check in op.params {
            let (shader, name, verdict) = check(r);
            if shader != op.name {
                problems.push(format!("op {}: its params {name} are {shader}'s", op.name));
            }
            if let Err(e) = verdict {
                problems.push(e.to_string());
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_op_folder_of_the_op_crate_is_registered() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/occam-ops/src");
    let folders: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let registered: BTreeSet<String> = OPS.iter().map(|op| op.name.to_string()).collect();
    assert_eq!(
        folders, registered,
        "the folders of crates/occam-ops/src and the ops! list differ"
    );
}

#[test]
fn every_op_meets_its_twin_on_every_adapter() {
    let gpus = support::gpus();
    let mut failures = Vec::new();
    for gpu in gpus {
        for op in OPS {
            match (op.check)(gpu) {
                Err(e) => failures.push(format!("{} on {}: {e}", op.name, gpu.adapter())),
                Ok(rows) => {
                    if !rows.iter().any(|r| r.what.contains("GPU vs twin")) {
                        failures.push(format!(
                            "{}: its check compares no GPU pass with the twin",
                            op.name
                        ));
                    }
                    for row in rows {
                        eprintln!(
                            "{} ({:?}): {row}",
                            gpu.adapter().name,
                            gpu.adapter().backend
                        );
                        if !row.holds() {
                            failures.push(format!("{} on {}: {row}", op.name, gpu.adapter()));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
