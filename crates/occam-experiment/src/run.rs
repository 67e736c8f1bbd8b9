//! A whole meta-learning run — one function, or an orthogonal series of
//! them — and its output folder.

use crate::Error;
use crate::config::{Experiment, Resolved};
use crate::output::Output;
use crate::summary::{function_summary, inner_products, kernel_analysis, kernel_overlap};
use occam_gpu::Gpu;
use occam_meta::engine::GpuMetaEngine;
use occam_meta::loss::TermValues;
use occam_meta::problem::{Orthogonality, TaskData};
use occam_meta::sampling::{Purpose, stream};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Stops with a message naming the meta-step and the term when a term is not finite.
fn check_finite(
    function: usize,
    step: usize,
    terms: &TermValues,
    every: usize,
) -> Result<(), Error> {
    match terms.first_non_finite() {
        Some(t) => Err(Error::internal(format!(
            "the run diverged: function {function}, meta-step {step}: the {} term is {} \
             (checked every {every} meta-steps; lower the learning rates or the loss weights)",
            t.name, t.value
        ))),
        None => Ok(()),
    }
}

/// The run's held-out tasks (fresh learner inits and datasets).
fn heldout_tasks(exp: &Experiment, r: &Resolved) -> Vec<TaskData> {
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
        engine.step(gpu, false)?;
        let share = chunk.len() as f64 / data.len() as f64;
        sum.add_scaled(&engine.read_terms(gpu)?, share);
    }
    Ok(sum)
}

/// The most learner parameters (all held-out tasks together) kept in
/// `learner_weights.npy`.
const LEARNER_WEIGHTS_KEPT: usize = 1 << 22;

/// What one learned function of a run leaves behind.
pub struct Learned {
    /// The trained θ.
    pub theta: Vec<f64>,
    /// The function on the run's evaluation points.
    pub values: Vec<f64>,
    /// The function on a series' orthogonality points.
    pub on_orth_points: Vec<f64>,
    /// (meta-step, loss terms) at every logged meta-step.
    pub curves: Vec<(f64, TermValues)>,
    /// The loss terms at the last logged meta-step.
    pub last: TermValues,
    /// The meta-loss on held-out tasks at the initial θ.
    pub initial_heldout: TermValues,
    /// The meta-loss on the same held-out tasks at the final θ.
    pub final_heldout: TermValues,
    /// The learner's fits of the final labels on the held-out tasks (CPU f64).
    pub learner_fits: occam_meta::reference::LearnerFits,
    /// Seconds spent meta-learning it.
    pub wall: f64,
}

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
}

/// Where a run reports its progress (a progress bar, a log, nothing).
pub trait Progress: Sync {
    /// The run has `total` meta-steps in all.
    fn start(&self, _total: u64) {}
    /// One meta-step is done.
    fn advance(&self) {}
    /// The meta-loss was read back at a logged meta-step.
    fn logged(&self, _meta_loss: f64) {}
    /// The run is done.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}

/// Meta-learns function `j` of the run (the only one, or the j-th of a series).
#[allow(clippy::too_many_arguments)]
fn learn_function(
    gpu: &Gpu,
    exp: &Experiment,
    r: &Resolved,
    j: usize,
    orth: &Orthogonality,
    eval_points: &[f64],
    metrics: &mut crate::output::Lines,
    progress: &dyn Progress,
) -> Result<(Learned, GpuMetaEngine), Error> {
    let theta0 = r.initial_theta(exp.seed, j);
    let heldout_data = heldout_tasks(exp, r);
    let initial_heldout = heldout(gpu, r, &heldout_data, &theta0, orth)?;
    let mut engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        r.step_sizes(exp.tasks),
        &theta0,
        r.optimizer,
        orth,
    )?;
    let mut curves = Vec::new();
    let mut last = TermValues::zeros(&r.problem.terms);
    let start = Instant::now();
    for step in 0..exp.meta_steps {
        // Each function of a series sees its own stream of tasks.
        let global = (j * exp.meta_steps + step) as u64;
        engine.load(gpu, &r.sampler.meta_step(exp.seed, global, exp.tasks))?;
        engine.step(gpu, true)?;
        if step % exp.log_every == 0 || step + 1 == exp.meta_steps {
            let terms = engine.read_terms(gpu)?;
            check_finite(j, step, &terms, exp.log_every)?;
            let mut line = json!({
                "function": j,
                "meta_step": step,
                "meta_loss": terms.total(),
            });
            for t in &terms.terms {
                line[t.name] = json!(t.value);
                line[t.raw_key] = json!(t.raw());
            }
            line["wall_s"] = json!(start.elapsed().as_secs_f64());
            metrics.write(&line)?;
            progress.logged(terms.total());
            curves.push((step as f64, terms.clone()));
            last = terms;
        }
        progress.advance();
    }
    gpu.wait("finishing a function")?;
    let wall = start.elapsed().as_secs_f64();
    let theta = engine.read_theta(gpu)?;
    let final_heldout = heldout(gpu, r, &heldout_data, &theta, orth)?;
    let learner_fits = occam_meta::reference::learner_fits(&r.problem, &theta, &heldout_data, 0)?;
    let values = engine.evaluate(gpu, eval_points)?;
    let on_orth_points = engine.evaluate(gpu, &orth.x)?;
    let learned = Learned {
        theta,
        values,
        on_orth_points,
        curves,
        last,
        initial_heldout,
        final_heldout,
        learner_fits,
        wall,
    };
    Ok((learned, engine))
}

/// Runs `exp` and writes its results into `out` (`config.toml`,
/// `metrics.jsonl`, `summary.json`, `function.npy` with its inputs,
/// `theta.npy` with `meta_learner.json`); reports progress to `progress`.
/// Plots are the caller's: the [`Outcome`] has what they need.
pub fn run(
    gpu: &Gpu,
    exp: &Experiment,
    out: &Path,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let r = exp.resolve()?;
    let out = Output::create(out)?;
    out.text("config.toml", &exp.to_toml())?;
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

    progress.start((count * exp.meta_steps) as u64);
    let mut metrics = out.lines("metrics.jsonl")?;
    let mut learned: Vec<Learned> = Vec::new();
    let mut engines = Vec::new();
    for j in 0..count {
        let orth = Orthogonality {
            x: orth_x.clone(),
            earlier: learned.iter().map(|f| f.on_orth_points.clone()).collect(),
        };
        let (f, engine) =
            learn_function(gpu, exp, &r, j, &orth, &eval_points, &mut metrics, progress)?;
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
        .map(|f| {
            let (fin, mut an) =
                function_summary(&r, f, domain, &eval_points, exp.analysis.groups.as_ref());
            if let Some((_, basis)) = &kernel {
                an["kernel_eigen_overlap"] = kernel_overlap(&f.values, basis);
            }
            (fin, an)
        })
        .collect();
    let info = gpu.adapter();
    let mut summary = json!({
        "experiment": exp.name,
        "seed": exp.seed,
        "adapter": { "name": info.name, "backend": info.backend.to_string(), "device_type": info.device_type },
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
        .filter_map(|l| l.report())
        .collect();
    if !reports.is_empty() {
        summary["learner_report"] = json!(reports);
    }
    out.json("summary.json", &summary)?;

    Ok(Outcome {
        dir: out.dir().to_path_buf(),
        resolved: r,
        eval_points,
        functions: learned,
        engines,
        wall_s: wall,
    })
}
