//! A learner trained by T unrolled steps of (minibatch) gradient descent on
//! the squared error, and the exact reverse sweep of docs/design.md §2, on the CPU
//! in f64 (the reference for the GPU engine).
//!
//! Step t on minibatch B_t (|B_t| = n): w_{t+1} = w_t − η ∇_w L_t(w_t),
//! L_t = (1/n) Σ_{i∈B_t} (g_w(x_i) − z_i)². Reverse sweep with v = w̄_{t+1}:
//! z̄_i += η (2/n) ⟨∇_w g(x_i), v⟩ for i ∈ B_t, and w̄_t = v − η H_t v.

use super::model::Model;

/// Rows `idx` of a row-major matrix with `width` columns.
pub fn gather_rows(x: &[f64], width: usize, idx: &[usize]) -> Vec<f64> {
    idx.iter()
        .flat_map(|&i| x[i * width..(i + 1) * width].iter().copied())
        .collect()
}

/// ∇_w L_t at `w` on the batch (xb, zb), and L_t itself.
pub fn loss_gradient<M: Model>(spec: &M, w: &[f64], xb: &[f64], zb: &[f64]) -> (Vec<f64>, f64) {
    let tr = spec.forward(w, xb);
    let g = spec.output(&tr);
    let n = zb.len() as f64;
    let g_bar: Vec<f64> = g.iter().zip(zb).map(|(g, z)| 2.0 / n * (g - z)).collect();
    let loss = g.iter().zip(zb).map(|(g, z)| (g - z).powi(2)).sum::<f64>() / n;
    (spec.backward(w, &tr, &g_bar), loss)
}

/// Structural constraints on a learner's parameters (flat, one entry per
/// parameter, or empty for none): docs/design.md §2's masks and projections.
/// A step is w_{t+1} = P(w_t − η M ⊙ ∇L_t) with P(w)_i = s_i |w_i| where
/// s_i ≠ 0 and w_i where s_i = 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Constraints {
    /// M: 1 where a parameter is trained, 0 where it stays at zero.
    pub mask: Vec<f64>,
    /// s: +1 / −1 where a parameter's sign is fixed, 0 where it is free.
    pub signs: Vec<f64>,
}

impl Constraints {
    /// The mask over `p` parameters: all ones (every parameter trained) when
    /// none is given.
    pub fn mask_or_ones(&self, p: usize) -> std::borrow::Cow<'_, [f64]> {
        Self::or_default(&self.mask, p, 1.0)
    }

    /// The signs over `p` parameters: all 0 (free) when none are given.
    pub fn signs_or_free(&self, p: usize) -> std::borrow::Cow<'_, [f64]> {
        Self::or_default(&self.signs, p, 0.0)
    }

    fn or_default(v: &[f64], p: usize, default: f64) -> std::borrow::Cow<'_, [f64]> {
        if v.is_empty() {
            std::borrow::Cow::Owned(vec![default; p])
        } else {
            std::borrow::Cow::Borrowed(v)
        }
    }

    /// True when there is neither a mask nor a sign constraint.
    pub fn is_empty(&self) -> bool {
        self.mask.is_empty() && self.signs.is_empty()
    }

    /// M ⊙ v.
    pub fn masked(&self, v: &[f64]) -> Vec<f64> {
        if self.mask.is_empty() {
            return v.to_vec();
        }
        v.iter().zip(&self.mask).map(|(a, m)| a * m).collect()
    }

    /// P(w).
    pub fn project(&self, w: &[f64]) -> Vec<f64> {
        if self.signs.is_empty() {
            return w.to_vec();
        }
        w.iter()
            .zip(&self.signs)
            .map(|(&a, &s)| if s == 0.0 { a } else { s * a.abs() })
            .collect()
    }

    /// P'(w) ⊙ v: the projection's derivative (s_i · sign(w_i) where constrained).
    pub fn project_adjoint(&self, w: &[f64], v: &[f64]) -> Vec<f64> {
        if self.signs.is_empty() {
            return v.to_vec();
        }
        w.iter()
            .zip(&self.signs)
            .zip(v)
            .map(|((&a, &s), &b)| if s == 0.0 { b } else { s * a.signum() * b })
            .collect()
    }

    /// A valid starting point: P(M ⊙ w0).
    pub fn apply(&self, w0: &[f64]) -> Vec<f64> {
        self.project(&self.masked(w0))
    }
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
