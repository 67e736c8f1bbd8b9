//! −s·std(z_S): a reward for spread-out labels (Bessel-corrected, like
//! PyTorch's `z.std()`), on the test labels or on all labels. The paper's
//! MNIST experiment uses it instead of a distribution term.

use super::{CpuGrads, CpuLabels, GpuLabels, GpuTerm, Labels, LossTerm, TermShape, read_sum};
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::StdRewardGpu;
use occam_ops::std_reward::std_dev;

/// −s · std(z_S), z_S = z_te or z_tr ∪ z_te.
#[derive(Clone, Debug, PartialEq)]
pub struct StdReward {
    /// s.
    pub reward: f64,
    /// z_S: [`Labels::Test`] or [`Labels::All`].
    pub on: Labels,
}

impl LossTerm for StdReward {
    fn name(&self) -> &'static str {
        "std_reward"
    }

    /// The coefficient of std(z_S) in L: −s.
    fn weight(&self) -> f64 {
        -self.reward
    }

    fn raw_key(&self) -> &'static str {
        "label_std"
    }

    fn label(&self) -> String {
        "−s·std(z)".into()
    }

    fn reads(&self) -> Vec<Labels> {
        vec![self.on]
    }

    fn cpu(&self, l: &CpuLabels<'_>, grads: &mut CpuGrads) -> f64 {
        let s = self.reward;
        if self.on == Labels::All {
            let (sd, g) = std_dev(&[l.z_tr, l.z_te].concat());
            let (g_tr, g_te) = g.split_at(l.z_tr.len());
            for (a, gi) in grads.z_tr.iter_mut().zip(g_tr) {
                *a -= s * gi;
            }
            for (a, gi) in grads.z_te.iter_mut().zip(g_te) {
                *a -= s * gi;
            }
            -s * sd
        } else {
            let (sd, g) = std_dev(l.z_te);
            for (a, gi) in grads.z_te.iter_mut().zip(g) {
                *a -= s * gi;
            }
            -s * sd
        }
    }

    fn gpu(&self, gpu: &Gpu, s: TermShape<'_>) -> Result<Box<dyn GpuTerm>> {
        let n = if self.on == Labels::All {
            s.train + s.test
        } else {
            s.test
        };
        Ok(Box::new(StdRewardTermGpu {
            all: self.on == Labels::All,
            op: StdRewardGpu::new(gpu, s.tasks, n, self.reward / s.tasks as f64)?,
            loss: gpu.zeros("std reward", s.tasks)?,
        }))
    }
}

struct StdRewardTermGpu {
    all: bool,
    op: StdRewardGpu,
    loss: GpuTensor,
}

impl GpuTerm for StdRewardTermGpu {
    fn record(&self, enc: &mut Encoder<'_>, l: &GpuLabels<'_>) -> Result<()> {
        let (z, z_bar) = if self.all {
            (
                l.z_all
                    .expect("the engine provides z_tr ∪ z_te to a term that reads it"),
                l.z_all_bar.expect("with its gradient"),
            )
        } else {
            (l.z_te, l.z_te_bar)
        };
        self.op.forward(enc, z, &self.loss)?;
        Ok(self.op.backward(enc, z, z_bar)?)
    }

    fn read<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, f64> {
        Box::pin(read_sum(gpu, &self.loss))
    }
}
