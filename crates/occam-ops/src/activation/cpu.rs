//! CPU f64 twin of the activation op.

use super::Activation;
use crate::error::{Result, check_len};
use crate::passes::{Passes, Tensors};

/// An activation over `len` elements, in f64 on the CPU.
#[derive(Clone, Copy, Debug)]
pub struct ActivationCpu {
    /// Which σ.
    pub act: Activation,
    /// Number of elements.
    pub len: usize,
}

impl ActivationCpu {
    fn map(&self, s: &[f64], f: impl Fn(usize, (f64, f64, f64)) -> f64) -> Result<Tensors> {
        check_len("activation", "s", s.len(), self.len)?;
        Ok(vec![
            s.iter()
                .enumerate()
                .map(|(i, &v)| f(i, self.act.eval(v)))
                .collect(),
        ])
    }
}

impl Passes for ActivationCpu {
    fn name(&self) -> String {
        format!("activation {} x{}", self.act, self.len)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.len]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.len]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        self.map(&x[0], |_, (a, _, _)| a)
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        self.map(&x[0], |i, (_, d1, _)| d1 * y_bar[0][i])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        self.map(&x[0], |i, (_, d1, _)| d1 * x_dot[0][i])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        self.map(&x[0], |i, (_, d1, d2)| {
            d2 * x_dot[0][i] * y_bar[0][i] + d1 * y_bar_dot[0][i]
        })
    }
}
