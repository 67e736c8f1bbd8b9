//! Every GPU pass of every op against its CPU f64 twin, on random shapes
//! including awkward ones (sizes 1, 7, 33, 150: not multiples of any
//! workgroup or tile size). These run on whatever adapter `OCCAM_BACKEND` /
//! `OCCAM_ADAPTER` select — lavapipe or llvmpipe in CI — and fail in CI when
//! there is none (see `support::gpu`).

mod support;

use occam_gpu::{Gpu, GpuError, kernels};
use occam_ops::check::rel_error;
use occam_ops::{
    Activation, ActivationCpu, ActivationGpu, BilinearGpu, Conv2dCpu, Conv2dGpu, Conv2dKernels,
    Conv2dShape, Cotangents, DenseCpu, DenseGpu, DenseKernels, DenseShape, MaxPoolCpu, MaxPoolGpu,
    MaxPoolShape, MseCpu, MseGpu, MseShape, OnGpu, OpError, Operands, Passes,
};

/// f32 tolerance, as ‖gpu − cpu‖∞ / ‖cpu‖∞ per output tensor. Inputs are
/// exactly representable in f32, so this only measures f32 arithmetic:
/// sums of up to ~330 products (dense) or ~1000 squares (mse) stay well
/// inside it, and so do f32 tanh/cos/sin.
const DENSE_TOL: f64 = 1e-5;
const ELEMENTWISE_TOL: f64 = 2e-6;
const REDUCTION_TOL: f64 = 1e-5;

/// Runs all four passes on GPU and CPU with the same random data and compares.
fn compare_passes(gpu_op: &dyn Passes, cpu_op: &dyn Passes, seed: u64, tol: f64) {
    let mut rng = support::rng(seed);
    let x = support::tensors(&mut rng, &cpu_op.input_lens());
    let x_dot = support::tensors(&mut rng, &cpu_op.input_lens());
    let y_bar = support::tensors(&mut rng, &cpu_op.output_lens());
    let y_bar_dot = support::tensors(&mut rng, &cpu_op.output_lens());
    let checks = [
        (
            "forward",
            gpu_op.forward(&x).unwrap(),
            cpu_op.forward(&x).unwrap(),
        ),
        (
            "backward",
            gpu_op.backward(&x, &y_bar).unwrap(),
            cpu_op.backward(&x, &y_bar).unwrap(),
        ),
        (
            "tangent forward",
            gpu_op.tangent_forward(&x, &x_dot).unwrap(),
            cpu_op.tangent_forward(&x, &x_dot).unwrap(),
        ),
        (
            "tangent backward",
            gpu_op
                .tangent_backward(&x, &y_bar, &x_dot, &y_bar_dot)
                .unwrap(),
            cpu_op
                .tangent_backward(&x, &y_bar, &x_dot, &y_bar_dot)
                .unwrap(),
        ),
    ];
    for (pass, got, want) in checks {
        let err = rel_error(&got, &want);
        assert!(
            err <= tol,
            "{} {pass}: GPU vs CPU relative error {err:e} > {tol:e}",
            gpu_op.name()
        );
    }
}

const DENSE_SHAPES: [(usize, usize, usize, usize); 8] = [
    (1, 1, 1, 1),
    (1, 7, 33, 1),
    (2, 33, 7, 150),
    (3, 150, 33, 7),
    (1, 65, 63, 64),
    (1, 64, 64, 65),
    (2, 30, 3, 20),
    (1, 330, 150, 150),
];

/// The dense kernel sets `gpu` runs: tiled and untiled everywhere, and the
/// generated lanes kernels where the adapter has subgroups they support.
fn dense_kernel_sets(gpu: &Gpu) -> Vec<DenseKernels> {
    let mut sets = vec![DenseKernels::Tiled, DenseKernels::Naive];
    if gpu
        .subgroup_size()
        .is_some_and(|w| w.is_power_of_two() && w <= 16)
    {
        sets.push(DenseKernels::Lanes);
    }
    sets
}

/// The lanes kernels are tested wherever the tests run on lavapipe (CI):
/// it has subgroups, so the loops above include them there.
#[test]
fn gpu_dense_lanes_kernels_are_tested_on_every_software_vulkan_adapter() {
    for gpu in support::gpus() {
        let a = gpu.adapter();
        if a.is_software && a.backend == occam_gpu::Backend::Vulkan {
            assert!(
                dense_kernel_sets(gpu).contains(&DenseKernels::Lanes),
                "{} ({:?}) runs no lanes kernels: subgroup size {:?}",
                a.name,
                a.backend,
                gpu.subgroup_size()
            );
        }
    }
    let shape = DenseShape {
        batch: 1,
        rows: 5,
        d_in: 3,
        d_out: 2,
    };
    for gpu in support::gpus() {
        if !dense_kernel_sets(gpu).contains(&DenseKernels::Lanes) {
            let err = DenseGpu::with_kernels(gpu, shape, false, DenseKernels::Lanes);
            assert!(
                err.is_err(),
                "{}: lanes kernels without subgroups",
                gpu.adapter().name
            );
        }
    }
}

#[test]
fn gpu_dense_passes_match_cpu_twin() {
    for gpu in support::gpus() {
        for (i, &(batch, rows, d_in, d_out)) in DENSE_SHAPES.iter().enumerate() {
            let shape = DenseShape {
                batch,
                rows,
                d_in,
                d_out,
            };
            // Every kernel set on every shape (Auto picks per pass between them).
            for kernels in dense_kernel_sets(gpu) {
                let op = OnGpu {
                    gpu,
                    op: DenseGpu::with_kernels(gpu, shape, false, kernels).unwrap(),
                };
                compare_passes(&op, &DenseCpu { shape }, 1000 + i as u64, DENSE_TOL);
            }
        }
    }
}

#[test]
fn gpu_activation_passes_match_cpu_twin() {
    for gpu in support::gpus() {
        for (i, act) in Activation::ALL.into_iter().enumerate() {
            for (j, len) in [1usize, 7, 33, 150, 4099].into_iter().enumerate() {
                let op = OnGpu {
                    gpu,
                    op: ActivationGpu::new(gpu, act, len).unwrap(),
                };
                compare_passes(
                    &op,
                    &ActivationCpu { act, len },
                    (2000 + 10 * i + j) as u64,
                    ELEMENTWISE_TOL,
                );
            }
        }
    }
}

#[test]
fn gpu_activation_handles_inputs_beyond_relu6s_kink_and_large_cosines() {
    for gpu in support::gpus() {
        let mut rng = support::rng(9);
        for act in [Activation::Relu6Over6, Activation::Cos, Activation::Tanh] {
            let len = 300;
            let x = vec![support::uniform(&mut rng, len, -8.0, 8.0)];
            let v = vec![support::uniform(&mut rng, len, -1.0, 1.0)];
            let gpu_op = OnGpu {
                gpu,
                op: ActivationGpu::new(gpu, act, len).unwrap(),
            };
            let cpu_op = ActivationCpu { act, len };
            let err = rel_error(&gpu_op.forward(&x).unwrap(), &cpu_op.forward(&x).unwrap());
            assert!(err <= ELEMENTWISE_TOL, "{act} forward: {err:e}");
            let err = rel_error(
                &gpu_op.backward(&x, &v).unwrap(),
                &cpu_op.backward(&x, &v).unwrap(),
            );
            assert!(err <= ELEMENTWISE_TOL, "{act} backward: {err:e}");
        }
    }
}

#[test]
fn gpu_mse_passes_match_cpu_twin() {
    for gpu in support::gpus() {
        for (i, &(batch, count, weight)) in [
            (1, 1, 1.0),
            (1, 7, 1.0),
            (3, 33, 10.0),
            (2, 150, 1.0),
            (5, 1000, 1000.0),
            (1, 257, 0.5),
        ]
        .iter()
        .enumerate()
        {
            let shape = MseShape {
                batch,
                count,
                weight,
            };
            let op = OnGpu {
                gpu,
                op: MseGpu::new(gpu, shape).unwrap(),
            };
            compare_passes(&op, &MseCpu { shape }, 3000 + i as u64, REDUCTION_TOL);
        }
    }
}

/// Long row counts: the parameter passes split the rows into chunks and
/// reduce the partial sums (both kernel sets), and still match the twin; in
/// accumulate mode the reduction adds into what the output held.
#[test]
fn gpu_dense_parameter_passes_split_long_row_counts() {
    for gpu in support::gpus() {
        for (i, &(batch, rows, d_in, d_out)) in
            [(1, 3000, 5, 7), (2, 1000, 70, 70)].iter().enumerate()
        {
            let shape = DenseShape {
                batch,
                rows,
                d_in,
                d_out,
            };
            for kernels in dense_kernel_sets(gpu) {
                let dense = DenseGpu::with_kernels(gpu, shape, false, kernels).unwrap();
                let split = dense.row_split();
                // (The untiled 70 × 71 grid already has enough workgroups for
                // a software adapter.)
                if i == 0 || kernels == DenseKernels::Tiled {
                    assert!(
                        split.splits > 1,
                        "{shape:?} {kernels:?}: rows not split ({split:?})"
                    );
                }
                assert!(split.chunk.is_multiple_of(16) && split.chunk * split.splits >= rows);
                let op = OnGpu { gpu, op: dense };
                compare_passes(&op, &DenseCpu { shape }, 2000 + i as u64, DENSE_TOL);
            }
            // Accumulate: w̄ ← w̄₀ + ȳᵀ x̃ through the reduction.
            let mut rng = support::rng(40 + i as u64);
            let f32s = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
            let x = f32s(support::uniform(&mut rng, shape.x_len(), -1.0, 1.0));
            let w = f32s(support::uniform(&mut rng, shape.w_len(), -1.0, 1.0));
            let y_bar = f32s(support::uniform(&mut rng, shape.y_len(), -1.0, 1.0));
            let w_bar0 = f32s(support::uniform(&mut rng, shape.w_len(), -1.0, 1.0));
            let run = |accumulate: bool| {
                let dense = DenseGpu::new(gpu, shape, accumulate).unwrap();
                let (xt, wt, yt) = (
                    gpu.upload("x", &x).unwrap(),
                    gpu.upload("w", &w).unwrap(),
                    gpu.upload("y_bar", &y_bar).unwrap(),
                );
                let wb = gpu.upload("w_bar", &w_bar0).unwrap();
                let mut enc = gpu.encoder();
                let at = Operands { x: &xt, w: &wt };
                let out = Cotangents { x: None, w: &wb };
                dense.backward(&mut enc, at, &yt, out).unwrap();
                enc.submit().unwrap();
                gpu.read(&wb).unwrap()
            };
            let (plain, summed) = (run(false), run(true));
            for j in 0..plain.len() {
                let want = plain[j] + w_bar0[j];
                assert!(
                    (summed[j] - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{shape:?}: accumulated w_bar differs at {j}: {} vs {want}",
                    summed[j]
                );
            }
        }
    }
}

fn run_forward(
    gpu: &Gpu,
    dense: &DenseGpu,
    x: &[f32],
    w: &[f32],
    y0: &[f32],
    naive: bool,
) -> Vec<f32> {
    let (xt, wt, yt) = (
        gpu.upload("x", x).unwrap(),
        gpu.upload("w", w).unwrap(),
        gpu.upload("y", y0).unwrap(),
    );
    let mut enc = gpu.encoder();
    if naive {
        dense.forward_naive(&mut enc, &xt, &wt, &yt).unwrap();
    } else {
        dense
            .forward(&mut enc, Operands { x: &xt, w: &wt }, &yt)
            .unwrap();
    }
    enc.submit().unwrap();
    gpu.read(&yt).unwrap()
}

#[test]
fn gpu_dense_naive_baseline_and_accumulate_mode_agree_with_the_tiled_kernel() {
    for gpu in support::gpus() {
        let shape = DenseShape {
            batch: 2,
            rows: 33,
            d_in: 7,
            d_out: 150,
        };
        let mut rng = support::rng(11);
        let f32s = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        let x = f32s(support::uniform(&mut rng, shape.x_len(), -1.0, 1.0));
        let w = f32s(support::uniform(&mut rng, shape.w_len(), -1.0, 1.0));
        let y0 = f32s(support::uniform(&mut rng, shape.y_len(), -1.0, 1.0));
        let tiled_kernels = DenseKernels::Tiled;
        let overwrite = DenseGpu::with_kernels(gpu, shape, false, tiled_kernels).unwrap();
        let accumulate = DenseGpu::with_kernels(gpu, shape, true, tiled_kernels).unwrap();
        let accumulate_naive =
            DenseGpu::with_kernels(gpu, shape, true, DenseKernels::Naive).unwrap();
        let tiled = run_forward(gpu, &overwrite, &x, &w, &y0, false);
        let naive = run_forward(gpu, &overwrite, &x, &w, &y0, true);
        let summed = run_forward(gpu, &accumulate, &x, &w, &y0, false);
        let summed_naive = run_forward(gpu, &accumulate_naive, &x, &w, &y0, false);
        for i in 0..tiled.len() {
            let want = tiled[i] + y0[i];
            assert!(
                (summed_naive[i] - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "untiled accumulate differs at {i}"
            );
            assert!(
                (tiled[i] - naive[i]).abs() <= 1e-5 * (1.0 + tiled[i].abs()),
                "naive differs at {i}: {} vs {}",
                tiled[i],
                naive[i]
            );
            let want = tiled[i] + y0[i];
            assert!(
                (summed[i] - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "accumulate differs at {i}"
            );
        }
    }
}

#[test]
fn gpu_results_are_bitwise_reproducible() {
    for gpu in support::gpus() {
        let shape = DenseShape {
            batch: 2,
            rows: 150,
            d_in: 33,
            d_out: 7,
        };
        let mut rng = support::rng(12);
        let x: Vec<f32> = support::uniform(&mut rng, shape.x_len(), -1.0, 1.0)
            .into_iter()
            .map(|a| a as f32)
            .collect();
        let w: Vec<f32> = support::uniform(&mut rng, shape.w_len(), -1.0, 1.0)
            .into_iter()
            .map(|a| a as f32)
            .collect();
        let dense = DenseGpu::new(gpu, shape, false).unwrap();
        let zeros = vec![0.0; shape.y_len()];
        let a = run_forward(gpu, &dense, &x, &w, &zeros, false);
        let b = run_forward(gpu, &dense, &x, &w, &zeros, false);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}

#[test]
fn gpu_binding_layouts_come_from_the_shader_and_mismatches_are_errors() {
    for gpu in support::gpus() {
        // Every entry point of every shader compiles into a pipeline whose layout
        // is derived from naga's reflection.
        // Every one has a generated handle, and every handle names one.
        let mut all = 0;
        for shader in gpu.registry().shaders() {
            for entry in shader.entry_points.keys() {
                let ep = occam_gpu::EntryPoint {
                    shader: shader.name,
                    entry,
                };
                assert!(kernels::ALL.contains(&ep), "no handle for {ep:?}");
                // Kernels with subgroup operations are refused where the
                // device has none (GL), with wgpu's reason.
                let uses_subgroups = shader
                    .source
                    .lines()
                    .any(|l| !l.trim_start().starts_with("//") && l.contains("subgroup"));
                if uses_subgroups && gpu.subgroup_size().is_none() {
                    let Err(err) = gpu.kernel(ep, &[]) else {
                        panic!("{ep:?} compiled without subgroups");
                    };
                    assert!(err.to_string().contains("SUBGROUP"), "{err}");
                } else {
                    gpu.kernel(ep, &[]).unwrap_or_else(|e| panic!("{e}"));
                }
                all += 1;
            }
        }
        assert_eq!(all, kernels::ALL.len());
        let kernel = gpu.kernel(kernels::ACTIVATION_FORWARD, &[]).unwrap();
        let names: Vec<_> = kernel.bindings().iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["p", "s", "a"]);
        let t = gpu.zeros("t", 4).unwrap();
        let mut enc = gpu.encoder();
        let err = enc
            .dispatch(
                &kernel,
                &[("p", t.buffer()), ("s", t.buffer()), ("y", t.buffer())],
                [1, 1, 1],
            )
            .unwrap_err();
        assert!(matches!(err, GpuError::BindingMismatch { .. }), "{err}");
        assert!(err.to_string().contains("`a`"), "{err}");
        let err = gpu
            .kernel(kernels::ACTIVATION_FORWARD, &[("NOT_DECLARED", 1.0)])
            .unwrap_err();
        assert!(err.to_string().contains("NOT_DECLARED"), "{err}");
    }
}

/// A generated kernel that adds `value` to every entry of `out` (with a
/// uniform, so that priming binds one of each kind).
fn adding_kernel(value: u32) -> String {
    format!(
        "struct P {{ len: u32, pad0: u32, pad1: u32, pad2: u32 }}\n\
         @group(0) @binding(0) var<uniform> p: P;\n\
         @group(0) @binding(1) var<storage, read_write> out: array<f32>;\n\
         @compute @workgroup_size(64)\n\
         fn add_{value}(@builtin(global_invocation_id) g: vec3<u32>) {{\n\
             if g.x < p.len {{ out[g.x] = out[g.x] + {value}.0; }}\n\
         }}\n"
    )
}

#[test]
fn gpu_generated_kernels_compile_at_once_in_the_order_asked_and_name_a_bad_source() {
    for gpu in support::gpus() {
        let sources: Vec<(String, String, String)> = (1..=5)
            .map(|v| (format!("adder {v}"), adding_kernel(v), format!("add_{v}")))
            .collect();
        let list: Vec<occam_gpu::Generated<'_>> = sources
            .iter()
            .map(|(file, source, entry)| occam_gpu::Generated {
                shader: "test_adder",
                file,
                source,
                entry,
            })
            .collect();
        let kernels = gpu.generated_kernels(&list).unwrap();
        assert_eq!(kernels.len(), 5);
        // Each kernel is the one asked for at its place (and, primed on a
        // software adapter, still computes): out = 1·1 + 2·10 + … in order.
        let n = 70u32;
        let params = gpu.uniform("len", &[n, 0u32, 0, 0]);
        for (i, kernel) in kernels.iter().enumerate() {
            assert_eq!(kernel.name(), format!("test_adder::add_{}", i + 1));
            let out = gpu.zeros("out", n as usize).unwrap();
            for _ in 0..=i {
                let mut enc = gpu.encoder();
                enc.dispatch(kernel, &[("p", &params), ("out", out.buffer())], [2, 1, 1])
                    .unwrap();
                enc.submit().unwrap();
            }
            let got = gpu.read(&out).unwrap();
            let want = ((i + 1) * (i + 1)) as f32;
            assert!(got.iter().all(|&v| v == want), "kernel {i}: {got:?}");
        }
        // A source that does not validate fails the whole list, naming its file.
        let broken = "@compute @workgroup_size(1) fn add_9() { let x: f32 = 1u; }";
        let mut list = list.clone();
        list.insert(
            2,
            occam_gpu::Generated {
                shader: "test_adder",
                file: "the broken adder",
                source: broken,
                entry: "add_9",
            },
        );
        let err = gpu.generated_kernels(&list).unwrap_err().to_string();
        assert!(err.contains("the broken adder"), "{err}");
    }
}

#[test]
fn gpu_ops_reject_wrong_sizes_and_buffers_over_the_adapters_limits() {
    for gpu in support::gpus() {
        let shape = DenseShape {
            batch: 1,
            rows: 3,
            d_in: 2,
            d_out: 2,
        };
        let dense = DenseGpu::new(gpu, shape, false).unwrap();
        let t = gpu.zeros("small", 5).unwrap();
        let mut enc = gpu.encoder();
        let err = dense
            .forward(&mut enc, Operands { x: &t, w: &t }, &t)
            .unwrap_err();
        assert!(matches!(err, OpError::Shape { .. }), "{err}");
        let too_big = gpu.limits().max_storage_buffer_binding_size as usize / 4 + 1;
        let err = gpu
            .zeros("huge", too_big)
            .err()
            .expect("over-limit buffer must be refused");
        assert!(
            err.is_user_error() && err.to_string().contains("huge"),
            "{err}"
        );
    }
}

#[test]
fn gpu_adapter_in_use_is_reported() {
    for gpu in support::gpus() {
        // Printed with --show-output so CI logs name the adapter the GPU tests ran on.
        println!("GPU tests ran on: {}", gpu.adapter());
        assert!(!gpu.adapter().name.is_empty());
    }
}

#[test]
fn gpu_conv2d_passes_match_cpu_twin() {
    for gpu in support::gpus() {
        // Awkward sizes: 1×1 kernels, even kernels, padding wider than the
        // kernel's reach, odd image sizes, several problems side by side.
        for (i, &sizes) in [
            (1, 1, 1, 1, 1, 1, 1, 0),
            (2, 3, 2, 5, 7, 9, 3, 1),
            (1, 2, 1, 16, 28, 28, 5, 2),
            (1, 4, 3, 2, 6, 5, 2, 0),
            (3, 1, 2, 3, 4, 4, 3, 2),
            // Output-channel blocks of 8 and pixel tiles of 64 not filled
            // exactly; a 9×9 kernel takes the untiled fallback.
            (1, 2, 3, 9, 12, 12, 5, 2),
            (2, 1, 2, 17, 10, 11, 7, 3),
            (1, 1, 1, 2, 10, 10, 9, 4),
        ]
        .iter()
        .enumerate()
        {
            let shape = support::conv_shape(sizes);
            for kernels in conv_kernel_sets(gpu, shape.kernel) {
                let op = OnGpu {
                    gpu,
                    op: Conv2dGpu::with_kernels(gpu, shape, kernels).unwrap(),
                };
                compare_passes(&op, &Conv2dCpu { shape }, 5000 + i as u64, DENSE_TOL);
            }
        }
    }
}

#[test]
fn gpu_conv2d_parameter_gradients_over_many_images_are_whole_on_software_adapters() {
    // llvmpipe ends an invocation's loops after 65535 iterations: the lanes
    // kernels cut the images into chunks and add the chunks' sums; the
    // shader's kernels, which cannot, are refused there at such sizes. The
    // shapes are ones whose sums came out cut short with larger chunks.
    for (images, c_in, c_out, size, kernel, padding) in [
        (1300, 2, 8, 14, 5, 2),
        (1300, 2, 3, 14, 3, 1),
        (400, 1, 2, 28, 5, 2),
    ] {
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
        for gpu in support::gpus() {
            if gpu.adapter().is_software {
                let err = Conv2dGpu::with_kernels(gpu, shape, Conv2dKernels::Tiled)
                    .err()
                    .expect("the shader's parameter passes would be cut short");
                assert!(
                    err.to_string().contains(&format!("{images} images")),
                    "{err}"
                );
            }
            for kernels in conv_kernel_sets(gpu, kernel) {
                let Ok(op) = Conv2dGpu::with_kernels(gpu, shape, kernels) else {
                    continue;
                };
                let op = OnGpu { gpu, op };
                // f32 sums of up to 1300 · 196 products each (a sum cut
                // short by the loop cap misses a share of its terms:
                // errors of order 0.1–1).
                compare_passes(&op, &Conv2dCpu { shape }, 5100, 1e-4);
            }
        }
    }
}

/// The convolution kernel sets `gpu` runs for a k × k kernel: the shader's
/// everywhere, the generated lanes kernels where the adapter has subgroups
/// they support.
fn conv_kernel_sets(gpu: &Gpu, kernel: usize) -> Vec<Conv2dKernels> {
    let mut sets = vec![Conv2dKernels::Tiled];
    if kernel <= 7
        && gpu
            .subgroup_size()
            .is_some_and(|w| w.is_power_of_two() && (4..=64).contains(&w))
    {
        sets.push(Conv2dKernels::Lanes);
    }
    sets
}

#[test]
fn gpu_conv2d_lanes_kernels_give_the_shader_kernels_numbers_bit_for_bit() {
    // Same terms, same order, same fused multiply-adds, zeros where the
    // shader reads or skips padding: every pass's every bit agrees.
    for gpu in support::gpus() {
        let a = gpu.adapter();
        if a.is_software && a.backend == occam_gpu::Backend::Vulkan {
            assert!(
                conv_kernel_sets(gpu, 5).contains(&Conv2dKernels::Lanes),
                "{} runs no conv2d lanes kernels: subgroup size {:?}",
                a.name,
                gpu.subgroup_size()
            );
        }
        if !conv_kernel_sets(gpu, 5).contains(&Conv2dKernels::Lanes) {
            let shape = Conv2dShape {
                batch: 1,
                images: 1,
                c_in: 1,
                c_out: 1,
                height: 3,
                width: 3,
                kernel: 3,
                padding: 1,
            };
            assert!(Conv2dGpu::with_kernels(gpu, shape, Conv2dKernels::Lanes).is_err());
            continue;
        }
        for (i, &sizes) in [
            (1, 1, 1, 1, 1, 1, 1, 0),
            (2, 3, 2, 5, 7, 9, 3, 1),
            (1, 3, 1, 16, 28, 28, 5, 2),
            (1, 2, 16, 32, 14, 14, 5, 2),
            (1, 4, 3, 2, 6, 5, 2, 0),
            (3, 1, 2, 3, 4, 4, 3, 2),
            (2, 1, 2, 17, 10, 37, 7, 3),
            (1, 2, 9, 3, 5, 19, 4, 0),
        ]
        .iter()
        .enumerate()
        {
            let shape = support::conv_shape(sizes);
            let cpu = Conv2dCpu { shape };
            let mut rng = support::rng(9100 + i as u64);
            let x = support::tensors(&mut rng, &cpu.input_lens());
            let x_dot = support::tensors(&mut rng, &cpu.input_lens());
            let y_bar = support::tensors(&mut rng, &cpu.output_lens());
            let y_bar_dot = support::tensors(&mut rng, &cpu.output_lens());
            let run = |kernels| {
                let op = OnGpu {
                    gpu,
                    op: Conv2dGpu::with_kernels(gpu, shape, kernels).unwrap(),
                };
                [
                    op.forward(&x).unwrap(),
                    op.backward(&x, &y_bar).unwrap(),
                    op.tangent_forward(&x, &x_dot).unwrap(),
                    op.tangent_backward(&x, &y_bar, &x_dot, &y_bar_dot).unwrap(),
                ]
            };
            let (tiled, lanes) = (run(Conv2dKernels::Tiled), run(Conv2dKernels::Lanes));
            for (pass, (t, l)) in ["forward", "backward", "tangent forward", "tangent backward"]
                .iter()
                .zip(tiled.iter().zip(lanes.iter()))
            {
                for (k, (ta, la)) in t.iter().zip(l.iter()).enumerate() {
                    let same = ta.len() == la.len()
                        && ta
                            .iter()
                            .zip(la.iter())
                            .all(|(p, q)| p.to_bits() == q.to_bits());
                    assert!(same, "{shape:?} {pass} output {k} on {}", a.name);
                }
            }
        }
    }
}

#[test]
fn gpu_conv2d_tiled_forward_equals_the_naive_kernel_bit_for_bit() {
    // Both sum the bias, then c, u, v in order with fused multiply-adds.
    for gpu in support::gpus() {
        let shape = Conv2dShape {
            batch: 2,
            images: 3,
            c_in: 3,
            c_out: 11,
            height: 13,
            width: 9,
            kernel: 5,
            padding: 2,
        };
        let op = Conv2dGpu::new(gpu, shape).unwrap();
        let mut rng = support::rng(77);
        let up = |n: usize, rng: &mut rand_chacha::ChaCha8Rng| {
            let v: Vec<f32> = support::uniform(rng, n, -1.0, 1.0)
                .into_iter()
                .map(|a| a as f32)
                .collect();
            gpu.upload("conv test", &v).unwrap()
        };
        let x = up(shape.x_len(), &mut rng);
        let w = up(shape.w_len(), &mut rng);
        let (y1, y2) = (
            gpu.zeros("y tiled", shape.y_len()).unwrap(),
            gpu.zeros("y naive", shape.y_len()).unwrap(),
        );
        let mut enc = gpu.encoder();
        op.forward(&mut enc, Operands { x: &x, w: &w }, &y1)
            .unwrap();
        op.forward_naive(&mut enc, &x, &w, &y2).unwrap();
        enc.submit().unwrap();
        assert_eq!(
            gpu.read(&y1).unwrap(),
            gpu.read(&y2).unwrap(),
            "on {}",
            gpu.adapter().name
        );
    }
}

#[test]
fn gpu_maxpool_passes_match_cpu_twin() {
    for gpu in support::gpus() {
        for (i, &(planes, height, width)) in [(1, 2, 2), (5, 7, 9), (32, 28, 28), (3, 14, 3)]
            .iter()
            .enumerate()
        {
            let shape = MaxPoolShape {
                planes,
                height,
                width,
            };
            let op = OnGpu {
                gpu,
                op: MaxPoolGpu::new(gpu, shape).unwrap(),
            };
            compare_passes(&op, &MaxPoolCpu { shape }, 6000 + i as u64, ELEMENTWISE_TOL);
        }
        // Ties: the GPU routes to the same (first) element as the twin.
        let shape = MaxPoolShape {
            planes: 1,
            height: 2,
            width: 2,
        };
        let op = OnGpu {
            gpu,
            op: MaxPoolGpu::new(gpu, shape).unwrap(),
        };
        assert_eq!(
            op.backward(&[vec![0.5; 4]], &[vec![1.0]]).unwrap()[0],
            vec![1.0, 0.0, 0.0, 0.0]
        );
    }
}

#[test]
fn gpu_maxpool_backward_writes_every_input_including_dropped_rows_and_columns() {
    // The backward passes run one thread per window; the inputs no window
    // reads (odd sizes) must still be overwritten with 0, since the engine
    // reuses its buffers from step to step.
    for gpu in support::gpus() {
        for (planes, height, width) in [(2, 5, 7), (1, 4, 3), (3, 3, 4), (1, 2, 2)] {
            let shape = MaxPoolShape {
                planes,
                height,
                width,
            };
            let cpu = MaxPoolCpu { shape };
            let op = MaxPoolGpu::new(gpu, shape).unwrap();
            let mut rng = support::rng(4242);
            let [x, y_bar, y_bar_dot]: [Vec<f32>; 3] =
                [shape.x_len(), shape.y_len(), shape.y_len()].map(|n| {
                    support::uniform(&mut rng, n, -1.0, 1.0)
                        .into_iter()
                        .map(|a| a as f32)
                        .collect()
                });
            let up = |v: &[f32]| gpu.upload("maxpool test", v).unwrap();
            let (xt, gt, gdt) = (up(&x), up(&y_bar), up(&y_bar_dot));
            let stale = vec![7.0f32; shape.x_len()];
            let (x_bar, x_bar_dot) = (up(&stale), up(&stale));
            let mut enc = gpu.encoder();
            op.backward(&mut enc, &xt, &gt, &x_bar).unwrap();
            op.tangent_backward(&mut enc, &xt, &gdt, &x_bar_dot)
                .unwrap();
            enc.submit().unwrap();
            let f64s = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
            let want = cpu.backward(&[f64s(&x)], &[f64s(&y_bar)]).unwrap();
            let want_dot = cpu.backward(&[f64s(&x)], &[f64s(&y_bar_dot)]).unwrap();
            assert_eq!(f64s(&gpu.read(&x_bar).unwrap()), want[0], "{shape:?}");
            assert_eq!(
                f64s(&gpu.read(&x_bar_dot).unwrap()),
                want_dot[0],
                "{shape:?}"
            );
        }
    }
}
