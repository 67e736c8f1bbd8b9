//! One meta-step's meta-gradient three ways — the GPU engine, the CPU f64
//! reference, and central finite differences of the reference meta-loss —
//! with their relative errors; an error (exit code 1) when over tolerance.
//! With a dump folder, every tensor of the meta-step is written as .npy
//! plus a manifest.json, so any other tool can recompute it.

use crate::Error;
use crate::config::Experiment;
use crate::output::Output;
use occam_gpu::Gpu;
use occam_meta::engine::{GpuMetaEngine, GradientPath};
use occam_meta::learners::Derivative;
use occam_meta::learners::registry::resolved_keys;
use occam_meta::loss::TermValues;
use occam_meta::problem::{Orthogonality, TaskData};
use occam_meta::reference::{meta_loss, meta_step, meta_step_paths};
use occam_meta::sampling::{Purpose, stream};
use occam_ops::OptimizerKind;
use rand::Rng;
use serde_json::json;

/// What to check and how strictly.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckOptions {
    /// Write every tensor of the meta-step (.npy) and a manifest.json here.
    pub dump: Option<std::path::PathBuf>,
    /// Largest accepted relative error of the GPU against the CPU f64
    /// reference: of the meta-loss terms, of ∂L/∂θ and of its direct part.
    pub tolerance: f64,
    /// Largest accepted relative error of the GPU's part of ∂L/∂θ through
    /// the learner's pullback against the reference's (relative to that
    /// part's own largest entry).
    pub learner_tolerance: f64,
    /// The experiment file as the user named it (for the commands the
    /// report suggests).
    pub file: Option<String>,
    /// Largest accepted relative error of the reference against finite differences.
    pub fd_tolerance: f64,
    /// Random directions for the finite-difference check.
    pub directions: usize,
    /// Finite-difference step (central differences in f64).
    pub step: f64,
}

impl GradcheckOptions {
    /// Refuses options under which the check could not fail: a step or
    /// tolerance that is not a finite number > 0, or no directions.
    pub fn validate(&self) -> Result<(), Error> {
        for (flag, v) in [
            ("--step", self.step),
            ("--tolerance", self.tolerance),
            ("--learner-tolerance", self.learner_tolerance),
            ("--fd-tolerance", self.fd_tolerance),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::input(format!(
                    "{flag}: must be a finite number > 0, not {v}"
                )));
            }
        }
        if self.directions == 0 {
            return Err(Error::input(
                "--directions: must be at least 1 (with none, finite differences would check nothing)",
            ));
        }
        Ok(())
    }
}

/// Runs the check, writing its report line by line to `report`; fails
/// (exit 1) over tolerance.
pub fn gradcheck(
    gpu: &Gpu,
    exp: &Experiment,
    args: &GradcheckOptions,
    report: &mut dyn std::io::Write,
) -> Result<(), Error> {
    macro_rules! say {
        ($($t:tt)*) => {
            writeln!(report, $($t)*)
                .map_err(|e| Error::internal(format!("writing the report: {e}")))?
        };
    }
    args.validate()?;
    let r = exp.resolve()?;
    crate::footprint::check(exp, &r, gpu.limits())?;
    let theta = r.initial_theta(exp.seed, 0);
    let tasks = r.sampler.meta_step(exp.seed, 0, exp.tasks);
    // A series is checked at its second function: one earlier function (the
    // meta-learner at another initialisation) on the run's orthogonality points.
    let orth = match &exp.series {
        Some(series) => {
            let x = r.sampler.domain.sample(
                &mut stream(exp.seed, Purpose::Orthogonality, 0),
                series.points,
            );
            let other: Vec<f64> =
                r.problem
                    .meta
                    .init_pytorch(&mut stream(exp.seed, Purpose::MetaInit, 1));
            let h = r.problem.meta.forward(&other, &x).into_output();
            Orthogonality {
                x,
                earlier: vec![h],
            }
        }
        None => Orthogonality::default(),
    };
    let sizes = r.step_sizes(exp.tasks);

    let mut engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        sizes,
        &theta,
        OptimizerKind::Sgd { lr: 0.0 },
        &orth,
    )?;
    engine.load(gpu, &tasks)?;
    engine.step(gpu, false)?;
    let gpu_terms = engine.read_terms(gpu)?;
    let gpu_grad = engine.read_theta_bar(gpu)?;
    let mut gpu_paths = Vec::new();
    for path in [GradientPath::Learner, GradientPath::Direct] {
        // A fresh load: a learner's fit may start from state its last fit
        // left (the fused unroll keeps w in place).
        engine.set_path(path);
        engine.load(gpu, &tasks)?;
        engine.step(gpu, false)?;
        gpu_paths.push(engine.read_theta_bar(gpu)?);
    }
    let (reference, ref_paths) = meta_step_paths(&r.problem, &theta, &tasks, &orth)?;

    say!(
        "gradcheck of {} (seed {}, tasks {}) on {}",
        exp.name,
        exp.seed,
        exp.tasks,
        gpu.adapter()
    );
    say!("  meta-parameters: {}", theta.len());
    let mut worst_gpu: f64 = 0.0;
    for (gt, ct) in gpu_terms.terms.iter().zip(&reference.terms.terms) {
        let (name, g, c) = (gt.name, gt.value, ct.value);
        if g == 0.0 && c == 0.0 {
            continue;
        }
        let rel = (g - c).abs() / c.abs().max(g.abs());
        worst_gpu = worse(worst_gpu, rel);
        say!("  loss term {name:<15} GPU {g:>14.6e}   CPU f64 {c:>14.6e}   rel. error {rel:.2e}");
    }
    // NaN where either side is not finite (which fails); the entries say where.
    let grad_rel = relative_difference(&gpu_grad, &reference.theta_bar);
    worst_gpu = worse(worst_gpu, grad_rel);
    if let Some(i) = gpu_grad.iter().position(|v| !v.is_finite()) {
        say!(
            "  ∂L/∂θ on the GPU is not finite (entry {i}: {})",
            gpu_grad[i]
        );
    }
    if let Some(i) = reference.theta_bar.iter().position(|v| !v.is_finite()) {
        say!(
            "  ∂L/∂θ of the CPU f64 reference is not finite (entry {i}: {})",
            reference.theta_bar[i]
        );
    }
    say!("  ∂L/∂θ GPU vs CPU f64: max |difference| / max |∂L/∂θ| = {grad_rel:.2e}");

    // ∂L/∂θ path by path, each part held to its own scale: where one part
    // dominates, the comparison of the whole says little about the other.
    say!(
        "  ∂L/∂θ by path (‖part‖ / ‖∂L/∂θ‖; GPU vs CPU f64 relative to the part's largest entry):"
    );
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let total_norm = norm(&reference.theta_bar);
    let mut worst_learner: f64 = 0.0;
    let mut learner_share = 0.0;
    for ((learner, name, part, tol), gpu_part) in [
        (
            true,
            "through the learner's fit",
            &ref_paths.learner,
            args.learner_tolerance,
        ),
        (
            false,
            "the terms' own (direct)",
            &ref_paths.direct,
            args.tolerance,
        ),
    ]
    .into_iter()
    .zip(&gpu_paths)
    {
        let share = if total_norm > 0.0 {
            norm(part) / total_norm
        } else {
            0.0
        };
        if part.iter().all(|&v| v == 0.0) && gpu_part.iter().all(|&v| v == 0.0) {
            say!("    {name:<27} none");
            continue;
        }
        let rel = relative_difference(gpu_part, part);
        if learner {
            worst_learner = worse(worst_learner, rel);
            learner_share = share;
        } else {
            worst_gpu = worse(worst_gpu, rel);
        }
        say!(
            "    {name:<27} share {share:>9.3e}   rel. error {rel:.2e} (tolerance {tol:.0e}) {}",
            verdict(rel <= tol)
        );
    }

    // geomloss defines the Sinkhorn term's gradient by the envelope formula at
    // the (annealed, not fully converged) potentials, which is not the exact
    // derivative of its value: finite differences then check every other term
    // exactly, with the Sinkhorn term left out (its GPU kernel is held to the
    // CPU twin above, and the twin to finite differences at convergence in the
    // test suite).
    let mut fd_problem = r.problem.clone();
    fd_problem.terms.retain(|t| t.exact_gradient());
    let fd_grad = if fd_problem.terms.len() < r.problem.terms.len() {
        say!(
            "  finite differences: Sinkhorn term left out (geomloss's envelope gradient is not the derivative of its unconverged value)"
        );
        meta_step(&fd_problem, &theta, &tasks, &orth)?.theta_bar
    } else {
        reference.theta_bar.clone()
    };
    // Finite differences check the exact derivative of the meta-loss: they
    // say nothing about a learner whose pullback is not that (a surrogate,
    // an estimate) wherever its part counts.
    let not_exact: Vec<(String, Derivative)> = r
        .problem
        .learners
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l.derivative() {
            Derivative::Exact => None,
            d => Some((learner_key(i), d)),
        })
        .collect();
    let fd_applies = not_exact.is_empty() || learner_share == 0.0;
    if !fd_applies {
        for (key, d) in &not_exact {
            if let Derivative::NotExact { why, exact_with } = d {
                say!(
                    "  finite differences do not apply: [{key}]'s pullback is not the derivative of its fit ({why}); \
                     its part of ∂L/∂θ is held to the f64 reference above, which computes the same rule"
                );
                if !exact_with.is_empty() {
                    let sets: Vec<String> = exact_with
                        .iter()
                        .map(|(k, v)| format!("--set {key}.{k}={v}"))
                        .collect();
                    let file = args.file.as_deref().unwrap_or("EXPERIMENT.toml");
                    say!(
                        "  the exactly differentiable variant checks the same code against finite differences: \
                         occam gradcheck {file} {}",
                        sets.join(" ")
                    );
                }
            }
        }
    }
    let mut rng = stream(exp.seed, Purpose::Evaluation, 99);
    let mut worst_fd: f64 = 0.0;
    for k in 0..if fd_applies { args.directions } else { 0 } {
        let u: Vec<f64> = (0..theta.len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let at = |s: f64| -> Vec<f64> { theta.iter().zip(&u).map(|(t, d)| t + s * d).collect() };
        let h = args.step;
        let fd = (meta_loss(&fd_problem, &at(h), &tasks, &orth)?.total()
            - meta_loss(&fd_problem, &at(-h), &tasks, &orth)?.total())
            / (2.0 * h);
        let analytic: f64 = fd_grad.iter().zip(&u).map(|(a, b)| a * b).sum();
        let rel = (fd - analytic).abs() / fd.abs().max(analytic.abs());
        worst_fd = worse(worst_fd, rel);
        say!(
            "  direction {k}: finite difference {fd:>14.6e}   CPU f64 {analytic:>14.6e} (rel. error {rel:.2e})"
        );
    }

    if let Some(dir) = &args.dump {
        let grads = (&gpu_grad[..], &reference.theta_bar[..]);
        let terms = (&gpu_terms, &reference.terms);
        dump(dir, exp, &theta, &tasks, &orth, grads, terms)?;
        say!("  tensors written to {}", dir.display());
    }
    let pass_gpu = worst_gpu <= args.tolerance;
    let pass_learner = worst_learner <= args.learner_tolerance;
    let pass_fd = !fd_applies || worst_fd <= args.fd_tolerance;
    say!(
        "GPU vs CPU f64: worst rel. error {worst_gpu:.2e} (tolerance {:.0e}) {}",
        args.tolerance,
        verdict(pass_gpu)
    );
    say!(
        "GPU vs CPU f64, the learner's part: rel. error {worst_learner:.2e} (tolerance {:.0e}) {}",
        args.learner_tolerance,
        verdict(pass_learner)
    );
    if fd_applies {
        say!(
            "CPU f64 vs finite differences: worst rel. error {worst_fd:.2e} (tolerance {:.0e}) {}",
            args.fd_tolerance,
            verdict(pass_fd)
        );
    } else {
        say!("CPU f64 vs finite differences: not applicable (see above)");
    }
    if pass_gpu && pass_learner && pass_fd {
        Ok(())
    } else {
        Err(Error::internal(
            "gradcheck failed: relative error over tolerance",
        ))
    }
}

/// Writes every tensor of the checked meta-step and a manifest describing
/// them: the inputs, target samples and labels; every learner's own draws
/// (initialisation, minibatch rows, wiring mask and signs, random
/// features — whatever the learner drew), as `learner_NAME.npy` and
/// `adversary_NAME.npy`; a series' orthogonality points and earlier
/// functions; θ and both meta-gradients; and in the manifest every term's
/// weight and value.
fn dump(
    dir: &std::path::Path,
    exp: &Experiment,
    theta: &[f64],
    tasks: &[TaskData],
    orth: &Orthogonality,
    (gpu_grad, cpu_grad): (&[f64], &[f64]),
    (gpu_terms, cpu_terms): (&TermValues, &TermValues),
) -> Result<(), Error> {
    let out = Output::create(dir)?;
    let r = exp.resolve()?;
    let d = r.sampler.domain.dim() as u64;
    let t = tasks.len() as u64;
    let (m, big_m, s) = (
        r.sampler.train as u64,
        r.sampler.test as u64,
        r.sampler.samples as u64,
    );
    let flat = |f: &dyn Fn(&TaskData) -> &Vec<f64>| -> Vec<f64> {
        tasks.iter().flat_map(|x| f(x).iter().copied()).collect()
    };
    let mut files = serde_json::Map::new();
    let mut npy = |name: &str, shape: Vec<u64>, data: &[f64]| -> Result<(), Error> {
        out.npy(name, &shape, data)?;
        files.insert(name.to_string(), json!(shape));
        Ok(())
    };
    npy("x_train.npy", vec![t, m, d], &flat(&|x| &x.x_tr))?;
    npy("x_test.npy", vec![t, big_m, d], &flat(&|x| &x.x_te))?;
    npy("target_samples.npy", vec![t, s], &flat(&|x| &x.u))?;
    let mut labels = Vec::new();
    for task in tasks {
        let x_all = [&task.x_tr[..], &task.x_te[..]].concat();
        labels.extend(r.problem.meta.forward(theta, &x_all).output());
    }
    npy("labels.npy", vec![t, m + big_m], &labels)?;
    npy("theta.npy", vec![theta.len() as u64], theta)?;
    npy("theta_grad_gpu.npy", vec![theta.len() as u64], gpu_grad)?;
    npy("theta_grad_cpu.npy", vec![theta.len() as u64], cpu_grad)?;
    if !orth.earlier.is_empty() {
        let k = orth.earlier[0].len() as u64;
        npy("orthogonality_points.npy", vec![k, d], &orth.x)?;
        let h: Vec<f64> = orth.earlier.iter().flatten().copied().collect();
        npy(
            "earlier_functions.npy",
            vec![orth.earlier.len() as u64, k],
            &h,
        )?;
    }
    let mut learners = Vec::new();
    for (i, learner) in r.problem.learners.iter().enumerate() {
        let prefix = learner_key(i);
        let mut tensors = Vec::new();
        for tensor in &tasks[0].learners[i].tensors {
            let same = tasks.iter().all(|x| {
                x.learners[i]
                    .tensors
                    .iter()
                    .any(|o| o.name == tensor.name && o.shape == tensor.shape)
            });
            if !same {
                continue;
            }
            let values: Vec<f64> = tasks
                .iter()
                .flat_map(|x| {
                    x.learners[i]
                        .get(&tensor.name)
                        .unwrap_or_default()
                        .iter()
                        .copied()
                })
                .collect();
            let shape: Vec<u64> = std::iter::once(t)
                .chain(tensor.shape.iter().map(|&v| v as u64))
                .collect();
            let name = format!("{prefix}_{}.npy", tensor.name);
            npy(&name, shape, &values)?;
            tensors.push(name);
        }
        learners.push(json!({
            "role": prefix,
            "kind": learner.kind(),
            "description": format!("{learner:?}"),
            "files": tensors,
        }));
    }
    let terms: Vec<serde_json::Value> = r
        .problem
        .terms
        .iter()
        .zip(gpu_terms.terms.iter().zip(&cpu_terms.terms))
        .map(|(term, (g, c))| {
            json!({
                "name": term.name(),
                "formula": term.label(),
                "weight": term.weight(),
                "reads": format!("{:?}", term.reads()),
                "value_gpu": g.value,
                "value_cpu_f64": c.value,
            })
        })
        .collect();
    // Every key each learner runs with, defaults included.
    let mut resolved = serde_json::Map::new();
    let tables = std::iter::once(("learner", &exp.learner))
        .chain(exp.adversary.as_ref().map(|t| ("adversary", t)));
    for (key, table) in tables {
        let keys = resolved_keys(table, key)?;
        let value = serde_json::to_value(&keys)
            .map_err(|e| Error::internal(format!("{key}'s resolved keys as JSON: {e}")))?;
        resolved.insert(key.to_string(), value);
    }
    out.json(
        "manifest.json",
        &json!({
            "experiment": exp.name,
            "seed": exp.seed,
            "configuration": toml::from_str::<serde_json::Value>(&exp.to_toml()).ok(),
            "resolved_learners": resolved,
            "parameter_layout": crate::layout::PARAMETER_LAYOUT,
            "meta_learner": { "layers": crate::layout::layers(&r.problem.meta) },
            "learners": learners,
            "labels": "f_theta on [x_train; x_test] per task",
            "meta_loss": {
                "terms": terms,
                "total_gpu": gpu_terms.total(),
                "total_cpu_f64": cpu_terms.total(),
                "note": "each value is weight * term, averaged over tasks; the meta-loss is their sum",
            },
            "files": files,
        }),
    )
}

/// PASS or FAIL.
fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

/// max |a − b| / max |b| (max |a − b| where b is all zero); NaN where
/// either holds a non-finite value.
fn relative_difference(a: &[f64], b: &[f64]) -> f64 {
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    if scale > 0.0 { diff / scale } else { diff }
}

/// The table a problem's learner `i` comes from.
fn learner_key(i: usize) -> String {
    match i {
        0 => "learner".to_string(),
        1 => "adversary".to_string(),
        i => format!("learner{i}"),
    }
}

/// The larger of two errors, NaN when either is NaN (a NaN error fails).
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
