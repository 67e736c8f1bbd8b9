//! CPU f64 twin of the convolution.

use super::Conv2dShape;
use crate::passes::Bilinear;

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
}

impl Bilinear for Conv2dCpu {
    const OP: &'static str = "conv2d";

    fn describe(&self) -> String {
        format!("conv2d {:?}", self.shape)
    }

    fn lens(&self) -> (usize, usize, usize) {
        (self.shape.x_len(), self.shape.w_len(), self.shape.y_len())
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
}
