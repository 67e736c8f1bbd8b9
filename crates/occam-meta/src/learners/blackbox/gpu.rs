//! A black box on the GPU: each task's 2P + 1 fits (row 0 the unperturbed
//! labels, rows 2p + 1 and 2p + 2 the pair z ± σ ε_p) run as one batch of
//! the inner learner's GPU side, every row with the task's own draws
//! (common random numbers). The host reads the labels back to perturb them,
//! and ŷ̄ back to form z̄_tr = (1/P) Σ_p d_p ε_p; the engine adds z̄_tr to
//! the exact gradient of the other paths.
//!
//! With the regression estimator each task has one row: on a session's
//! meta-step the learner is shown z + σ ε, the session joins the record of
//! the task's stimulus set, and the loss and pullback come from the affine
//! model fitted on that record ([`super::regression`]); between sessions
//! the model alone serves. A held-out evaluation (no gradient) shows the
//! labels themselves and scores the answers as given: one fit per task.

use super::BlackBoxLearner;
use super::estimator::{EsSettings, Perturbations, pair_difference};
use super::regression::{AffineModel, Session, stimulus_key};
use crate::error::Result;
use crate::learners::{
    Execution, FitPurpose, GpuLearner, HostStage, LearnerData, LearnerIo, LearnerShape, invalid,
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
    /// The regression estimator's model of each task (after a fit for a
    /// gradient).
    models: Vec<AffineModel>,
    /// Whether the last fit was for a gradient (else the adjoint is zero).
    gradient: bool,
}

/// GPU state of a black-box learner.
pub(super) struct GpuBlackBox {
    es: EsSettings,
    shape: LearnerShape,
    /// 2P + 1.
    rows: usize,
    learner: BlackBoxLearner,
    inner: Box<dyn GpuLearner>,
    /// For an inner learner on the host (an animal): the same learner for
    /// one row per task, which a held-out evaluation runs alone so that it
    /// pays for no perturbed fits (antithetic estimator only).
    inner_eval: Option<Box<dyn GpuLearner>>,
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
        let rows = learner.rows();
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
        let inner = learner.inner.gpu(gpu, batch)?;
        let inner_eval = match inner.host_stage().is_some() && rows > 1 {
            true => Some(learner.inner.gpu(gpu, shape)?),
            false => None,
        };
        Ok(GpuBlackBox {
            es: learner.es,
            shape,
            rows,
            learner: learner.clone(),
            inner,
            inner_eval,
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
        if let Some(eval) = &self.inner_eval {
            eval.load(gpu, data)?;
        }
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

    fn fit(&self, gpu: &Gpu, io: &LearnerIo<'_>, purpose: FitPurpose) -> Result<()> {
        let gradient = purpose.gradient;
        self.state().gradient = gradient;
        if self.es.regression.is_some() {
            return self.fit_regression(gpu, io, purpose);
        }
        if let (false, Some(eval)) = (gradient, &self.inner_eval) {
            // The loss alone: each task's unperturbed fit, nothing else.
            let host = eval.host_stage().expect("only a host learner gets one");
            host.fit(gpu, io, purpose)?;
            let mut enc = gpu.encoder();
            let y = eval.record_predict(&mut enc, io)?;
            enc.copy(y, 0, &self.y, 0, self.y.len())?;
            return Ok(enc.submit()?);
        }
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
        enc.submit()?;
        state.predictions = self.inner_fit(gpu, &self.batch_io(), purpose)?;
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
        let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&a| a as f64).collect() };
        let state = self.state();
        if !state.gradient {
            return Ok(gpu.write(&self.z_bar, &vec![0.0; self.shape.tasks * m])?);
        }
        let y_bar = gpu.read(y_bar)?;
        if self.es.regression.is_some() {
            let z_bar: Vec<f32> = state
                .models
                .iter()
                .enumerate()
                .flat_map(|(b, model)| {
                    let y_bar_b = f64s(&y_bar[b * big_m..(b + 1) * big_m]);
                    model.pullback(&y_bar_b)
                })
                .map(|v| v as f32)
                .collect();
            return Ok(gpu.write(&self.z_bar, &z_bar)?);
        }
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

impl GpuBlackBox {
    /// Every row of `batch` fitted by the inner learner (a learner on the
    /// host reads the batch back first), its predictions read back.
    fn inner_fit(&self, gpu: &Gpu, batch: &LearnerIo<'_>, purpose: FitPurpose) -> Result<Vec<f32>> {
        if let Some(inner) = self.inner.host_stage() {
            inner.fit(gpu, batch, purpose)?;
        }
        let mut enc = gpu.encoder();
        self.inner.record_fit(&mut enc, batch)?;
        let y = self.inner.record_predict(&mut enc, batch)?;
        enc.submit()?;
        occam_gpu::block_on(self.inner.check(gpu))?;
        Ok(gpu.read(y)?)
    }

    /// The regression estimator's fit: a session where one is due (every
    /// `refresh` meta-steps of meta-learning and for a set never seen; on
    /// every step that does not update θ), then the loss's predictions from
    /// the model (for a gradient) or from the answers (for the loss alone).
    /// Only a step that updates θ keeps its sessions: a check or an
    /// evaluation fits the model on the record plus its own session, as the
    /// f64 twin does, and leaves the record as it found it.
    fn fit_regression(&self, gpu: &Gpu, io: &LearnerIo<'_>, purpose: FitPurpose) -> Result<()> {
        let FitPurpose { gradient, update } = purpose;
        let reg = self.es.regression.expect("the regression estimator");
        let LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        } = self.shape;
        let (x_tr, x_te) = (gpu.read(io.x_tr)?, gpu.read(io.x_te)?);
        let z: Vec<f64> = gpu.read(io.z_tr)?.iter().map(|&v| f64::from(v)).collect();
        let keys: Vec<Vec<u32>> = (0..tasks)
            .map(|b| {
                stimulus_key(
                    &x_tr[b * m * d..(b + 1) * m * d],
                    &x_te[b * big_m * d..(b + 1) * big_m * d],
                )
            })
            .collect();
        let mut state = self.state();
        let mut memory = self.learner.sessions();
        let unseen = keys.iter().any(|k| !memory.has_sessions(k));
        let due = memory.steps.is_multiple_of(reg.refresh.max(1) as u64);
        let mut sessions = Vec::new();
        if !update || unseen || due {
            // Shown: z + σ ε for a gradient (ε from the task's own seed), z
            // itself for the loss alone.
            let shown: Vec<Vec<f64>> = (0..tasks)
                .map(|b| {
                    let z_b = &z[b * m..(b + 1) * m];
                    match gradient {
                        true => state.perts[b].labels(z_b, 0, 1.0, self.es.sigma),
                        false => z_b.to_vec(),
                    }
                })
                .collect();
            let flat: Vec<f32> = shown.iter().flatten().map(|&v| v as f32).collect();
            gpu.write(&self.z_tr, &flat)?;
            let batch = LearnerIo {
                x_tr: io.x_tr,
                x_te: io.x_te,
                ..self.batch_io()
            };
            let y = self.inner_fit(gpu, &batch, purpose)?;
            // As the GPU holds them (f32), so that a resumed run reads back
            // the same numbers.
            sessions = shown
                .into_iter()
                .enumerate()
                .map(|(b, labels)| Session {
                    labels: labels.iter().map(|&v| f64::from(v as f32)).collect(),
                    answers: y[b * big_m..(b + 1) * big_m]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect(),
                })
                .collect();
        }
        if !gradient {
            // The loss alone scores the answers as given.
            let y: Vec<f32> = sessions
                .iter()
                .flat_map(|s| s.answers.iter().map(|&v| v as f32))
                .collect();
            return Ok(gpu.write(&self.y, &y)?);
        }
        if update {
            for (key, session) in keys.iter().zip(sessions.drain(..)) {
                memory.set(key.clone())?.record(session, reg.window);
            }
            memory.steps += 1;
        }
        // A step that does not update θ ran a session for every task and
        // fits on the record plus it, keeping nothing.
        state.models = keys
            .iter()
            .enumerate()
            .map(|(b, key)| memory.model(key, sessions.get(b), &reg))
            .collect::<Result<_>>()?;
        let y: Vec<f32> = state
            .models
            .iter()
            .enumerate()
            .flat_map(|(b, model)| model.predict(&z[b * m..(b + 1) * m]))
            .map(|v| v as f32)
            .collect();
        Ok(gpu.write(&self.y, &y)?)
    }
}
