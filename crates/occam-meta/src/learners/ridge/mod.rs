//! Ridge regression on a feature map, fitted in closed form: linear ridge
//! (Φ = x) or kernel ridge on K random ReLU features (Φ = relu(x J),
//! J ~ N(0, I)), with an optional constant feature. The adjoint of the
//! solve is exact (docs/design.md §3).
//!
//! - [`config`]: the `ridge` and `kernel_ridge` kinds of experiment files;
//! - `gpu`: the features as a dense layer, then the batched Cholesky solve.

pub mod config;
mod gpu;

use super::Derivative;
use super::{
    CpuFit, Footprint, GpuLearner, KernelFeatures, KernelMachine, Learner, LearnerData,
    LearnerShape, UsageCounter, invalid,
};
use crate::error::Result;
use crate::sampling::FeatureDraw;
use occam_gpu::Gpu;
use occam_ops::{RidgeCpu, RidgeShape, RidgeSolution};
use rand_chacha::ChaCha8Rng;

/// How a closed-form learner turns inputs into features Φ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FeatureMap {
    /// Φ = X: linear ridge regression.
    Linear {
        /// Append a constant feature (an intercept).
        bias: bool,
    },
    /// Φ = relu(X J) with J ~ N(0, I) (d × K): random-feature kernel ridge.
    RandomRelu {
        /// K, the number of random features.
        features: usize,
        /// Append a constant feature (an intercept).
        bias: bool,
        /// Draw a fresh J every meta-step (per task); otherwise one J for the run.
        resample: bool,
    },
}

impl FeatureMap {
    /// Number of features for inputs of dimension d.
    pub fn count(&self, d: usize) -> usize {
        match *self {
            FeatureMap::Linear { bias } => d + usize::from(bias),
            FeatureMap::RandomRelu { features, bias, .. } => features + usize::from(bias),
        }
    }

    /// Values of J to draw per task (0 for linear features).
    pub fn random_values(&self, d: usize) -> usize {
        match *self {
            FeatureMap::Linear { .. } => 0,
            FeatureMap::RandomRelu { features, .. } => d * features,
        }
    }

    /// The feature map as a dense layer [x, 1] ↦ Φ (before the activation):
    /// a `count × (d + 1)` weight block (bias last), from J (d × K, row-major).
    pub fn dense_weights(&self, d: usize, j: &[f64]) -> Vec<f64> {
        let k = self.count(d);
        let mut w = vec![0.0; k * (d + 1)];
        let (random, bias) = match *self {
            FeatureMap::Linear { bias } => (0, bias),
            FeatureMap::RandomRelu { features, bias, .. } => (features, bias),
        };
        if random == 0 {
            for i in 0..d {
                w[i * (d + 1) + i] = 1.0;
            }
        } else {
            for f in 0..random {
                for i in 0..d {
                    w[f * (d + 1) + i] = j[i * random + f];
                }
            }
        }
        if bias {
            w[(k - 1) * (d + 1) + d] = 1.0;
        }
        w
    }

    /// The activation after the dense layer: relu for random features
    /// (relu(1) = 1 keeps the constant feature), identity for linear ones.
    pub fn activation(&self) -> occam_ops::Activation {
        match self {
            FeatureMap::Linear { .. } => occam_ops::Activation::Identity,
            FeatureMap::RandomRelu { .. } => occam_ops::Activation::Relu,
        }
    }

    /// Φ for `x` (n × d) on the CPU in f64.
    pub fn apply(&self, x: &[f64], d: usize, j: &[f64]) -> Vec<f64> {
        let k = self.count(d);
        let w = self.dense_weights(d, j);
        let act = self.activation();
        x.chunks(d)
            .flat_map(|row| {
                (0..k)
                    .map(|f| {
                        let wr = &w[f * (d + 1)..(f + 1) * (d + 1)];
                        act.eval(row.iter().zip(wr).map(|(a, b)| a * b).sum::<f64>() + wr[d])
                            .0
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Ridge regression on a feature map, fitted in closed form:
/// A = Φ_trᵀ Φ_tr + λ I, w = A⁻¹ Φ_trᵀ z_tr, ŷ = Φ_te w.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeLearner {
    /// The feature map.
    pub features: FeatureMap,
    /// Ridge λ.
    pub lambda: f64,
    /// Where each task's J comes from (one for the run, or fresh per task).
    pub draw: FeatureDraw,
}

impl RidgeLearner {
    /// Ridge on `features` with `lambda`; a random-feature map gets its J
    /// per task from `draw`.
    pub fn new(features: FeatureMap, lambda: f64, draw: FeatureDraw) -> RidgeLearner {
        RidgeLearner {
            features,
            lambda,
            draw,
        }
    }

    fn solve(&self, x_tr: &[f64], z_tr: &[f64], x_te: &[f64], j: &[f64]) -> Result<RidgeSolve> {
        let d = self.input_len(x_tr, z_tr)?;
        let phi_tr = self.features.apply(x_tr, d, j);
        let phi_te = self.features.apply(x_te, d, j);
        let op = RidgeCpu {
            shape: RidgeShape {
                tasks: 1,
                train: z_tr.len(),
                test: x_te.len() / d,
                features: self.features.count(d),
                lambda: self.lambda,
            },
        };
        let sol = op.forward(&phi_tr, z_tr, &phi_te)?;
        Ok(RidgeSolve {
            phi_tr,
            phi_te,
            op,
            sol,
        })
    }

    fn input_len(&self, x_tr: &[f64], z_tr: &[f64]) -> Result<usize> {
        match x_tr.len().checked_div(z_tr.len()) {
            Some(d) if d > 0 && d * z_tr.len() == x_tr.len() => Ok(d),
            _ => Err(invalid(format!(
                "{} training values for {} labels",
                x_tr.len(),
                z_tr.len()
            ))),
        }
    }
}

impl Learner for RidgeLearner {
    /// Its fit is linear in the labels: the pullback is exact.
    fn derivative(&self) -> Derivative {
        Derivative::Exact
    }

    fn kind(&self) -> &'static str {
        match self.features {
            FeatureMap::Linear { .. } => "ridge",
            FeatureMap::RandomRelu { .. } => "kernel_ridge",
        }
    }

    /// J, when the features are random.
    fn draw(&self, rng: &mut ChaCha8Rng, _train: usize) -> LearnerData {
        let mut data = LearnerData::default();
        let j = self.draw.draw(rng);
        if !j.is_empty() {
            let k = match self.features {
                FeatureMap::RandomRelu { features, .. } => features,
                FeatureMap::Linear { .. } => 1,
            };
            data.push("features", vec![j.len() / k, k], j);
        }
        data
    }

    fn fit_cpu<'a>(
        &'a self,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<Box<dyn CpuFit + 'a>> {
        let j = data.get("features").unwrap_or_default();
        Ok(Box::new(RidgeCpuFit {
            learner: self,
            x_tr,
            z_tr,
            j,
            solve: self.solve(x_tr, z_tr, x_te, j)?,
        }))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        Ok(Box::new(gpu::GpuRidge::new(gpu, self, shape)?))
    }

    fn footprint(&self, shape: LearnerShape) -> Vec<Footprint> {
        let k = self.features.count(shape.input_len);
        vec![
            Footprint::new(
                "the ridge systems (K × K per task)",
                &["features"],
                &["tasks"],
                &[shape.tasks, k, k],
            ),
            Footprint::new(
                "the features Φ",
                &["features"],
                &["tasks", "data.train", "data.test"],
                &[shape.tasks, shape.train.max(shape.test), k],
            ),
        ]
    }

    fn inner_steps(&self) -> usize {
        0
    }

    fn kernel(&self) -> Option<&dyn KernelMachine> {
        Some(self)
    }

    fn counter(&self) -> Option<&dyn UsageCounter> {
        None
    }
}

impl KernelMachine for RidgeLearner {
    /// Φ itself for linear or fixed random features; for features resampled
    /// every meta-step the learner's kernel is the expectation over J,
    /// approximated with 400 random features.
    fn kernel_features(&self, points: &[f64], d: usize, seed: u64) -> KernelFeatures {
        const RESAMPLED: usize = 400;
        let (map, j, description) = match (self.features, &self.draw) {
            (map @ FeatureMap::Linear { .. }, _) => (map, Vec::new(), "φ(x) = x".to_string()),
            (map @ FeatureMap::RandomRelu { .. }, FeatureDraw::Fixed(j)) => {
                (map, j.clone(), "the run's fixed J".to_string())
            }
            (FeatureMap::RandomRelu { bias, .. }, _) => {
                let map = FeatureMap::RandomRelu {
                    features: RESAMPLED,
                    bias,
                    resample: true,
                };
                let FeatureDraw::Fixed(j) = FeatureDraw::fixed(seed, 7, map.random_values(d))
                else {
                    unreachable!("fixed draws are fixed")
                };
                (
                    map,
                    j,
                    format!("E_J over a resampled J, approximated by {RESAMPLED} random features"),
                )
            }
        };
        KernelFeatures {
            description,
            phi: map.apply(points, d, &j),
            features: map.count(d),
        }
    }
}

/// The features of both point sets and the factorised system.
struct RidgeSolve {
    phi_tr: Vec<f64>,
    phi_te: Vec<f64>,
    op: RidgeCpu,
    sol: Vec<RidgeSolution>,
}

/// A ridge fit on the CPU.
struct RidgeCpuFit<'a> {
    learner: &'a RidgeLearner,
    x_tr: &'a [f64],
    z_tr: &'a [f64],
    j: &'a [f64],
    solve: RidgeSolve,
}

impl CpuFit for RidgeCpuFit<'_> {
    fn test_predictions(&self) -> &[f64] {
        &self.solve.sol[0].y
    }

    fn pullback(&self, y_bar: &[f64]) -> Result<Vec<f64>> {
        let s = &self.solve;
        Ok(s.op.backward(&s.phi_tr, &s.phi_te, &s.sol, y_bar))
    }

    fn train_predictions(&self) -> Result<Vec<f64>> {
        let on_train = self
            .learner
            .solve(self.x_tr, self.z_tr, self.x_tr, self.j)?;
        Ok(on_train.sol[0].y.clone())
    }
    /// Not shown: the weights on the features are as many as the features,
    /// which a kernel kind may resample every meta-step.
    fn weights(&self) -> Option<Vec<f64>> {
        None
    }
}
