//! Sinkhorn-divergence benchmark: the forward pass with its ε list spread
//! over workgroups (one dispatch per entry, up to the planned diameter)
//! against the same list looped on one workgroup per task, each with the
//! tiled folds and (where the adapter has subgroups) the generated lanes
//! folds, and the backward pass, side by side in the same process, rounds
//! interleaved so that machine noise hits all alike.
//!
//!     cargo bench -p occam-ops --bench sinkhorn [-- N M [TASKS [SPREAD]]]
//!
//! Default: mushroom_random's 300 labels against 300 samples, one task,
//! labels uniform on [−SPREAD, SPREAD] with SPREAD 1 (a diameter of about
//! 2, the list's usual length; a SPREAD over 32 sends the entries past the
//! planned diameter to the looped kernel in every plan). Wall clock over a
//! batch of passes in one submission (every dispatch's start included, as a
//! meta-step pays it), medians over rounds, ratios against the looped tiles,
//! naming the adapter; the plans' losses are compared too (they run the same
//! arithmetic per query).

use occam_gpu::{Gpu, GpuTensor};
use occam_ops::sinkhorn::PLANNED_DIAMETER;
use occam_ops::{SinkhornFolds, SinkhornGpu, SinkhornPlan};
use std::time::Instant;

const PASSES_PER_ROUND: usize = 10;
const ROUNDS: usize = 9;

struct Buffers {
    z: GpuTensor,
    u: GpuTensor,
    loss: GpuTensor,
    z_bar: GpuTensor,
}

/// Seconds per pass (forward, or forward + backward), one submission.
fn sample(gpu: &Gpu, op: &SinkhornGpu, b: &Buffers, backward: bool) -> f64 {
    let mut enc = gpu.encoder();
    for _ in 0..PASSES_PER_ROUND {
        op.forward(&mut enc, &b.z, &b.u, &b.loss).unwrap();
        if backward {
            op.backward(&mut enc, &b.z, &b.u, &b.z_bar).unwrap();
        }
    }
    let start = Instant::now();
    enc.submit().unwrap();
    gpu.wait("bench").unwrap();
    start.elapsed().as_secs_f64() / PASSES_PER_ROUND as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("arguments: N M [TASKS [SPREAD]]"))
        .collect();
    let (n, m, tasks, spread) = match args.as_slice() {
        [] => (300, 300, 1, 1.0),
        [n, m] => (*n as usize, *m as usize, 1, 1.0),
        [n, m, t] => (*n as usize, *m as usize, *t as usize, 1.0),
        [n, m, t, s] => (*n as usize, *m as usize, *t as usize, *s),
        _ => panic!("arguments: N M [TASKS [SPREAD]]"),
    };
    let gpu = Gpu::from_env(false).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let fill = |len: usize, seed: u32, scale: f64| -> Vec<f32> {
        (0..len)
            .map(|i| {
                let r = (i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001;
                ((f64::from(r) / 1000.0 - 1.0) * scale) as f32
            })
            .collect()
    };
    let b = Buffers {
        z: gpu.upload("z", &fill(tasks * n, 1, spread)).unwrap(),
        u: gpu.upload("u", &fill(tasks * m, 2, 1.0)).unwrap(),
        loss: gpu.zeros("loss", tasks).unwrap(),
        z_bar: gpu.zeros("z_bar", tasks * n).unwrap(),
    };
    let (blur, scaling) = (0.05, 0.5);
    let make = |planned_diameter, folds| {
        let plan = SinkhornPlan {
            planned_diameter,
            folds,
        };
        SinkhornGpu::with_plan(&gpu, tasks, n, m, 1.0, blur, scaling, plan)
    };
    let mut plans = Vec::new();
    for (folds, name) in [
        (SinkhornFolds::Tiles, "tiles"),
        (SinkhornFolds::Lanes, "lanes"),
    ] {
        for (planned, how) in [(None, "looped"), (Some(PLANNED_DIAMETER), "spread")] {
            match make(planned, folds) {
                Ok(op) => plans.push((format!("{how}, {name}"), op)),
                Err(e) => eprintln!("no {name} folds: {e}"),
            }
        }
    }
    // Warm-up (compile, first touch), and each plan's loss.
    let mut losses = Vec::new();
    for (_, op) in &plans {
        sample(&gpu, op, &b, true);
        losses.push(gpu.read(&b.loss).unwrap());
    }
    let runs: Vec<(usize, bool)> = (0..plans.len())
        .flat_map(|i| [(i, false), (i, true)])
        .collect();
    let mut samples = vec![Vec::new(); runs.len()];
    for _ in 0..ROUNDS {
        for (j, &(i, backward)) in runs.iter().enumerate() {
            samples[j].push(sample(&gpu, &plans[i].1, &b, backward));
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();

    println!("adapter: {}", gpu.adapter());
    println!(
        "{n} labels × {m} samples × {tasks} task(s), labels on [−{spread}, {spread}], blur {blur}, scaling {scaling}; \
         wall clock, median of {ROUNDS} rounds × {PASSES_PER_ROUND} passes in one submission"
    );
    println!(
        "{:<15} {:>11} {:<22} {:>12} {:>12}",
        "plan", "dispatches", "pass", "time (ms)", "vs looped"
    );
    for (j, &(i, backward)) in runs.iter().enumerate() {
        let base = runs
            .iter()
            .position(|&(k, bw)| k == 0 && bw == backward)
            .map(|k| medians[k])
            .unwrap();
        println!(
            "{:<15} {:>11} {:<22} {:>12.3} {:>11.2}×",
            plans[i].0,
            plans[i].1.forward_dispatches() + usize::from(backward),
            if backward {
                "forward + backward"
            } else {
                "forward"
            },
            medians[j] * 1e3,
            base / medians[j]
        );
    }
    let worst = losses[1..]
        .iter()
        .flat_map(|l| l.iter().zip(&losses[0]))
        .map(|(a, b)| ((a - b) / b.abs().max(1e-30)).abs())
        .fold(0.0f32, f32::max);
    println!("losses against the looped tiles: largest relative difference {worst:.2e}");
    let chosen = SinkhornPlan::for_shape(&gpu, tasks, n, m);
    println!(
        "SinkhornPlan::for_shape here: {} ({} software threads)",
        if chosen.planned_diameter.is_some() {
            "spread"
        } else {
            "looped"
        },
        gpu.software_threads()
            .map_or("no".to_string(), |t| t.to_string())
    );
}
