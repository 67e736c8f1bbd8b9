//! Every registered learner kind, through the example experiment its folder
//! ships (`registry::EXAMPLES`): `occam gradcheck`'s check passes on it — the
//! GPU meta-step against the f64 reference, path by path, and finite
//! differences where the kind's pullback is exact. A kind added to the
//! registry is tested here without touching this file.

mod support;

use occam_experiment::config::Experiment;
use occam_experiment::gradcheck::{GradcheckOptions, gradcheck};
use occam_meta::learners::registry::{EXAMPLES, KINDS};
use std::path::Path;

fn options(file: &str) -> GradcheckOptions {
    GradcheckOptions {
        dump: None,
        tolerance: 1e-3,
        learner_tolerance: 1e-3,
        file: Some(file.to_string()),
        fd_tolerance: 1e-3,
        directions: 2,
        step: 1e-8,
    }
}

#[test]
fn every_kind_has_an_example_of_its_own_kind() {
    let kinds: Vec<&str> = EXAMPLES.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, KINDS);
    for (kind, path) in EXAMPLES {
        let table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let learner = table["learner"].as_table().unwrap();
        let named = learner["kind"].as_str() == Some(kind)
            || learner
                .get("inner")
                .and_then(|i| i["kind"].as_str())
                .is_some_and(|k| k == *kind);
        assert!(named, "{path} has no learner of kind {kind:?}");
    }
}

#[test]
fn gpu_gradcheck_passes_on_every_kinds_example() {
    for gpu in support::gpus() {
        let mut failures = Vec::new();
        for (kind, path) in EXAMPLES {
            // The external learner's program runs on a python3 with numpy.
            let sets = match *kind {
                "external" => vec![format!(
                    "learner.inner.command=[\"{}\", \"external/ridge_learner.py\", \"1e-3\"]",
                    support::python_with_numpy()
                )],
                _ => Vec::new(),
            };
            let exp =
                Experiment::load(Path::new(path), &sets).unwrap_or_else(|e| panic!("{path}: {e}"));
            let mut report = Vec::new();
            let result = gradcheck(gpu, &exp, &options(path), &mut report);
            let report = String::from_utf8_lossy(&report);
            println!("{kind} on {}:\n{report}", gpu.adapter().name);
            // An adapter that cannot run a kind (GL has no subgroups for
            // the lanes kernels) says so with exit code 2; nothing else may fail.
            match result {
                Ok(()) => {}
                Err(e) if e.exit_code() == 2 && gpu.subgroup_size().is_none() => {
                    println!("{kind}: not run on {}: {e}", gpu.adapter().name);
                }
                Err(e) => failures.push(format!("{kind} ({path}): {e}\n{report}")),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
