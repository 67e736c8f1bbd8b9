//! Conv2d forward: the tiled kernel against the one-thread-per-output
//! baseline, interleaved round by round in one process (GPU timestamps when
//! the adapter has them, else wall clock per submission).
//!
//! `cargo bench -p occam-ops --bench conv [IMAGES C_IN C_OUT SIZE KERNEL PAD]`;
//! the default is mnist01's second meta-learner layer on 200 images
//! (16 → 32 channels, 14 × 14, 5 × 5, pad 2).

use occam_gpu::{Gpu, Profiler};
use occam_ops::{Conv2dGpu, Conv2dShape};
use std::time::Instant;

const ROUNDS: usize = 9;
const DISPATCHES_PER_ROUND: usize = 4;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| {
            a.parse()
                .expect("arguments: IMAGES C_IN C_OUT SIZE KERNEL PAD")
        })
        .collect();
    let (images, c_in, c_out, size, kernel, padding) = match args.as_slice() {
        [] => (200, 16, 32, 14, 5, 2),
        [a, b, c, d, e, f] => (*a, *b, *c, *d, *e, *f),
        _ => panic!("arguments: IMAGES C_IN C_OUT SIZE KERNEL PAD"),
    };
    let shape = Conv2dShape {
        batch: 1,
        images,
        c_in,
        c_out,
        height: size,
        width: size,
        kernel,
        padding,
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
    let x = gpu.upload("x", &fill(shape.x_len(), 1)).unwrap();
    let w = gpu.upload("w", &fill(shape.w_len(), 2)).unwrap();
    let y = gpu.zeros("y", shape.y_len()).unwrap();
    let op = Conv2dGpu::new(&gpu, shape).unwrap();
    let mut profiler = Profiler::new(&gpu, DISPATCHES_PER_ROUND as u32);
    let clock = if profiler.is_some() {
        "GPU timestamps"
    } else {
        "wall clock, one submission per round"
    };
    let mut sample = |tiled: bool| -> f64 {
        let record = |enc: &mut occam_gpu::Encoder<'_>| {
            for _ in 0..DISPATCHES_PER_ROUND {
                if tiled {
                    op.forward(enc, &x, &w, &y).unwrap();
                } else {
                    op.forward_naive(enc, &x, &w, &y).unwrap();
                }
            }
        };
        match profiler.as_mut() {
            Some(p) => {
                let mut enc = gpu.profiled_encoder(p);
                record(&mut enc);
                enc.submit().unwrap();
                let t = p.read(&gpu).unwrap();
                t.iter().map(|t| t.nanos).sum::<f64>() * 1e-9 / DISPATCHES_PER_ROUND as f64
            }
            None => {
                let mut enc = gpu.encoder();
                record(&mut enc);
                let start = Instant::now();
                enc.submit().unwrap();
                gpu.wait("bench").unwrap();
                start.elapsed().as_secs_f64() / DISPATCHES_PER_ROUND as f64
            }
        }
    };
    sample(false);
    sample(true);
    let (mut naive, mut tiled) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        naive.push(sample(false));
        tiled.push(sample(true));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (tn, tt) = (median(&mut naive), median(&mut tiled));
    let flops = 2.0 * (shape.y_len() * (shape.fan())) as f64;
    println!("adapter: {}", gpu.adapter());
    println!(
        "shape: {images} images, {c_in} → {c_out} channels, {size}×{size}, kernel {kernel}, pad {padding}   timing: {clock}, median of {ROUNDS} rounds × {DISPATCHES_PER_ROUND} dispatches"
    );
    println!(
        "naive forward  {:>10.1} ms {:>8.2} GFLOP/s",
        tn * 1e3,
        flops / tn * 1e-9
    );
    println!(
        "tiled forward  {:>10.1} ms {:>8.2} GFLOP/s",
        tt * 1e3,
        flops / tt * 1e-9
    );
    println!("tiled forward speed-up over naive: {:.2}×", tn / tt);
}
