//! Each experiment's headline figure, as experiments/headlines.toml states
//! it: a whole run at seed 0 must land inside the recorded bounds, so that a
//! change which moves a result (not only one that breaks a gradient) is
//! caught. Entries with `ci = true` run with the test suite; every entry runs
//! with `cargo test --release -p occam --test headlines -- --ignored`.

use std::path::Path;
use std::process::Command;

fn headlines() -> Vec<toml::Table> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/headlines.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table["headline"]
        .as_array()
        .expect("[[headline]] entries")
        .iter()
        .map(|h| h.as_table().expect("a table").clone())
        .collect()
}

/// The value at a dotted path (`analysis.heldout.meta_loss_reduction`,
/// array indices as numbers).
fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(v, |v, key| match key.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(key),
        })
}

/// PATH for the runs, with the folder of a python3 that has numpy first
/// where the first python3 on PATH has none (blackbox_external's learner is
/// `python3 external/ridge_learner.py`; CI installs Debian's python3-numpy,
/// which a pyenv python3 earlier on PATH would hide).
fn path_with_numpy_python() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let has_numpy = |python: &str| {
        Command::new(python)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_numpy("python3") {
        return path;
    }
    match ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| has_numpy(p))
    {
        Some(python) => {
            let dir = Path::new(python).parent().unwrap().to_path_buf();
            std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).unwrap()
        }
        None => path,
    }
}

/// Runs every experiment of `entries` once and checks each figure; returns
/// the failures.
fn check(entries: &[toml::Table]) -> Vec<String> {
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for e in entries {
        let file = e["experiment"].as_str().unwrap().to_string();
        let sets: Vec<String> = e
            .get("set")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        if !runs.contains(&(file.clone(), sets.clone())) {
            runs.push((file, sets));
        }
    }
    let base = std::env::temp_dir().join(format!("occam-headlines-{}", std::process::id()));
    let path = path_with_numpy_python();
    let path = &path;
    let summaries: Vec<Result<serde_json::Value, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(i, (file, sets))| {
                let out = base.join(i.to_string());
                s.spawn(move || {
                    let exp = Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../../experiments")
                        .join(file);
                    let mut cmd = Command::new(env!("CARGO_BIN_EXE_occam"));
                    cmd.arg("run")
                        .arg(&exp)
                        .arg("--out")
                        .arg(&out)
                        .arg("--force");
                    for set in sets {
                        cmd.args(["--set", set]);
                    }
                    let o = cmd
                        .env("XDG_RUNTIME_DIR", "/tmp")
                        .env("PATH", path)
                        .output()
                        .unwrap();
                    if !o.status.success() {
                        return Err(format!("{file}: {}", String::from_utf8_lossy(&o.stderr)));
                    }
                    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
                    Ok(serde_json::from_str(&text).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let _ = std::fs::remove_dir_all(&base);
    let mut failures = Vec::new();
    for e in entries {
        let file = e["experiment"].as_str().unwrap();
        let key = e["key"].as_str().unwrap();
        let sets: Vec<String> = e
            .get("set")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        let i = runs
            .iter()
            .position(|r| r.0 == file && r.1 == sets)
            .unwrap();
        let summary = match &summaries[i] {
            Ok(s) => s,
            Err(e) => {
                failures.push(e.clone());
                continue;
            }
        };
        let Some(value) = lookup(summary, key).and_then(|v| v.as_f64()) else {
            failures.push(format!("{file}: {key} is not in summary.json"));
            continue;
        };
        let bound = |name: &str| e.get(name).and_then(|v| v.as_float());
        let (min, max) = (bound("min"), bound("max"));
        assert!(min.is_some() || max.is_some(), "{file} {key}: no bound");
        let recorded = bound("recorded").unwrap_or(f64::NAN);
        if min.is_some_and(|m| value < m) || max.is_some_and(|m| value > m) {
            failures.push(format!(
                "{file}: {key} = {value} is outside [{}, {}] (recorded {recorded})",
                min.map_or("-inf".into(), |m| m.to_string()),
                max.map_or("inf".into(), |m| m.to_string()),
            ));
        } else {
            println!("{file}: {key} = {value:.4} (recorded {recorded}) ok");
        }
    }
    failures
}

#[test]
fn the_quick_experiments_keep_their_headline_figures() {
    let entries: Vec<toml::Table> = headlines()
        .into_iter()
        .filter(|e| e.get("ci").and_then(|v| v.as_bool()) == Some(true))
        .collect();
    assert!(!entries.is_empty());
    let failures = check(&entries);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "every experiment in full: about an hour on a CPU adapter"]
fn every_experiment_keeps_its_headline_figures() {
    let failures = check(&headlines());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
