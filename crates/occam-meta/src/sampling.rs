//! Seeded, portable random draws: input domains, target samples, learner
//! initialisations and minibatch indices for each meta-step. Every stream is
//! a ChaCha8 generator seeded from (run seed, purpose, index) through
//! SplitMix64, so a run is reproducible on any machine.

use crate::learners::Learner;
use crate::problem::TaskData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Where the meta-learner's inputs live.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InputDomain {
    /// The unit sphere S^{d−1} in R^d, uniform.
    Sphere {
        /// Ambient dimension d.
        dim: usize,
    },
    /// The unit disk in R², uniform by area.
    Disk,
    /// The square [−1, 1]², uniform.
    Square,
    /// Standard normal in R^d.
    Gaussian {
        /// Dimension d.
        dim: usize,
    },
    /// A fixed set of images (channels × height × width values each, held
    /// by the [`TaskSampler`]'s `pool`): every task draws its training and
    /// test images from it without replacement.
    Images {
        /// Channels.
        channels: usize,
        /// Height.
        height: usize,
        /// Width.
        width: usize,
    },
}

impl InputDomain {
    /// Dimension of a point.
    pub fn dim(&self) -> usize {
        match *self {
            InputDomain::Sphere { dim } | InputDomain::Gaussian { dim } => dim,
            InputDomain::Disk | InputDomain::Square => 2,
            InputDomain::Images {
                channels,
                height,
                width,
            } => channels * height * width,
        }
    }

    /// `n` points, row-major n × dim.
    pub fn sample(&self, rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(n * self.dim());
        for _ in 0..n {
            match *self {
                InputDomain::Sphere { dim } => {
                    let v: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
                    let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
                    out.extend(v.iter().map(|a| a / norm));
                }
                InputDomain::Disk => {
                    let r = rng.random::<f64>().sqrt();
                    let phi = rng.random::<f64>() * std::f64::consts::TAU;
                    out.extend([r * phi.cos(), r * phi.sin()]);
                }
                InputDomain::Square => {
                    out.extend([rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
                }
                InputDomain::Gaussian { dim } => {
                    out.extend((0..dim).map(|_| -> f64 { StandardNormal.sample(rng) }))
                }
                // A set of images has no distribution to sample from: the
                // sampler draws from its pool instead (see TaskSampler::draw).
                InputDomain::Images { .. } => return Vec::new(),
            }
        }
        out
    }
}

/// What a stream of random numbers is for; part of its seed.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    /// Meta-learner initialisation.
    MetaInit = 1,
    /// One meta-step's task data.
    Step = 2,
    /// Held-out evaluation tasks.
    Heldout = 3,
    /// Evaluation points for analyses and plots.
    Evaluation = 4,
    /// The fixed point set of an orthogonal series.
    Orthogonality = 5,
    /// A run's fixed random features.
    Features = 6,
    /// A run's fixed connectivity.
    Connectivity = 7,
    /// A run's fixed stimulus sets.
    Stimuli = 8,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The generator for (seed, purpose, index).
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let key = splitmix(splitmix(splitmix(seed) ^ purpose as u64) ^ index);
    ChaCha8Rng::seed_from_u64(key)
}

/// How each inner step picks its training rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batching {
    /// Every training point at every step.
    Full,
    /// `size` rows drawn uniformly with replacement.
    WithReplacement {
        /// Rows per step.
        size: usize,
    },
    /// `size` distinct rows, uniformly.
    WithoutReplacement {
        /// Rows per step.
        size: usize,
    },
}

impl Batching {
    /// Rows per step for `train` training points.
    pub fn size(&self, train: usize) -> usize {
        match *self {
            Batching::Full => train,
            Batching::WithReplacement { size } | Batching::WithoutReplacement { size } => size,
        }
    }

    /// The rows of one inner step.
    pub fn draw(&self, rng: &mut ChaCha8Rng, train: usize) -> Vec<usize> {
        match *self {
            Batching::Full => (0..train).collect(),
            Batching::WithReplacement { size } => {
                (0..size).map(|_| rng.random_range(0..train)).collect()
            }
            Batching::WithoutReplacement { size } => {
                rand::seq::index::sample(rng, train, size).into_vec()
            }
        }
    }
}

/// A fixed stimulus set: its training inputs and its test inputs.
pub type StimulusSet = (Vec<f64>, Vec<f64>);

/// Sizes and rules for drawing one task's data.
#[derive(Clone, Debug)]
pub struct TaskSampler {
    /// Input domain.
    pub domain: InputDomain,
    /// Training points.
    pub train: usize,
    /// Test points.
    pub test: usize,
    /// Target samples, uniform on [−1, 1].
    pub samples: usize,
    /// The learners, each drawing its own share of a task.
    pub learners: Vec<std::sync::Arc<dyn Learner>>,
    /// For [`InputDomain::Images`]: the images, one row of `dim` values each.
    pub pool: Option<std::sync::Arc<Vec<f64>>>,
    /// Fixed stimulus sets, (x_tr, x_te) each: every task takes one at
    /// random instead of drawing its own inputs.
    pub stimuli: Option<std::sync::Arc<Vec<StimulusSet>>>,
}

/// Where a task's random feature matrix J comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureDraw {
    /// The learner has no random features.
    None,
    /// One J for the whole run (drawn once from the run's seed).
    Fixed(Vec<f64>),
    /// A fresh J ~ N(0, I) with this many values for every task of every meta-step.
    Resample(usize),
}

impl FeatureDraw {
    /// The run's fixed J: `values` standard normal draws from its own
    /// stream (`which` = 0 for the learner, 1 for an adversary).
    pub fn fixed(seed: u64, which: u64, values: usize) -> FeatureDraw {
        let mut rng = stream(seed, Purpose::Features, which);
        FeatureDraw::Fixed(standard_normal(&mut rng, values))
    }

    /// J for one task: the run's, or a fresh draw from `rng`.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Vec<f64> {
        match self {
            FeatureDraw::None => Vec::new(),
            FeatureDraw::Fixed(j) => j.clone(),
            FeatureDraw::Resample(values) => standard_normal(rng, *values),
        }
    }
}

/// The values rounded to f32 (so that the GPU and the f64 reference see
/// identical numbers).
pub fn round_f32(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|a| f64::from(a as f32)).collect()
}

fn standard_normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let v: f64 = StandardNormal.sample(rng);
            f64::from(v as f32)
        })
        .collect()
}

impl TaskSampler {
    /// The data of one task, from its own stream. Values are rounded to f32
    /// so that the GPU and the f64 reference see identical inputs.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> TaskData {
        let (x_tr, x_te) = match &self.stimuli {
            Some(sets) => sets[rng.random_range(0..sets.len())].clone(),
            None => self.draw_inputs(rng),
        };
        let r = round_f32;
        let u = r((0..self.samples)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect());
        let learners = self
            .learners
            .iter()
            .map(|l| l.draw(rng, self.train))
            .collect();
        TaskData {
            x_tr,
            x_te,
            u,
            learners,
        }
    }

    /// `count` fixed stimulus sets, from the run's own stream for them.
    pub fn stimulus_sets(&self, seed: u64, count: usize) -> Vec<StimulusSet> {
        let mut rng = stream(seed, Purpose::Stimuli, 0);
        (0..count).map(|_| self.draw_inputs(&mut rng)).collect()
    }

    /// One task's own inputs (x_tr, x_te), rounded to f32.
    fn draw_inputs(&self, rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let r = round_f32;
        match &self.pool {
            Some(pool) => {
                // A random split of the pool: the first `train` chosen images
                // train, the next `test` test.
                let d = self.domain.dim();
                let count = pool.len() / d;
                let chosen = rand::seq::index::sample(rng, count, self.train + self.test);
                let rows: Vec<f64> = chosen
                    .iter()
                    .flat_map(|i| pool[i * d..(i + 1) * d].iter().copied())
                    .collect();
                let (tr, te) = rows.split_at(self.train * d);
                (r(tr.to_vec()), r(te.to_vec()))
            }
            None => (
                r(self.domain.sample(rng, self.train)),
                r(self.domain.sample(rng, self.test)),
            ),
        }
    }

    /// The `tasks` tasks of meta-step `step` of the run with `seed`, drawn on
    /// as many threads as the machine has (the same tasks on any number).
    pub fn meta_step(&self, seed: u64, step: u64, tasks: usize) -> Vec<TaskData> {
        // Asked once: on Linux the answer reads the cgroup's CPU quota files.
        static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let threads =
            *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        self.meta_step_on(seed, step, tasks, threads)
    }

    /// The same on at most `threads` threads. Task i draws from stream i of
    /// the step's generator (ChaCha's stream counter), so tasks do not depend
    /// on each other's draws and any split gives the same tasks; task 0's
    /// stream is the generator's own.
    pub fn meta_step_on(
        &self,
        seed: u64,
        step: u64,
        tasks: usize,
        threads: usize,
    ) -> Vec<TaskData> {
        let draw = |i: usize| {
            let mut rng = stream(seed, Purpose::Step, step);
            rng.set_stream(i as u64);
            self.draw(&mut rng)
        };
        // Below a few tasks per thread, threads cost more than they save.
        let threads = threads.min(tasks / 4).max(1);
        if threads == 1 {
            return (0..tasks).map(draw).collect();
        }
        let chunk = tasks.div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = (0..tasks)
                .step_by(chunk)
                .map(|start| {
                    let draw = &draw;
                    scope.spawn(move || {
                        (start..(start + chunk).min(tasks))
                            .map(draw)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().expect("drawing tasks does not panic"))
                .collect()
        })
    }
}
