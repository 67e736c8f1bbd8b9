//! CPU f64 twin of the dense layer: the test oracle for the GPU kernels.

use super::DenseShape;
use crate::error::{Result, check_len};
use crate::passes::{Passes, Tensors};

/// The dense layer's four passes in f64 on the CPU.
#[derive(Clone, Copy, Debug)]
pub struct DenseCpu {
    /// The layer's sizes.
    pub shape: DenseShape,
}

/// Index helpers over one shape.
struct Ix(DenseShape);

impl Ix {
    fn x(&self, b: usize, r: usize, k: usize) -> usize {
        (b * self.0.rows + r) * self.0.d_in + k
    }
    fn w(&self, b: usize, o: usize, k: usize) -> usize {
        (b * self.0.d_out + o) * (self.0.d_in + 1) + k
    }
    fn y(&self, b: usize, r: usize, o: usize) -> usize {
        (b * self.0.rows + r) * self.0.d_out + o
    }
}

impl DenseCpu {
    /// Σ_k x̃_rk w_ok for all (r, o), with x̃ = [x, `bias_input`].
    fn product(&self, x: &[f64], w: &[f64], bias_input: f64) -> Vec<f64> {
        let s = self.shape;
        let ix = Ix(s);
        let mut y = vec![0.0; s.y_len()];
        for b in 0..s.batch {
            for r in 0..s.rows {
                for o in 0..s.d_out {
                    let mut acc = bias_input * w[ix.w(b, o, s.d_in)];
                    for k in 0..s.d_in {
                        acc += x[ix.x(b, r, k)] * w[ix.w(b, o, k)];
                    }
                    y[ix.y(b, r, o)] = acc;
                }
            }
        }
        y
    }

    /// x̄ = ȳ w[:, :d_in] and w̄ = ȳᵀ x̃, with x̃ = [x, `bias_input`].
    fn transpose_products(
        &self,
        x: &[f64],
        w: &[f64],
        y_bar: &[f64],
        bias_input: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let s = self.shape;
        let ix = Ix(s);
        let mut x_bar = vec![0.0; s.x_len()];
        let mut w_bar = vec![0.0; s.w_len()];
        for b in 0..s.batch {
            for r in 0..s.rows {
                for o in 0..s.d_out {
                    let g = y_bar[ix.y(b, r, o)];
                    for k in 0..s.d_in {
                        x_bar[ix.x(b, r, k)] += g * w[ix.w(b, o, k)];
                        w_bar[ix.w(b, o, k)] += g * x[ix.x(b, r, k)];
                    }
                    w_bar[ix.w(b, o, s.d_in)] += g * bias_input;
                }
            }
        }
        (x_bar, w_bar)
    }

    fn check_inputs(&self, x: &[Vec<f64>]) -> Result<()> {
        check_len("dense", "x", x[0].len(), self.shape.x_len())?;
        check_len("dense", "w", x[1].len(), self.shape.w_len())
    }
}

fn add(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    a.into_iter().zip(b).map(|(p, q)| p + q).collect()
}

impl Passes for DenseCpu {
    fn name(&self) -> String {
        format!("dense {:?}", self.shape)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.shape.x_len(), self.shape.w_len()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.shape.y_len()]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        self.check_inputs(x)?;
        Ok(vec![self.product(&x[0], &x[1], 1.0)])
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        self.check_inputs(x)?;
        check_len("dense", "y_bar", y_bar[0].len(), self.shape.y_len())?;
        let (x_bar, w_bar) = self.transpose_products(&x[0], &x[1], &y_bar[0], 1.0);
        Ok(vec![x_bar, w_bar])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        self.check_inputs(x)?;
        self.check_inputs(x_dot)?;
        // ẏ = ẋ̃ wᵀ + x̃ ẇᵀ, with ẋ̃ = [ẋ, 0].
        let y_dot = add(
            self.product(&x_dot[0], &x[1], 0.0),
            self.product(&x[0], &x_dot[1], 1.0),
        );
        Ok(vec![y_dot])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        self.check_inputs(x)?;
        self.check_inputs(x_dot)?;
        // x̄̇ = ȳ̇ w + ȳ ẇ,  w̄̇ = ȳ̇ᵀ x̃ + ȳᵀ ẋ̃.
        let (xb1, wb1) = self.transpose_products(&x[0], &x[1], &y_bar_dot[0], 1.0);
        let (xb2, wb2) = self.transpose_products(&x_dot[0], &x_dot[1], &y_bar[0], 0.0);
        Ok(vec![add(xb1, xb2), add(wb1, wb2)])
    }
}
