//! Any program as a learner (`kind = "external"`), over the JSON-lines
//! protocol of [`protocol`]. It can only be run, so it is always used inside
//! a black box (`kind = "blackbox"` with it as `[learner.inner]`), whose
//! estimator needs nothing but fits.

pub mod config;
pub mod protocol;

use super::{
    CpuFit, Execution, GpuLearner, Learner, LearnerData, LearnerIo, LearnerShape, invalid,
};
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::Result;
use protocol::Session;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The name of the tensor holding a task's seed for the program.
pub const SEED: &str = "external_seed";

/// A learner program, started on first use and kept running.
pub struct ExternalLearner {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The folder it runs in (the experiment file's).
    pub dir: PathBuf,
    /// The longest wait for one reply.
    pub timeout: Duration,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for ExternalLearner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalLearner")
            .field("command", &self.command)
            .field("dir", &self.dir)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExternalLearner {
    /// The learner `command`, run in `dir`, allowed `timeout` per reply.
    pub fn new(command: Vec<String>, dir: PathBuf, timeout: Duration) -> ExternalLearner {
        ExternalLearner {
            command,
            dir,
            timeout,
            session: Mutex::new(None),
        }
    }

    /// One fit and its predictions on x_te (rows of `d` values), starting
    /// the program if it is not running. After an error the program is
    /// stopped (and restarted by the next call).
    pub fn fit_predict(
        &self,
        data: (&[f64], &[f64], &[f64]),
        d: usize,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if session.is_none() {
            *session = Some(Session::start(&self.command, &self.dir, self.timeout)?);
        }
        let result = session
            .as_mut()
            .expect("started")
            .fit_predict(data, d, seed);
        if result.is_err() {
            *session = None;
        }
        result
    }

    fn seed(data: &LearnerData) -> Result<u64> {
        Ok(data.require("external", SEED)?[0] as u64)
    }
}

impl Learner for ExternalLearner {
    fn kind(&self) -> &'static str {
        "external"
    }

    /// A seed for the program's own randomness.
    fn draw(&self, rng: &mut ChaCha8Rng, _train: usize) -> LearnerData {
        let mut data = LearnerData::default();
        data.push(SEED, vec![1], vec![rng.random::<u32>() as f64]);
        data
    }

    fn fit_cpu<'a>(
        &'a self,
        x_tr: &'a [f64],
        z_tr: &'a [f64],
        x_te: &'a [f64],
        data: &'a LearnerData,
    ) -> Result<Box<dyn CpuFit + 'a>> {
        let d = x_tr.len() / z_tr.len().max(1);
        let seed = Self::seed(data)?;
        let predictions = self.fit_predict((x_tr, z_tr, x_te), d, seed)?;
        Ok(Box::new(ExternalFit {
            learner: self,
            x_tr,
            z_tr,
            d,
            seed,
            predictions,
        }))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        Ok(Box::new(GpuExternal {
            learner: ExternalLearner::new(self.command.clone(), self.dir.clone(), self.timeout),
            shape,
            seeds: Mutex::new(Vec::new()),
            y: gpu.zeros("external predictions", shape.tasks * shape.test)?,
        }))
    }
}

/// A fit by the program.
struct ExternalFit<'a> {
    learner: &'a ExternalLearner,
    x_tr: &'a [f64],
    z_tr: &'a [f64],
    d: usize,
    seed: u64,
    predictions: Vec<f64>,
}

impl CpuFit for ExternalFit<'_> {
    fn test_predictions(&self) -> &[f64] {
        &self.predictions
    }

    /// Not available: a program cannot be differentiated (configurations
    /// put it inside a black box, which never asks). NaN, so that a misuse
    /// stops the run as a divergence.
    fn pullback(&self, y_bar: &[f64]) -> Vec<f64> {
        let _ = y_bar;
        vec![f64::NAN; self.z_tr.len()]
    }

    /// The program asked again, with the training inputs as test points.
    fn train_predictions(&self) -> Result<Vec<f64>> {
        self.learner
            .fit_predict((self.x_tr, self.z_tr, self.x_tr), self.d, self.seed)
    }
}

/// The program serving a batch of tasks between the engine's submissions.
struct GpuExternal {
    learner: ExternalLearner,
    shape: LearnerShape,
    seeds: Mutex<Vec<u64>>,
    y: GpuTensor,
}

impl GpuLearner for GpuExternal {
    fn load(&self, _gpu: &Gpu, data: &[&LearnerData]) -> Result<()> {
        let seeds = data
            .iter()
            .map(|d| ExternalLearner::seed(d))
            .collect::<Result<_>>()?;
        *self.seeds.lock().unwrap_or_else(|e| e.into_inner()) = seeds;
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
        _enc: &mut Encoder<'_>,
        _io: &LearnerIo<'_>,
        _y_bar: &GpuTensor,
    ) -> Result<()> {
        Err(invalid(
            "an external learner cannot be differentiated; use it inside kind = \"blackbox\""
                .into(),
        ))
    }

    fn execution(&self) -> Execution {
        Execution::PerStep {
            reason: format!(
                "the program `{}` fits on the host",
                self.learner.command.join(" ")
            ),
        }
    }

    fn needs_host(&self) -> bool {
        true
    }

    fn host_fit(&self, gpu: &Gpu, io: &LearnerIo<'_>) -> Result<()> {
        let LearnerShape {
            tasks,
            train: m,
            test: big_m,
            input_len: d,
        } = self.shape;
        let f64s = |t: &GpuTensor| -> Result<Vec<f64>> {
            Ok(gpu.read(t)?.iter().map(|&v| v as f64).collect())
        };
        let (x_tr, x_te, z_tr) = (f64s(io.x_tr)?, f64s(io.x_te)?, f64s(io.z_tr)?);
        let seeds = self.seeds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut y = Vec::with_capacity(tasks * big_m);
        for (b, &seed) in seeds.iter().enumerate().take(tasks) {
            let p = self.learner.fit_predict(
                (
                    &x_tr[b * m * d..(b + 1) * m * d],
                    &z_tr[b * m..(b + 1) * m],
                    &x_te[b * big_m * d..(b + 1) * big_m * d],
                ),
                d,
                seed,
            )?;
            y.extend(p.iter().map(|&v| v as f32));
        }
        Ok(gpu.write(&self.y, &y)?)
    }
}
