//! CPU f64 twin of the convolution.

use super::Conv2dShape;
use crate::error::{Result, check_len};
use crate::passes::{Passes, Tensors};

/// The convolution's four passes in f64 on the CPU.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dCpu {
    /// The sizes.
    pub shape: Conv2dShape,
}

impl Conv2dCpu {
    /// Calls `f(y index, x index or None for the bias, w index)` for every
    /// product term of the convolution.
    fn for_each_term(&self, mut f: impl FnMut(usize, Option<usize>, usize)) {
        let s = self.shape;
        let (ho, wo, k, p) = (s.h_out(), s.w_out(), s.kernel, s.padding as isize);
        for b in 0..s.batch {
            for n in 0..s.images {
                for o in 0..s.c_out {
                    let w_row = (b * s.c_out + o) * s.fan();
                    for i in 0..ho {
                        for j in 0..wo {
                            let yi = (((b * s.images + n) * s.c_out + o) * ho + i) * wo + j;
                            f(yi, None, w_row + s.fan() - 1);
                            for c in 0..s.c_in {
                                for u in 0..k {
                                    for v in 0..k {
                                        let (r, q) = (
                                            i as isize + u as isize - p,
                                            j as isize + v as isize - p,
                                        );
                                        if r < 0
                                            || q < 0
                                            || r >= s.height as isize
                                            || q >= s.width as isize
                                        {
                                            continue;
                                        }
                                        let xi = (((b * s.images + n) * s.c_in + c) * s.height
                                            + r as usize)
                                            * s.width
                                            + q as usize;
                                        f(yi, Some(xi), w_row + (c * k + u) * k + v);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = conv(x, w) with the bias multiplied by `bias_input`.
    fn product(&self, x: &[f64], w: &[f64], bias_input: f64) -> Vec<f64> {
        let mut y = vec![0.0; self.shape.y_len()];
        self.for_each_term(|yi, xi, wi| y[yi] += w[wi] * xi.map_or(bias_input, |xi| x[xi]));
        y
    }

    /// (x̄, w̄) of the product for cotangent ȳ, with the bias input `bias_input`.
    fn transpose_products(
        &self,
        x: &[f64],
        w: &[f64],
        y_bar: &[f64],
        bias_input: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut x_bar = vec![0.0; self.shape.x_len()];
        let mut w_bar = vec![0.0; self.shape.w_len()];
        self.for_each_term(|yi, xi, wi| match xi {
            Some(xi) => {
                x_bar[xi] += y_bar[yi] * w[wi];
                w_bar[wi] += y_bar[yi] * x[xi];
            }
            None => w_bar[wi] += y_bar[yi] * bias_input,
        });
        (x_bar, w_bar)
    }

    fn check(&self, x: &[Vec<f64>]) -> Result<()> {
        check_len("conv2d", "x", x[0].len(), self.shape.x_len())?;
        check_len("conv2d", "w", x[1].len(), self.shape.w_len())
    }
}

fn add(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    a.into_iter().zip(b).map(|(p, q)| p + q).collect()
}

impl Passes for Conv2dCpu {
    fn name(&self) -> String {
        format!("conv2d {:?}", self.shape)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.shape.x_len(), self.shape.w_len()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.shape.y_len()]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        self.check(x)?;
        Ok(vec![self.product(&x[0], &x[1], 1.0)])
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        self.check(x)?;
        check_len("conv2d", "y_bar", y_bar[0].len(), self.shape.y_len())?;
        let (xb, wb) = self.transpose_products(&x[0], &x[1], &y_bar[0], 1.0);
        Ok(vec![xb, wb])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        self.check(x)?;
        self.check(x_dot)?;
        Ok(vec![add(
            self.product(&x_dot[0], &x[1], 0.0),
            self.product(&x[0], &x_dot[1], 1.0),
        )])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        self.check(x)?;
        self.check(x_dot)?;
        let (xb1, wb1) = self.transpose_products(&x[0], &x[1], &y_bar_dot[0], 1.0);
        let (xb2, wb2) = self.transpose_products(&x_dot[0], &x_dot[1], &y_bar[0], 0.0);
        Ok(vec![add(xb1, xb2), add(wb1, wb2)])
    }
}
