//! A simulated animal with a known inductive bias (`kind = "animal"`): it
//! learns like kernel ridge on random ReLU features (or like any other
//! learner, a small network trained by gradient descent, say), but answers each test
//! query with binary choices — with probability `lapse` a coin flip,
//! otherwise sign(f(x) + ξ), ξ ~ N(0, response_noise²) — averaged over
//! `repeats` trials. Every fit costs m training trials plus M·repeats test
//! trials; the run stops when the trial budget is spent and reports the
//! trials used. Like a real animal it cannot be differentiated, so it is
//! always a black box's `inner` (docs/design.md §10).

pub mod config;

use super::Derivative;
use super::host::{HostGpu, no_pullback};
use super::ridge::RidgeLearner;
use super::{
    CpuFit, Footprint, GpuLearner, KernelMachine, Learner, LearnerData, LearnerShape, UsageCounter,
};
use crate::MetaError;
use crate::error::Result;
use occam_gpu::Gpu;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of the tensor holding a task's seed for the animal's choices.
pub const SEED: &str = "animal_seed";

/// A simulated animal.
#[derive(Clone, Debug)]
pub struct AnimalLearner {
    /// How it learns (its bias): kernel ridge on fixed random ReLU features
    /// ([`AnimalLearner::kernel_ridge`]), or any other learner (a small
    /// network trained by gradient descent, say).
    pub learns: Arc<dyn Learner>,
    /// Probability of a random choice on a trial.
    pub lapse: f64,
    /// Standard deviation of the response noise ξ.
    pub response_noise: f64,
    /// Trials per test query.
    pub repeats: usize,
    /// The most trials the run may use (0: no limit).
    pub budget: u64,
    /// Trials used so far (shared by every copy of this animal).
    pub trials: Arc<AtomicU64>,
}

impl AnimalLearner {
    /// An animal learning like `kernel` (kernel ridge), answering as said.
    pub fn kernel_ridge(
        kernel: RidgeLearner,
        lapse: f64,
        response_noise: f64,
        repeats: usize,
        budget: u64,
    ) -> AnimalLearner {
        AnimalLearner {
            learns: Arc::new(kernel),
            lapse,
            response_noise,
            repeats,
            budget,
            trials: Default::default(),
        }
    }

    /// The animal's answers to x_te after learning (x_tr, z_tr), and the
    /// trials it took; errors when the budget is spent.
    fn answer(
        &self,
        x_tr: &[f64],
        z_tr: &[f64],
        x_te: &[f64],
        data: &LearnerData,
    ) -> Result<Vec<f64>> {
        let fit = self.learns.fit_cpu(x_tr, z_tr, x_te, data)?;
        let f = fit.test_predictions();
        let cost = (z_tr.len() + f.len() * self.repeats) as u64;
        let used = self.trials.fetch_add(cost, Ordering::Relaxed) + cost;
        if self.budget > 0 && used > self.budget {
            return Err(MetaError::External {
                what: "animal learner",
                message: format!(
                    "the trial budget of {} is spent ({used} trials asked for); raise trial_budget or shorten the run",
                    self.budget
                ),
            });
        }
        let seed = data.require("animal", SEED)?[0] as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(f.iter()
            .map(|&fx| {
                let mut sum = 0.0;
                for _ in 0..self.repeats {
                    let lapse: f64 = rng.random();
                    let coin: f64 = rng.random();
                    let xi: f64 = StandardNormal.sample(&mut rng);
                    let v = if lapse < self.lapse {
                        coin - 0.5
                    } else {
                        fx + self.response_noise * xi
                    };
                    sum += if v >= 0.0 { 1.0 } else { -1.0 };
                }
                sum / self.repeats as f64
            })
            .collect())
    }
}

impl Learner for AnimalLearner {
    /// An animal has no derivative (configurations wrap it in a black box).
    fn derivative(&self) -> Derivative {
        Derivative::NotExact {
            why: "an animal cannot be differentiated".to_string(),
            exact_with: Vec::new(),
        }
    }

    fn kind(&self) -> &'static str {
        "animal"
    }

    /// How it learns draws first (a network's initial weights, say: each
    /// session starts afresh), then a seed for the choices (the same for both
    /// fits of a pair: common random numbers).
    fn draw(&self, rng: &mut ChaCha8Rng, train: usize) -> LearnerData {
        let mut data = self.learns.draw(rng, train);
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
        let answers = self.answer(x_tr, z_tr, x_te, data)?;
        Ok(Box::new(AnimalFit {
            animal: self,
            x_tr,
            z_tr,
            data,
            answers,
        }))
    }

    fn gpu(&self, gpu: &Gpu, shape: LearnerShape) -> Result<Box<dyn GpuLearner>> {
        let what = "the simulated animal".to_string();
        Ok(Box::new(HostGpu::new(gpu, self.clone(), what, shape)?))
    }

    fn inner_steps(&self) -> usize {
        0
    }

    /// None: the animal's answers are read back on the host.
    fn footprint(&self, _shape: LearnerShape) -> Vec<Footprint> {
        Vec::new()
    }

    /// The simulated animal's kernel, when it learns like a kernel machine.
    fn kernel(&self) -> Option<&dyn KernelMachine> {
        self.learns.kernel()
    }

    fn counter(&self) -> Option<&dyn UsageCounter> {
        Some(self)
    }
}

impl UsageCounter for AnimalLearner {
    fn report(&self) -> String {
        format!(
            "{} trials used{}",
            self.trials.load(Ordering::Relaxed),
            match self.budget {
                0 => String::new(),
                b => format!(" of a budget of {b}"),
            }
        )
    }

    fn used(&self) -> u64 {
        self.trials.load(Ordering::Relaxed)
    }

    fn restore(&self, used: u64) {
        self.trials.store(used, Ordering::Relaxed);
    }
}

/// The animal's answers after one learning session.
struct AnimalFit<'a> {
    animal: &'a AnimalLearner,
    x_tr: &'a [f64],
    z_tr: &'a [f64],
    data: &'a LearnerData,
    answers: Vec<f64>,
}

impl CpuFit for AnimalFit<'_> {
    fn test_predictions(&self) -> &[f64] {
        &self.answers
    }

    /// Not available: an animal cannot be differentiated (configurations
    /// put it inside a black box, which never asks).
    fn pullback(&self, _y_bar: &[f64]) -> Result<Vec<f64>> {
        Err(no_pullback("the simulated animal"))
    }

    /// The animal asked about its own training points.
    fn train_predictions(&self) -> Result<Vec<f64>> {
        self.animal
            .answer(self.x_tr, self.z_tr, self.x_tr, self.data)
    }
    /// None: an animal has no weights to show.
    fn weights(&self) -> Option<Vec<f64>> {
        None
    }
}
