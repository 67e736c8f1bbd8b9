//! The fused unroll at every workgroup width gives bit-identical results.
//! Hardware runs it at 256 threads per workgroup and software adapters at 64;
//! the 64-thread kernel is held to the f64 reference by `gpu_meta_step.rs`,
//! so running the hardware width here, on whatever adapter CI has, checks
//! that width too (every value is summed by one thread in a fixed order, so
//! any difference is a bug: a stride, a barrier, a bound).

mod support;

use occam_ops::Activation;
use occam_ops::check::rel_error;
use occam_ops::unroll::{UnrollGpu, UnrollInputs, UnrollLayer, UnrollLayout, UnrollShape};
use rand::Rng;

fn shape(constrained: bool, full_batch: bool, every: usize) -> UnrollShape {
    shape_of_width(constrained, full_batch, every, 20)
}

/// The same learner with `h` units per hidden layer.
fn shape_of_width(constrained: bool, full_batch: bool, every: usize, h: usize) -> UnrollShape {
    UnrollShape {
        tasks: 3,
        batch: if full_batch { 12 } else { 7 },
        train: 12,
        steps: 30,
        every,
        lr: 0.05,
        constrained,
        layers: vec![
            UnrollLayer::Dense { d_in: 3, d_out: h },
            UnrollLayer::Act {
                width: h,
                act: Activation::Tanh,
            },
            UnrollLayer::Dense { d_in: h, d_out: h },
            UnrollLayer::Act {
                width: h,
                act: Activation::Relu,
            },
            UnrollLayer::Dense { d_in: h, d_out: 1 },
        ],
    }
}

/// w_T, every checkpoint, w̄_0 and z̄ from one forward and one reverse sweep.
fn run(gpu: &occam_gpu::Gpu, s: &UnrollShape, layout: UnrollLayout, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = support::rng(seed);
    let mut f32s = |n: usize, lo: f64, hi: f64| -> Vec<f32> {
        support::uniform(&mut rng, n, lo, hi)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    };
    let all = s.tasks * s.n_params();
    let x = f32s(s.tasks * s.train * 3, -1.0, 1.0);
    let z = f32s(s.tasks * s.train, -1.0, 1.0);
    let w0 = f32s(all, -0.5, 0.5);
    let v0 = f32s(all, -1.0, 1.0);
    let side = if s.constrained { all } else { 1 };
    let mask: Vec<f32> = f32s(side, 0.0, 1.0)
        .into_iter()
        .map(|u| if u < 0.2 { 0.0 } else { 1.0 })
        .collect();
    let signs: Vec<f32> = f32s(side, 0.0, 3.0)
        .into_iter()
        .map(|u| u.floor() - 1.0)
        .collect();
    let mut rng = support::rng(seed + 1);
    let idx: Vec<u32> = (0..s.steps * s.tasks * s.batch)
        .map(|i| {
            if s.batch == s.train {
                (i % s.batch) as u32
            } else {
                rng.random_range(0..s.train as u32)
            }
        })
        .collect();
    let op = UnrollGpu::with_layout(gpu, s.clone(), layout).unwrap();
    let up = |name: &str, v: &[f32]| gpu.upload(name, v).unwrap();
    let (xt, zt, mt, st) = (
        up("x", &x),
        up("z", &z),
        up("mask", &mask),
        up("signs", &signs),
    );
    let it = gpu.upload_u32("idx", &idx).unwrap();
    let io = UnrollInputs {
        x: &xt,
        z: &zt,
        idx: &it,
        mask: &mt,
        signs: &st,
    };
    let (w, v) = (up("w", &w0), up("v", &v0));
    let hist = gpu.zeros("hist", s.checkpoints() * all).unwrap();
    let z_bar = gpu.zeros("z_bar", s.tasks * s.train).unwrap();
    let mut enc = gpu.encoder();
    op.forward(&mut enc, &io, &w, &hist).unwrap();
    op.backward(&mut enc, &io, &hist, &v, &z_bar).unwrap();
    enc.submit().unwrap();
    [&w, &hist, &v, &z_bar]
        .iter()
        .map(|t| gpu.read(t).unwrap())
        .collect()
}

#[test]
fn fused_unroll_gives_the_same_bits_at_64_256_and_1024_threads() {
    let cases = [
        (false, true, 1),
        (true, false, 4),
        (true, true, 7),
        (false, false, 3),
    ];
    for gpu in support::gpus() {
        let most = gpu.limits().max_compute_invocations_per_workgroup;
        for (i, &(constrained, full_batch, every)) in cases.iter().enumerate() {
            let s = shape(constrained, full_batch, every);
            let wg = |threads| UnrollLayout::Workgroup { threads };
            let base = run(gpu, &s, wg(64), 90 + i as u64);
            assert!(base[3].iter().any(|&v| v != 0.0), "z̄ stayed zero");
            for threads in [256, 1024].into_iter().filter(|&t| t <= most) {
                let got = run(gpu, &s, wg(threads), 90 + i as u64);
                for (name, (a, b)) in ["w_T", "checkpoints", "w̄_0", "z̄"]
                    .iter()
                    .zip(base.iter().zip(&got))
                {
                    let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(
                        same,
                        "{name} differs between 64 and {threads} threads (case {i}: constrained {constrained}, full batch {full_batch}, every {every}) on {}",
                        gpu.adapter()
                    );
                }
            }
        }
    }
}

/// The lanes layout (one subgroup per task, each lane a private copy of the
/// weights and a share of the rows, sums across lanes by shuffles) runs the
/// same steps as the workgroup layout, summing in another order: the two
/// agree to f32 rounding, and the lanes layout repeats its own bits.
#[test]
fn lanes_and_workgroup_layouts_agree_and_lanes_repeat_their_bits() {
    let cases = [
        (false, true, 1),
        (true, false, 4),
        (true, true, 7),
        (false, false, 3),
    ];
    for gpu in support::lanes_gpus() {
        let lanes = UnrollLayout::lanes(gpu).unwrap();
        for (i, &(constrained, full_batch, every)) in cases.iter().enumerate() {
            // 8 hidden units: the lanes kernels' private arrays are sized to
            // the learner, and small ones compile in seconds on llvmpipe.
            let s = shape_of_width(constrained, full_batch, every, 8);
            let what = format!(
                "case {i} (constrained {constrained}, full batch {full_batch}, every {every}) on {}",
                gpu.adapter()
            );
            let base = run(
                gpu,
                &s,
                UnrollLayout::Workgroup { threads: 64 },
                90 + i as u64,
            );
            let got = run(gpu, &s, lanes, 90 + i as u64);
            for (name, (a, b)) in ["w_T", "checkpoints", "w̄_0", "z̄"]
                .iter()
                .zip(base.iter().zip(&got))
            {
                let to64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
                let err = rel_error(&[to64(b)], &[to64(a)]);
                assert!(err < 1e-4, "{name}: lanes vs workgroup {err:e}, {what}");
            }
            let again = run(gpu, &s, lanes, 90 + i as u64);
            let same = got
                .iter()
                .flatten()
                .zip(again.iter().flatten())
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "the lanes layout gave other bits on a rerun, {what}");
        }
    }
}

#[test]
fn fused_unroll_refuses_a_width_the_adapter_does_not_allow() {
    for gpu in support::gpus() {
        let most = gpu.limits().max_compute_invocations_per_workgroup;
        for wg in [0, most + 1] {
            let err = UnrollGpu::with_threads(gpu, shape(false, true, 1), wg)
                .err()
                .expect("refused");
            assert!(err.to_string().contains("threads per workgroup"), "{err}");
        }
    }
}
