//! CPU f64 twin of the dense layer: the test oracle for the GPU kernels.

use super::DenseShape;
use crate::passes::Bilinear;

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

impl Bilinear for DenseCpu {
    const OP: &'static str = "dense";

    fn describe(&self) -> String {
        format!("dense {:?}", self.shape)
    }

    fn lens(&self) -> (usize, usize, usize) {
        (self.shape.x_len(), self.shape.w_len(), self.shape.y_len())
    }

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
}
