//! `kind = "external"`: the JSON-lines protocol against small programs that
//! misbehave in each way a learner program can (each error names the program
//! and never hangs), and the shipped numpy example learner
//! (experiments/external/ridge_learner.py) run through it.

mod support;

use occam_meta::learners::Learner;
use occam_meta::learners::external::ExternalLearner;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn learner(program: Vec<String>, timeout_s: f64) -> ExternalLearner {
    ExternalLearner::new(
        program,
        std::env::temp_dir(),
        Duration::from_secs_f64(timeout_s),
    )
}

/// One fit on 4 training and 3 test points in 2 dimensions; the error, if any.
fn fit_error(l: &ExternalLearner) -> Option<String> {
    let x_tr = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8];
    let z_tr = [1.0, -1.0, 0.5, 0.25];
    let x_te = [0.0, 1.0, 1.0, 0.0, -1.0, 0.5];
    let data = l.draw(&mut rand_chacha_rng(), 4);
    match l.fit_cpu(&x_tr, &z_tr, &x_te, &data) {
        Ok(fit) => {
            assert_eq!(fit.test_predictions().len(), 3);
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

fn rand_chacha_rng() -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(3)
}

#[test]
fn misbehaving_programs_give_errors_naming_the_program_and_never_hang() {
    let dir = std::env::temp_dir().join(format!("occam-external-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let echo = "import json, sys\nfor line in sys.stdin:\n    r = json.loads(line)\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed.py",
            format!("{echo}    print('hello', flush=True)\n"),
            "malformed line",
        ),
        (
            "crash.py",
            format!("{echo}    sys.exit(3)\n"),
            "exited (exit status: 3) without answering request 0",
        ),
        (
            "hang.py",
            format!("{echo}    import time; time.sleep(60)\n"),
            "did not answer request 0 within 0.5 s and was stopped",
        ),
        (
            "count.py",
            format!(
                "{echo}    print(json.dumps({{'id': r['id'], 'predictions': [0.0]}}), flush=True)\n"
            ),
            "1 predictions for 3 test points",
        ),
        (
            "wrong_id.py",
            format!(
                "{echo}    print(json.dumps({{'id': r['id'] + 5, 'predictions': [0.0] * 3}}), flush=True)\n"
            ),
            "answered request 0 with id 5",
        ),
        (
            "nan.py",
            format!(
                "{echo}    print('{{\"id\": %d, \"predictions\": [0.0, NaN, 1.0]}}' % r['id'], flush=True)\n"
            ),
            "malformed line",
        ),
        (
            "error.py",
            format!(
                "{echo}    print(json.dumps({{'id': r['id'], 'error': 'singular system'}}), flush=True)\n"
            ),
            "reported an error on request 0: singular system",
        ),
        (
            "neither.py",
            format!("{echo}    print(json.dumps({{'id': r['id']}}), flush=True)\n"),
            "neither \"predictions\" nor \"error\"",
        ),
    ];
    for (name, body, want) in cases {
        let path = script(&dir, name, &body);
        // The hanging program meets a short timeout; the others get room to
        // start on a loaded machine (a slow start must not read as a hang).
        let timeout = if name == "hang.py" { 0.5 } else { 5.0 };
        let l = learner(vec!["python3".into(), path.clone()], timeout);
        let start = Instant::now();
        let err = fit_error(&l).unwrap_or_else(|| panic!("{name}: no error"));
        assert!(
            err.contains(&path),
            "{name}: the error should name the program: {err}"
        );
        assert!(err.contains(want), "{name}: expected {want:?} in: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name}: took {:?}",
            start.elapsed()
        );
    }
    let l = learner(vec!["/no/such/learner".into()], 1.0);
    let err = fit_error(&l).unwrap();
    assert!(
        err.contains("/no/such/learner") && err.contains("cannot start"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A program that never reads its stdin, sent a request far larger than a
/// pipe holds (so the write blocks), and one that answers with an endless
/// line: both are stopped within the timeout, or at the reply-line bound,
/// with an error naming the program — never a hang or an abort.
#[test]
fn deaf_programs_and_endless_reply_lines_are_bounded() {
    let dir = std::env::temp_dir().join(format!("occam-external-deaf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let deaf = script(&dir, "deaf.py", "import time\ntime.sleep(60)\n");
    let l = learner(vec!["python3".into(), deaf.clone()], 0.5);
    let x_tr = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8];
    let z_tr = [1.0, -1.0, 0.5, 0.25];
    // 40 000 test points: a request line of about 1.5 MB.
    let x_te: Vec<f64> = (0..80_000).map(|i| (i as f64 * 0.37).sin()).collect();
    let data = l.draw(&mut rand_chacha_rng(), 4);
    let start = Instant::now();
    let err = l
        .fit_cpu(&x_tr, &z_tr, &x_te, &data)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains(&deaf) && err.contains("did not read request 0 within 0.5 s"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );

    let endless = script(
        &dir,
        "endless.py",
        "import sys, time\nsys.stdin.readline()\nchunk = 'x' * (1 << 20)\nfor _ in range(80):\n    sys.stdout.write(chunk)\nsys.stdout.flush()\ntime.sleep(60)\n",
    );
    let l = learner(vec!["python3".into(), endless.clone()], 20.0);
    let start = Instant::now();
    let err = fit_error(&l).expect("refused");
    assert!(
        err.contains(&endless) && err.contains("longer than 67108864 bytes"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/external/ridge_learner.py")
}

#[test]
fn the_numpy_example_learner_interpolates_and_is_linear_in_its_labels() {
    let l = learner(
        vec![
            support::python_with_numpy(),
            example().display().to_string(),
            "1e-9".into(),
        ],
        30.0,
    );
    let mut rng = rand_chacha_rng();
    let data = l.draw(&mut rng, 6);
    use rand::Rng;
    let x_tr: Vec<f64> = (0..18).map(|_| rng.random_range(-1.0..1.0)).collect();
    let x_te: Vec<f64> = (0..15).map(|_| rng.random_range(-1.0..1.0)).collect();
    let z1: Vec<f64> = (0..6).map(|_| rng.random_range(-1.0..1.0)).collect();
    let z2: Vec<f64> = (0..6).map(|_| rng.random_range(-1.0..1.0)).collect();
    // Nearly no ridge: the fit passes through its training labels.
    let fit = l.fit_cpu(&x_tr, &z1, &x_te, &data).unwrap();
    let at_train = fit.train_predictions().unwrap();
    for (a, b) in at_train.iter().zip(&z1) {
        assert!((a - b).abs() < 1e-5, "not interpolating: {a} vs {b}");
    }
    // Kernel ridge is linear in the labels: f(z1 + 2 z2) = f(z1) + 2 f(z2).
    let sum: Vec<f64> = z1.iter().zip(&z2).map(|(a, b)| a + 2.0 * b).collect();
    let f = |z: &[f64]| {
        l.fit_cpu(&x_tr, z, &x_te, &data)
            .unwrap()
            .test_predictions()
            .to_vec()
    };
    let (f1, f2, fs) = (f(&z1), f(&z2), f(&sum));
    for i in 0..5 {
        let want = f1[i] + 2.0 * f2[i];
        assert!(
            (fs[i] - want).abs() < 1e-6 * (1.0 + want.abs()),
            "{i}: {} vs {want}",
            fs[i]
        );
    }
}
