//! A learner trained by T unrolled steps of (minibatch) gradient descent on
//! the squared error, and the exact reverse sweep of docs/design.md §2, on the CPU
//! in f64 (the reference for the GPU engine, and the twin of the fused unroll).
//!
//! Step t on minibatch B_t (|B_t| = n): w_{t+1} = w_t − η ∇_w L_t(w_t),
//! L_t = (1/n) Σ_{i∈B_t} (g_w(x_i) − z_i)². Reverse sweep with v = w̄_{t+1}:
//! z̄_i += η (2/n) ⟨∇_w g(x_i), v⟩ for i ∈ B_t, and w̄_t = v − η H_t v.

use crate::constraint::Constraints;
use crate::gather::gather_rows;
use crate::model::Model;

/// ∇_w L_t at `w` on the batch (xb, zb), and L_t itself.
pub fn loss_gradient<M: Model>(spec: &M, w: &[f64], xb: &[f64], zb: &[f64]) -> (Vec<f64>, f64) {
    let tr = spec.forward(w, xb);
    let g = spec.output(&tr);
    let n = zb.len() as f64;
    let g_bar: Vec<f64> = g.iter().zip(zb).map(|(g, z)| 2.0 / n * (g - z)).collect();
    let loss = g.iter().zip(zb).map(|(g, z)| (g - z).powi(2)).sum::<f64>() / n;
    (spec.backward(w, &tr, &g_bar), loss)
}

/// Trains from `w0` on (x_tr, z_tr) with one batch of row indices per step;
/// returns w_0 … w_T.
pub fn train<M: Model>(
    spec: &M,
    w0: &[f64],
    x_tr: &[f64],
    z_tr: &[f64],
    batches: &[Vec<usize>],
    lr: f64,
    constraints: &Constraints,
) -> Vec<Vec<f64>> {
    let mut ws = vec![w0.to_vec()];
    for idx in batches {
        let w = ws.last().unwrap();
        let xb = gather_rows(x_tr, spec.d_in(), idx);
        let zb: Vec<f64> = idx.iter().map(|&i| z_tr[i]).collect();
        let (grad, _) = loss_gradient(spec, w, &xb, &zb);
        let grad = constraints.masked(&grad);
        let pre: Vec<f64> = w.iter().zip(&grad).map(|(w, g)| w - lr * g).collect();
        ws.push(constraints.project(&pre));
    }
    ws
}

/// The reverse sweep: given w̄_T = ∂L/∂w_T, returns (∂L/∂z_tr, ∂L/∂w_0).
/// With constraints, each step is differentiated through P and M:
/// v' = P'(w_pre) ⊙ v, z̄_i += η (2/n) ⟨∇g(x_i), M ⊙ v'⟩, w̄_t = v' − η H_t (M ⊙ v').
#[allow(clippy::too_many_arguments)]
pub fn adjoint<M: Model>(
    spec: &M,
    ws: &[Vec<f64>],
    x_tr: &[f64],
    z_tr: &[f64],
    batches: &[Vec<usize>],
    lr: f64,
    constraints: &Constraints,
    w_bar_final: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut z_bar = vec![0.0; z_tr.len()];
    let mut v = w_bar_final.to_vec();
    for (t, idx) in batches.iter().enumerate().rev() {
        let w = &ws[t];
        let xb = gather_rows(x_tr, spec.d_in(), idx);
        let zb: Vec<f64> = idx.iter().map(|&i| z_tr[i]).collect();
        let n = zb.len() as f64;
        let tr = spec.forward(w, &xb);
        let g = spec.output(&tr);
        let g_bar: Vec<f64> = g.iter().zip(&zb).map(|(g, z)| 2.0 / n * (g - z)).collect();
        let grad = spec.backward(w, &tr, &g_bar);
        // Through the projection: v' = P'(w_pre) ⊙ v, then the step sees M ⊙ v'.
        if !constraints.signs.is_empty() {
            let grad = constraints.masked(&grad);
            let pre: Vec<f64> = w.iter().zip(&grad).map(|(w, g)| w - lr * g).collect();
            v = constraints.project_adjoint(&pre, &v);
        }
        let v_m = constraints.masked(&v);
        let tangent = spec.tangent_forward(w, &tr, &v_m);
        // ġ_i = ⟨∇_w g(x_i), v⟩; the loss gradient's tangent is ḡ̇ = (2/n) ġ.
        let g_bar_dot: Vec<f64> = tangent.iter().map(|gd| 2.0 / n * gd).collect();
        let hv = spec.tangent_backward(w, &tr, &g_bar, &v_m, &g_bar_dot);
        for (k, &i) in idx.iter().enumerate() {
            z_bar[i] += lr * g_bar_dot[k];
        }
        for (vi, h) in v.iter_mut().zip(&hv) {
            *vi -= lr * h;
        }
    }
    (z_bar, v)
}
