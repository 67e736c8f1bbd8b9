//! c·Σ_k (Σ_i f(x_i) h_k(x_i))²: keeps a series' function orthogonal to the
//! earlier ones h_k on a fixed point set (unnormalised, as in the paper's
//! notebooks). Without earlier functions (a series' first) it is zero and
//! records nothing.

use super::{CpuGrads, CpuLabels, GpuLabels, GpuTerm, Labels, LossTerm, TermShape, read_sum};
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::OrthogonalityGpu;
use occam_ops::orthogonality::orthogonality;

/// The fixed orthogonality set of a series: points and the earlier functions on them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Orthogonality {
    /// Points, K × d (empty when the experiment has no orthogonality term).
    pub x: Vec<f64>,
    /// Earlier functions of the series evaluated on `x`, one K-vector each.
    pub earlier: Vec<Vec<f64>>,
}

/// c · Σ_k ⟨z_orth, h_k⟩².
#[derive(Clone, Debug, PartialEq)]
pub struct OrthogonalityTerm {
    /// c.
    pub weight: f64,
}

impl LossTerm for OrthogonalityTerm {
    fn name(&self) -> &'static str {
        "orthogonality"
    }

    fn weight(&self) -> f64 {
        self.weight
    }

    fn raw_key(&self) -> &'static str {
        "orthogonality"
    }

    fn label(&self) -> String {
        "c·orthogonality".into()
    }

    fn reads(&self) -> Vec<Labels> {
        vec![Labels::Orthogonality]
    }

    fn cpu(&self, l: &CpuLabels<'_>, grads: &mut CpuGrads) -> f64 {
        if l.earlier.is_empty() || l.z_orth.is_empty() {
            return 0.0;
        }
        let (value, g) = orthogonality(l.z_orth, l.earlier);
        for (a, gi) in grads.z_orth.iter_mut().zip(g) {
            *a += self.weight * gi;
        }
        self.weight * value
    }

    fn gpu(&self, gpu: &Gpu, s: TermShape<'_>) -> Result<Box<dyn GpuTerm>> {
        let orth = s.orth;
        if orth.earlier.is_empty() {
            return Ok(Box::new(OrthogonalityTermGpu { op: None }));
        }
        let k = orth.earlier[0].len();
        let h: Vec<f32> = orth.earlier.iter().flatten().map(|&v| v as f32).collect();
        Ok(Box::new(OrthogonalityTermGpu {
            op: Some((
                OrthogonalityGpu::new(gpu, k, orth.earlier.len(), self.weight)?,
                gpu.upload("earlier functions", &h)?,
                gpu.zeros("orthogonality loss", orth.earlier.len())?,
            )),
        }))
    }
}

struct OrthogonalityTermGpu {
    /// The op, the earlier functions h and the loss per earlier function
    /// (None without earlier functions).
    op: Option<(OrthogonalityGpu, GpuTensor, GpuTensor)>,
}

impl GpuTerm for OrthogonalityTermGpu {
    fn record(&self, enc: &mut Encoder<'_>, l: &GpuLabels<'_>) -> Result<()> {
        let Some((op, h, loss)) = &self.op else {
            return Ok(());
        };
        let z = l
            .z_orth
            .expect("the engine provides the orthogonality labels");
        op.forward(enc, z, h, loss)?;
        Ok(op.backward(enc, h, l.z_orth_bar.expect("with their gradient"))?)
    }

    fn read<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, f64> {
        Box::pin(async move {
            match &self.op {
                Some((_, _, loss)) => read_sum(gpu, loss).await,
                None => Ok(0.0),
            }
        })
    }
}
