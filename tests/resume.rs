//! A run stopped after any meta-step — mid-function, at a function's end, in
//! a later function of a series, with an animal's trial count — and resumed
//! from its checkpoint gives exactly the files of an uninterrupted run
//! (wall-clock times aside).

mod support;

use occam_experiment::Error;
use occam_experiment::config::Experiment;
use occam_experiment::run::{self, Progress};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Asks the run to stop once `after` meta-steps are done (counting steps
/// done before a resume).
struct StopAfter {
    after: u64,
    done: AtomicU64,
}

impl StopAfter {
    fn new(after: u64) -> StopAfter {
        StopAfter {
            after,
            done: AtomicU64::new(0),
        }
    }
}

impl Progress for StopAfter {
    fn start(&self, _total: u64) {}
    fn logged(&self, _meta_loss: f64) {}
    fn finish(&self) {}
    fn advance(&self) {
        self.done.fetch_add(1, Ordering::SeqCst);
    }
    fn resumed(&self, done: u64) {
        self.done.store(done, Ordering::SeqCst);
    }
    fn should_stop(&self) -> bool {
        self.done.load(Ordering::SeqCst) >= self.after
    }
}

fn experiment(file: &str, sets: &[&str]) -> Experiment {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(file);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Experiment::load(&path, &sets).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("occam-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file of `a` equals the one in `b`, except for wall-clock times in
/// metrics.jsonl and summary.json.
fn assert_same_files(a: &Path, b: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut other: Vec<_> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    other.sort();
    assert_eq!(names, other, "the two folders hold different files");
    let timeless = |v: &mut serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("wall_s");
            o.remove("meta_steps_per_s");
        }
    };
    for name in &names {
        let (x, y) = (a.join(name), b.join(name));
        if name == "metrics.jsonl" {
            let lines = |p: &Path| -> Vec<serde_json::Value> {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(|l| {
                        let mut v = serde_json::from_str(l).unwrap();
                        timeless(&mut v);
                        v
                    })
                    .collect()
            };
            assert_eq!(lines(&x), lines(&y), "{name}");
        } else if name == "summary.json" {
            let read = |p: &Path| {
                let mut v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                timeless(&mut v);
                v
            };
            assert_eq!(read(&x), read(&y), "{name}");
        } else {
            assert!(
                std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(),
                "{name} differs between {} and {}",
                a.display(),
                b.display()
            );
        }
    }
}

/// Runs `exp` whole, then stopped after each of `stops` meta-steps in turn
/// (resuming each time), and compares the two folders.
fn check_resume(label: &str, exp: &Experiment, stops: &[u64]) {
    let Some(gpu) = support::gpus().first() else {
        return;
    };
    let whole = scratch(&format!("{label}-whole"));
    run::run(gpu, exp, &whole, &run::Quiet).unwrap();
    assert_eq!(
        occam_experiment::output::status(&whole).as_deref(),
        Some("complete")
    );
    assert!(!whole.join("checkpoint.json").exists());

    let parts = scratch(&format!("{label}-parts"));
    let mut result = run::run(gpu, exp, &parts, &StopAfter::new(stops[0])).map(|_| ());
    for (i, &stop) in stops.iter().enumerate() {
        let e = result.expect_err("the run should have stopped");
        assert!(matches!(e, Error::Interrupted(_)), "{e}");
        assert_eq!(e.exit_code(), 130);
        assert_eq!(
            occam_experiment::output::status(&parts).as_deref(),
            Some("interrupted")
        );
        let (loaded, checkpoint) = run::load_resumable(&parts).unwrap();
        let checkpoint = checkpoint.expect("a checkpoint");
        assert_eq!(
            (checkpoint.function * exp.meta_steps + checkpoint.next_step) as u64,
            stop,
            "{label}: the checkpoint's position"
        );
        let next = stops.get(i + 1).copied().unwrap_or(u64::MAX);
        result = run::resume(
            gpu,
            &loaded,
            &parts,
            Some(checkpoint),
            &StopAfter::new(next),
        )
        .map(|_| ());
    }
    result.unwrap();
    assert_same_files(&whole, &parts);
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&parts);
}

const TINY: [&str; 5] = [
    "meta_learner.hidden=[16]",
    "learner.steps=5",
    "data.test=20",
    "data.samples=20",
    "analysis.heldout_tasks=2",
];

#[test]
fn a_stopped_gradient_descent_run_resumes_to_the_same_files() {
    let mut sets = TINY.to_vec();
    sets.extend(["meta_steps=23", "log_every=4", "checkpoint_every=0"]);
    // Stops between logged steps, on a logged step, and after the last step.
    check_resume("gd", &experiment("quickstart.toml", &sets), &[3, 9, 17, 23]);
}

#[test]
fn a_stopped_series_resumes_to_the_same_files_in_any_function() {
    let exp = experiment(
        "ridge_series.toml",
        &[
            "meta_steps=12",
            "log_every=5",
            "series.points=40",
            "analysis.eval_points=300",
            "analysis.heldout_tasks=4",
        ],
    );
    // In function 0, at its end, in function 1 and in function 2.
    check_resume("series", &exp, &[5, 12, 19, 30]);
}

#[test]
fn a_stopped_animal_run_resumes_with_its_trial_count() {
    let exp = experiment(
        "animal_kernel.toml",
        &[
            "meta_steps=10",
            "log_every=3",
            "learner.population=4",
            "analysis.heldout_tasks=2",
            "analysis.eval_points=200",
        ],
    );
    check_resume("animal", &exp, &[4]);
}

#[test]
fn a_stopped_regression_run_resumes_with_its_sessions_on_record() {
    // The sessions the least-squares Jacobian is fitted on are in the
    // checkpoint: a resumed run fits the same models (window 6 < 10 steps,
    // refresh 2, so that both the window and the schedule carry over).
    let exp = experiment(
        "animal_budget.toml",
        &[
            "meta_steps=10",
            "log_every=3",
            "learner.window=6",
            "learner.refresh=2",
            "analysis.heldout_tasks=2",
            "analysis.eval_points=200",
        ],
    );
    check_resume("regression", &exp, &[3, 7]);
}
