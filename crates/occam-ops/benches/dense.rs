//! Dense-layer kernel benchmark: the kernel sets the adapter runs (tiled,
//! and the generated lanes kernels where it has subgroups) against each
//! other and the untiled baseline, side by side in the same process, rounds
//! interleaved so that machine noise hits all alike.
//!
//!     cargo bench -p occam-ops --bench dense [-- ROWS D_IN D_OUT [BATCH]]
//!
//! Default shape: the meta-learner's 330 × 150 → 150 layer. Reports each
//! kernel's median time per pass (GPU timestamps when the adapter has
//! them, else wall time over a batch of dispatches in one submission), its
//! GFLOP/s, and each set's speed ratio against the tiled kernels, naming
//! the adapter.

use occam_gpu::{Gpu, GpuTensor, Profiler};
use occam_ops::{BilinearGpu, Cotangents, DenseGpu, DenseKernels, DenseShape, Operands};
use std::time::Instant;

const DISPATCHES_PER_ROUND: usize = 20;
const ROUNDS: usize = 15;

#[derive(Clone, Copy, PartialEq)]
enum Pass {
    ForwardNaive,
    Forward,
    Backward,
    TangentForward,
    TangentBackward,
}

impl Pass {
    fn name(self) -> &'static str {
        match self {
            Pass::ForwardNaive => "forward (naive baseline)",
            Pass::Forward => "forward",
            Pass::Backward => "backward: input + params",
            Pass::TangentForward => "tangent forward",
            Pass::TangentBackward => "tangent backward: input + params",
        }
    }

    fn flops(self, s: DenseShape) -> f64 {
        let f = s.forward_flops();
        let input = 2.0 * (s.batch * s.rows * s.d_in * s.d_out) as f64;
        match self {
            Pass::ForwardNaive | Pass::Forward => f,
            Pass::Backward => input + f,
            Pass::TangentForward => 2.0 * f,
            Pass::TangentBackward => 2.0 * (input + f),
        }
    }
}

struct Buffers {
    x: GpuTensor,
    w: GpuTensor,
    y: GpuTensor,
    y_bar: GpuTensor,
    x_bar: GpuTensor,
    w_bar: GpuTensor,
}

fn record(dense: &DenseGpu, b: &Buffers, pass: Pass, enc: &mut occam_gpu::Encoder<'_>) {
    let at = Operands { x: &b.x, w: &b.w };
    let out = Cotangents {
        x: Some(&b.x_bar),
        w: &b.w_bar,
    };
    let r = match pass {
        Pass::ForwardNaive => dense.forward_naive(enc, &b.x, &b.w, &b.y),
        Pass::Forward => dense.forward(enc, at, &b.y),
        Pass::Backward => dense.backward(enc, at, &b.y_bar, out),
        // Tangents reuse the primal buffers as (ẋ, ẇ, ȳ̇): same cost, same shapes.
        Pass::TangentForward => dense.tangent_forward(enc, at, at, &b.y),
        Pass::TangentBackward => dense.tangent_backward(enc, at, at, (&b.y_bar, &b.y_bar), out),
    };
    r.expect("record dispatch");
}

/// Seconds per execution of `pass`, one sample per round.
fn sample(
    gpu: &Gpu,
    dense: &DenseGpu,
    b: &Buffers,
    pass: Pass,
    profiler: Option<&mut Profiler>,
) -> f64 {
    match profiler {
        Some(p) => {
            let mut enc = gpu.profiled_encoder(p);
            for _ in 0..DISPATCHES_PER_ROUND {
                record(dense, b, pass, &mut enc);
            }
            enc.submit().unwrap();
            let times = p.read(gpu).unwrap();
            times.iter().map(|t| t.nanos).sum::<f64>() * 1e-9 / DISPATCHES_PER_ROUND as f64
        }
        None => {
            let mut enc = gpu.encoder();
            for _ in 0..DISPATCHES_PER_ROUND {
                record(dense, b, pass, &mut enc);
            }
            let start = Instant::now();
            enc.submit().unwrap();
            gpu.wait("bench").unwrap();
            start.elapsed().as_secs_f64() / DISPATCHES_PER_ROUND as f64
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("shape arguments: ROWS D_IN D_OUT [BATCH]"))
        .collect();
    let shape = match args.as_slice() {
        [] => DenseShape {
            batch: 1,
            rows: 330,
            d_in: 150,
            d_out: 150,
        },
        [r, i, o] => DenseShape {
            batch: 1,
            rows: *r,
            d_in: *i,
            d_out: *o,
        },
        [r, i, o, b] => DenseShape {
            batch: *b,
            rows: *r,
            d_in: *i,
            d_out: *o,
        },
        _ => panic!("shape arguments: ROWS D_IN D_OUT [BATCH]"),
    };
    let gpu = Gpu::from_env(false).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let fill = |n: usize, seed: u32| -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect()
    };
    let b = Buffers {
        x: gpu.upload("x", &fill(shape.x_len(), 1)).unwrap(),
        w: gpu.upload("w", &fill(shape.w_len(), 2)).unwrap(),
        y: gpu.zeros("y", shape.y_len()).unwrap(),
        y_bar: gpu.upload("y_bar", &fill(shape.y_len(), 3)).unwrap(),
        x_bar: gpu.zeros("x_bar", shape.x_len()).unwrap(),
        w_bar: gpu.zeros("w_bar", shape.w_len()).unwrap(),
    };
    // The kernel sets to compare: tiled always, lanes where the adapter
    // has subgroups they run on.
    let mut sets = vec![(
        "tiled",
        DenseGpu::with_kernels(&gpu, shape, false, DenseKernels::Tiled).unwrap(),
    )];
    match DenseGpu::with_kernels(&gpu, shape, false, DenseKernels::Lanes) {
        Ok(dense) => sets.push(("lanes", dense)),
        Err(e) => eprintln!("no lanes kernels: {e}"),
    }
    // Two dispatches per pass at most (backward: input + params; the
    // split reductions add one each).
    let mut profiler = Profiler::new(&gpu, (4 * DISPATCHES_PER_ROUND) as u32);
    let clock = if profiler.is_some() {
        "GPU timestamps"
    } else {
        "wall clock, one submission per round"
    };
    let passes = [
        Pass::Forward,
        Pass::Backward,
        Pass::TangentForward,
        Pass::TangentBackward,
    ];
    // (set index, pass): the naive baseline runs once, on the first set.
    let mut runs = vec![(0, Pass::ForwardNaive)];
    for i in 0..sets.len() {
        runs.extend(passes.iter().map(|&p| (i, p)));
    }

    // Warm-up: compile, first-touch memory.
    for &(i, pass) in &runs {
        sample(&gpu, &sets[i].1, &b, pass, profiler.as_mut());
    }
    let mut samples = vec![Vec::new(); runs.len()];
    for _ in 0..ROUNDS {
        for (j, &(i, pass)) in runs.iter().enumerate() {
            samples[j].push(sample(&gpu, &sets[i].1, &b, pass, profiler.as_mut()));
        }
    }

    println!("adapter: {}", gpu.adapter());
    println!(
        "shape: batch {} × rows {} × d_in {} → d_out {}   timing: {clock}, median of {ROUNDS} rounds × {DISPATCHES_PER_ROUND} passes",
        shape.batch, shape.rows, shape.d_in, shape.d_out
    );
    println!(
        "{:<8} {:<34} {:>12} {:>10} {:>10}",
        "kernels", "pass", "time (µs)", "GFLOP/s", "vs tiled"
    );
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    for (j, &(i, pass)) in runs.iter().enumerate() {
        let t = medians[j];
        let set = if pass == Pass::ForwardNaive {
            "naive"
        } else {
            sets[i].0
        };
        // The tiled run of the same pass (set 0, same position in `passes`).
        let tiled = runs
            .iter()
            .position(|&(k, p)| k == 0 && p == pass && pass != Pass::ForwardNaive)
            .or_else(|| runs.iter().position(|&(k, p)| k == 0 && p == Pass::Forward))
            .map(|k| medians[k])
            .unwrap_or(t);
        println!(
            "{:<8} {:<34} {:>12.1} {:>10.2} {:>9.2}×",
            set,
            pass.name(),
            t * 1e6,
            pass.flops(shape) / t * 1e-9,
            tiled / t
        );
    }
}
