//! In-place parameter updates on the GPU (`shaders/optimizer.wgsl`), PyTorch
//! semantics: SGD, Adam (bias-corrected) and Adagrad (accumulator from 0).
//! CPU twin: [`OptimizerCpu`] (`cpu.rs`).

mod cpu;

pub use cpu::OptimizerCpu;

use crate::error::{Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

/// Which update rule, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// w ← w − lr·g.
    Sgd {
        /// Learning rate.
        lr: f64,
    },
    /// Adam with bias correction.
    Adam {
        /// Learning rate.
        lr: f64,
        /// β1 (PyTorch default 0.9).
        beta1: f64,
        /// β2 (PyTorch default 0.999).
        beta2: f64,
        /// ε (PyTorch default 1e-8).
        eps: f64,
    },
    /// Adagrad, accumulator starting at 0.
    Adagrad {
        /// Learning rate.
        lr: f64,
        /// ε (PyTorch default 1e-10).
        eps: f64,
    },
}

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/optimizer.wgsl` (its `OptParams`).
    pub(crate) struct OptParams in "optimizer" {
        len: u32,
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        c1: f32,
        c2: f32,
        _pad: u32,
    }
}

/// One parameter tensor's optimiser: its state and kernel.
pub struct OptimizerGpu {
    kind: OptimizerKind,
    len: usize,
    params: wgpu::Buffer,
    state_m: GpuTensor,
    state_v: GpuTensor,
    kernel: Arc<Kernel>,
}

impl OptimizerGpu {
    /// An optimiser for a tensor of `len` values, state zeroed.
    pub fn new(gpu: &Gpu, kind: OptimizerKind, len: usize) -> Result<OptimizerGpu> {
        let len32 = crate::error::to_u32("optimizer", "parameters", len)?;
        let entry = match kind {
            OptimizerKind::Sgd { .. } => kernels::OPTIMIZER_SGD,
            OptimizerKind::Adam { .. } => kernels::OPTIMIZER_ADAM,
            OptimizerKind::Adagrad { .. } => kernels::OPTIMIZER_ADAGRAD,
        };
        let state_len = if matches!(kind, OptimizerKind::Sgd { .. }) {
            0
        } else {
            len
        };
        let opt = OptimizerGpu {
            kind,
            len,
            params: gpu.params("optimizer params", &OptParams::zeroed_with_len(len32))?,
            state_m: gpu.zeros("optimizer m", state_len)?,
            state_v: gpu.zeros("optimizer v", state_len)?,
            kernel: gpu.kernel(entry, &[])?,
        };
        opt.set_step(gpu, 1);
        Ok(opt)
    }

    /// Sets the step count t (1-based) that Adam's bias corrections use;
    /// takes effect at the next submission.
    pub fn set_step(&self, gpu: &Gpu, t: u64) {
        let mut p = OptParams::zeroed_with_len(self.len as u32);
        match self.kind {
            OptimizerKind::Sgd { lr } => p.lr = lr as f32,
            OptimizerKind::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                p.lr = lr as f32;
                p.beta1 = beta1 as f32;
                p.beta2 = beta2 as f32;
                p.eps = eps as f32;
                p.c1 = (1.0 - beta1.powf(t as f64)) as f32;
                p.c2 = (1.0 - beta2.powf(t as f64)) as f32;
            }
            OptimizerKind::Adagrad { lr, eps } => {
                p.lr = lr as f32;
                p.eps = eps as f32;
            }
        }
        gpu.write_uniform(&self.params, &p);
    }

    /// Reads back the optimiser's state (Adam's m and v, Adagrad's
    /// accumulator in v; both empty for SGD), for a checkpoint.
    pub fn read_state(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((gpu.read(&self.state_m)?, gpu.read(&self.state_v)?))
    }

    /// The lengths of the two state vectors [`OptimizerGpu::read_state`] returns.
    pub fn state_lens(&self) -> (usize, usize) {
        (self.state_m.len(), self.state_v.len())
    }

    /// Overwrites the optimiser's state with values from
    /// [`OptimizerGpu::read_state`] (ordered before the next submission).
    pub fn write_state(&self, gpu: &Gpu, m: &[f32], v: &[f32]) -> Result<()> {
        check_len("optimizer", "state m", m.len(), self.state_m.len())?;
        check_len("optimizer", "state v", v.len(), self.state_v.len())?;
        gpu.write(&self.state_m, m)?;
        gpu.write(&self.state_v, v)?;
        Ok(())
    }

    /// Records w ← update(w, g).
    pub fn step(&self, enc: &mut Encoder<'_>, w: &GpuTensor, g: &GpuTensor) -> Result<()> {
        check_len("optimizer", "w", w.len(), self.len)?;
        check_len("optimizer", "g", g.len(), self.len)?;
        let mut binds: Vec<(&str, &wgpu::Buffer)> =
            vec![("p", &self.params), ("w", w.buffer()), ("g", g.buffer())];
        match self.kind {
            OptimizerKind::Sgd { .. } => {}
            OptimizerKind::Adam { .. } => {
                binds.push(("state_m", self.state_m.buffer()));
                binds.push(("state_v", self.state_v.buffer()));
            }
            OptimizerKind::Adagrad { .. } => binds.push(("state_v", self.state_v.buffer())),
        }
        enc.dispatch(&self.kernel, &binds, [workgroups_for(self.len, 64), 1, 1])?;
        Ok(())
    }
}

impl OptParams {
    fn zeroed_with_len(len: u32) -> OptParams {
        OptParams {
            len,
            lr: 0.0,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            c1: 1.0,
            c2: 1.0,
            _pad: 0,
        }
    }
}

/// The optimisers in the registry: three steps of each rule against the twin.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "optimizer",
    entry_points: &["optimizer_sgd", "optimizer_adam", "optimizer_adagrad"],
    params: &[crate::registry::params::<OptParams>],
    twin: "occam_ops::optimizer::OptimizerCpu",
    check: |gpu| {
        use crate::registry::{self, Checks, REDUCTION_TOL};
        let mut c = Checks::new(0x0F);
        let len = 133;
        let w0 = c.uniform(len, -1.0, 1.0);
        let grads: Vec<Vec<f64>> = (0..3).map(|_| c.uniform(len, -1.0, 1.0)).collect();
        for kind in [
            OptimizerKind::Sgd { lr: 0.1 },
            OptimizerKind::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            OptimizerKind::Adagrad { lr: 0.05, eps: 1e-10 },
        ] {
            let op = OptimizerGpu::new(gpu, kind, len)?;
            let w = registry::upload(gpu, "optimizer w", &[&w0])?.remove(0);
            for (t, g) in grads.iter().enumerate() {
                op.set_step(gpu, t as u64 + 1);
                let g = registry::upload(gpu, "optimizer g", &[g])?.remove(0);
                registry::run(gpu, &[], |enc| op.step(enc, &w, &g))?;
            }
            let got = registry::run(gpu, &[&w], |_| Ok(()))?;
            let mut twin = OptimizerCpu::new(kind, len);
            let mut want = w0.clone();
            for g in &grads {
                twin.step(&mut want, g);
            }
            c.compare(format!("{kind:?}, 3 steps: GPU vs twin"), &got, &[want], REDUCTION_TOL);
        }
        Ok(c.finish())
    },
};
