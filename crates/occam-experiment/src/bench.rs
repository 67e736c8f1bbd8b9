//! Steady-state meta-steps per second (after warm-up, median
//! and spread), where one meta-step's GPU time goes kernel by kernel
//! (timestamp queries) with counted FLOPs and the achieved GFLOP/s, the
//! phase split, and optionally a Chrome-trace JSON of one meta-step.

use crate::Error;
use crate::config::Experiment;
use occam_gpu::{Gpu, KernelTime, Profiler};
use occam_meta::engine::{GpuMetaEngine, UnrollExecution};
use occam_meta::problem::Orthogonality;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// Most dispatches one profiled meta-step times (2 timestamps each; wgpu
/// allows 4096 queries per set). Past it, dispatches run untimed and the
/// report says how many.
const PROFILED_DISPATCHES: u32 = 2048;

/// The q-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Per-kernel totals of one profiled meta-step, largest GPU time first.
fn kernel_table(times: &[KernelTime]) -> (Vec<Value>, f64, f64) {
    #[derive(Default)]
    struct Sum {
        dispatches: usize,
        nanos: f64,
        flops: f64,
        counted: bool,
    }
    let mut by_kernel: BTreeMap<&str, Sum> = BTreeMap::new();
    for t in times {
        let s = by_kernel.entry(&t.kernel).or_default();
        s.dispatches += 1;
        s.nanos += t.nanos;
        if let Some(f) = t.flops {
            s.flops += f;
            s.counted = true;
        }
    }
    let total: f64 = times.iter().map(|t| t.nanos).sum();
    let flops: f64 = times.iter().filter_map(|t| t.flops).sum();
    let mut rows: Vec<(&str, Sum)> = by_kernel.into_iter().collect();
    rows.sort_by(|a, b| b.1.nanos.total_cmp(&a.1.nanos));
    let table = rows
        .into_iter()
        .map(|(kernel, s)| {
            json!({
                "kernel": kernel,
                "dispatches": s.dispatches,
                "gpu_ms": s.nanos / 1e6,
                "share": if total > 0.0 { s.nanos / total } else { 0.0 },
                "flops": if s.counted { Some(s.flops) } else { None },
                "gflop_s": if s.counted && s.nanos > 0.0 { Some(s.flops / s.nanos) } else { None },
            })
        })
        .collect();
    (table, total, flops)
}

/// Chrome-trace JSON (chrome://tracing, Perfetto) of one profiled
/// meta-step: each dispatch on the "kernels" track, each phase on its own.
fn chrome_trace(times: &[KernelTime], adapter: &str) -> Value {
    let mut events = vec![
        json!({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": format!("occam on {adapter}")}}),
        json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "phases"}}),
        json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": 2, "args": {"name": "kernels"}}),
    ];
    let mut phases: Vec<(String, f64, f64)> = Vec::new();
    for t in times {
        let (start, end) = (t.start_nanos, t.start_nanos + t.nanos);
        match phases.last_mut() {
            Some((name, _, e)) if *name == t.scope => *e = e.max(end),
            _ => phases.push((t.scope.clone(), start, end)),
        }
        events.push(json!({
            "ph": "X", "pid": 1, "tid": 2, "name": t.kernel, "cat": t.scope,
            "ts": start / 1e3, "dur": t.nanos / 1e3,
            "args": { "flops": t.flops },
        }));
    }
    for (name, start, end) in phases {
        events.push(json!({
            "ph": "X", "pid": 1, "tid": 1, "name": name, "cat": "phase",
            "ts": start / 1e3, "dur": (end - start) / 1e3,
        }));
    }
    json!({ "traceEvents": events, "displayTimeUnit": "ms" })
}

/// What to time.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Meta-steps to time, after the warm-up.
    pub steps: usize,
    /// Untimed meta-steps first (pipeline compilation, caches).
    pub warmup: usize,
    /// Write a Chrome-trace JSON of one profiled meta-step here.
    pub trace: Option<std::path::PathBuf>,
}

/// Times `args.steps` meta-steps after `args.warmup` warm-up steps (each
/// timed step draws and uploads its data and runs one meta-step, as a run
/// does), then profiles one meta-step kernel by kernel and one phase by phase.
pub fn bench(gpu: &Gpu, exp: &Experiment, args: &BenchOptions) -> Result<Value, Error> {
    if args.steps == 0 {
        return Err(Error::input("--steps must be at least 1"));
    }
    let r = exp.resolve()?;
    crate::footprint::check(exp, &r, gpu.limits())?;
    let theta = r.initial_theta(exp.seed, 0);
    let sizes = r.step_sizes(exp.tasks);
    let setup_start = Instant::now();
    let mut engine = GpuMetaEngine::new(
        gpu,
        &r.problem,
        sizes,
        &theta,
        r.optimizer,
        &Orthogonality::default(),
    )?;
    let setup = setup_start.elapsed().as_secs_f64();
    let mut first_step = None;
    let (mut step_times, mut draw_times, mut load_times) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..args.warmup + args.steps {
        gpu.wait("bench")?;
        let start = Instant::now();
        let tasks = r.sampler.meta_step(exp.seed, step as u64, exp.tasks);
        let drawn = Instant::now();
        engine.load(gpu, &tasks)?;
        let loaded = Instant::now();
        engine.step(gpu, true)?;
        gpu.wait("bench")?;
        first_step.get_or_insert(start.elapsed().as_secs_f64());
        if step >= args.warmup {
            step_times.push(start.elapsed().as_secs_f64());
            draw_times.push((drawn - start).as_secs_f64());
            load_times.push((loaded - drawn).as_secs_f64());
        }
    }
    for times in [&mut step_times, &mut draw_times, &mut load_times] {
        times.sort_by(f64::total_cmp);
    }
    let med = quantile(&step_times, 0.5);
    let adapter = gpu.adapter();

    let profiler = match engine.needs_host() {
        true => None,
        false => Profiler::new(gpu, PROFILED_DISPATCHES),
    };
    let kernels = match profiler {
        _ if engine.needs_host() => {
            json!({ "source": "unavailable: a black-box learner's meta-step spans several submissions (see the phase times)" })
        }
        Some(mut profiler) => {
            let times = engine.step_profiled(gpu, true, &mut profiler)?;
            let (table, total_ns, flops) = kernel_table(&times);
            if let Some(path) = &args.trace {
                let trace = chrome_trace(&times, &adapter.name);
                std::fs::write(path, serde_json::to_string(&trace).expect("JSON")).map_err(
                    |e| Error::input(format!("--trace {}: cannot write: {e}", path.display())),
                )?;
            }
            json!({
                "source": "timestamp queries around every dispatch of one meta-step (one submission)",
                "gpu_ms": total_ns / 1e6,
                "counted_flops": flops,
                "gflop_s": if total_ns > 0.0 { flops / total_ns } else { 0.0 },
                "untimed_dispatches": profiler.untimed(),
                "kernels": table,
            })
        }
        None => {
            if let Some(path) = &args.trace {
                return Err(Error::input(format!(
                    "--trace {}: the adapter {} has no timestamp queries (try --backend vulkan)",
                    path.display(),
                    adapter.name
                )));
            }
            json!({ "source": "unavailable: the adapter has no timestamp queries" })
        }
    };
    // Drawing the tasks on one thread and on all, interleaved in the same
    // command (the same tasks either way).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (mut one, mut all) = (Vec::new(), Vec::new());
    for step in 0..args.steps.max(3) as u64 {
        for (times, t) in [(&mut one, 1), (&mut all, threads)] {
            let start = Instant::now();
            std::hint::black_box(r.sampler.meta_step_on(exp.seed, step, exp.tasks, t));
            times.push(start.elapsed().as_secs_f64());
        }
    }
    one.sort_by(f64::total_cmp);
    all.sort_by(f64::total_cmp);
    let (one_med, all_med) = (quantile(&one, 0.5), quantile(&all, 0.5));
    let phases = engine.step_timed(gpu, true)?;
    let total: f64 = phases.iter().map(|(_, t)| t).sum();
    let execution = engine.unroll_execution();
    let report = json!({
        "experiment": exp.name,
        "adapter": { "name": adapter.name, "backend": adapter.backend.to_string(), "device_type": adapter.device_type },
        "tasks": exp.tasks,
        "unroll": execution.to_string(),
        "fused": matches!(execution, UnrollExecution::Fused { .. }),
        "fused_layout": match &execution { UnrollExecution::Fused { layout, .. } => json!(layout), _ => json!(null) },
        "warmup_meta_steps": args.warmup,
        "timed_meta_steps": args.steps,
        "meta_step_s": {
            "median": med,
            "min": step_times[0],
            "q1": quantile(&step_times, 0.25),
            "q3": quantile(&step_times, 0.75),
            "max": step_times[step_times.len() - 1],
        },
        "meta_steps_per_s": 1.0 / med,
        "start_s": {
            "setup": setup,
            "first_meta_step": first_step,
            "to_first_result": setup + first_step.unwrap_or(0.0),
            "note": "wall clock: building the engine (compiling its kernels, unless a cache holds them), then the first meta-step (warm-up or timed), which waits for any compile the driver left to the first dispatch",
        },
        "timing": "wall clock per meta-step: draw and upload the data, record, submit, wait",
        "host_s": {
            "draw_median": quantile(&draw_times, 0.5),
            "load_median": quantile(&load_times, 0.5),
            "note": "inside meta_step_s: drawing the tasks' data on the CPU (on every thread, one stream per task), then converting it and queueing its upload",
        },
        "task_drawing_s": {
            "threads": threads,
            "one_thread_median": one_med,
            "all_threads_median": all_med,
            "speedup": one_med / all_med,
            "note": "one meta-step's tasks drawn on one thread and on all, alternately in this command (below 8 tasks one thread is used either way)",
        },
        "per_kernel": kernels,
        "phases_s": phases.iter().map(|(p, t)| json!({ "phase": p.name(), "s": t, "share": t / total })).collect::<Vec<_>>(),
        "phase_timing": "one meta-step submitted phase by phase, waiting after each (wall clock)",
        "trace": args.trace.as_ref().map(|p| p.display().to_string()),
    });
    Ok(report)
}
