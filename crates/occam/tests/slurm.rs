//! The SLURM round trip (scripts/slurm/roundtrip.sh): a sweep submitted as a
//! job array to a one-node cluster on this machine, collected, and compared
//! with the same sweep run locally. It needs root and Debian's slurm-wlm and
//! munge, which .ci/run installs; in CI (CI=true) it never skips.

use std::path::Path;
use std::process::Command;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

#[test]
fn a_sweep_through_sbatch_array_equals_the_local_sweep() {
    let have_slurm = Command::new("sbatch")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !(have_slurm && root) {
        assert!(
            !ci(),
            "the SLURM round trip must run in CI: sbatch {}, root {root}",
            if have_slurm { "found" } else { "missing" }
        );
        eprintln!("SLURM round trip SKIPPED (needs root and slurm-wlm; CI=true makes this fail)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm/roundtrip.sh");
    let o = Command::new("bash")
        .arg(&script)
        .env("OCCAM", env!("CARGO_BIN_EXE_occam"))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    println!("{out}");
    assert!(
        o.status.success() && out.contains("roundtrip: PASS"),
        "{out}"
    );
}
