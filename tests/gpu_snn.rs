//! The spiking layer's four GPU passes (`shaders/snn.wgsl`) against its CPU
//! f64 twin, for two tasks side by side: in the smooth mode and with each
//! surrogate, with the reset detached and carried through.

mod support;

use occam_gpu::Gpu;
use occam_ops::Model;
use occam_ops::check::rel_error;
use occam_ops::snn::{Encoding, ResetGradient, SnnSpec, Spike};
use occam_ops::snn::{SnnGpu, SnnShape};

const TASKS: usize = 2;
const ROWS: usize = 5;

fn twin(spike: Spike, reset: ResetGradient) -> SnnSpec {
    twin_encoded(spike, reset, Encoding::Current)
}

fn twin_encoded(spike: Spike, reset: ResetGradient, encoding: Encoding) -> SnnSpec {
    SnnSpec {
        inputs: 3,
        hidden: 7,
        steps: 15,
        alpha: 0.6,
        beta: 0.75,
        gamma: 0.8,
        threshold: 1.0,
        readout_window: 5,
        spike,
        reset,
        encoding,
        time_checkpoint_every: 0,
    }
}

fn shape(s: &SnnSpec) -> SnnShape {
    s.gpu_shape(TASKS, ROWS)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&a| a as f32).collect()
}

/// One task's parameters split into (W₁, W₂).
fn split(s: &SnnSpec, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n1 = s.hidden * (s.inputs + 1);
    (w[..n1].to_vec(), w[n1..].to_vec())
}

/// One task's (W, x, ḡ, V, ḡ̇).
type TaskCase = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

fn check(gpu: &Gpu, s: SnnSpec, seed: u64) {
    let (spike, reset) = (s.spike, s.reset);
    let mut rng = support::rng(seed);
    let p = s.n_params();
    // Per task: weights scaled so that neurons fire, inputs, ḡ, V, ḡ̇.
    let tasks: Vec<TaskCase> = (0..TASKS)
        .map(|_| {
            let w: Vec<f64> = support::uniform(&mut rng, p, -4.0, 4.0);
            let x = support::uniform(&mut rng, ROWS * 3, -1.0, 1.0);
            let g_bar = support::uniform(&mut rng, ROWS, -1.0, 1.0);
            let v = support::uniform(&mut rng, p, -1.0, 1.0);
            let g_bar_dot = support::uniform(&mut rng, ROWS, -1.0, 1.0);
            (w, x, g_bar, v, g_bar_dot)
        })
        .collect();
    // The CPU twin, task by task.
    // (g, W̄₁, W̄₂, ġ, (HV)₁) and (HV)₂ over both tasks.
    let mut want: (TaskCase, Vec<f64>) = Default::default();
    let mut rate = 0.0;
    for (w, x, g_bar, v, g_bar_dot) in &tasks {
        let tr = s.forward(w, x);
        rate += tr.firing_rate() / TASKS as f64;
        want.0.0.extend_from_slice(s.output(&tr));
        let (g1, g2) = split(&s, &s.backward(w, &tr, g_bar));
        want.0.1.extend(g1);
        want.0.2.extend(g2);
        want.0.3.extend(s.tangent_forward(w, &tr, v));
        let (h1, h2) = split(&s, &s.tangent_backward(w, &tr, g_bar, v, g_bar_dot));
        want.0.4.extend(h1);
        want.1.extend(h2);
    }
    assert!(rate > 0.02 && rate < 0.95, "{spike:?}: firing rate {rate}");
    let cat = |f: &dyn Fn(&TaskCase) -> Vec<f64>| tasks.iter().flat_map(f).collect::<Vec<f64>>();
    let up = |label: &str, v: Vec<f64>| gpu.upload(label, &f32s(&v)).unwrap();
    let x = up("x", cat(&|t| t.1.clone()));
    let w1 = up("w1", cat(&|t| split(&s, &t.0).0));
    let w2 = up("w2", cat(&|t| split(&s, &t.0).1));
    let v1 = up("v1", cat(&|t| split(&s, &t.3).0));
    let v2 = up("v2", cat(&|t| split(&s, &t.3).1));
    let g_bar = up("g_bar", cat(&|t| t.2.clone()));
    let g_bar_dot = up("g_bar_dot", cat(&|t| t.4.clone()));
    let n1 = TASKS * s.hidden * (s.inputs + 1);
    let n2 = TASKS * (s.hidden + 1);
    let zeros = |n| gpu.zeros("out", n).unwrap();
    let (g, g_dot) = (zeros(TASKS * ROWS), zeros(TASKS * ROWS));
    let (w1_bar, w2_bar, hv1, hv2) = (zeros(n1), zeros(n2), zeros(n1), zeros(n2));
    let op = SnnGpu::new(gpu, shape(&s)).unwrap();
    let mut enc = gpu.encoder();
    let (w, v) = ((&w1, &w2), (&v1, &v2));
    op.forward(&mut enc, &x, w, &g).unwrap();
    op.backward(&mut enc, &x, w, &g_bar, (&w1_bar, &w2_bar))
        .unwrap();
    op.tangent_forward(&mut enc, &x, w, v, &g_dot).unwrap();
    op.tangent_backward(&mut enc, &x, w, v, &g_bar, &g_bar_dot, (&hv1, &hv2))
        .unwrap();
    enc.submit().unwrap();
    let read = |t| -> Vec<f64> { gpu.read(t).unwrap().into_iter().map(f64::from).collect() };
    let what = format!(
        "{spike:?}, {reset:?}, {:?}, time checkpoints every {}, on {}",
        s.encoding,
        s.time_checkpoint_every,
        gpu.adapter()
    );
    for (name, got, want) in [
        ("forward", read(&g), &want.0.0),
        ("backward W1", read(&w1_bar), &want.0.1),
        ("backward W2", read(&w2_bar), &want.0.2),
        ("tangent forward", read(&g_dot), &want.0.3),
        ("tangent backward W1", read(&hv1), &want.0.4),
        ("tangent backward W2", read(&hv2), &want.1),
    ] {
        let err = rel_error(&[got], std::slice::from_ref(want));
        assert!(err < 1e-4, "{what}: {name}: rel. error {err:e}");
    }
}

#[test]
fn gpu_snn_passes_match_the_f64_twin() {
    for gpu in support::gpus() {
        for (i, spike) in [
            Spike::Sigmoid { slope: 5.0 },
            Spike::FastSigmoid { slope: 25.0 },
            Spike::Arctan { slope: 2.0 },
        ]
        .into_iter()
        .enumerate()
        {
            for reset in [ResetGradient::Detached, ResetGradient::Through] {
                check(gpu, twin(spike, reset), 40 + i as u64);
            }
            let latency = twin_encoded(spike, ResetGradient::Detached, Encoding::Latency);
            check(gpu, latency.clone(), 50 + i as u64);
            // Checkpointing over time (segments of 4, 4, 4, 3 steps) gives
            // what the whole trace gives, with either encoding and reset.
            for s in [twin(spike, ResetGradient::Through), latency] {
                let segmented = SnnSpec {
                    time_checkpoint_every: 4,
                    ..s
                };
                check(gpu, segmented, 60 + i as u64);
            }
        }
    }
}

/// On software adapters, whose invocations stop every loop after 65535
/// iterations, a simulation too long for one invocation is refused with a
/// message naming the sizes (hardware adapters take it).
#[test]
fn gpu_snn_refuses_simulations_over_the_software_loop_cap() {
    let s = twin(Spike::FastSigmoid { slope: 25.0 }, ResetGradient::Detached);
    let long = SnnShape {
        steps: 1000,
        hidden: 100,
        ..shape(&s)
    };
    for gpu in support::gpus() {
        let made = SnnGpu::new(gpu, long);
        if gpu.adapter().is_software {
            let e = made
                .err()
                .expect("refused on a software adapter")
                .to_string();
            assert!(e.contains("1000 simulation steps of 100 neurons"), "{e}");
        } else {
            assert!(made.is_ok(), "{}", gpu.adapter());
        }
    }
}
