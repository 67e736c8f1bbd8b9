//! a·MSE_te: how badly a learner generalises the labels, the mean squared
//! error between its test predictions ŷ and the test labels z_te. With a
//! negative coefficient on a second learner it is the adversary's term
//! −a'·MSE_B (docs/design.md §1). Gradients: ∂/∂ŷ_j = 2a/M (ŷ_j − z_j),
//! ∂/∂z_j = −2a/M (ŷ_j − z_j).

use super::{CpuGrads, CpuLabels, GpuLabels, GpuTerm, Labels, LossTerm, TermShape, read_sum};
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::{AxpyGpu, MseGpu, MseShape};

/// a · mean_j (ŷ_j − z_te,j)² for learner `learner`.
#[derive(Clone, Debug, PartialEq)]
pub struct Generalisation {
    /// Which learner's predictions (0: the learner; 1: an adversary).
    pub learner: usize,
    /// a (negative for an adversary: −a').
    pub weight: f64,
}

impl Generalisation {
    /// The learner's own term, a·MSE_te.
    pub fn of_learner(weight: f64) -> Generalisation {
        Generalisation { learner: 0, weight }
    }

    /// An adversary's term, −a'·MSE_B (learner 1).
    pub fn of_adversary(a_prime: f64) -> Generalisation {
        Generalisation {
            learner: 1,
            weight: -a_prime,
        }
    }
}

impl LossTerm for Generalisation {
    fn name(&self) -> &'static str {
        match self.learner {
            0 => "generalisation",
            _ => "adversary",
        }
    }

    fn weight(&self) -> f64 {
        self.weight
    }

    fn raw_key(&self) -> &'static str {
        match self.learner {
            0 => "generalisation_mse",
            _ => "adversary_mse",
        }
    }

    fn label(&self) -> String {
        match self.learner {
            0 => "a·MSE_te".into(),
            _ => "−a'·MSE_B".into(),
        }
    }

    fn reads(&self) -> Vec<Labels> {
        vec![Labels::Predictions(self.learner), Labels::Test]
    }

    fn cpu(&self, labels: &CpuLabels<'_>, grads: &mut CpuGrads) -> f64 {
        let g = labels.predictions[self.learner];
        let z = labels.z_te;
        let m = z.len() as f64;
        let mse = g.iter().zip(z).map(|(g, z)| (g - z).powi(2)).sum::<f64>() / m;
        for (j, (g, z)) in g.iter().zip(z).enumerate() {
            let d = 2.0 * self.weight / m * (g - z);
            grads.predictions[self.learner][j] += d;
            grads.z_te[j] -= d;
        }
        self.weight * mse
    }

    fn gpu(&self, gpu: &Gpu, shape: TermShape<'_>) -> Result<Box<dyn GpuTerm>> {
        let n = shape.tasks * shape.test;
        Ok(Box::new(GeneralisationGpu {
            learner: self.learner,
            mse: MseGpu::new(
                gpu,
                MseShape {
                    batch: shape.tasks,
                    count: shape.test,
                    weight: self.weight / shape.tasks as f64,
                },
            )?,
            loss: gpu.zeros("generalisation loss", shape.tasks)?,
            z_te_bar: gpu.zeros("generalisation z_te_bar", n)?,
            add: AxpyGpu::new(gpu, 1.0, n)?,
        }))
    }
}

struct GeneralisationGpu {
    learner: usize,
    mse: MseGpu,
    loss: GpuTensor,
    /// This term's share of ∂L/∂z_te, added into the total.
    z_te_bar: GpuTensor,
    /// z̄_te ← z̄_te + share.
    add: AxpyGpu,
}

impl GpuTerm for GeneralisationGpu {
    fn record(&self, enc: &mut Encoder<'_>, l: &GpuLabels<'_>) -> Result<()> {
        let y = l.predictions[self.learner];
        self.mse.forward(enc, y, l.z_te, &self.loss)?;
        self.mse.backward(
            enc,
            y,
            l.z_te,
            l.ones,
            &l.y_bar[self.learner],
            &self.z_te_bar,
        )?;
        Ok(self.add.record(enc, l.z_te_bar, &self.z_te_bar)?)
    }

    fn read<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, f64> {
        Box::pin(read_sum(gpu, &self.loss))
    }
}
