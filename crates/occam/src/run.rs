//! `occam run`: a whole meta-learning run and its output folder.

use crate::cli::Failure;
use crate::config::{Experiment, Resolved};
use crate::output::Output;
use crate::plots;
use indicatif::{ProgressBar, ProgressStyle};
use occam_gpu::Gpu;
use occam_meta::analysis::harmonic_degree_fractions;
use occam_meta::engine::{GpuMetaEngine, StepSizes};
use occam_meta::problem::LossTerms;
use occam_meta::sampling::{InputDomain, Purpose, stream};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

fn sizes(r: &Resolved, tasks: usize) -> StepSizes {
    StepSizes {
        tasks,
        train: r.sampler.train,
        test: r.sampler.test,
        batch: r.sampler.batching.size(r.sampler.train),
        samples: r.sampler.samples,
    }
}

/// Stops with a message naming the meta-step and the term when a term is not finite.
fn check_finite(step: usize, terms: &LossTerms, every: usize) -> Result<(), Failure> {
    for (name, value) in terms.named() {
        if !value.is_finite() {
            return Err(Failure::internal(format!(
                "the run diverged: at meta-step {step} the {name} term is {value} \
                 (checked every {every} meta-steps; lower the learning rates or the loss weights)"
            )));
        }
    }
    Ok(())
}

/// The meta-loss on `tasks` fresh held-out tasks at the engine's current θ.
fn heldout(
    gpu: &Gpu,
    exp: &Experiment,
    r: &Resolved,
    theta: &[f64],
) -> Result<(LossTerms, f64), Failure> {
    let tasks = exp.analysis.heldout_tasks;
    let mut engine = GpuMetaEngine::new(gpu, &r.problem, sizes(r, tasks), theta, r.optimizer)?;
    let mut rng = stream(exp.seed, Purpose::Heldout, 0);
    let data: Vec<_> = (0..tasks).map(|_| r.sampler.draw(&mut rng)).collect();
    engine.load(gpu, &data)?;
    engine.step(gpu, false)?;
    let terms = engine.read_terms(gpu)?;
    let a = r.problem.weights.generalisation;
    let mse = if a != 0.0 {
        terms.generalisation / a
    } else {
        f64::NAN
    };
    Ok((terms, mse))
}

/// Runs the experiment and writes everything into `out`.
pub fn run(gpu: &Gpu, exp: &Experiment, out: &Path) -> Result<(), Failure> {
    let r = exp.resolve()?;
    let out = Output::create(out)?;
    out.text("config.toml", &exp.to_toml())?;
    let theta0 = r
        .problem
        .meta
        .init_pytorch(&mut stream(exp.seed, Purpose::MetaInit, 0));
    let theta0: Vec<f64> = theta0.into_iter().map(|v| f64::from(v as f32)).collect();
    let (initial_heldout, _) = heldout(gpu, exp, &r, &theta0)?;
    let mut engine =
        GpuMetaEngine::new(gpu, &r.problem, sizes(&r, exp.tasks), &theta0, r.optimizer)?;

    let bar = ProgressBar::new(exp.meta_steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} meta-loss {msg} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut metrics = out.lines("metrics.jsonl")?;
    let mut curves: Vec<(f64, LossTerms)> = Vec::new();
    let start = Instant::now();
    let mut last = LossTerms::default();
    for step in 0..exp.meta_steps {
        let data = r.sampler.meta_step(exp.seed, step as u64, exp.tasks);
        engine.load(gpu, &data)?;
        engine.step(gpu, true)?;
        if step % exp.log_every == 0 || step + 1 == exp.meta_steps {
            let terms = engine.read_terms(gpu)?;
            check_finite(step, &terms, exp.log_every)?;
            let w = &r.problem.weights;
            metrics.write(&json!({
                "meta_step": step,
                "meta_loss": terms.total(),
                "generalisation": terms.generalisation,
                "distribution": terms.distribution,
                "generalisation_mse": raw(terms.generalisation, w.generalisation),
                "distribution_loss": raw(terms.distribution, w.distribution),
                "wall_s": start.elapsed().as_secs_f64(),
            }))?;
            bar.set_message(format!("{:.4e}", terms.total()));
            curves.push((step as f64, terms));
            last = terms;
        }
        bar.inc(1);
    }
    gpu.wait("finishing the run")?;
    let wall = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // Analyses on the final θ.
    let theta = engine.read_theta(gpu)?;
    let (final_heldout, heldout_mse) = heldout(gpu, exp, &r, &theta)?;
    let domain = r.sampler.domain;
    let points = domain.sample(
        &mut stream(exp.seed, Purpose::Evaluation, 0),
        exp.analysis.eval_points,
    );
    let values = engine.evaluate(gpu, &points)?;
    out.npy(
        "eval_inputs.npy",
        &[values.len() as u64, domain.dim() as u64],
        &points,
    )?;
    out.npy("function.npy", &[values.len() as u64], &values)?;
    let mut analysis = json!({
        "heldout": {
            "tasks": exp.analysis.heldout_tasks,
            "initial_meta_loss": initial_heldout.total(),
            "final_meta_loss": final_heldout.total(),
            "meta_loss_reduction": initial_heldout.total() / final_heldout.total(),
            "generalisation_mse": heldout_mse,
        },
    });
    if domain == (InputDomain::Sphere { dim: 3 })
        && let Some(f) = harmonic_degree_fractions(&points, &values, 4)
    {
        analysis["harmonic_degree_fractions"] = json!(f);
    }

    let w = &r.problem.weights;
    let info = gpu.adapter();
    let summary = json!({
        "experiment": exp.name,
        "seed": exp.seed,
        "adapter": { "name": info.name, "backend": info.backend.to_string(), "device_type": info.device_type },
        "meta_steps": exp.meta_steps,
        "tasks": exp.tasks,
        "wall_s": wall,
        "meta_steps_per_s": exp.meta_steps as f64 / wall,
        "final": {
            "meta_loss": last.total(),
            "generalisation_mse": raw(last.generalisation, w.generalisation),
            "distribution_loss": raw(last.distribution, w.distribution),
            "orthogonality": last.orthogonality,
        },
        "analysis": analysis,
    });
    out.json("summary.json", &summary)?;

    let curve = |name: &str, f: &dyn Fn(&LossTerms) -> f64| plots::Curve {
        name: name.to_string(),
        points: curves.iter().map(|(s, t)| (*s, f(t))).collect(),
    };
    let loss_png = out.path("loss.png");
    plots::loss_curves(
        &loss_png,
        &format!("{} — meta-loss (seed {})", exp.name, exp.seed),
        &[
            curve("meta-loss", &|t| t.total()),
            curve("a·MSE_te", &|t| t.generalisation),
            curve("b·distribution", &|t| t.distribution),
        ],
    )
    .map_err(|e| Failure::internal(format!("{}: {e}", loss_png.display())))?;
    function_plot(gpu, &engine, exp, domain, &out)?;
    eprintln!(
        "occam: {} meta-steps in {wall:.1} s on {}; held-out meta-loss {:.4e} → {:.4e}; results in {}",
        exp.meta_steps,
        info.name,
        initial_heldout.total(),
        final_heldout.total(),
        out.dir().display()
    );
    Ok(())
}

fn raw(weighted: f64, weight: f64) -> Option<f64> {
    (weight != 0.0).then(|| weighted / weight)
}

fn function_plot(
    gpu: &Gpu,
    engine: &GpuMetaEngine,
    exp: &Experiment,
    domain: InputDomain,
    out: &Output,
) -> Result<(), Failure> {
    let (nx, ny) = (180, 90);
    let mut pts = Vec::with_capacity(nx * ny * domain.dim());
    let mut inside = Vec::with_capacity(nx * ny);
    let (xl, yl);
    match domain {
        InputDomain::Sphere { dim: 3 } => {
            (xl, yl) = (
                ("longitude (°)", -180.0, 180.0),
                ("latitude (°)", -90.0, 90.0),
            );
            for j in 0..ny {
                for i in 0..nx {
                    let lon = (-180.0 + (i as f64 + 0.5) * 360.0 / nx as f64).to_radians();
                    let lat = (-90.0 + (j as f64 + 0.5) * 180.0 / ny as f64).to_radians();
                    pts.extend([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]);
                    inside.push(true);
                }
            }
        }
        _ => {
            (xl, yl) = (("x₀", -1.0, 1.0), ("x₁", -1.0, 1.0));
            let d = domain.dim();
            for j in 0..ny {
                for i in 0..nx {
                    let x = -1.0 + (i as f64 + 0.5) * 2.0 / nx as f64;
                    let y = -1.0 + (j as f64 + 0.5) * 2.0 / ny as f64;
                    let mut p = vec![0.0; d];
                    p[0] = x;
                    p[1] = y;
                    if let InputDomain::Sphere { .. } = domain {
                        // Points of S^{d−1} with x₂ = … = 0 lie on the unit circle: show the disk's slice.
                        let r2: f64 = x * x + y * y;
                        if d > 2 && r2 <= 1.0 {
                            p[2] = (1.0 - r2).sqrt();
                        }
                    }
                    inside.push(domain != InputDomain::Disk || x * x + y * y <= 1.0);
                    pts.extend(p);
                }
            }
        }
    }
    let values = engine.evaluate(gpu, &pts)?;
    let values: Vec<f64> = values
        .iter()
        .zip(&inside)
        .map(|(v, &ok)| if ok { *v } else { f64::NAN })
        .collect();
    let path = out.path("function.png");
    plots::grid_map(
        &path,
        &plots::GridMap {
            title: &format!("{} — learned function f_θ (seed {})", exp.name, exp.seed),
            x: xl,
            y: yl,
            values: &values,
            nx,
            ny,
        },
    )
    .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))?;
    Ok(())
}
