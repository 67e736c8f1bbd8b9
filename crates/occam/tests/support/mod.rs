//! Helpers shared by the `occam` command's tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `occam` binary with `args` and waits for it.
pub fn occam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_occam"))
        .args(args)
        .env(
            "XDG_RUNTIME_DIR",
            std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()),
        )
        .output()
        .expect("occam runs")
}

/// The path of a shipped experiment file.
pub fn experiment(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name)
        .display()
        .to_string()
}

/// What a finished command wrote on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A tiny version of the quickstart experiment (seconds on a CPU adapter).
pub const TINY: [&str; 10] = [
    "--set",
    "meta_learner.hidden=[16]",
    "--set",
    "learner.steps=5",
    "--set",
    "data.test=20",
    "--set",
    "data.samples=20",
    "--set",
    "analysis.heldout_tasks=2",
];

/// Waits until `path` holds `needle`, failing if `child` ends first.
pub fn wait_for(path: &Path, needle: &str, child: &mut std::process::Child) {
    let start = std::time::Instant::now();
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the run ended ({status}) before {} held {needle:?}",
                path.display()
            );
        }
        assert!(
            start.elapsed().as_secs() < 300,
            "timed out waiting for {needle:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
