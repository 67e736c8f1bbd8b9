//! `occam gradcheck`: one meta-step's meta-gradient three ways — the GPU
//! engine, the CPU f64 reference, and central finite differences of the
//! reference meta-loss — with their relative errors; exit code 1 when over
//! tolerance. `--dump DIR` writes every tensor of the meta-step as .npy plus a
//! manifest.json, so any other tool can recompute it.

use crate::cli::{Failure, GradcheckArgs};
use crate::config::Experiment;
use crate::output::Output;
use occam_gpu::Gpu;
use occam_meta::engine::GpuMetaEngine;
use occam_meta::problem::{DistributionKind, Learner, Orthogonality, TaskData};
use occam_meta::reference::{meta_loss, meta_step};
use occam_meta::sampling::{Purpose, stream};
use occam_ops::OptimizerKind;
use rand::Rng;
use serde_json::json;

/// Runs the check; prints a report; fails (exit 1) over tolerance.
pub fn gradcheck(gpu: &Gpu, exp: &Experiment, args: &GradcheckArgs) -> Result<(), Failure> {
    let r = exp.resolve()?;
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
    let reference = meta_step(&r.problem, &theta, &tasks, &orth)?;

    println!(
        "gradcheck of {} (seed {}, tasks {}) on {}",
        exp.name,
        exp.seed,
        exp.tasks,
        gpu.adapter()
    );
    println!("  meta-parameters: {}", theta.len());
    let mut worst_gpu: f64 = 0.0;
    for ((name, g), (_, c)) in gpu_terms.named().iter().zip(reference.terms.named()) {
        if *g == 0.0 && c == 0.0 {
            continue;
        }
        let rel = (g - c).abs() / c.abs().max(g.abs());
        worst_gpu = worst_gpu.max(rel);
        println!(
            "  loss term {name:<15} GPU {g:>14.6e}   CPU f64 {c:>14.6e}   rel. error {rel:.2e}"
        );
    }
    let scale = reference
        .theta_bar
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = gpu_grad
        .iter()
        .zip(&reference.theta_bar)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let grad_rel = if scale > 0.0 { diff / scale } else { diff };
    worst_gpu = worst_gpu.max(grad_rel);
    println!("  ∂L/∂θ GPU vs CPU f64: max |difference| / max |∂L/∂θ| = {grad_rel:.2e}");

    // geomloss defines the Sinkhorn term's gradient by the envelope formula at
    // the (annealed, not fully converged) potentials, which is not the exact
    // derivative of its value: finite differences then check every other term
    // exactly, with the Sinkhorn term left out (its GPU kernel is held to the
    // CPU twin above, and the twin to finite differences at convergence in the
    // test suite).
    let mut fd_problem = r.problem.clone();
    let fd_grad = if matches!(fd_problem.distribution, DistributionKind::Sinkhorn { .. }) {
        fd_problem.weights.distribution = 0.0;
        println!(
            "  finite differences: Sinkhorn term left out (geomloss's envelope gradient is not the derivative of its unconverged value)"
        );
        meta_step(&fd_problem, &theta, &tasks, &orth)?.theta_bar
    } else {
        reference.theta_bar.clone()
    };
    let mut rng = stream(exp.seed, Purpose::Evaluation, 99);
    let mut worst_fd: f64 = 0.0;
    for k in 0..args.directions {
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
        worst_fd = worst_fd.max(rel);
        println!(
            "  direction {k}: finite difference {fd:>14.6e}   CPU f64 {analytic:>14.6e} (rel. error {rel:.2e})"
        );
    }

    if let Some(dir) = &args.dump {
        dump(dir, exp, &theta, &tasks, &gpu_grad, &reference.theta_bar)?;
        println!("  tensors written to {}", dir.display());
    }
    let pass_gpu = worst_gpu <= args.tolerance;
    let pass_fd = worst_fd <= args.fd_tolerance;
    println!(
        "GPU vs CPU f64: worst rel. error {worst_gpu:.2e} (tolerance {:.0e}) {}",
        args.tolerance,
        if pass_gpu { "PASS" } else { "FAIL" }
    );
    println!(
        "CPU f64 vs finite differences: worst rel. error {worst_fd:.2e} (tolerance {:.0e}) {}",
        args.fd_tolerance,
        if pass_fd { "PASS" } else { "FAIL" }
    );
    if pass_gpu && pass_fd {
        Ok(())
    } else {
        Err(Failure::internal(
            "gradcheck failed: relative error over tolerance",
        ))
    }
}

fn dump(
    dir: &std::path::Path,
    exp: &Experiment,
    theta: &[f64],
    tasks: &[TaskData],
    gpu_grad: &[f64],
    cpu_grad: &[f64],
) -> Result<(), Failure> {
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
    let mut npy = |name: &str, shape: Vec<u64>, data: &[f64]| -> Result<(), Failure> {
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
    let layers = |spec: &occam_meta::net::NetSpec| -> Vec<serde_json::Value> {
        use occam_meta::net::Layer;
        let shapes = spec.shapes();
        let mut offset = 0;
        spec.layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let (c, h, w) = shapes[l];
                let (kind, block) = match *layer {
                    Layer::Conv {
                        c_out,
                        kernel,
                        padding,
                    } => (
                        json!({ "conv": { "c_out": c_out, "kernel": kernel, "padding": padding } }),
                        Some(json!([c_out, c * kernel * kernel + 1])),
                    ),
                    Layer::Dense { d_out } => (
                        json!({ "dense": d_out }),
                        Some(json!([d_out, c * h * w + 1])),
                    ),
                    Layer::Pool => (json!("maxpool 2x2"), None),
                    Layer::Act(a) => (json!(a.as_str()), None),
                };
                let mut v = json!({ "layer": kind, "input_shape": [c, h, w] });
                if let Some(block) = block {
                    let len = block[0].as_u64().unwrap_or(0) * block[1].as_u64().unwrap_or(0);
                    v["offset"] = json!(offset);
                    v["block_shape"] = block;
                    offset += len;
                }
                v
            })
            .collect()
    };
    let learner = match &r.problem.learner {
        Learner::Gd(g) => {
            let steps = g.steps as u64;
            let batch = r.sampler.batching.size(r.sampler.train) as u64;
            npy(
                "learner_init.npy",
                vec![t, g.spec.n_params() as u64],
                &flat(&|x| &x.w0),
            )?;
            let idx: Vec<f64> = tasks
                .iter()
                .flat_map(|x| x.batches.iter().flatten().map(|&i| i as f64))
                .collect();
            npy("minibatch_indices.npy", vec![t, steps, batch], &idx)?;
            json!({ "kind": "gd", "layers": layers(&g.spec), "steps": steps, "lr": g.lr })
        }
        Learner::Ridge(rl) => {
            let k = rl.features.random_values(r.sampler.domain.dim()) as u64;
            if k > 0 {
                npy(
                    "random_features.npy",
                    vec![t, d, k / d],
                    &flat(&|x| &x.features),
                )?;
            }
            json!({ "kind": "ridge", "features": format!("{:?}", rl.features), "lambda": rl.lambda })
        }
    };
    out.json(
        "manifest.json",
        &json!({
            "experiment": exp.name,
            "seed": exp.seed,
            "configuration": toml::from_str::<serde_json::Value>(&exp.to_toml()).ok(),
            "parameter_layout": "each dense layer is a row-major [d_out, d_in + 1] block and each conv layer a [c_out, c_in*k*k + 1] block (bias in the last column; kernel values in (c_in, ky, kx) order); blocks are concatenated at their offsets",
            "meta_learner": { "layers": layers(&r.problem.meta) },
            "learner": learner,
            "labels": "f_theta on [x_train; x_test] per task",
            "meta_loss": "a * mean_j (z_te,j - g(x_te,j))^2 + b * D(z_S, target_samples) - s * std(z_S), averaged over tasks",
            "weights": { "a": r.problem.weights.generalisation, "b": r.problem.weights.distribution, "s": r.problem.weights.std_reward },
            "files": files,
        }),
    )
}
