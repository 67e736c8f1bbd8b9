//! The f64 twin of the optimiser steps, with PyTorch's semantics (the math
//! is in `shaders/optimizer.wgsl`'s header).

use super::OptimizerKind;

/// One parameter tensor's optimiser in f64: the step count and the state
/// (Adam's m and v; Adagrad's accumulator in v).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerCpu {
    /// The rule and its hyper-parameters.
    pub kind: OptimizerKind,
    /// Steps taken.
    pub t: u64,
    /// Adam's first moment.
    pub m: Vec<f64>,
    /// Adam's second moment, or Adagrad's sum of squares.
    pub v: Vec<f64>,
}

impl OptimizerCpu {
    /// A fresh optimiser over `len` parameters.
    pub fn new(kind: OptimizerKind, len: usize) -> OptimizerCpu {
        OptimizerCpu {
            kind,
            t: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// w ← update(w, g), as step t + 1.
    pub fn step(&mut self, w: &mut [f64], g: &[f64]) {
        self.t += 1;
        match self.kind {
            OptimizerKind::Sgd { lr } => {
                for (w, g) in w.iter_mut().zip(g) {
                    *w -= lr * g;
                }
            }
            OptimizerKind::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let c1 = 1.0 - beta1.powf(self.t as f64);
                let c2 = 1.0 - beta2.powf(self.t as f64);
                for i in 0..w.len() {
                    self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * g[i];
                    self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g[i] * g[i];
                    w[i] -= (lr / c1) * self.m[i] / (self.v[i].sqrt() / c2.sqrt() + eps);
                }
            }
            OptimizerKind::Adagrad { lr, eps } => {
                for i in 0..w.len() {
                    self.v[i] += g[i] * g[i];
                    w[i] -= lr * g[i] / (self.v[i].sqrt() + eps);
                }
            }
        }
    }
}
