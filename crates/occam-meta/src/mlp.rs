//! Multilayer perceptrons: the shape of a learner or meta-learner, its flat
//! parameter layout, PyTorch-default initialisation, and its passes on the CPU
//! in f64, composed from the op library's CPU twins (the reference the GPU
//! engine is checked against).
//!
//! Layer l maps a_{l−1} (rows × sizes[l−1]) to s_l = [a_{l−1}, 1] W_lᵀ and
//! a_l = σ_l(s_l), with σ_l the hidden activation for every layer but the last,
//! which uses the output activation. Parameters are the layers' weight blocks
//! `sizes[l] × (sizes[l−1] + 1)` (bias in the last column), concatenated.

use occam_ops::{Activation, ActivationCpu, DenseCpu, DenseShape, Passes};
use rand::Rng;

/// The architecture of an MLP.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// Layer widths, input first, output last (e.g. `[3, 20, 20, 1]`).
    pub sizes: Vec<usize>,
    /// Activation of the hidden layers.
    pub hidden: Activation,
    /// Activation of the output layer.
    pub output: Activation,
}

/// Per-layer values of one forward pass on the CPU.
#[derive(Clone, Debug)]
pub struct Trace {
    /// a_0 = x, a_1, …, a_L (a_L is the output).
    pub a: Vec<Vec<f64>>,
    /// s_1, …, s_L (pre-activations; index l−1 holds s_l).
    pub s: Vec<Vec<f64>>,
}

impl MlpSpec {
    /// Number of layers (weight blocks).
    pub fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        *self.sizes.last().expect("an MLP has at least one layer")
    }

    /// Start of layer l's block (0-based layer index) in the flat parameters.
    pub fn offset(&self, layer: usize) -> usize {
        (0..layer).map(|l| self.block_len(l)).sum()
    }

    /// Parameters of layer l (0-based): `sizes[l+1] × (sizes[l] + 1)`.
    pub fn block_len(&self, layer: usize) -> usize {
        self.sizes[layer + 1] * (self.sizes[layer] + 1)
    }

    /// Total number of parameters.
    pub fn n_params(&self) -> usize {
        (0..self.depth()).map(|l| self.block_len(l)).sum()
    }

    /// Activation of layer l (0-based).
    pub fn activation(&self, layer: usize) -> Activation {
        if layer + 1 == self.depth() {
            self.output
        } else {
            self.hidden
        }
    }

    /// Dense shape of layer l for `rows` inputs.
    pub fn dense_shape(&self, layer: usize, rows: usize) -> DenseShape {
        DenseShape {
            batch: 1,
            rows,
            d_in: self.sizes[layer],
            d_out: self.sizes[layer + 1],
        }
    }

    /// PyTorch's default `nn.Linear` initialisation: every weight and bias of
    /// layer l uniform in ±1/√fan_in.
    pub fn init_pytorch<R: Rng>(&self, rng: &mut R) -> Vec<f64> {
        let mut w = Vec::with_capacity(self.n_params());
        for l in 0..self.depth() {
            let bound = 1.0 / (self.sizes[l] as f64).sqrt();
            for _ in 0..self.block_len(l) {
                w.push(rng.random_range(-bound..bound));
            }
        }
        w
    }

    fn block<'a>(&self, w: &'a [f64], layer: usize) -> &'a [f64] {
        &w[self.offset(layer)..self.offset(layer) + self.block_len(layer)]
    }

    fn dense(&self, layer: usize, rows: usize) -> DenseCpu {
        DenseCpu {
            shape: self.dense_shape(layer, rows),
        }
    }

    fn act(&self, layer: usize, rows: usize) -> ActivationCpu {
        ActivationCpu {
            act: self.activation(layer),
            len: rows * self.sizes[layer + 1],
        }
    }

    /// Forward pass on `rows` inputs `x` (rows × d_in, row-major).
    pub fn forward(&self, w: &[f64], x: &[f64]) -> Trace {
        let rows = x.len() / self.d_in();
        let mut a = vec![x.to_vec()];
        let mut s = Vec::new();
        for l in 0..self.depth() {
            let sl = one(self
                .dense(l, rows)
                .forward(&[a[l].clone(), self.block(w, l).to_vec()]));
            a.push(one(self.act(l, rows).forward(std::slice::from_ref(&sl))));
            s.push(sl);
        }
        Trace { a, s }
    }

    /// Backward pass: given ḡ = ∂L/∂a_L, returns (∂L/∂w, ∂L/∂x, s̄ per layer).
    pub fn backward(
        &self,
        w: &[f64],
        tr: &Trace,
        g_bar: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
        let rows = tr.a[0].len() / self.d_in();
        let mut w_bar = vec![0.0; self.n_params()];
        let mut s_bar = vec![Vec::new(); self.depth()];
        let mut a_bar = g_bar.to_vec();
        for l in (0..self.depth()).rev() {
            let sb = one(self
                .act(l, rows)
                .backward(std::slice::from_ref(&tr.s[l]), &[a_bar]));
            let mut grads = self
                .dense(l, rows)
                .backward(
                    &[tr.a[l].clone(), self.block(w, l).to_vec()],
                    std::slice::from_ref(&sb),
                )
                .expect("shapes are consistent");
            let wb = grads.pop().unwrap();
            a_bar = grads.pop().unwrap();
            w_bar[self.offset(l)..self.offset(l) + self.block_len(l)].copy_from_slice(&wb);
            s_bar[l] = sb;
        }
        (w_bar, a_bar, s_bar)
    }

    /// Tangent forward along parameter direction `v` (inputs held fixed):
    /// returns (ṡ per layer, ȧ per layer with ȧ_0 = 0).
    pub fn tangent_forward(&self, w: &[f64], tr: &Trace, v: &[f64]) -> Trace {
        let rows = tr.a[0].len() / self.d_in();
        let mut a_dot = vec![vec![0.0; tr.a[0].len()]];
        let mut s_dot = Vec::new();
        for l in 0..self.depth() {
            let sd = one(self.dense(l, rows).tangent_forward(
                &[tr.a[l].clone(), self.block(w, l).to_vec()],
                &[a_dot[l].clone(), self.block(v, l).to_vec()],
            ));
            a_dot.push(one(self.act(l, rows).tangent_forward(
                std::slice::from_ref(&tr.s[l]),
                std::slice::from_ref(&sd),
            )));
            s_dot.push(sd);
        }
        Trace { a: a_dot, s: s_dot }
    }

    /// Tangent backward: the derivative of [`MlpSpec::backward`]'s ∂L/∂w along
    /// (v, ḡ̇), given the primal trace, the primal cotangent ḡ with its s̄, and
    /// the tangent trace along v.
    #[allow(clippy::too_many_arguments)]
    pub fn tangent_backward(
        &self,
        w: &[f64],
        tr: &Trace,
        g_bar: &[f64],
        s_bar: &[Vec<f64>],
        v: &[f64],
        tangent: &Trace,
        g_bar_dot: &[f64],
    ) -> Vec<f64> {
        let rows = tr.a[0].len() / self.d_in();
        let mut out = vec![0.0; self.n_params()];
        // ā_l of the primal backward, recomputed layer by layer from s̄.
        let mut a_bar = g_bar.to_vec();
        let mut a_bar_dot = g_bar_dot.to_vec();
        for l in (0..self.depth()).rev() {
            let sbd = one(self.act(l, rows).tangent_backward(
                std::slice::from_ref(&tr.s[l]),
                &[a_bar],
                std::slice::from_ref(&tangent.s[l]),
                &[a_bar_dot],
            ));
            let prim = [tr.a[l].clone(), self.block(w, l).to_vec()];
            let dirs = [tangent.a[l].clone(), self.block(v, l).to_vec()];
            let mut t = self
                .dense(l, rows)
                .tangent_backward(&prim, std::slice::from_ref(&s_bar[l]), &dirs, &[sbd])
                .expect("shapes are consistent");
            let wbd = t.pop().unwrap();
            a_bar_dot = t.pop().unwrap();
            out[self.offset(l)..self.offset(l) + self.block_len(l)].copy_from_slice(&wbd);
            a_bar = self
                .dense(l, rows)
                .backward(&prim, std::slice::from_ref(&s_bar[l]))
                .expect("shapes are consistent")
                .swap_remove(0);
        }
        out
    }
}

fn one(r: occam_ops::Result<Vec<Vec<f64>>>) -> Vec<f64> {
    r.expect("shapes are consistent").swap_remove(0)
}
