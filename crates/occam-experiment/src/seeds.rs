//! Several independent meta-learning runs of one
//! experiment together on one device. Each seed's run is exactly the run
//! `--seed S` would make (same numbers, bit for bit), written to its own
//! folder; up to `--jobs` of them run at once on worker threads that share
//! the device, so one run's CPU work (sampling, recording, analysis)
//! overlaps the others' GPU work.

use crate::Error;
use crate::config::Experiment;
use crate::run::{Outcome, Progress};
use occam_gpu::Gpu;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most runs one command (`--seeds`, a sweep) may start: a bound on
/// what is allocated and listed before any work, far above any real sweep.
pub const MAX_RUNS: usize = 100_000;

/// Parses `A..B` (A to B, both included) or a comma list `3,7,11`.
pub fn parse(spec: &str) -> Result<Vec<u64>, Error> {
    let bad = |why: &str| Error::input(format!("--seeds {spec:?}: {why}"));
    let too_many = |n: u128| {
        bad(&format!(
            "{n} seeds, more than the {MAX_RUNS} runs one command may start"
        ))
    };
    let num = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| bad("expected A..B (both included) or a comma list of seeds"))
    };
    let seeds: Vec<u64> = match spec.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
            if b < a {
                return Err(bad("the range is empty (B < A)"));
            }
            if b - a >= MAX_RUNS as u64 {
                return Err(too_many(u128::from(b - a) + 1));
            }
            (a..=b).collect()
        }
        None => spec.split(',').map(num).collect::<Result<_, _>>()?,
    };
    if seeds.len() > MAX_RUNS {
        return Err(too_many(seeds.len() as u128));
    }
    if repeats_a_seed(&seeds) {
        return Err(bad("a seed is repeated"));
    }
    Ok(seeds)
}

/// Whether a seed list names one seed twice.
pub(crate) fn repeats_a_seed(seeds: &[u64]) -> bool {
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// The output folder of one seed: `BASE/NAME-seedS` (BASE defaults to `runs`).
pub fn folder(base: Option<&Path>, name: &str, seed: u64) -> PathBuf {
    base.unwrap_or(Path::new("runs"))
        .join(format!("{name}-seed{seed}"))
}

/// What to do with each finished run (draw its plots, say, or nothing).
pub type AfterRun<'a> = &'a (dyn Fn(&Experiment, &Outcome) -> Result<(), Error> + Sync);

/// Runs every experiment (one per seed) into its folder, `jobs` at a time,
/// calling `after` on each finished run. Every run goes to its end; the
/// first failure (by seed order) is returned. Each run reports to its own
/// `progress("seed S")`, which is also asked whether to stop: running
/// runs then checkpoint and stop, and no further run starts.
pub fn run_all(
    gpu: &Gpu,
    runs: &[(Experiment, PathBuf)],
    jobs: usize,
    progress: &(dyn Fn(&str) -> Box<dyn Progress> + Sync),
    after: AfterRun<'_>,
) -> Result<(), Error> {
    let labelled: Vec<(String, Experiment, PathBuf)> = runs
        .iter()
        .map(|(e, p)| (format!("seed {}", e.seed), e.clone(), p.clone()))
        .collect();
    let run = |gpu: &Gpu,
               exp: &Experiment,
               out: &Path,
               p: &dyn Progress,
               outputs: crate::run::Outputs<'_>| {
        crate::run::run_with_outputs(gpu, exp, out, p, outputs).map(Some)
    };
    run_each(gpu, &labelled, jobs, progress, &run, after)
}

/// How [`run_each`] runs one experiment into its folder, writing the
/// caller's outputs before the run counts as complete: `Ok(None)` when
/// there was nothing to do (a sweep's complete run).
pub type RunOne<'a> = &'a (
        dyn Fn(
    &Gpu,
    &Experiment,
    &Path,
    &dyn Progress,
    crate::run::Outputs<'_>,
) -> Result<Option<Outcome>, Error>
            + Sync
    );

/// Runs labelled experiments into their folders with `run`, `jobs` at a time
/// on threads sharing the device, writing `after`'s outputs for each run
/// that ran before it counts as complete.
/// Every run goes to its end; the first failure (in list order) is returned,
/// named by its label. A stop asked through a run's progress stops the rest.
pub fn run_each(
    gpu: &Gpu,
    runs: &[(String, Experiment, PathBuf)],
    jobs: usize,
    progress: &(dyn Fn(&str) -> Box<dyn Progress> + Sync),
    run: RunOne<'_>,
    after: AfterRun<'_>,
) -> Result<(), Error> {
    let stopping = std::sync::atomic::AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(usize, Error)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, runs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((label, exp, out)) = runs.get(i) else {
                        break;
                    };
                    let report = progress(label);
                    let outputs = |o: &Outcome| after(exp, o);
                    let done = run(gpu, exp, out, report.as_ref(), &outputs).map(|outcome| {
                        if outcome.is_none() {
                            eprintln!("occam: {label}: complete, skipped");
                        }
                    });
                    if report.should_stop() {
                        stopping.store(true, Ordering::SeqCst);
                    }
                    if let Err(e) = done {
                        eprintln!("occam: {label}: error: {e}");
                        failures.lock().expect("no panics").push((i, e));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("no panics");
    failures.sort_by_key(|(i, _)| *i);
    // An interrupt wins over other failures: it decides the exit code.
    if let Some(pos) = failures
        .iter()
        .position(|(_, e)| matches!(e, Error::Interrupted(_)))
    {
        let (i, e) = failures.swap_remove(pos);
        return Err(e.context(&runs[i].0));
    }
    match failures.into_iter().next() {
        Some((i, e)) => Err(e.context(&runs[i].0)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn seed_ranges_and_lists_parse_and_bad_ones_are_refused() {
        assert_eq!(parse("0..3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse("5..=6").unwrap(), vec![5, 6]);
        assert_eq!(parse("7").unwrap(), vec![7]);
        assert_eq!(parse("3, 1,9").unwrap(), vec![3, 1, 9]);
        for bad in ["4..2", "a..b", "1,,2", "", "1,1", "-1..2"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message().contains("--seeds"), "{e}");
        }
    }
}
