//! The malformed-input corpus (tests/corpus/, written by its generate.py):
//! every experiment file there must make `occam run` exit 2 with the key or
//! path its first line names — no panic, no abort, no hang.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one case may take (the slowest open the adapter first).
const DEADLINE: Duration = Duration::from_secs(120);

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs one case; returns what went wrong, if anything.
fn check(case: &Path, out: &Path) -> Option<String> {
    let text = std::fs::read_to_string(case).unwrap();
    let expect = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{}: no `# expect:` line", case.display()))
        .trim()
        .to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_occam"))
        .arg("run")
        .arg(case)
        .arg("--out")
        .arg(out)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("occam starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Some(format!("still running after {DEADLINE:?} (a hang)"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    if stderr.contains("panicked") {
        return Some(format!("panicked: {stderr}"));
    }
    if status.code() != Some(2) {
        return Some(format!("exit {status} instead of 2: {stderr}"));
    }
    if !stderr.contains(&expect) {
        return Some(format!("the message does not name {expect:?}: {stderr}"));
    }
    None
}

#[test]
fn every_malformed_config_and_data_file_exits_2_naming_the_key_or_path() {
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "the corpus has only {} cases",
        cases.len()
    );
    let base = std::env::temp_dir().join(format!("occam-corpus-{}", std::process::id()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let out = base.join(i.to_string());
                    if let Some(why) = check(case, &out) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}: {why}", case.display()));
                    }
                    // A refused run writes nothing.
                    if out.join("summary.json").exists() {
                        failures.lock().unwrap().push(format!(
                            "{}: wrote results although refused",
                            case.display()
                        ));
                    }
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&base);
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!(
        "{} malformed inputs refused with exit 2, each naming its key or path",
        cases.len()
    );
}
