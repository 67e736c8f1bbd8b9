//! Conv2d: the generated lanes kernels against `shaders/conv2d.wgsl`'s
//! (tiled forward, one thread per output elsewhere), pass by pass,
//! interleaved round by round in one process (GPU timestamps when the
//! adapter has them, else wall clock per submission).
//!
//! `cargo bench -p occam-ops --bench conv [IMAGES C_IN C_OUT SIZE KERNEL PAD]`;
//! the default is mnist01's second meta-learner layer on 200 images
//! (16 → 32 channels, 14 × 14, 5 × 5, pad 2). Without subgroups (no lanes
//! kernels) it times the tiled forward against the untiled one.

use occam_gpu::{Encoder, Gpu, GpuTensor, Profiler};
use occam_ops::{BilinearGpu, Conv2dGpu, Conv2dKernels, Conv2dShape, Cotangents, Operands};
use std::time::Instant;

const ROUNDS: usize = 9;
const DISPATCHES_PER_ROUND: usize = 2;

/// One pass of one kernel set, recorded into an encoder.
type Record<'a> = Box<dyn Fn(&mut Encoder<'_>) + 'a>;

/// The operands and outputs of every pass.
struct Tensors {
    x: GpuTensor,
    x_dot: GpuTensor,
    w: GpuTensor,
    w_dot: GpuTensor,
    y_bar: GpuTensor,
    y_bar_dot: GpuTensor,
    y: GpuTensor,
    x_bar: GpuTensor,
    w_bar: GpuTensor,
}

impl Tensors {
    fn record(&self, op: &Conv2dGpu, e: &mut Encoder<'_>, pass: &str) {
        let t = self;
        let at = Operands { x: &t.x, w: &t.w };
        let dir = Operands {
            x: &t.x_dot,
            w: &t.w_dot,
        };
        let out = Cotangents {
            x: Some(&t.x_bar),
            w: &t.w_bar,
        };
        match pass {
            "forward" => op.forward(e, at, &t.y),
            "backward" => op.backward(e, at, &t.y_bar, out),
            "tangent forward" => op.tangent_forward(e, at, dir, &t.y),
            _ => op.tangent_backward(e, at, dir, (&t.y_bar, &t.y_bar_dot), out),
        }
        .unwrap()
    }
}

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
    let fill = |n: usize, seed: u32| -> GpuTensor {
        let v: Vec<f32> = (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0
                    - 1.0
            })
            .collect();
        gpu.upload("bench", &v).unwrap()
    };
    let (x, x_dot) = (fill(shape.x_len(), 1), fill(shape.x_len(), 3));
    let (w, w_dot) = (fill(shape.w_len(), 2), fill(shape.w_len(), 4));
    let (y_bar, y_bar_dot) = (fill(shape.y_len(), 5), fill(shape.y_len(), 6));
    let y = gpu.zeros("y", shape.y_len()).unwrap();
    let x_bar = gpu.zeros("x_bar", shape.x_len()).unwrap();
    let w_bar = gpu.zeros("w_bar", shape.w_len()).unwrap();
    let t = Tensors {
        x,
        x_dot,
        w,
        w_dot,
        y_bar,
        y_bar_dot,
        y,
        x_bar,
        w_bar,
    };
    let shader = Conv2dGpu::with_kernels(&gpu, shape, Conv2dKernels::Tiled).unwrap();
    let lanes = Conv2dGpu::with_kernels(&gpu, shape, Conv2dKernels::Lanes).ok();
    // (pass, products, baseline, candidate)
    let f = shape.product_flops();
    let passes: Vec<(&str, f64, Record, Record)> = match &lanes {
        None => vec![(
            "forward",
            f,
            Box::new(|e| shader.forward_naive(e, &t.x, &t.w, &t.y).unwrap()),
            Box::new(|e| {
                shader
                    .forward(e, Operands { x: &t.x, w: &t.w }, &t.y)
                    .unwrap()
            }),
        )],
        Some(l) => [
            ("forward", 1.0),
            ("backward", 2.0),
            ("tangent forward", 2.0),
            ("tangent backward", 4.0),
        ]
        .into_iter()
        .map(|(pass, products)| {
            let (t, shader) = (&t, &shader);
            let r: (&str, f64, Record, Record) = (
                pass,
                products * f,
                Box::new(move |e| t.record(shader, e, pass)),
                Box::new(move |e| t.record(l, e, pass)),
            );
            r
        })
        .collect(),
    };
    let mut profiler = Profiler::new(&gpu, 4 * DISPATCHES_PER_ROUND as u32);
    let clock = if profiler.is_some() {
        "GPU timestamps"
    } else {
        "wall clock, one submission per round"
    };
    let mut sample = |record: &Record| -> f64 {
        let many = |enc: &mut Encoder<'_>| {
            for _ in 0..DISPATCHES_PER_ROUND {
                record(enc);
            }
        };
        match profiler.as_mut() {
            Some(p) => {
                let mut enc = gpu.profiled_encoder(p);
                many(&mut enc);
                enc.submit().unwrap();
                let t = p.read(&gpu).unwrap();
                t.iter().map(|t| t.nanos).sum::<f64>() * 1e-9 / DISPATCHES_PER_ROUND as f64
            }
            None => {
                let mut enc = gpu.encoder();
                many(&mut enc);
                let start = Instant::now();
                enc.submit().unwrap();
                gpu.wait("bench").unwrap();
                start.elapsed().as_secs_f64() / DISPATCHES_PER_ROUND as f64
            }
        }
    };
    println!("adapter: {}", gpu.adapter());
    println!(
        "shape: {images} images, {c_in} → {c_out} channels, {size}×{size}, kernel {kernel}, pad {padding}   timing: {clock}, median of {ROUNDS} rounds × {DISPATCHES_PER_ROUND} passes"
    );
    let (base, cand) = if lanes.is_some() {
        ("shader", "lanes")
    } else {
        ("untiled", "tiled")
    };
    println!(
        "{:<18} {:>11} {:>9} {:>11} {:>9} {:>9}",
        "pass",
        format!("{base} ms"),
        "GFLOP/s",
        format!("{cand} ms"),
        "GFLOP/s",
        "speed-up"
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    for (pass, flops, baseline, candidate) in &passes {
        sample(baseline);
        sample(candidate);
        let (mut b, mut c) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            b.push(sample(baseline));
            c.push(sample(candidate));
        }
        let (tb, tc) = (median(&mut b), median(&mut c));
        println!(
            "{pass:<18} {:>11.2} {:>9.2} {:>11.2} {:>9.2} {:>8.2}×",
            tb * 1e3,
            flops / tb * 1e-9,
            tc * 1e3,
            flops / tc * 1e-9,
            tb / tc
        );
    }
}
