//! A whole meta-learning run — one function, or an orthogonal series of
//! them — and its output folder.

use crate::Error;
use crate::checkpoint::{self, Checkpoint, DoneFunction, SavedCurves, UsageByPurpose};
use crate::config::{Experiment, Resolved};
use crate::output::status;
use crate::output::{FolderLock, Output};
use crate::summary::Learned;
use crate::summary::{
    centred, function_summary, inner_products, kernel_analysis, kernel_overlap, kernel_shares,
};
use occam_gpu::Gpu;
use occam_meta::analysis::harmonic_degree_fractions;
use occam_meta::engine::GpuMetaEngine;
use occam_meta::loss::TermValues;
use occam_meta::problem::{Orthogonality, TaskData};
use occam_meta::sampling::{InputDomain, Purpose, stream};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Where a run stopped producing finite numbers.
pub struct Divergence {
    function: usize,
    step: usize,
    what: String,
}

impl Divergence {
    /// The message a diverged run stops with.
    pub fn message(&self) -> String {
        format!(
            "the run diverged: function {}, meta-step {}: {} (lower the learning rates or the loss weights)",
            self.function, self.step, self.what
        )
    }
}

/// The first non-finite quantity after meta-step `step`, in the order they
/// are computed: the loss terms of the step, then θ after the update, then
/// the labels f_θ(x) that θ gives.
fn diagnose(
    gpu: &Gpu,
    engine: &GpuMetaEngine,
    terms: &TermValues,
    function: usize,
    step: usize,
) -> Result<Option<Divergence>, Error> {
    occam_gpu::block_on(diagnose_async(gpu, engine, terms, function, step))
}

/// The same, as a future (a web page awaits it).
pub async fn diagnose_async(
    gpu: &Gpu,
    engine: &GpuMetaEngine,
    terms: &TermValues,
    function: usize,
    step: usize,
) -> Result<Option<Divergence>, Error> {
    let found = |what: String| {
        Ok(Some(Divergence {
            function,
            step,
            what,
        }))
    };
    if let Some(t) = terms.first_non_finite() {
        return found(format!("the {} term is {}", t.name, t.value));
    }
    let theta = engine.read_theta_async(gpu).await?;
    if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
        return found(format!(
            "θ is not finite after the update (θ[{i}] = {})",
            theta[i]
        ));
    }
    let labels = engine.read_labels_async(gpu).await?;
    if let Some(i) = labels.iter().position(|v| !v.is_finite()) {
        return found(format!(
            "the meta-learner's labels f_θ(x) are not finite after the update (label {i} = {})",
            labels[i]
        ));
    }
    Ok(None)
}

/// The run's held-out tasks (fresh learner inits and datasets).
pub fn heldout_tasks(exp: &Experiment, r: &Resolved) -> Vec<TaskData> {
    let mut rng = stream(exp.seed, Purpose::Heldout, 0);
    (0..exp.analysis.heldout_tasks)
        .map(|_| r.sampler.draw(&mut rng))
        .collect()
}

/// The meta-loss on the held-out tasks at θ.
fn heldout(
    gpu: &Gpu,
    r: &Resolved,
    data: &[TaskData],
    theta: &[f64],
    orth: &Orthogonality,
) -> Result<TermValues, Error> {
    occam_gpu::block_on(heldout_async(gpu, r, data, theta, orth))
}

/// The same, as a future (a web page awaits it): the meta-loss on the
/// held-out tasks `data` at θ, as `summary.json`'s `analysis.heldout` reports it.
pub async fn heldout_async(
    gpu: &Gpu,
    r: &Resolved,
    data: &[TaskData],
    theta: &[f64],
    orth: &Orthogonality,
) -> Result<TermValues, Error> {
    // Image tasks one at a time (thousands of images per task); others side by side.
    let per_engine = if r.image_labels.is_some() {
        1
    } else {
        data.len()
    };
    let mut sum = TermValues::zeros(&r.problem.terms);
    for chunk in data.chunks(per_engine) {
        let mut engine = GpuMetaEngine::new(
            gpu,
            &r.problem,
            r.step_sizes(chunk.len()),
            theta,
            r.optimizer,
            orth,
        )?;
        engine.load(gpu, chunk)?;
        engine.step_loss(gpu)?;
        let share = chunk.len() as f64 / data.len() as f64;
        sum.add_scaled(&engine.read_terms_async(gpu).await?, share);
    }
    Ok(sum)
}

/// The most learner parameters (all held-out tasks together) kept in
/// `learner_weights.npy`.
const LEARNER_WEIGHTS_KEPT: usize = 1 << 22;

/// A finished run: what its plots and report need.
pub struct Outcome {
    /// The output folder.
    pub dir: std::path::PathBuf,
    /// The resolved experiment.
    pub resolved: Resolved,
    /// The evaluation points (or the images of an image set), row-major.
    pub eval_points: Vec<f64>,
    /// Each learned function, in order.
    pub functions: Vec<Learned>,
    /// The engine of each function (its θ, for evaluating the function anywhere).
    pub engines: Vec<GpuMetaEngine>,
    /// Seconds spent meta-learning, all functions together.
    pub wall_s: f64,
    /// The output folder's lock, held until the outcome is dropped (after
    /// the caller's plots).
    _lock: FolderLock,
}

/// Where a run reports its progress (a progress bar, a log, nothing) and
/// asks whether to stop.
pub trait Progress: Sync {
    /// The run has `total` meta-steps in all.
    fn start(&self, total: u64);
    /// One meta-step is done.
    fn advance(&self);
    /// The meta-loss was read back at a logged meta-step.
    fn logged(&self, meta_loss: f64);
    /// The run is done.
    fn finish(&self);
    /// A resumed run starts with `done` meta-steps already done.
    fn resumed(&self, done: u64);
    /// Whether the run should stop after the current meta-step (a signal
    /// came); it then writes a checkpoint and returns [`Error::Interrupted`].
    fn should_stop(&self) -> bool;
}

/// Reports nothing and never asks to stop.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _total: u64) {}
    fn advance(&self) {}
    fn logged(&self, _meta_loss: f64) {}
    fn finish(&self) {}
    fn resumed(&self, _done: u64) {}
    fn should_stop(&self) -> bool {
        false
    }
}

/// What every function of a run shares.
struct RunContext<'a> {
    gpu: &'a Gpu,
    exp: &'a Experiment,
    r: &'a Resolved,
    out: &'a Output,
    eval_points: &'a [f64],
    progress: &'a dyn Progress,
    /// The checkpoint written as the run goes (the functions done so far).
    checkpoint: Checkpoint,
    /// Each counting learner's count (an animal's trials) by purpose.
    usage: std::cell::RefCell<Vec<Option<UsageByPurpose>>>,
}

/// What a phase of a run spent a learner's count on.
#[derive(Clone, Copy)]
enum Spent {
    MetaLearning,
    Heldout,
    Analysis,
}

/// Each learner's count now (`None` for a learner that counts nothing).
fn counts(r: &Resolved) -> Vec<Option<u64>> {
    r.problem
        .learners
        .iter()
        .map(|l| l.counter().map(|c| c.used()))
        .collect()
}

impl RunContext<'_> {
    /// Runs `work` and charges what the learners counted meanwhile to
    /// `purpose`.
    fn charged<T>(
        &self,
        purpose: Spent,
        work: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let before = counts(self.r);
        let value = work()?;
        self.charge(purpose, &before);
        Ok(value)
    }

    fn charge(&self, purpose: Spent, before: &[Option<u64>]) {
        let now = counts(self.r);
        let mut usage = self.usage.borrow_mut();
        usage.resize(now.len(), None);
        for ((u, b), n) in usage.iter_mut().zip(before).zip(&now) {
            if let (Some(b), Some(n)) = (b, n) {
                let u = u.get_or_insert_with(UsageByPurpose::default);
                let spent = n.saturating_sub(*b);
                match purpose {
                    Spent::MetaLearning => u.meta_learning += spent,
                    Spent::Heldout => u.heldout += spent,
                    Spent::Analysis => u.analysis += spent,
                }
            }
        }
    }

    /// The summary of a run that stopped before its end.
    fn stopped_summary(&self, status: &str, function: usize, steps: usize) -> Value {
        let info = self.gpu.adapter();
        json!({
            "experiment": self.exp.name,
            "seed": self.exp.seed,
            "status": status,
            "adapter": { "name": info.name, "backend": info.backend.to_string(), "device_type": info.device_type },
            "meta_steps": self.exp.meta_steps,
            "completed": { "function": function, "meta_steps": steps },
        })
    }

    /// Writes a checkpoint after `next_step` meta-steps of function `j`.
    fn save(
        &mut self,
        engine: &GpuMetaEngine,
        j: usize,
        next_step: usize,
        current: SavedCurves,
        metrics: &crate::output::Lines,
    ) -> Result<(), Error> {
        let c = &mut self.checkpoint;
        c.function = j;
        c.next_step = next_step;
        c.metrics_bytes = metrics.bytes();
        c.usage = counts(self.r);
        c.usage_by_purpose = self.usage.borrow().clone();
        c.memory = (self.r.problem.learners.iter())
            .map(|l| l.memory().map(|m| m.save()))
            .collect();
        c.set_state(&engine.save_state(self.gpu)?);
        c.current = current;
        c.write(self.out.dir())
    }

    /// Stops the run as diverged: its summary says where, and the error too.
    fn diverged(&self, d: Divergence) -> Error {
        let message = d.message();
        let mut summary = self.stopped_summary("diverged", d.function, d.step);
        summary["diverged"] = json!({ "function": d.function, "meta_step": d.step, "what": d.what, "message": message });
        match self.out.json("summary.json", &summary) {
            Ok(()) => Error::internal(message),
            Err(e) => Error::internal(format!("{message}; and then: {e}")),
        }
    }
}

/// A function's curves in a checkpoint.
fn saved_curves(
    initial: &TermValues,
    curves: &[(f64, TermValues)],
    last: &TermValues,
    wall_s: f64,
) -> SavedCurves {
    SavedCurves {
        initial_heldout: checkpoint::values(initial),
        curves: curves
            .iter()
            .map(|(s, t)| (*s, checkpoint::values(t)))
            .collect(),
        last: checkpoint::values(last),
        wall_s,
    }
}

/// Curves back from a checkpoint.
type Curves = (TermValues, Vec<(f64, TermValues)>, TermValues);

fn restored_curves(r: &Resolved, saved: &SavedCurves) -> Result<Curves, Error> {
    let terms = &r.problem.terms;
    Ok((
        checkpoint::term_values(terms, &saved.initial_heldout)?,
        saved
            .curves
            .iter()
            .map(|(s, v)| Ok((*s, checkpoint::term_values(terms, v)?)))
            .collect::<Result<_, Error>>()?,
        checkpoint::term_values(terms, &saved.last)?,
    ))
}

/// What a function's learning leaves once θ is trained: its values, its
/// held-out meta-loss and the learner's own fits (all determined by θ).
#[allow(clippy::too_many_arguments)]
fn finish_function(
    cx: &RunContext<'_>,
    r: &Resolved,
    engine: &GpuMetaEngine,
    orth: &Orthogonality,
    heldout_data: &[TaskData],
    initial_heldout: TermValues,
    curves: Vec<(f64, TermValues)>,
    last: TermValues,
    wall: f64,
) -> Result<Learned, Error> {
    let gpu = cx.gpu;
    let theta = engine.read_theta(gpu)?;
    let final_heldout = cx.charged(Spent::Heldout, || {
        heldout(gpu, r, heldout_data, &theta, orth)
    })?;
    let learner_fits = cx.charged(Spent::Analysis, || {
        Ok(occam_meta::reference::learner_fits(
            &r.problem,
            &theta,
            heldout_data,
            0,
        )?)
    })?;
    let values = engine.evaluate(gpu, cx.eval_points)?;
    let on_orth_points = engine.evaluate(gpu, &orth.x)?;
    // Fitted with the learners' draws of the first held-out task (their
    // random features, where they have some).
    let eval_fits = match heldout_data.first() {
        Some(task) => r
            .problem
            .learners
            .iter()
            .zip(&task.learners)
            .map(|(l, data)| {
                occam_meta::reference::fit_in_place(l.as_ref(), cx.eval_points, &values, data)
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(Learned {
        theta,
        values,
        on_orth_points,
        curves,
        last,
        initial_heldout,
        final_heldout,
        learner_fits,
        eval_fits,
        wall,
    })
}

/// Rebuilds a function of a series that a checkpoint holds as done.
fn restore_function(
    cx: &RunContext<'_>,
    j: usize,
    done: &DoneFunction,
    orth: &Orthogonality,
) -> Result<(Learned, GpuMetaEngine), Error> {
    let (gpu, exp) = (cx.gpu, cx.exp);
    let rj = cx.r.for_function(j);
    let r: &Resolved = &rj;
    let engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        r.step_sizes(exp.tasks),
        &done.theta,
        r.optimizer,
        orth,
    )?;
    let (initial, curves, last) = restored_curves(r, &done.curves)?;
    let heldout_data = heldout_tasks(exp, r);
    let f = finish_function(
        cx,
        r,
        &engine,
        orth,
        &heldout_data,
        initial,
        curves,
        last,
        done.curves.wall_s,
    )?;
    Ok((f, engine))
}

/// Meta-learns function `j` of the run (the only one, or the j-th of a
/// series), from its start or from the run's checkpoint `from`.
fn learn_function(
    cx: &mut RunContext<'_>,
    j: usize,
    orth: &Orthogonality,
    metrics: &mut crate::output::Lines,
    from: Option<&Checkpoint>,
) -> Result<(Learned, GpuMetaEngine), Error> {
    let (gpu, exp) = (cx.gpu, cx.exp);
    // A series may weight each function's distribution term on its own.
    let rj = cx.r.for_function(j);
    let r: &Resolved = &rj;
    let theta0 = r.initial_theta(exp.seed, j);
    let heldout_data = heldout_tasks(exp, r);
    let mut engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        r.step_sizes(exp.tasks),
        &theta0,
        r.optimizer,
        orth,
    )?;
    let (initial_heldout, mut curves, mut last, first, wall0) = match from {
        Some(c) => {
            engine.restore_state(gpu, &c.state())?;
            // Counts such as an animal's trials carry on from the checkpoint.
            for (l, used) in r.problem.learners.iter().zip(&c.usage) {
                if let Some(u) = used
                    && let Some(c) = l.counter()
                {
                    c.restore(*u);
                }
            }
            *cx.usage.borrow_mut() = c.usage_by_purpose.clone();
            for (l, saved) in r.problem.learners.iter().zip(&c.memory) {
                if let (Some(m), Some(saved)) = (l.memory(), saved) {
                    m.restore(saved)?;
                }
            }
            let (initial, curves, last) = restored_curves(r, &c.current)?;
            (initial, curves, last, c.next_step, c.current.wall_s)
        }
        None => (
            cx.charged(Spent::Heldout, || {
                heldout(gpu, r, &heldout_data, &theta0, orth)
            })?,
            Vec::new(),
            TermValues::zeros(&r.problem.terms),
            0,
            0.0,
        ),
    };
    let start = Instant::now();
    let wall = |start: &Instant| wall0 + start.elapsed().as_secs_f64();
    for step in first..exp.meta_steps {
        // Each function of a series sees its own stream of tasks.
        let global = (j * exp.meta_steps + step) as u64;
        engine.load(gpu, &r.sampler.meta_step(exp.seed, global, exp.tasks))?;
        cx.charged(Spent::MetaLearning, || Ok(engine.step(gpu, true)?))?;
        let final_step = step + 1 == exp.meta_steps;
        if step % exp.log_every == 0 || final_step {
            let terms = engine.read_terms(gpu)?;
            if let Some(d) = diagnose(gpu, &engine, &terms, j, step)? {
                return Err(cx.diverged(d));
            }
            let mut line = json!({
                "function": j,
                "meta_step": step,
                "meta_loss": terms.total(),
            });
            for t in &terms.terms {
                line[t.name] = json!(t.value);
                line[t.raw_key] = json!(t.raw());
            }
            line["wall_s"] = json!(wall(&start));
            metrics.write(&line)?;
            cx.progress.logged(terms.total());
            curves.push((step as f64, terms.clone()));
            last = terms;
        }
        cx.progress.advance();
        let stop = cx.progress.should_stop();
        let every = exp.checkpoint_every;
        if stop || (every > 0 && (step + 1) % every == 0 && !final_step) {
            let saved = saved_curves(&initial_heldout, &curves, &last, wall(&start));
            cx.save(&engine, j, step + 1, saved, metrics)?;
        }
        if stop {
            let mut summary = cx.stopped_summary("interrupted", j, step + 1);
            summary["resume"] = json!(format!("occam run --resume {}", cx.out.dir().display()));
            cx.out.json("summary.json", &summary)?;
            return Err(Error::Interrupted(format!(
                "interrupted after meta-step {step} of function {j}; a checkpoint is in {}; continue with `occam run --resume {}`",
                cx.out.dir().display(),
                cx.out.dir().display()
            )));
        }
    }
    gpu.wait("finishing a function")?;
    let wall = wall(&start);
    let f = finish_function(
        cx,
        r,
        &engine,
        orth,
        &heldout_data,
        initial_heldout,
        curves,
        last,
        wall,
    )?;
    cx.checkpoint.done.push(DoneFunction {
        theta: f.theta.clone(),
        curves: saved_curves(&f.initial_heldout, &f.curves, &f.last, f.wall),
    });
    Ok((f, engine))
}

/// Outputs a caller writes into the run folder from the finished run (the
/// CLI's plots), before its summary says `complete`.
pub type Outputs<'a> = &'a (dyn Fn(&Outcome) -> Result<(), Error> + Sync);

/// Runs `exp` and writes its results into `out` (`config.toml`,
/// `metrics.jsonl`, `summary.json`, `function.npy` with its inputs,
/// `theta.npy` with `meta_learner.json`); reports progress to `progress`.
/// Plots are the caller's: the [`Outcome`] has what they need, and
/// [`run_with_outputs`] writes them before the run is called complete.
pub fn run(
    gpu: &Gpu,
    exp: &Experiment,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    run_from(gpu, exp, out, progress, None, &|_| Ok(()))
}

/// [`run`], then `outputs` (e.g. plots) from the finished run; summary.json
/// says `complete` only once they are written too. When they fail, it says
/// `incomplete`, names what is missing and keeps the checkpoint, so that
/// `--resume` or a sweep's rerun finishes the run.
pub fn run_with_outputs(
    gpu: &Gpu,
    exp: &Experiment,
    out: &Path,
    progress: &dyn Progress,
    outputs: Outputs<'_>,
) -> Result<Outcome, Error> {
    run_from(gpu, exp, out, progress, None, outputs)
}

/// Reads a run folder's configuration and checkpoint for `--resume`
/// (before any GPU work; errors name the file). The checkpoint is `None`
/// when the run was killed before its first one: it then starts over.
pub fn load_resumable(dir: &Path) -> Result<(Experiment, Option<Checkpoint>), Error> {
    let config = dir.join("config.toml");
    if !config.is_file() {
        return Err(Error::input(format!(
            "--resume {}: no run there (no config.toml)",
            dir.display()
        )));
    }
    let mut exp = Experiment::load(&config, &[])?;
    let checkpoint = Checkpoint::read(dir)?;
    if let Some(c) = &checkpoint {
        if c.experiment != exp.name || c.seed != exp.seed {
            return Err(Error::input(format!(
                "{}: belongs to {} seed {}, not to the config.toml beside it ({} seed {})",
                dir.join(checkpoint::FILE).display(),
                c.experiment,
                c.seed,
                exp.name,
                exp.seed
            )));
        }
        if let Some(started) = &c.config {
            let now = exp.to_toml();
            if *started != now {
                let changed = checkpoint::changed_keys(started, &now)
                    .filter(|c| !c.is_empty())
                    .map_or_else(|| "its text".to_string(), |c| c.join("; "));
                return Err(Error::input(format!(
                    "{}: differs from the configuration the run started with ({}): {changed}. A resumed run continues the configuration it started with: restore config.toml, or start a new run with the new configuration",
                    config.display(),
                    dir.join(checkpoint::FILE).display(),
                )));
            }
        }
        exp.base_dir = c.base_dir.clone();
    }
    Ok((exp, checkpoint))
}

/// Continues the run in `dir` from its checkpoint (see [`load_resumable`])
/// to the numbers an uninterrupted run gives.
pub fn resume(
    gpu: &Gpu,
    exp: &Experiment,
    dir: &Path,
    checkpoint: Option<Checkpoint>,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    run_from(gpu, exp, dir, progress, Some(checkpoint), &|_| Ok(()))
}

/// [`resume`] with the caller's `outputs`, as [`run_with_outputs`].
pub fn resume_with_outputs(
    gpu: &Gpu,
    exp: &Experiment,
    dir: &Path,
    checkpoint: Option<Checkpoint>,
    progress: &dyn Progress,
    outputs: Outputs<'_>,
) -> Result<Outcome, Error> {
    run_from(gpu, exp, dir, progress, Some(checkpoint), outputs)
}

/// Runs `exp` into `dir` unless it is already complete there (then `None`):
/// a folder holding an unfinished run of the same configuration is resumed
/// from its checkpoint (or started over without one), an empty one starts.
/// A folder holding another configuration is refused. For sweeps, whose
/// shards are run again after a failure or a time limit.
pub fn run_or_resume(
    gpu: &Gpu,
    exp: &Experiment,
    dir: &Path,
    progress: &dyn Progress,
    outputs: Outputs<'_>,
) -> Result<Option<Outcome>, Error> {
    let _lock = FolderLock::acquire(dir)?;
    let config = dir.join("config.toml");
    if !config.is_file() {
        return run_with_outputs(gpu, exp, dir, progress, outputs).map(Some);
    }
    let stored = std::fs::read_to_string(&config)
        .map_err(|e| Error::input(format!("{}: {e}", config.display())))?;
    if stored != exp.to_toml() {
        return Err(Error::input(format!(
            "{}: holds a run of another configuration; remove the folder to run this one there",
            dir.display()
        )));
    }
    if status(dir).as_deref() == Some("complete") {
        return Ok(None);
    }
    let (_, checkpoint) = load_resumable(dir)?;
    resume_with_outputs(gpu, exp, dir, checkpoint, progress, outputs).map(Some)
}

/// A run from its start (`from` None), or resumed (`Some(checkpoint)`).
fn run_from(
    gpu: &Gpu,
    exp: &Experiment,
    out: &Path,
    progress: &dyn Progress,
    from: Option<Option<Checkpoint>>,
    outputs: Outputs<'_>,
) -> Result<Outcome, Error> {
    let r = exp.resolve()?;
    crate::footprint::check(exp, &r, gpu.limits())?;
    let lock = FolderLock::acquire(out)?;
    let out = Output::create(out)?;
    let from = from.flatten();
    if let Some(c) = &from {
        c.validate(out.dir(), r.problem.meta.n_params())?;
    }
    let config = exp.to_toml();
    if from.is_none() {
        out.text("config.toml", &config)?;
    }
    let domain = r.sampler.domain;
    let d = domain.dim();
    // Images: the learned function on every image of the set (digits.npy
    // gives their classes); other domains: on fresh evaluation points.
    let eval_points = match (&r.sampler.pool, &r.image_labels) {
        (Some(pool), Some(classes)) => {
            let digits: Vec<f64> = classes.iter().map(|&c| f64::from(c)).collect();
            out.npy("digits.npy", &[digits.len() as u64], &digits)?;
            pool.to_vec()
        }
        _ => {
            let x = domain.sample(
                &mut stream(exp.seed, Purpose::Evaluation, 0),
                exp.analysis.eval_points,
            );
            out.npy(
                "eval_inputs.npy",
                &[exp.analysis.eval_points as u64, d as u64],
                &x,
            )?;
            x
        }
    };
    let (count, orth_x) = match &exp.series {
        Some(s) => {
            let x = domain.sample(&mut stream(exp.seed, Purpose::Orthogonality, 0), s.points);
            out.npy("orthogonality_points.npy", &[s.points as u64, d as u64], &x)?;
            (s.functions, x)
        }
        None => (1, Vec::new()),
    };

    let mut cx = RunContext {
        gpu,
        exp,
        r: &r,
        out: &out,
        eval_points: &eval_points,
        progress,
        checkpoint: Checkpoint::new(&exp.name, exp.seed, &exp.base_dir, &config),
        usage: std::cell::RefCell::new(Vec::new()),
    };
    // metrics.jsonl is checked against the checkpoint before anything in
    // the folder changes.
    let mut metrics = match &from {
        Some(c) => out.lines_from("metrics.jsonl", c.metrics_bytes)?,
        None => out.lines("metrics.jsonl")?,
    };
    // Until it ends, the folder says the run is under way (or was killed).
    out.json("summary.json", &cx.stopped_summary("running", 0, 0))?;
    progress.start((count * exp.meta_steps) as u64);
    let mut learned: Vec<Learned> = Vec::new();
    let mut engines = Vec::new();
    let orth_for = |learned: &[Learned]| Orthogonality {
        x: orth_x.clone(),
        earlier: learned.iter().map(|f| f.on_orth_points.clone()).collect(),
    };
    if let Some(c) = &from {
        if c.function >= count || c.done.len() != c.function || c.next_step > exp.meta_steps {
            return Err(Error::input(format!(
                "{}: does not fit the experiment (function {}, meta-step {} of {} × {})",
                out.path(checkpoint::FILE).display(),
                c.function,
                c.next_step,
                count,
                exp.meta_steps
            )));
        }
        for (j, done) in c.done.iter().enumerate() {
            let (f, engine) = restore_function(&cx, j, done, &orth_for(&learned))?;
            cx.checkpoint.done.push(done.clone());
            learned.push(f);
            engines.push(engine);
        }
        progress.resumed((c.function * exp.meta_steps + c.next_step) as u64);
    }
    for j in learned.len()..count {
        let orth = orth_for(&learned);
        let resume_here = from.as_ref().filter(|c| c.function == j);
        let (f, engine) = learn_function(&mut cx, j, &orth, &mut metrics, resume_here)?;
        learned.push(f);
        engines.push(engine);
    }
    progress.finish();
    let wall: f64 = learned.iter().map(|f| f.wall).sum();

    let n = eval_points.len() / d;
    let values: Vec<f64> = learned
        .iter()
        .flat_map(|f| f.values.iter().copied())
        .collect();
    let p = r.problem.meta.n_params() as u64;
    let thetas: Vec<f64> = learned
        .iter()
        .flat_map(|f| f.theta.iter().copied())
        .collect();
    if exp.series.is_some() {
        out.npy("function.npy", &[count as u64, n as u64], &values)?;
        out.npy("theta.npy", &[count as u64, p], &thetas)?;
    } else {
        out.npy("function.npy", &[n as u64], &values)?;
        out.npy("theta.npy", &[p], &thetas)?;
    }
    // The learner's own parameters after training on the final labels of
    // each held-out task, when they are small enough to keep.
    let weights: Vec<&Vec<f64>> = learned
        .iter()
        .flat_map(|f| &f.learner_fits.weights)
        .collect();
    let per_task = weights.first().map_or(0, |w| w.len());
    let kept = per_task > 0
        && weights.iter().all(|w| w.len() == per_task)
        && weights.len() * per_task <= LEARNER_WEIGHTS_KEPT;
    if kept {
        let tasks = (weights.len() / count) as u64;
        let flat: Vec<f64> = weights.iter().flat_map(|w| w.iter().copied()).collect();
        let mut shape = vec![tasks, per_task as u64];
        if exp.series.is_some() {
            shape.insert(0, count as u64);
        }
        out.npy("learner_weights.npy", &shape, &flat)?;
    }
    out.json(
        "meta_learner.json",
        &json!({
            "theta": "theta.npy: the trained meta-learner's parameters (one row per function of a series), f32 values as f64",
            "input_shape": r.problem.meta.input,
            "parameter_layout": crate::layout::PARAMETER_LAYOUT,
            "layers": crate::layout::layers(&r.problem.meta),
            "learner_weights": if kept {
                json!({
                    "file": "learner_weights.npy",
                    "what": "the learner's parameters after training (in f64 on the CPU) on the final labels of each held-out task (drawn from the run's seed; one block per function of a series); for a gradient-descent learner w_T in the parameter layout above, for ridge the weights on its features",
                    "learner": r.problem.learners[0].kind(),
                })
            } else {
                json!(null)
            },
        }),
    )?;
    let kernel = kernel_analysis(exp.seed, &r, &eval_points);
    let per_function: Vec<(Value, Value)> = learned
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let (fin, mut an) =
                function_summary(&r, f, domain, &eval_points, exp.analysis.groups.as_ref());
            let sphere = domain == (InputDomain::Sphere { dim: 3 });
            // The untrained meta-learner's function too: the measures'
            // values before a single meta-step (and a single trial).
            let initial = (kernel.is_some() || sphere).then(|| {
                let theta0 = r.initial_theta(exp.seed, j);
                r.problem.meta.forward(&theta0, &eval_points).into_output()
            });
            if let (true, Some(initial)) = (sphere, &initial)
                && let Some(fr) = harmonic_degree_fractions(&eval_points, initial, 4)
            {
                an["harmonic_degree_fractions_initial"] = json!(fr);
            }
            if let (Some((_, basis)), Some(initial)) = (&kernel, &initial) {
                for (key, values) in [("", &f.values), ("_initial", initial)] {
                    let c = centred(values);
                    an[format!("kernel_eigen_overlap{key}")] = kernel_overlap(values, basis);
                    an[format!("kernel_eigen_overlap_centred{key}")] = kernel_overlap(&c, basis);
                    an[format!("kernel_eigen_shares{key}")] = kernel_shares(&c, basis);
                }
            }
            (fin, an)
        })
        .collect();
    let info = gpu.adapter();
    let mut summary = json!({
        "experiment": exp.name,
        "seed": exp.seed,
        "adapter": { "name": info.name, "backend": info.backend.to_string(), "device_type": info.device_type },
        "status": "complete",
        "meta_steps": exp.meta_steps,
        "tasks": exp.tasks,
        "unroll": engines[0].unroll_execution().to_string(),
        "wall_s": wall,
        "meta_steps_per_s": (count * exp.meta_steps) as f64 / wall,
        "final": per_function.last().expect("at least one function").0.clone(),
        "analysis": per_function.last().expect("at least one function").1.clone(),
    });
    if exp.series.is_some() {
        let funcs: Vec<Vec<f64>> = learned.iter().map(|f| f.values.clone()).collect();
        summary["analysis"] = json!({
            "functions": per_function.iter().enumerate().map(|(j, (fin, an))| json!({ "function": j, "final": fin, "analysis": an })).collect::<Vec<_>>(),
            "normalised_inner_products": inner_products(&funcs),
            "heldout_generalisation_mse": learned.iter().map(|f| f.final_heldout.term("generalisation").and_then(|t| t.raw())).collect::<Vec<_>>(),
            "in_sample_mse": learned.iter().map(|f| f.learner_fits.in_sample_mse).collect::<Vec<_>>(),
            "eval_fit_notebook_mse": learned.iter().map(|f| f.notebook_mse(0)).collect::<Vec<_>>(),
            "held_out_mse": learned.iter().map(|f| f.learner_fits.held_out_mse).collect::<Vec<_>>(),
        });
    }
    if let Some((k, _)) = kernel {
        summary["analysis"]["kernel"] = k;
    }
    // E.g. an animal's trials, counted over every fit of the run (training,
    // held-out evaluation and analysis).
    let reports: Vec<String> = r
        .problem
        .learners
        .iter()
        .filter_map(|l| l.counter().map(|c| c.report()))
        .collect();
    if !reports.is_empty() {
        summary["learner_report"] = json!(reports);
    }
    // The counts by what they were spent on (they add up to each total).
    let usage: Vec<Value> = r
        .problem
        .learners
        .iter()
        .zip(cx.usage.borrow().iter().chain(std::iter::repeat(&None)))
        .filter_map(|(l, u)| {
            let c = l.counter()?;
            let u = u.unwrap_or_default();
            Some(json!({
                "learner": l.kind(),
                "total": c.used(),
                "meta_learning": u.meta_learning,
                "heldout": u.heldout,
                "analysis": u.analysis,
            }))
        })
        .collect();
    if !usage.is_empty() {
        summary["learner_usage"] = json!(usage);
    }
    let outcome = Outcome {
        dir: out.dir().to_path_buf(),
        resolved: r,
        eval_points,
        functions: learned,
        engines,
        wall_s: wall,
        _lock: lock,
    };
    // Until here summary.json says "running": complete only once the
    // caller's outputs are on disk too.
    if let Err(e) = outputs(&outcome) {
        summary["status"] = json!("incomplete");
        summary["missing"] = json!(e.to_string());
        summary["resume"] = json!(format!("occam run --resume {}", out.dir().display()));
        out.json("summary.json", &summary)?;
        return Err(e);
    }
    out.json("summary.json", &summary)?;
    Checkpoint::remove(out.dir())?;
    Ok(outcome)
}
