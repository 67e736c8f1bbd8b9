//! The SLURM round trip (scripts/slurm/roundtrip.sh): a sweep submitted as a
//! job array to a one-node cluster on this machine, collected, and compared
//! with the same sweep run locally. It needs root and Debian's slurm-wlm and
//! munge, which .ci/run installs; in CI (CI=true) it never skips.
//!
//! The test depends on nothing an earlier run left on the machine: it starts
//! the cluster itself (scripts/slurm/local-cluster.sh, which writes the
//! configuration and starts whichever daemons are not running) and stops the
//! daemons it started, even when the round trip fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Whether `bin` is on PATH. A presence probe, not `sbatch --version`, which
/// fails on a machine where slurm-wlm is installed but no slurm.conf exists
/// yet — the state a fresh machine is in before the cluster script runs.
fn on_path(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn running(daemon: &str) -> bool {
    Command::new("pgrep")
        .args(["-x", daemon])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The daemons of the one-node cluster, in the order they are stopped.
const DAEMONS: [&str; 3] = ["slurmd", "slurmctld", "munged"];

/// Stops, when dropped, the cluster daemons that were not running before the
/// test started them.
struct StartedDaemons(Vec<&'static str>);

impl Drop for StartedDaemons {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = Command::new("pkill").args(["-x", d]).status();
        }
        // pkill sends SIGTERM; give the daemons a moment to leave, so a
        // later test or run starts from a machine without them.
        for _ in 0..50 {
            if !self.0.iter().any(|d| running(d)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm")
}

fn output(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit code of local-cluster.sh when /etc/slurm/slurm.conf exists and was
/// not written by it: a real cluster's configuration is never overwritten.
const FOREIGN_CONFIG: i32 = 3;

#[test]
fn a_sweep_through_sbatch_array_equals_the_local_sweep() {
    let missing: Vec<&str> = ["sbatch", "sinfo", "slurmctld", "slurmd", "munged"]
        .into_iter()
        .filter(|b| !on_path(b))
        .collect();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !(missing.is_empty() && root) {
        assert!(
            !ci(),
            "the SLURM round trip must run in CI: missing on PATH {missing:?}, root {root} \
             (.ci/run installs slurm-wlm and munge)"
        );
        eprintln!("SLURM round trip SKIPPED (needs root and slurm-wlm; CI=true makes this fail)");
        return;
    }

    let _started = StartedDaemons(DAEMONS.into_iter().filter(|d| !running(d)).collect());
    let cluster = Command::new("bash")
        .arg(scripts().join("local-cluster.sh"))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    if cluster.status.code() == Some(FOREIGN_CONFIG) && !ci() {
        eprintln!(
            "SLURM round trip SKIPPED: this machine has its own SLURM configuration\n{}",
            output(&cluster)
        );
        return;
    }
    assert!(
        cluster.status.success(),
        "local-cluster.sh did not bring the node up:\n{}",
        output(&cluster)
    );
    for d in DAEMONS {
        assert!(running(d), "{d} is not running after local-cluster.sh");
    }

    let o = Command::new("bash")
        .arg(scripts().join("roundtrip.sh"))
        .env("OCCAM", env!("CARGO_BIN_EXE_occam"))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let out = output(&o);
    println!("{out}");
    assert!(
        o.status.success() && out.contains("roundtrip: PASS"),
        "{out}"
    );
}
