//! A black box on the GPU: each task's 2P + 1 fits (row 0 the unperturbed
//! labels, rows 2p + 1 and 2p + 2 the pair z ± σ ε_p) run as one batch of
//! the inner learner's GPU side, every row with the task's own draws
//! (common random numbers). The host reads the labels back to perturb them,
//! and ŷ̄ back to form z̄_tr = (1/P) Σ_p d_p ε_p; the engine adds z̄_tr to
//! the exact gradient of the other paths.

use super::BlackBoxLearner;
use super::estimator::{EsSettings, Perturbations, pair_difference};
use crate::error::Result;
use crate::learners::{
    Execution, GpuLearner, HostStage, LearnerData, LearnerIo, LearnerShape, invalid,
};
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::AxpyGpu;
use std::sync::Mutex;

/// What the host keeps between the stages of one meta-step.
#[derive(Default)]
struct HostState {
    /// Each task's perturbations.
    perts: Vec<Perturbations>,
    /// Every row's test predictions, `[tasks × (2P + 1), M]`.
    predictions: Vec<f32>,
}

/// GPU state of a black-box learner.
pub(super) struct GpuBlackBox {
    es: EsSettings,
    shape: LearnerShape,
    /// 2P + 1.
    rows: usize,
    learner: BlackBoxLearner,
    inner: Box<dyn GpuLearner>,
    x_tr: GpuTensor,
    x_te: GpuTensor,
    z_tr: GpuTensor,
    z_tr_bar: GpuTensor,
    ones: GpuTensor,
    /// The unperturbed rows' predictions, `[tasks, M]`.
    y: GpuTensor,
    /// The estimated pullback, `[tasks, m]`.
    z_bar: GpuTensor,
    /// z̄_tr ← z̄_tr + z̄.
    add: AxpyGpu,
    host: Mutex<HostState>,
}

impl GpuBlackBox {
    pub(super) fn new(gpu: &Gpu, learner: &BlackBoxLearner, shape: LearnerShape) -> Result<Self> {
        let rows = 2 * learner.es.population + 1;
        let LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        } = shape;
        let batch = LearnerShape {
            tasks: tasks * rows,
            ..shape
        };
        Ok(GpuBlackBox {
            es: learner.es,
            shape,
            rows,
            learner: learner.clone(),
            inner: learner.inner.gpu(gpu, batch)?,
            x_tr: gpu.zeros("black box x_tr", tasks * rows * m * d)?,
            x_te: gpu.zeros("black box x_te", tasks * rows * big_m * d)?,
            z_tr: gpu.zeros("black box z_tr", tasks * rows * m)?,
            z_tr_bar: gpu.zeros("black box z_tr_bar", tasks * rows * m)?,
            ones: gpu.upload("black box ones", &vec![1.0; tasks * rows])?,
            y: gpu.zeros("black box predictions", tasks * big_m)?,
            z_bar: gpu.zeros("black box z_bar", tasks * m)?,
            add: AxpyGpu::new(gpu, 1.0, tasks * m)?,
            host: Mutex::new(HostState::default()),
        })
    }

    fn batch_io(&self) -> LearnerIo<'_> {
        LearnerIo {
            x_tr: &self.x_tr,
            x_te: &self.x_te,
            z_tr: &self.z_tr,
            z_tr_bar: &self.z_tr_bar,
            ones: &self.ones,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HostState> {
        self.host.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl GpuLearner for GpuBlackBox {
    fn load(&self, gpu: &Gpu, data: &[&LearnerData]) -> Result<()> {
        if data.len() != self.shape.tasks {
            return Err(invalid(format!(
                "{} tasks of black-box data for {} tasks",
                data.len(),
                self.shape.tasks
            )));
        }
        let replicated: Vec<&LearnerData> = data
            .iter()
            .flat_map(|d| std::iter::repeat_n(*d, self.rows))
            .collect();
        self.inner.load(gpu, &replicated)?;
        let perts = data
            .iter()
            .map(|d| self.learner.perturbations(d, self.shape.train))
            .collect::<Result<_>>()?;
        self.state().perts = perts;
        Ok(())
    }

    fn record_fit(&self, _enc: &mut Encoder<'_>, _io: &LearnerIo<'_>) -> Result<()> {
        Ok(())
    }

    fn record_predict<'s>(
        &'s self,
        _enc: &mut Encoder<'_>,
        _io: &LearnerIo<'_>,
    ) -> Result<&'s GpuTensor> {
        Ok(&self.y)
    }

    fn record_adjoint(
        &self,
        enc: &mut Encoder<'_>,
        io: &LearnerIo<'_>,
        _y_bar: &GpuTensor,
    ) -> Result<()> {
        Ok(self.add.record(enc, io.z_tr_bar, &self.z_bar)?)
    }

    fn execution(&self) -> Execution {
        Execution::Host {
            population: self.es.population,
            inner: Box::new(self.inner.execution()),
        }
    }

    fn check<'a>(&'a self, gpu: &'a Gpu) -> crate::error::ReadFuture<'a, ()> {
        self.inner.check(gpu)
    }

    fn host_stage(&self) -> Option<&dyn HostStage> {
        Some(self)
    }
}

impl HostStage for GpuBlackBox {
    fn report(&self) -> Option<String> {
        self.inner.host_stage().and_then(|h| h.report())
    }

    fn fit(&self, gpu: &Gpu, io: &LearnerIo<'_>) -> Result<()> {
        let LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        } = self.shape;
        let (rows, sigma) = (self.rows, self.es.sigma);
        let z = gpu.read(io.z_tr)?;
        let mut state = self.state();
        let mut labels = Vec::with_capacity(tasks * rows * m);
        for (b, pert) in state.perts.iter().enumerate() {
            let z_b: Vec<f64> = z[b * m..(b + 1) * m].iter().map(|&v| v as f64).collect();
            labels.extend(z_b.iter().map(|&v| v as f32));
            for p in 0..pert.eps.len() {
                for sign in [1.0, -1.0] {
                    let zp = pert.labels(&z_b, p, sign, sigma);
                    labels.extend(zp.iter().map(|&v| v as f32));
                }
            }
        }
        gpu.write(&self.z_tr, &labels)?;
        let mut enc = gpu.encoder();
        for b in 0..tasks {
            for r in 0..rows {
                let row = b * rows + r;
                enc.copy(io.x_tr, b * m * d, &self.x_tr, row * m * d, m * d)?;
                enc.copy(
                    io.x_te,
                    b * big_m * d,
                    &self.x_te,
                    row * big_m * d,
                    big_m * d,
                )?;
            }
        }
        let batch = self.batch_io();
        if let Some(inner) = self.inner.host_stage() {
            // An inner learner on the host (a program) reads the batch back.
            enc.submit()?;
            inner.fit(gpu, &batch)?;
            enc = gpu.encoder();
        }
        self.inner.record_fit(&mut enc, &batch)?;
        let y = self.inner.record_predict(&mut enc, &batch)?;
        enc.submit()?;
        occam_gpu::block_on(self.inner.check(gpu))?;
        state.predictions = gpu.read(y)?;
        let unperturbed: Vec<f32> = (0..tasks)
            .flat_map(|b| {
                let at = b * rows * big_m;
                state.predictions[at..at + big_m].to_vec()
            })
            .collect();
        Ok(gpu.write(&self.y, &unperturbed)?)
    }

    fn adjoint(&self, gpu: &Gpu, _io: &LearnerIo<'_>, y_bar: &GpuTensor) -> Result<()> {
        let LearnerShape {
            train: m,
            test: big_m,
            ..
        } = self.shape;
        let rows = self.rows;
        let y_bar = gpu.read(y_bar)?;
        let state = self.state();
        let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&a| a as f64).collect() };
        let mut z_bar = Vec::with_capacity(self.shape.tasks * m);
        for (b, pert) in state.perts.iter().enumerate() {
            let y_bar_b = f64s(&y_bar[b * big_m..(b + 1) * big_m]);
            let row = |r: usize| {
                let at = (b * rows + r) * big_m;
                f64s(&state.predictions[at..at + big_m])
            };
            let diffs: Vec<f64> = (0..pert.eps.len())
                .map(|p| pair_difference(&row(2 * p + 1), &row(2 * p + 2), &y_bar_b, self.es.sigma))
                .collect();
            z_bar.extend(pert.combine(&diffs, &self.es).iter().map(|&v| v as f32));
        }
        Ok(gpu.write(&self.z_bar, &z_bar)?)
    }
}
