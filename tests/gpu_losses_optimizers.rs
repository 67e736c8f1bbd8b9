//! The non-differentiated kernels: optimisers against hand-computed PyTorch
//! values, the energy distance against its CPU twin (and the twin against
//! finite differences), and the minibatch gather/scatter against plain loops.

mod support;

use occam_gpu::Gpu;
use occam_ops::energy::energy_distance;
use occam_ops::{AxpyGpu, EnergyGpu, GatherGpu, OptimizerGpu, OptimizerKind, StepCursor, axpy_cpu};

/// Runs `steps` optimiser steps on the GPU from w0 with the given gradients.
fn run_optimizer(gpu: &Gpu, kind: OptimizerKind, w0: &[f32], grads: &[Vec<f32>]) -> Vec<f32> {
    let w = gpu.upload("w", w0).unwrap();
    let opt = OptimizerGpu::new(gpu, kind, w0.len()).unwrap();
    for (t, g) in grads.iter().enumerate() {
        let g = gpu.upload("g", g).unwrap();
        opt.set_step(gpu, t as u64 + 1);
        let mut enc = gpu.encoder();
        opt.step(&mut enc, &w, &g).unwrap();
        enc.submit().unwrap();
        gpu.wait("optimizer").unwrap();
    }
    gpu.read(&w).unwrap()
}

#[test]
fn gpu_adam_matches_hand_computed_pytorch_steps() {
    for gpu in support::gpus() {
        let kind = OptimizerKind::Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        // Step 1 (g = 0.5): m = 0.05, v = 2.5e-4, m̂ = 0.5, v̂ = 0.25 → w = 1 − 0.1·0.5/0.5 = 0.9.
        // Step 2 (g = −0.25): m = 0.02, v = 3.1225e-4, c1 = 0.19, c2 = 1.999e-3
        //   → w = 0.9 − (0.1/0.19)·0.02 / (√3.1225e-4/√1.999e-3 + 1e-8) = 0.873367…
        let w = run_optimizer(
            gpu,
            kind,
            &[1.0, -2.0],
            &[vec![0.5, -3.0], vec![-0.25, 1.0]],
        );
        assert!((w[0] - 0.873_367).abs() < 2e-6, "adam: {w:?}");
        // Second coordinate: step 1 moves by +lr (Adam's first step is lr·sign(g)).
        let m2: f64 = 0.9 * -0.3 + 0.1 * 1.0;
        let v2: f64 = 0.999 * 0.001 * 9.0 + 0.001 * 1.0;
        let want = -2.0 + 0.1 - (0.1 / 0.19) * m2 / ((v2.sqrt() / 0.001999f64.sqrt()) + 1e-8);
        assert!(
            (f64::from(w[1]) - want).abs() < 2e-6,
            "adam: {w:?} vs {want}"
        );
    }
}

#[test]
fn gpu_adagrad_and_sgd_match_hand_computed_pytorch_steps() {
    for gpu in support::gpus() {
        // Adagrad: s = 0.25 → w = 1 − 0.1·0.5/0.5 = 0.9; then s = 0.3125 → w = 0.9 + 0.1·0.25/√0.3125.
        let w = run_optimizer(
            gpu,
            OptimizerKind::Adagrad {
                lr: 0.1,
                eps: 1e-10,
            },
            &[1.0],
            &[vec![0.5], vec![-0.25]],
        );
        let want = 0.9 + 0.1 * 0.25 / 0.3125f64.sqrt();
        assert!(
            (f64::from(w[0]) - want).abs() < 1e-6,
            "adagrad: {w:?} vs {want}"
        );
        let w = run_optimizer(
            gpu,
            OptimizerKind::Sgd { lr: 0.1 },
            &[1.0],
            &[vec![0.5], vec![-0.25]],
        );
        assert!((w[0] - 0.975).abs() < 1e-7, "sgd: {w:?}");
    }
}

#[test]
fn gpu_axpy_matches_its_twin_and_adds_with_the_bits_of_the_sgd_step_it_replaced() {
    for gpu in support::gpus() {
        let mut rng = support::rng(7);
        // 133 values: not a multiple of the workgroup size.
        let x: Vec<f32> = support::uniform(&mut rng, 133, -3.0, 3.0)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let y0: Vec<f32> = support::uniform(&mut rng, 133, -3.0, 3.0)
            .iter()
            .map(|&v| v as f32)
            .collect();
        for a in [1.0, -0.5, 2.25] {
            let (xg, yg) = (gpu.upload("x", &x).unwrap(), gpu.upload("y", &y0).unwrap());
            let op = AxpyGpu::new(gpu, a, x.len()).unwrap();
            let mut enc = gpu.encoder();
            op.record(&mut enc, &yg, &xg).unwrap();
            enc.submit().unwrap();
            let got = gpu.read(&yg).unwrap();
            let mut want: Vec<f64> = y0.iter().map(|&v| f64::from(v)).collect();
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            axpy_cpu(a, &x64, &mut want).unwrap();
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*g) - w).abs() <= 4e-7 * w.abs().max(1.0),
                    "a = {a}, value {i}: {g} vs {w}"
                );
            }
            // Adding (a = 1) gives the bits that w − (−1)·g gave, so the
            // three places that used that SGD step kept their outputs.
            if a == 1.0 {
                let sgd = run_optimizer(
                    gpu,
                    OptimizerKind::Sgd { lr: -1.0 },
                    &y0,
                    std::slice::from_ref(&x),
                );
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&sgd));
            }
        }
        // Lengths are checked.
        let op = AxpyGpu::new(gpu, 1.0, 4).unwrap();
        let (short, long) = (
            gpu.zeros("short", 3).unwrap(),
            gpu.zeros("long", 4).unwrap(),
        );
        let err = op.record(&mut gpu.encoder(), &long, &short).unwrap_err();
        assert!(err.to_string().contains("axpy"), "{err}");
        assert!(axpy_cpu(1.0, &[1.0], &mut [0.0, 0.0]).is_err());
    }
}

#[test]
fn energy_twin_gradient_matches_finite_differences() {
    let mut rng = support::rng(5);
    let z = support::uniform(&mut rng, 40, -1.5, 1.5);
    let u = support::uniform(&mut rng, 25, -1.0, 1.0);
    let (_, grad) = energy_distance(&z, &u);
    let h = 1e-7;
    for i in [0, 7, 39] {
        let mut zp = z.clone();
        zp[i] += h;
        let mut zm = z.clone();
        zm[i] -= h;
        let fd = (energy_distance(&zp, &u).0 - energy_distance(&zm, &u).0) / (2.0 * h);
        assert!((fd - grad[i]).abs() < 1e-7, "z[{i}]: {fd} vs {}", grad[i]);
    }
}

#[test]
fn gpu_energy_matches_cpu_twin() {
    for gpu in support::gpus() {
        let mut rng = support::rng(6);
        let (tasks, n, n_u, weight) = (3, 300, 257, 7.0);
        let z = support::uniform(&mut rng, tasks * n, -1.2, 1.2);
        let u = support::uniform(&mut rng, tasks * n_u, -1.0, 1.0);
        let op = EnergyGpu::new(gpu, tasks, n, n_u, weight).unwrap();
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
        let (zt, ut) = (
            gpu.upload("z", &f32s(&z)).unwrap(),
            gpu.upload("u", &f32s(&u)).unwrap(),
        );
        let loss = gpu.zeros("loss", tasks).unwrap();
        let z_bar = gpu.upload("z_bar", &vec![0.5; tasks * n]).unwrap();
        let mut enc = gpu.encoder();
        op.forward(&mut enc, &zt, &ut, &loss).unwrap();
        op.backward(&mut enc, &zt, &ut, &z_bar).unwrap();
        enc.submit().unwrap();
        let (loss, z_bar) = (gpu.read(&loss).unwrap(), gpu.read(&z_bar).unwrap());
        for b in 0..tasks {
            let (value, grad) = energy_distance(&z[b * n..(b + 1) * n], &u[b * n_u..(b + 1) * n_u]);
            let got = f64::from(loss[b]);
            assert!(
                (got - weight * value).abs() < 1e-5 * weight,
                "task {b}: {got} vs {}",
                weight * value
            );
            for i in 0..n {
                // The backward pass accumulates onto the 0.5 already there.
                let want = 0.5 + weight * grad[i];
                assert!(
                    (f64::from(z_bar[b * n + i]) - want).abs() < 1e-5,
                    "task {b} z_bar[{i}]"
                );
            }
        }
    }
}

#[test]
fn gpu_gather_and_its_scatter_add_match_plain_loops() {
    for gpu in support::gpus() {
        let (tasks, n, m, width, steps) = (2, 5, 4, 3, 3);
        let mut rng = support::rng(8);
        let src = support::uniform(&mut rng, tasks * m * width, -1.0, 1.0);
        let dst_bar = support::uniform(&mut rng, tasks * n * width, -1.0, 1.0);
        // With replacement: rows repeat within a batch.
        let idx: Vec<u32> = (0..steps * tasks * n)
            .map(|k| ((k * 7 + k / 3) % m) as u32)
            .collect();
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
        let op = GatherGpu::new(gpu, tasks, n, m, width, 0.5).unwrap();
        let cursor = StepCursor::new(gpu, steps).unwrap();
        let (idx_t, src_t) = (
            gpu.upload_u32("idx", &idx).unwrap(),
            gpu.upload("src", &f32s(&src)).unwrap(),
        );
        let dst = gpu.zeros("dst", tasks * n * width).unwrap();
        let dst_bar_t = gpu.upload("dst_bar", &f32s(&dst_bar)).unwrap();
        let src_bar = gpu.zeros("src_bar", tasks * m * width).unwrap();
        let t = 2;
        let mut enc = gpu.encoder();
        cursor.set(&mut enc, t).unwrap();
        op.forward(&mut enc, &cursor, &idx_t, &src_t, &dst).unwrap();
        op.backward(&mut enc, &cursor, &idx_t, &dst_bar_t, &src_bar)
            .unwrap();
        enc.submit().unwrap();
        let (dst, src_bar) = (gpu.read(&dst).unwrap(), gpu.read(&src_bar).unwrap());
        let mut want_bar = vec![0.0; tasks * m * width];
        for b in 0..tasks {
            for i in 0..n {
                let row = idx[(t * tasks + b) * n + i] as usize;
                for c in 0..width {
                    assert_eq!(
                        f64::from(dst[(b * n + i) * width + c]),
                        src[(b * m + row) * width + c]
                    );
                    want_bar[(b * m + row) * width + c] += 0.5 * dst_bar[(b * n + i) * width + c];
                }
            }
        }
        for (g, w) in src_bar.iter().zip(&want_bar) {
            assert!((f64::from(*g) - w).abs() < 1e-6);
        }
    }
}

/// The Sinkhorn plans `gpu` runs: the ε list looped and spread, each with
/// the tiled folds and, where the adapter's subgroups allow, the generated
/// lanes folds (required on a software Vulkan adapter: lavapipe in CI).
fn sinkhorn_plans(gpu: &occam_gpu::Gpu) -> Vec<occam_ops::SinkhornPlan> {
    use occam_ops::sinkhorn::PLANNED_DIAMETER;
    use occam_ops::{SinkhornFolds, SinkhornGpu, SinkhornPlan};
    let lanes = SinkhornGpu::with_plan(
        gpu,
        1,
        3,
        2,
        1.0,
        0.05,
        0.5,
        SinkhornPlan {
            planned_diameter: None,
            folds: SinkhornFolds::Lanes,
        },
    );
    let a = gpu.adapter();
    if let (true, Err(e)) = (
        a.is_software && a.backend == occam_gpu::Backend::Vulkan,
        &lanes,
    ) {
        panic!("{} runs no Sinkhorn lanes folds: {e}", a.name);
    }
    let mut folds = vec![SinkhornFolds::Tiles];
    folds.extend(lanes.ok().map(|_| SinkhornFolds::Lanes));
    folds
        .into_iter()
        .flat_map(|folds| {
            [None, Some(PLANNED_DIAMETER)].map(|planned_diameter| SinkhornPlan {
                planned_diameter,
                folds,
            })
        })
        .collect()
}

#[test]
fn gpu_sinkhorn_matches_cpu_twin() {
    use occam_ops::SinkhornGpu;
    use occam_ops::sinkhorn::PLANNED_DIAMETER;
    use occam_ops::sinkhorn::sinkhorn_divergence;
    // 300 × 300 is mushroom_random's size; 97 and 1500 are not multiples of
    // 4, of a tile, of a subgroup or of a block of queries: padding counts.
    // Labels spread over 230 (past the planned diameter of 64) run the ε
    // list's first entries as spread dispatches and the rest on one
    // workgroup per task (at 1500 × 1500 on a software adapter, one entry
    // per dispatch to stay under llvmpipe's cap of 65535 loop iterations
    // per invocation). Every plan gives the same loss, bit for bit.
    let cases = [
        ((120, 97), 1.0),
        ((300, 300), 1.0),
        ((1500, 1500), 1.0),
        ((120, 97), 115.0),
        ((1500, 1500), 115.0),
    ];
    for (gpu, ((n, m), spread)) in support::gpus().iter().flat_map(|g| cases.map(|c| (g, c))) {
        let mut rng = support::rng(21);
        let (tasks, weight, blur) = (2, 3.0, 0.05);
        let z = support::uniform(&mut rng, tasks * n, -0.7 * spread, 1.3 * spread);
        let u = support::uniform(&mut rng, tasks * m, -1.0, 1.0);
        assert_eq!(spread > 1.0, 2.0 * spread > PLANNED_DIAMETER);
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
        let (zt, ut) = (
            gpu.upload("z", &f32s(&z)).unwrap(),
            gpu.upload("u", &f32s(&u)).unwrap(),
        );
        let mut first: Option<Vec<f32>> = None;
        for plan in sinkhorn_plans(gpu) {
            let op = SinkhornGpu::with_plan(gpu, tasks, n, m, weight, blur, 0.5, plan).unwrap();
            assert!(op.forward_dispatches() > op.spread_entries() + 2);
            let loss = gpu.zeros("loss", tasks).unwrap();
            let z_bar = gpu.zeros("z_bar", tasks * n).unwrap();
            let mut enc = gpu.encoder();
            op.forward(&mut enc, &zt, &ut, &loss).unwrap();
            op.backward(&mut enc, &zt, &ut, &z_bar).unwrap();
            enc.submit().unwrap();
            let (loss, z_bar) = (gpu.read(&loss).unwrap(), gpu.read(&z_bar).unwrap());
            let case = format!("{n} x {m}, spread {spread}, {plan:?}");
            match &first {
                None => first = Some(loss.clone()),
                Some(l) => assert_eq!(l, &loss, "{case}: the plans' losses differ"),
            }
            for b in 0..tasks {
                let (value, grad) =
                    sinkhorn_divergence(&z[b * n..(b + 1) * n], &u[b * m..(b + 1) * m], blur, 0.5);
                let got = f64::from(loss[b]);
                // f32 log-sum-exp over ~100 terms at ε = 0.0025: ~1e-4 relative.
                assert!(
                    (got - weight * value).abs() < 2e-3 * weight * value.abs().max(1e-3),
                    "{case}, task {b}: loss {got} vs {}",
                    weight * value
                );
                let scale = grad.iter().fold(0.0f64, |a, v| a.max(v.abs())) * weight;
                for i in 0..n {
                    let g = f64::from(z_bar[b * n + i]);
                    assert!(
                        (g - weight * grad[i]).abs() < 2e-3 * scale,
                        "{case}, task {b} z_bar[{i}]: {g} vs {}",
                        weight * grad[i]
                    );
                }
            }
        }
    }
}

/// 5000 labels against 5000 samples: ~300 000 loop iterations per forward
/// invocation, refused on software adapters (llvmpipe would stop the loops
/// at 65535 and return a wrong distance), accepted on hardware.
#[test]
fn gpu_energy_refuses_sizes_over_the_software_loop_cap() {
    use occam_ops::EnergyGpu;
    for gpu in support::gpus() {
        let made = EnergyGpu::new(gpu, 1, 5000, 5000, 1.0);
        if gpu.adapter().is_software {
            let e = made
                .err()
                .expect("refused on a software adapter")
                .to_string();
            assert!(
                e.contains("5000 labels against 5000 samples") && e.contains("65535"),
                "{e}"
            );
        } else {
            made.unwrap();
        }
    }
}
