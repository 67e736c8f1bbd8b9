//! Run folders under faults (issue 25): one writer per folder, a resume that
//! refuses a changed configuration, a summary that says `complete` only when
//! every output is on disk, and sweeps and seed lists that cannot run one
//! seed twice or list more runs than can be held.

mod support;

use occam_experiment::output::{FolderLock, LOCK_FILE};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{TINY, experiment, occam, stderr, wait_for};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("occam-folders-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny_run(out: &Path, extra: &[&str]) -> Vec<String> {
    let q = experiment("quickstart.toml");
    let mut a: Vec<String> = ["run", q.as_str(), "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(out.display().to_string());
    a.extend(TINY.iter().map(|s| s.to_string()));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run_args(args: &[String]) -> std::process::Output {
    occam(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn status(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_second_writer_of_a_run_folder_is_refused_naming_the_holder() {
    let base = scratch("lock");
    // Another process writing the folder: a real run, stopped mid-way.
    let busy = base.join("busy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_occam"))
        .args(tiny_run(
            &busy,
            &["--steps", "100000", "--set", "log_every=1"],
        ))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&busy.join("metrics.jsonl"), "\"meta_step\":2,", &mut child);
    let pid = format!("pid {}", child.id());
    for args in [
        tiny_run(&busy, &["--steps", "2"]),
        tiny_run(&busy, &["--steps", "2", "--force"]),
        vec!["run".into(), "--resume".into(), busy.display().to_string()],
    ] {
        let o = run_args(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&pid) && stderr(&o).contains(&busy.display().to_string()),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let _ = child.kill();
    child.wait().unwrap();
    // The killed writer's lock went with it.
    drop(FolderLock::acquire(&busy).expect("a dead process holds no folder"));

    // A folder held by this process: run, --seeds and a sweep are refused;
    // once it lets go, the run goes ahead and leaves no lock file.
    let held = base.join("held");
    let lock = FolderLock::acquire(&held).unwrap();
    let mine = format!("pid {}", std::process::id());
    let o = run_args(&tiny_run(&held, &["--steps", "2"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&mine), "{}", stderr(&o));
    let seeds_out = base.join("seeds");
    let seed_dir = seeds_out.join("quickstart-seed3");
    let seed_lock = FolderLock::acquire(&seed_dir).unwrap();
    let o = run_args(&tiny_run(&seeds_out, &["--steps", "2", "--seeds", "3,4"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&mine), "{}", stderr(&o));
    // A sweep whose run folder another process (here: this one) writes.
    let sweep = sweep_file(
        &base,
        "[set]\nmeta_steps = 2\n\"meta_learner.hidden\" = [16]\n\"learner.steps\" = 5\n[grid]\n\"optimizer.lr\" = [0.01]",
    );
    let sweep_run = base.join("out").join("optimizer.lr=0.01").join("seed0");
    let sweep_lock = FolderLock::acquire(&sweep_run).unwrap();
    let o = occam(&["sweep", &sweep.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&mine), "{}", stderr(&o));
    drop(sweep_lock);
    drop(seed_lock);
    drop(lock);
    let o = run_args(&tiny_run(&held, &["--steps", "2"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!held.join(LOCK_FILE).exists());
    assert_eq!(status(&held)["status"], "complete");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn resume_refuses_a_config_edited_since_the_start_naming_the_key() {
    let base = scratch("edited");
    let dir = base.join("run");
    killed_after_checkpoints(&dir, "100000");
    assert!(dir.join("checkpoint.json").is_file());
    let config = dir.join("config.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    // optimizer.lr's line (the learner has an lr too).
    let mut section = "";
    let edited: Vec<String> = original
        .lines()
        .map(|l| {
            if l.starts_with('[') {
                section = l;
            }
            if section == "[optimizer]" && l.starts_with("lr = ") {
                "lr = 0.123".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(edited.iter().any(|l| l == "lr = 0.123"), "{original}");
    std::fs::write(&config, edited.join("\n") + "\n").unwrap();
    let d = dir.display().to_string();
    let o = occam(&["run", "--resume", &d]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("config.toml") && e.contains("checkpoint.json") && e.contains("optimizer.lr"),
        "{e}"
    );
    assert!(e.contains("0.123"), "{e}");
    // Restored, the folder is resumable again (the run itself asked for
    // 100000 meta-steps, so it is not run to its end here).
    std::fs::write(&config, &original).unwrap();
    let (exp, checkpoint) = occam_experiment::run::load_resumable(&dir).unwrap();
    assert!(checkpoint.is_some());
    assert_eq!(exp.to_toml(), original);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_run_whose_plots_fail_is_incomplete_and_resume_finishes_it() {
    let base = scratch("plots");
    let dir = base.join("run");
    // A folder where function.png cannot be written (a folder of that name).
    std::fs::create_dir_all(dir.join("function.png")).unwrap();
    let args = tiny_run(&dir, &["--steps", "4", "--set", "checkpoint_every=2"]);
    let o = run_args(&args);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("function.png"), "{}", stderr(&o));
    let s = status(&dir);
    assert_eq!(s["status"], "incomplete", "{s}");
    assert!(
        s["missing"].as_str().unwrap().contains("function.png"),
        "{s}"
    );
    assert!(dir.join("checkpoint.json").is_file());
    // A rerun into the folder is refused (it holds a run) but says how to
    // continue it; --resume finishes it once the plot can be written.
    let o = run_args(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    std::fs::remove_dir(dir.join("function.png")).unwrap();
    let o = occam(&["run", "--resume", &dir.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&dir)["status"], "complete");
    assert!(dir.join("function.png").is_file());
    assert!(!dir.join("checkpoint.json").exists());
    let _ = std::fs::remove_dir_all(&base);
}

/// A tiny run of `steps` meta-steps into `dir`, checkpointing every step,
/// killed (SIGKILL) once meta-step 3 is logged: a folder to resume.
fn killed_after_checkpoints(dir: &Path, steps: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_occam"))
        .args(tiny_run(
            dir,
            &[
                "--steps",
                steps,
                "--set",
                "log_every=1",
                "--set",
                "checkpoint_every=1",
            ],
        ))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&dir.join("metrics.jsonl"), "\"meta_step\":3,", &mut child);
    let _ = child.kill();
    child.wait().unwrap();
}

/// A sweep file over the tiny quickstart, with `body` after the base keys.
fn sweep_file(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("sweep.toml");
    let text = format!(
        "experiment = {:?}\nout = {:?}\n{body}\n",
        experiment("quickstart.toml"),
        dir.join("out").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sweeps_and_seed_lists_that_would_run_a_seed_twice_or_too_many_runs_exit_2() {
    let base = scratch("sweeps");
    let big_axis = format!(
        "[{}]",
        (0..100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases: Vec<(String, &str)> = vec![
        ("[grid]\nseed = [1, 2]".into(), "grid.seed"),
        ("[set]\nseed = 4".into(), "set.seed"),
        ("[[points]]\nseed = 4".into(), "points.seed"),
        ("seeds = []".into(), "seeds"),
        ("seeds = [1, 1]".into(), "seeds"),
        (
            "[grid]\n\"optimizer.lr\" = [1, 1.0]".into(),
            "grid.optimizer.lr",
        ),
        (
            "[[points]]\n\"optimizer.lr\" = 0.5\n[[points]]\n\"optimizer.lr\" = 0.50".into(),
            "same setting",
        ),
        (
            format!(
                "[grid]\n{}",
                (0..6)
                    .map(|k| format!("\"k{k}\" = {big_axis}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            "1000000000000 runs",
        ),
        ("seeds = \"0..999999999999\"".into(), "seeds"),
    ];
    for (body, needle) in &cases {
        let path = sweep_file(&base, body);
        let started = std::time::Instant::now();
        let o = occam(&["sweep", &path.display().to_string(), "--list"]);
        assert_eq!(o.status.code(), Some(2), "{body}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{body}: {}", stderr(&o));
        assert!(started.elapsed().as_secs() < 30, "{body}: took too long");
    }
    // The same bounds on the command line.
    let q = experiment("quickstart.toml");
    let o = occam(&["run", &q, "--seeds", "0..999999999999"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--seeds"), "{}", stderr(&o));
    let o = occam(&["run", &q, "--seeds", "0..2", "--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--jobs"), "{}", stderr(&o));
    let path = sweep_file(&base, "");
    let o = occam(&["sweep", &path.display().to_string(), "--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--jobs"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&base);
}

/// A change made to a checkpoint's JSON.
type Damage = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn a_damaged_checkpoint_is_refused_naming_the_file_and_field() {
    let base = scratch("damaged");
    let dir = base.join("run");
    killed_after_checkpoints(&dir, "30");
    let path = dir.join("checkpoint.json");
    let good = std::fs::read_to_string(&path).unwrap();
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let damage: Vec<(&str, Damage)> = vec![
        (
            "theta_bits",
            Box::new(|c| c["theta_bits"][0] = serde_json::json!(0x7fc0_0000u32)),
        ),
        (
            "optimizer_v_bits",
            Box::new(|c| c["optimizer_v_bits"][1] = serde_json::json!(0x7f80_0000u32)),
        ),
        (
            "theta_bits",
            Box::new(|c| {
                c["theta_bits"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "optimizer_steps",
            Box::new(|c| {
                let s = c["optimizer_steps"].as_u64().unwrap();
                c["optimizer_steps"] = serde_json::json!(s + 7);
            }),
        ),
        (
            "metrics_bytes",
            Box::new(|c| {
                let b = c["metrics_bytes"].as_u64().unwrap();
                c["metrics_bytes"] = serde_json::json!(b - 3);
            }),
        ),
    ];
    let d = dir.display().to_string();
    for (field, damage) in &damage {
        let mut c: serde_json::Value = serde_json::from_str(&good).unwrap();
        damage(&mut c);
        std::fs::write(&path, c.to_string()).unwrap();
        let o = occam(&["run", "--resume", &d]);
        assert_eq!(o.status.code(), Some(2), "{field}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("checkpoint") && stderr(&o).contains(field),
            "{field}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("diverged"), "{}", stderr(&o));
        // Nothing in the folder changed.
        assert_eq!(
            std::fs::read_to_string(dir.join("summary.json")).unwrap(),
            summary,
            "{field}"
        );
    }
    // The undamaged checkpoint resumes the run to its end.
    std::fs::write(&path, &good).unwrap();
    let o = occam(&["run", "--resume", &d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(status(&dir)["status"], "complete");
    let _ = std::fs::remove_dir_all(&base);
}

/// Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
/// The external program runs in a group of its own, so it keeps answering:
/// Occam finishes the meta-step, checkpoints and exits 130, and the run
/// resumes to its end.
#[cfg(unix)]
#[test]
fn ctrl_c_to_the_process_group_interrupts_a_run_with_an_external_learner_cleanly() {
    use std::os::unix::process::CommandExt;
    let base = scratch("ctrl-c");
    let dir = base.join("run");
    // A learner that spends most of its time inside a request (so that the
    // signal lands there), answering zeros; Python dies of an unhandled
    // SIGINT (KeyboardInterrupt) if one reaches it.
    let slow = base.join("slow.py");
    std::fs::write(
        &slow,
        "import json, sys, time\nfor line in sys.stdin:\n    r = json.loads(line)\n    time.sleep(0.3)\n    print(json.dumps({'id': r['id'], 'predictions': [0.0] * len(r['x_test'])}), flush=True)\n",
    )
    .unwrap();
    let command = format!(
        "learner.inner.command=[\"python3\", {:?}]",
        slow.display().to_string()
    );
    let args: Vec<String> = [
        "run",
        &experiment("blackbox_external.toml"),
        "--steps",
        "400",
        "--out",
        &dir.display().to_string(),
        "--set",
        &command,
        "--set",
        "learner.population=4",
        "--set",
        "data.test=20",
        "--set",
        "data.samples=20",
        "--set",
        "analysis.heldout_tasks=2",
        "--set",
        "log_every=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_occam"))
        .args(&args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for(&dir.join("metrics.jsonl"), "\"meta_step\":0,", &mut child);
    std::thread::sleep(std::time::Duration::from_millis(150));
    let group = format!("-{}", child.id());
    let sent = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(status(&dir)["status"], "interrupted");
    assert!(dir.join("checkpoint.json").is_file());
    let _ = std::fs::remove_dir_all(&base);
}
