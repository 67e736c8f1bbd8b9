//! Any program as a learner (`kind = "external"`), over the JSON-lines
//! protocol of [`protocol`]. It can only be run, so it is always used inside
//! a black box (`kind = "blackbox"` with it as `[learner.inner]`), whose
//! estimator needs nothing but fits.

pub mod config;
pub mod protocol;

use super::Derivative;
use super::host::{HostGpu, no_pullback};
use super::{
    CpuFit, Footprint, GpuLearner, KernelMachine, Learner, LearnerData, LearnerShape, UsageCounter,
};
use crate::error::Result;
use occam_gpu::Gpu;
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
    /// A program outside Occam has no derivative (wrapped in a black box).
    fn derivative(&self) -> Derivative {
        Derivative::NotExact {
            why: "an external program cannot be differentiated".to_string(),
            exact_with: Vec::new(),
        }
    }

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

    /// The GPU side runs its own copy of the program.
    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        let learner = ExternalLearner::new(self.command.clone(), self.dir.clone(), self.timeout);
        let what = format!("the program `{}`", self.command.join(" "));
        Ok(Box::new(HostGpu::new(gpu, learner, what, shape)?))
    }
    fn inner_steps(&self) -> usize {
        0
    }

    /// None: the program's answers are read back on the host.
    fn footprint(&self, _shape: LearnerShape) -> Vec<Footprint> {
        Vec::new()
    }

    fn kernel(&self) -> Option<&dyn KernelMachine> {
        None
    }

    fn counter(&self) -> Option<&dyn UsageCounter> {
        None
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
    /// put it inside a black box, which never asks).
    fn pullback(&self, _y_bar: &[f64]) -> Result<Vec<f64>> {
        Err(no_pullback(&format!(
            "the program `{}`",
            self.learner.command.join(" ")
        )))
    }

    /// The program asked again, with the training inputs as test points.
    fn train_predictions(&self) -> Result<Vec<f64>> {
        self.learner
            .fit_predict((self.x_tr, self.z_tr, self.x_tr), self.d, self.seed)
    }
    /// None: a program's weights, if it has any, are its own.
    fn weights(&self) -> Option<Vec<f64>> {
        None
    }
}
