//! The engine's resumable state: θ, the optimiser's state and its step
//! count, exactly as the GPU holds them (f32), for checkpoints.

use super::GpuMetaEngine;
use crate::MetaError;
use crate::error::Result;
use occam_gpu::Gpu;

/// Everything a meta-learning run carries from one meta-step to the next
/// (task data is drawn afresh from counter-based streams each step, so no
/// random-number state is carried).
#[derive(Clone, Debug, PartialEq)]
pub struct MetaState {
    /// θ, flat in the [`occam_ops::net::NetSpec`] layout, as the GPU holds it.
    pub theta: Vec<f32>,
    /// The optimiser's first-moment state, layer after layer (empty for SGD).
    pub opt_m: Vec<f32>,
    /// The optimiser's second-moment state (Adam's v, Adagrad's sum).
    pub opt_v: Vec<f32>,
    /// Optimiser steps taken (Adam's bias corrections use it).
    pub steps: u64,
}

impl GpuMetaEngine {
    /// Reads back θ and the optimiser's state.
    pub fn save_state(&self, gpu: &Gpu) -> Result<MetaState> {
        let mut state = MetaState {
            theta: Vec::new(),
            opt_m: Vec::new(),
            opt_v: Vec::new(),
            steps: self.meta_step_count,
        };
        for (theta, opt) in self.theta.iter().zip(&self.meta_opt) {
            state.theta.extend(gpu.read(theta)?);
            let (m, v) = opt.read_state(gpu)?;
            state.opt_m.extend(m);
            state.opt_v.extend(v);
        }
        Ok(state)
    }

    /// Puts back a state read by [`GpuMetaEngine::save_state`] from an
    /// engine of the same problem and optimiser: the next meta-step then
    /// computes exactly what it would have computed in the saved run.
    pub fn restore_state(&mut self, gpu: &Gpu, state: &MetaState) -> Result<()> {
        let total: usize = self.theta.iter().map(|t| t.len()).sum();
        let m_len: usize = self.meta_opt.iter().map(|o| o.state_lens().0).sum();
        let v_len: usize = self.meta_opt.iter().map(|o| o.state_lens().1).sum();
        if state.theta.len() != total || state.opt_m.len() != m_len || state.opt_v.len() != v_len {
            return Err(MetaError::State(format!(
                "the saved state holds {} parameters and {} + {} optimiser values; this \
                 meta-learner and optimiser need {total} and {m_len} + {v_len}",
                state.theta.len(),
                state.opt_m.len(),
                state.opt_v.len()
            )));
        }
        let (mut at, mut at_m, mut at_v) = (0, 0, 0);
        for (theta, opt) in self.theta.iter().zip(&self.meta_opt) {
            let n = theta.len();
            gpu.write(theta, &state.theta[at..at + n])?;
            at += n;
            let (m, v) = opt.state_lens();
            opt.write_state(
                gpu,
                &state.opt_m[at_m..at_m + m],
                &state.opt_v[at_v..at_v + v],
            )?;
            at_m += m;
            at_v += v;
        }
        self.meta_step_count = state.steps;
        Ok(())
    }
}
