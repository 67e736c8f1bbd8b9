//! Ridge regression on the GPU: Φ = σ([x, 1] Wᵀ) with the feature map as a
//! dense layer of per-task weights, then the batched Cholesky solve and its
//! adjoint (`occam_ops::ridge`).

use super::{FeatureMap, RidgeLearner};
use crate::error::Result;
use crate::learners::HostStage;
use crate::learners::{Execution, GpuLearner, LearnerData, LearnerIo, LearnerShape, invalid};
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::{ActivationGpu, BilinearGpu, DenseGpu, DenseShape, Operands, RidgeGpu, RidgeShape};

/// GPU state of a ridge learner.
pub(super) struct GpuRidge {
    map: FeatureMap,
    shape: LearnerShape,
    /// Feature-map weights per task, [tasks, K × (d + 1)].
    weights: GpuTensor,
    dense_tr: DenseGpu,
    dense_te: DenseGpu,
    act_tr: ActivationGpu,
    act_te: ActivationGpu,
    pre_tr: GpuTensor,
    pre_te: GpuTensor,
    phi_tr: GpuTensor,
    phi_te: GpuTensor,
    ridge: RidgeGpu,
    /// Test predictions ŷ.
    y_te: GpuTensor,
}

impl GpuRidge {
    /// Kernels and buffers for `learner` at `shape`.
    pub(super) fn new(gpu: &Gpu, learner: &RidgeLearner, shape: LearnerShape) -> Result<GpuRidge> {
        let LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        } = shape;
        let k = learner.features.count(d);
        let dense = |rows: usize| {
            let shape = DenseShape {
                batch: tasks,
                rows,
                d_in: d,
                d_out: k,
            };
            let dense = DenseGpu::new(gpu, shape, false)?;
            dense.compile(gpu, false, false)?;
            Ok::<_, occam_ops::OpError>(dense)
        };
        let act = learner.features.activation();
        Ok(GpuRidge {
            map: learner.features,
            shape,
            weights: gpu.zeros("feature weights", tasks * k * (d + 1))?,
            dense_tr: dense(m)?,
            dense_te: dense(big_m)?,
            act_tr: ActivationGpu::new(gpu, act, tasks * m * k)?,
            act_te: ActivationGpu::new(gpu, act, tasks * big_m * k)?,
            pre_tr: gpu.zeros("features before activation, train", tasks * m * k)?,
            pre_te: gpu.zeros("features before activation, test", tasks * big_m * k)?,
            phi_tr: gpu.zeros("phi_tr", tasks * m * k)?,
            phi_te: gpu.zeros("phi_te", tasks * big_m * k)?,
            ridge: RidgeGpu::new(
                gpu,
                RidgeShape {
                    tasks,
                    train: m,
                    test: big_m,
                    features: k,
                    lambda: learner.lambda,
                },
            )?,
            y_te: gpu.zeros("ridge predictions", tasks * big_m)?,
        })
    }
}

impl GpuLearner for GpuRidge {
    /// Uploads each task's feature-map weights, built from its J.
    fn load(&self, gpu: &Gpu, data: &[&LearnerData]) -> Result<()> {
        let d = self.shape.input_len;
        if data.len() != self.shape.tasks {
            return Err(invalid(format!(
                "{} tasks given, the learner was built for {}",
                data.len(),
                self.shape.tasks
            )));
        }
        let need = self.map.random_values(d);
        let mut w = Vec::new();
        for (b, t) in data.iter().enumerate() {
            let j = t.get("features").unwrap_or_default();
            if j.len() != need {
                return Err(invalid(format!(
                    "task {b} has {} random-feature values, the feature map needs {need}",
                    j.len()
                )));
            }
            w.extend(self.map.dense_weights(d, j).into_iter().map(|v| v as f32));
        }
        Ok(gpu.write(&self.weights, &w)?)
    }

    /// Features of both point sets, the fit, and the test predictions ŷ.
    fn record_fit(&self, enc: &mut Encoder<'_>, io: &LearnerIo<'_>) -> Result<()> {
        let at = |x| Operands {
            x,
            w: &self.weights,
        };
        self.dense_tr.forward(enc, at(io.x_tr), &self.pre_tr)?;
        self.act_tr.forward(enc, &self.pre_tr, &self.phi_tr)?;
        self.dense_te.forward(enc, at(io.x_te), &self.pre_te)?;
        self.act_te.forward(enc, &self.pre_te, &self.phi_te)?;
        Ok(self
            .ridge
            .forward(enc, &self.phi_tr, io.z_tr, &self.phi_te, &self.y_te)?)
    }

    /// ŷ was formed by the fit.
    fn record_predict<'s>(
        &'s self,
        _enc: &mut Encoder<'_>,
        _io: &LearnerIo<'_>,
    ) -> Result<&'s GpuTensor> {
        Ok(&self.y_te)
    }

    /// z̄_tr += Φ_tr A⁻¹ Φ_teᵀ ŷ̄.
    fn record_adjoint(
        &self,
        enc: &mut Encoder<'_>,
        io: &LearnerIo<'_>,
        y_bar: &GpuTensor,
    ) -> Result<()> {
        Ok(self
            .ridge
            .backward(enc, &self.phi_tr, &self.phi_te, y_bar, io.z_tr_bar)?)
    }

    fn execution(&self) -> Execution {
        Execution::ClosedForm
    }

    /// Fails when a task's system was singular (λ too small for its features).
    fn check<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, ()> {
        Box::pin(async move { Ok(self.ridge.check_status_async(gpu).await?) })
    }

    fn host_stage(&self) -> Option<&dyn HostStage> {
        None
    }
}
