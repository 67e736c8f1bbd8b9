//! The spiking network's four passes in f64 (CPU twin of the spiking
//! learner): BPTT against central finite differences and the tangent of
//! BPTT against finite differences of BPTT in the smooth mode (where the
//! derivatives are exact); the dot-product test ⟨u, VJP(v)⟩ = ⟨JVP(u), v⟩
//! in every mode, surrogates included; and the whole unrolled training's
//! pullback ∂φ/∂z_tr against finite differences.

mod support;

use occam_meta::learners::CpuFit;
use occam_meta::learners::gd::UnrolledFit;
use occam_ops::Model;
use occam_ops::constraint::Constraints;
use occam_ops::snn::{Encoding, ResetGradient, SnnSpec, Spike};

fn spec(spike: Spike, reset: ResetGradient) -> SnnSpec {
    spec_encoded(spike, reset, Encoding::Current)
}

fn spec_encoded(spike: Spike, reset: ResetGradient, encoding: Encoding) -> SnnSpec {
    SnnSpec {
        inputs: 3,
        hidden: 6,
        steps: 12,
        alpha: (-1.0f64 / 2.0).exp(),
        beta: (-1.0f64 / 4.0).exp(),
        gamma: (-1.0f64 / 4.0).exp(),
        threshold: 1.0,
        readout_window: 4,
        spike,
        reset,
        encoding,
        time_checkpoint_every: 0,
    }
}

const MODES: [Spike; 3] = [
    Spike::FastSigmoid { slope: 25.0 },
    Spike::Arctan { slope: 2.0 },
    Spike::Sigmoid { slope: 5.0 },
];

/// Parameters large enough that the neurons fire.
fn params(s: &SnnSpec, seed: u64) -> Vec<f64> {
    let mut rng = support::rng(seed);
    s.init_pytorch(&mut rng).iter().map(|w| 8.0 * w).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn heaviside_modes_spike_and_the_smooth_mode_is_close_to_them() {
    let s = spec(MODES[0], ResetGradient::Detached);
    let w = params(&s, 1);
    let x = support::uniform(&mut support::rng(2), 8 * 3, -1.0, 1.0);
    let tr = s.forward(&w, &x);
    let rate = tr.firing_rate();
    assert!(rate > 0.02 && rate < 0.98, "firing rate {rate}");
    let out = s.output(&tr);
    assert!(out.iter().any(|&g| (g - out[0]).abs() > 1e-6), "{out:?}");
    // A steep sigmoid gives nearly the same outputs as the step.
    let smooth = spec(Spike::Sigmoid { slope: 2000.0 }, ResetGradient::Detached);
    let tr2 = smooth.forward(&w, &x);
    for (a, b) in out.iter().zip(smooth.output(&tr2)) {
        assert!((a - b).abs() < 0.05, "{a} vs {b}");
    }
}

/// With the reset detached, the gradient leaves out the reset's dependence
/// on w on purpose (as a framework's `detach()` does), so only the reset
/// carried through is the exact derivative that finite differences see.
#[test]
fn smooth_mode_bptt_and_its_tangent_match_finite_differences() {
    for encoding in [Encoding::Current, Encoding::Latency] {
        let reset = ResetGradient::Through;
        let s = spec_encoded(Spike::Sigmoid { slope: 5.0 }, reset, encoding);
        let w = params(&s, 3);
        let mut rng = support::rng(4);
        let x = support::uniform(&mut rng, 5 * 3, -1.0, 1.0);
        let g_bar = support::uniform(&mut rng, 5, -1.0, 1.0);
        let g_bar_dot = support::uniform(&mut rng, 5, -1.0, 1.0);
        let v = support::uniform(&mut rng, w.len(), -1.0, 1.0);
        let at = |h: f64| -> Vec<f64> { w.iter().zip(&v).map(|(a, b)| a + h * b).collect() };
        let h = 1e-6;
        // ⟨ḡ, g(w + hv) − g(w − hv)⟩ / 2h = ⟨backward(ḡ), v⟩.
        let phi = |w: &[f64]| dot(&g_bar, s.output(&s.forward(w, &x)));
        let fd = (phi(&at(h)) - phi(&at(-h))) / (2.0 * h);
        let tr = s.forward(&w, &x);
        let analytic = dot(&s.backward(&w, &tr, &g_bar), &v);
        assert!(
            rel(fd, analytic) < 1e-7,
            "{reset:?}: VJP {analytic} vs {fd}"
        );
        // The JVP is the directional derivative of the outputs.
        let jvp = s.tangent_forward(&w, &tr, &v);
        let (gp, gm) = (s.forward(&at(h), &x), s.forward(&at(-h), &x));
        for (i, j) in jvp.iter().enumerate() {
            let fd = (s.output(&gp)[i] - s.output(&gm)[i]) / (2.0 * h);
            assert!(rel(fd, *j) < 1e-6, "{reset:?}: JVP row {i}: {j} vs {fd}");
        }
        // The tangent of BPTT along (v, ḡ̇) against central differences of BPTT.
        let hv = s.tangent_backward(&w, &tr, &g_bar, &v, &g_bar_dot);
        let grad_at = |hh: f64| {
            let gb: Vec<f64> = g_bar
                .iter()
                .zip(&g_bar_dot)
                .map(|(a, b)| a + hh * b)
                .collect();
            let w = at(hh);
            s.backward(&w, &s.forward(&w, &x), &gb)
        };
        let (a, b) = (grad_at(h), grad_at(-h));
        let scale = hv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, hvi) in hv.iter().enumerate() {
            let fd = (a[i] - b[i]) / (2.0 * h);
            assert!(
                (fd - hvi).abs() < 1e-6 * scale,
                "{reset:?}: parameter {i}: tangent of BPTT {hvi} vs {fd}"
            );
        }
    }
}

#[test]
fn vjp_and_jvp_are_adjoint_in_every_mode() {
    for spike in MODES {
        for (reset, encoding) in [
            (ResetGradient::Detached, Encoding::Current),
            (ResetGradient::Through, Encoding::Current),
            (ResetGradient::Detached, Encoding::Latency),
        ] {
            let s = spec_encoded(spike, reset, encoding);
            let w = params(&s, 5);
            let mut rng = support::rng(6);
            let x = support::uniform(&mut rng, 7 * 3, -1.0, 1.0);
            let u = support::uniform(&mut rng, w.len(), -1.0, 1.0);
            let v = support::uniform(&mut rng, 7, -1.0, 1.0);
            let tr = s.forward(&w, &x);
            let lhs = dot(&u, &s.backward(&w, &tr, &v));
            let rhs = dot(&s.tangent_forward(&w, &tr, &u), &v);
            assert!(rel(lhs, rhs) < 1e-12, "{spike:?} {reset:?}: {lhs} vs {rhs}");
        }
    }
}

/// The unrolled training's pullback: φ(z_tr) = ⟨c, ŷ(z_tr)⟩ with ŷ the
/// predictions after T gradient-descent steps (minibatches, BPTT inside
/// each), against central differences in z_tr — smooth mode, reset carried
/// through (the exact derivative).
#[test]
fn unrolled_training_pullback_matches_finite_differences_in_smooth_mode() {
    {
        let reset = ResetGradient::Through;
        let s = spec(Spike::Sigmoid { slope: 4.0 }, reset);
        let w0 = s.init_pytorch(&mut support::rng(7));
        let mut rng = support::rng(8);
        let (m, big_m) = (8, 5);
        let x_tr = support::uniform(&mut rng, m * 3, -1.0, 1.0);
        let x_te = support::uniform(&mut rng, big_m * 3, -1.0, 1.0);
        let z_tr = support::uniform(&mut rng, m, -1.0, 1.0);
        let c = support::uniform(&mut rng, big_m, -1.0, 1.0);
        let batches: Vec<Vec<usize>> = vec![
            vec![0, 1, 2, 3],
            vec![4, 5, 6, 7],
            vec![1, 3, 5, 7],
            vec![0, 2, 4, 6],
            vec![2, 2, 6, 1],
        ];
        let lr = 0.1;
        let fit = |z: &[f64]| -> Vec<f64> {
            let z = z.to_vec();
            let f = UnrolledFit::new(
                &s,
                lr,
                &w0,
                (&x_tr, &z, &x_te),
                batches.clone(),
                Constraints::default(),
            );
            f.test_predictions().to_vec()
        };
        let f = UnrolledFit::new(
            &s,
            lr,
            &w0,
            (&x_tr, &z_tr, &x_te),
            batches.clone(),
            Constraints::default(),
        );
        // The learner has moved: its predictions depend on the labels.
        let z_bar = f.pullback(&c).unwrap();
        assert!(z_bar.iter().any(|v| v.abs() > 1e-4), "{z_bar:?}");
        let h = 1e-6;
        for i in 0..m {
            let mut zp = z_tr.clone();
            let mut zm = z_tr.clone();
            zp[i] += h;
            zm[i] -= h;
            let fd = (dot(&c, &fit(&zp)) - dot(&c, &fit(&zm))) / (2.0 * h);
            assert!(
                (fd - z_bar[i]).abs() < 1e-6 * z_bar.iter().fold(0.0f64, |a, v| a.max(v.abs())),
                "{reset:?}: z̄[{i}] {} vs {fd}",
                z_bar[i]
            );
        }
    }
}
