//! CPU f64 twin of the MSE op.

use super::MseShape;
use crate::error::{Result, check_len};
use crate::passes::{Passes, Tensors};

/// Batched weighted MSE in f64 on the CPU. Inputs: predictions g, targets z.
#[derive(Clone, Copy, Debug)]
pub struct MseCpu {
    /// Sizes and weight.
    pub shape: MseShape,
}

impl MseCpu {
    fn scale(&self) -> f64 {
        self.shape.weight / self.shape.count as f64
    }

    fn check(&self, name: &str, v: &[f64], n: usize) -> Result<()> {
        check_len("mse", name, v.len(), n)
    }

    /// Per problem b: Σ_i f(b, i), for i over that problem's elements.
    fn per_problem(&self, f: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        (0..self.shape.batch)
            .map(|b| {
                (0..self.shape.count)
                    .map(|i| f(b, b * self.shape.count + i))
                    .sum()
            })
            .collect()
    }

    /// ḡ_i = f(b, i) for every element; z̄ = −ḡ.
    fn per_element(&self, f: impl Fn(usize, usize) -> f64) -> Tensors {
        let count = self.shape.count;
        let g_bar: Vec<f64> = (0..self.shape.len()).map(|i| f(i / count, i)).collect();
        let z_bar = g_bar.iter().map(|v| -v).collect();
        vec![g_bar, z_bar]
    }
}

impl Passes for MseCpu {
    fn name(&self) -> String {
        format!("mse {:?}", self.shape)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.shape.len(), self.shape.len()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.shape.batch]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        let (g, z) = (&x[0], &x[1]);
        self.check("g", g, self.shape.len())?;
        self.check("z", z, self.shape.len())?;
        let c = self.scale();
        Ok(vec![self.per_problem(|_, i| c * (g[i] - z[i]).powi(2))])
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        let (g, z, l_bar) = (&x[0], &x[1], &y_bar[0]);
        self.check("loss_bar", l_bar, self.shape.batch)?;
        let c2 = 2.0 * self.scale();
        Ok(self.per_element(|b, i| c2 * l_bar[b] * (g[i] - z[i])))
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        let (g, z, g_dot, z_dot) = (&x[0], &x[1], &x_dot[0], &x_dot[1]);
        let c2 = 2.0 * self.scale();
        Ok(vec![self.per_problem(|_, i| {
            c2 * (g[i] - z[i]) * (g_dot[i] - z_dot[i])
        })])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        let (g, z, g_dot, z_dot) = (&x[0], &x[1], &x_dot[0], &x_dot[1]);
        let (l_bar, l_bar_dot) = (&y_bar[0], &y_bar_dot[0]);
        let c2 = 2.0 * self.scale();
        Ok(self.per_element(|b, i| {
            c2 * (l_bar_dot[b] * (g[i] - z[i]) + l_bar[b] * (g_dot[i] - z_dot[i]))
        }))
    }
}
