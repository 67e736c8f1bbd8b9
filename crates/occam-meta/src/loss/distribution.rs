//! b·D(z_S, U): keeps the labels spread like the target distribution U
//! (uniform on [−1, 1]) so they cannot collapse to a constant
//! (docs/design.md §4). D is the energy distance or the debiased Sinkhorn
//! divergence, with geomloss's semantics; z_S is the test labels, all
//! labels, or the training and test labels separately
//! (D(z_tr, U) + D(z_te, U)).

use super::{CpuGrads, CpuLabels, GpuLabels, GpuTerm, Labels, LossTerm, TermShape, read_sum};
use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::energy::energy_distance;
use occam_ops::sinkhorn::sinkhorn_divergence;
use occam_ops::{EnergyGpu, SinkhornGpu};

/// Which labels the distribution term compares with the target samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributionSet {
    /// The test labels z_te.
    Test,
    /// Training and test labels, z_tr ∪ z_te.
    All,
    /// Training and test labels separately: D(z_tr, U) + D(z_te, U), with the
    /// same target samples (the spread term, if any, applies to z_te).
    Separate,
}

impl DistributionSet {
    /// The labels a spread term (the std reward) reads with this setting.
    pub fn spread(self) -> Labels {
        match self {
            DistributionSet::All => Labels::All,
            DistributionSet::Test | DistributionSet::Separate => Labels::Test,
        }
    }
}

/// The divergence D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DistributionKind {
    /// Energy distance (geomloss "energy").
    Energy,
    /// Debiased Sinkhorn divergence (geomloss "sinkhorn", p = 2).
    Sinkhorn {
        /// geomloss's blur (ε = blur²); the paper uses 0.05.
        blur: f64,
        /// geomloss's ε-scaling factor (default 0.5).
        scaling: f64,
    },
}

impl DistributionKind {
    /// D(z, U) and ∂D/∂z in f64.
    pub fn cpu(self, z: &[f64], u: &[f64]) -> (f64, Vec<f64>) {
        match self {
            DistributionKind::Energy => energy_distance(z, u),
            DistributionKind::Sinkhorn { blur, scaling } => {
                sinkhorn_divergence(z, u, blur, scaling)
            }
        }
    }
}

/// b · D(z_S, U).
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    /// D.
    pub kind: DistributionKind,
    /// z_S.
    pub on: DistributionSet,
    /// b.
    pub weight: f64,
}

impl LossTerm for Distribution {
    fn name(&self) -> &'static str {
        "distribution"
    }

    fn weight(&self) -> f64 {
        self.weight
    }

    fn raw_key(&self) -> &'static str {
        "distribution_loss"
    }

    fn label(&self) -> String {
        "b·distribution".into()
    }

    fn reads(&self) -> Vec<Labels> {
        let sets = match self.on {
            DistributionSet::Test => vec![Labels::Test],
            DistributionSet::All => vec![Labels::All],
            DistributionSet::Separate => vec![Labels::Train, Labels::Test],
        };
        [sets, vec![Labels::Targets]].concat()
    }

    fn exact_gradient(&self) -> bool {
        self.kind == DistributionKind::Energy
    }

    fn cpu(&self, l: &CpuLabels<'_>, grads: &mut CpuGrads) -> f64 {
        let b = self.weight;
        let mut value = 0.0;
        let mut part = |z: &[f64], out: &mut [&mut [f64]]| {
            let (v, g) = self.kind.cpu(z, l.u);
            value += b * v;
            let mut g = g.into_iter();
            for o in out.iter_mut() {
                for (a, gi) in o.iter_mut().zip(&mut g) {
                    *a += b * gi;
                }
            }
        };
        match self.on {
            DistributionSet::Test => part(l.z_te, &mut [&mut grads.z_te]),
            DistributionSet::All => part(
                &[l.z_tr, l.z_te].concat(),
                &mut [&mut grads.z_tr, &mut grads.z_te],
            ),
            DistributionSet::Separate => {
                part(l.z_tr, &mut [&mut grads.z_tr]);
                part(l.z_te, &mut [&mut grads.z_te]);
            }
        }
        value
    }

    fn gpu(&self, gpu: &Gpu, s: TermShape<'_>) -> Result<Box<dyn GpuTerm>> {
        let n = match self.on {
            DistributionSet::All => s.train + s.test,
            DistributionSet::Test | DistributionSet::Separate => s.test,
        };
        let op = |n: usize| DivergenceGpu::new(gpu, self.kind, s.tasks, n, s.samples, self.weight);
        Ok(Box::new(DistributionGpu {
            on: self.on,
            main: (op(n)?, gpu.zeros("distribution loss", s.tasks)?),
            train: match self.on {
                DistributionSet::Separate => Some((
                    op(s.train)?,
                    gpu.zeros("distribution loss, training labels", s.tasks)?,
                )),
                _ => None,
            },
        }))
    }
}

/// The divergence's kernels.
enum DivergenceGpu {
    Energy(EnergyGpu),
    Sinkhorn(SinkhornGpu),
}

impl DivergenceGpu {
    fn new(
        gpu: &Gpu,
        kind: DistributionKind,
        tasks: usize,
        n: usize,
        samples: usize,
        weight: f64,
    ) -> Result<DivergenceGpu> {
        let w = weight / tasks as f64;
        Ok(match kind {
            DistributionKind::Energy => {
                DivergenceGpu::Energy(EnergyGpu::new(gpu, tasks, n, samples, w)?)
            }
            DistributionKind::Sinkhorn { blur, scaling } => {
                DivergenceGpu::Sinkhorn(SinkhornGpu::new(gpu, tasks, n, samples, w, blur, scaling)?)
            }
        })
    }

    fn forward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        loss: &GpuTensor,
    ) -> Result<()> {
        Ok(match self {
            DivergenceGpu::Energy(op) => op.forward(enc, z, u, loss),
            DivergenceGpu::Sinkhorn(op) => op.forward(enc, z, u, loss),
        }?)
    }

    /// Adds ∂D/∂z into `z_bar`.
    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        z: &GpuTensor,
        u: &GpuTensor,
        z_bar: &GpuTensor,
    ) -> Result<()> {
        Ok(match self {
            DivergenceGpu::Energy(op) => op.backward(enc, z, u, z_bar),
            DivergenceGpu::Sinkhorn(op) => op.backward(enc, z, u, z_bar),
        }?)
    }
}

struct DistributionGpu {
    on: DistributionSet,
    /// On z_te, or on z_tr ∪ z_te: the op and its per-task loss.
    main: (DivergenceGpu, GpuTensor),
    /// `Separate`: the same on z_tr.
    train: Option<(DivergenceGpu, GpuTensor)>,
}

impl GpuTerm for DistributionGpu {
    fn record(&self, enc: &mut Encoder<'_>, l: &GpuLabels<'_>) -> Result<()> {
        let (z, z_bar) = match self.on {
            DistributionSet::All => (
                l.z_all
                    .expect("the engine provides z_tr ∪ z_te to a term that reads it"),
                l.z_all_bar.expect("with its gradient"),
            ),
            DistributionSet::Test | DistributionSet::Separate => (l.z_te, l.z_te_bar),
        };
        let (op, loss) = &self.main;
        op.forward(enc, z, l.u, loss)?;
        if let Some((op_tr, loss_tr)) = &self.train {
            op_tr.forward(enc, l.z_tr, l.u, loss_tr)?;
            op_tr.backward(enc, l.z_tr, l.u, l.z_tr_bar)?;
        }
        op.backward(enc, z, l.u, z_bar)
    }

    fn read<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, f64> {
        Box::pin(async move {
            Ok(read_sum(gpu, &self.main.1).await?
                + match &self.train {
                    Some((_, loss)) => read_sum(gpu, loss).await?,
                    None => 0.0,
                })
        })
    }
}
