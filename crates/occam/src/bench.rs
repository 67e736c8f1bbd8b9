//! `occam bench`: meta-steps per second after warm-up, and where one
//! meta-step's time goes, phase by phase, as JSON.

use crate::cli::{BenchArgs, Failure};
use crate::config::Experiment;
use occam_gpu::Gpu;
use occam_meta::engine::GpuMetaEngine;
use occam_meta::problem::Orthogonality;
use serde_json::json;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `args.steps` meta-steps (after one warm-up) and one phase-by-phase step.
pub fn bench(gpu: &Gpu, exp: &Experiment, args: &BenchArgs) -> Result<(), Failure> {
    let r = exp.resolve()?;
    let theta = r.initial_theta(exp.seed, 0);
    let sizes = r.step_sizes(exp.tasks);
    let mut engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        sizes,
        &theta,
        r.optimizer,
        &Orthogonality::default(),
    )?;
    let mut step_times = Vec::new();
    for step in 0..=args.steps {
        engine.load(gpu, &r.sampler.meta_step(exp.seed, step as u64, exp.tasks))?;
        gpu.wait("bench")?;
        let start = Instant::now();
        engine.step(gpu, true)?;
        gpu.wait("bench")?;
        if step > 0 {
            step_times.push(start.elapsed().as_secs_f64());
        }
    }
    let (lo, hi) = step_times
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &t| (a.min(t), b.max(t)));
    let med = median(&mut step_times);
    let phases = engine.step_timed(gpu, true)?;
    let total: f64 = phases.iter().map(|(_, t)| t).sum();
    let report = json!({
        "experiment": exp.name,
        "adapter": { "name": gpu.adapter().name, "backend": gpu.adapter().backend.to_string(), "device_type": gpu.adapter().device_type },
        "tasks": exp.tasks,
        "timed_meta_steps": args.steps,
        "meta_step_s": { "median": med, "min": lo, "max": hi },
        "meta_steps_per_s": 1.0 / med,
        "phases_s": phases.iter().map(|(p, t)| json!({ "phase": p.name(), "s": t, "share": t / total })).collect::<Vec<_>>(),
        "phase_timing": "one meta-step submitted phase by phase, waiting after each (wall clock)",
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    Ok(())
}
