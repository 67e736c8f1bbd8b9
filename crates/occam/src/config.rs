//! Experiment files: the TOML schema, `--set key=value` overrides, and the
//! translation into the engine's types. Every table rejects unknown keys, so a
//! typo is an error naming the key, never a silent default.

use crate::cli::Failure;
use occam_meta::connectivity::{Connectivity, Scheme, SignRule, read_connections};
use occam_meta::engine::StepSizes;
use occam_meta::images::ImageSet;
use occam_meta::net::NetSpec;
use occam_meta::problem::{
    DistributionKind, DistributionSet, FeatureMap, GdLearner, Learner as LearnerKind,
    MetaLossWeights, MetaProblem, RidgeLearner,
};
use occam_meta::sampling::{Batching, FeatureDraw, InputDomain, Purpose, TaskSampler, stream};
use occam_ops::{Activation, OptimizerKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole experiment file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Experiment name (used for the default output folder).
    pub name: String,
    /// Run seed.
    #[serde(default)]
    pub seed: u64,
    /// Meta-steps (optimiser steps on θ).
    pub meta_steps: usize,
    /// Tasks per meta-step (meta-batch); their meta-gradients are averaged.
    #[serde(default = "one")]
    pub tasks: usize,
    /// Log (and read back) the meta-loss every this many meta-steps.
    #[serde(default = "ten")]
    pub log_every: usize,
    /// Input domain.
    pub inputs: Inputs,
    /// Points per task.
    pub data: Data,
    /// The meta-learner f_θ.
    pub meta_learner: MetaLearner,
    /// Optimiser of θ.
    pub optimizer: Optimizer,
    /// The learner.
    pub learner: Learner,
    /// Meta-loss coefficients.
    pub loss: Loss,
    /// Analyses written to summary.json.
    #[serde(default)]
    pub analysis: Analysis,
    /// An orthogonal series: several functions learned one after another.
    #[serde(default)]
    pub series: Option<Series>,
    /// An adversarial pair: a second learner B (ridge or kernel_ridge, same
    /// keys as `[learner]`) whose test error is subtracted, weighted by
    /// `loss.adversary`.
    #[serde(default)]
    pub adversary: Option<Learner>,
    /// Sparse connectivity of an mlp_gd learner's first layer.
    #[serde(default)]
    pub connectivity: Option<ConnectivityConfig>,
    /// The folder of the experiment file (connectome paths are relative to it).
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
}

/// `[connectivity]`: which inputs each first-layer unit of an mlp_gd learner
/// sees, and the signs of those synapses. A fresh draw per task and
/// meta-step unless `fixed`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectivityConfig {
    /// `random` (k of d uniformly), `weighted` (k of d with `probabilities`),
    /// `grouped` (the paper's two-stage scheme) or `file` (a connectome CSV).
    pub scheme: String,
    /// random, weighted: inputs per hidden unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_per_unit: Option<usize>,
    /// weighted: sampling weight of each input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<f64>>,
    /// grouped: a partition of the inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<usize>>>,
    /// grouped: per group, probabilities over the other d − 1 inputs (index order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_probabilities: Option<Vec<Vec<f64>>>,
    /// file: CSV rows `unit,input[,sign]`, relative to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `free`, `positive` or `negative` first-layer weights (a file's signs win).
    #[serde(default = "free")]
    pub signs: String,
    /// One connectivity for the whole run.
    #[serde(default)]
    pub fixed: bool,
}

fn free() -> String {
    "free".into()
}

/// `[series]`: learn `functions` functions one after another, each penalised
/// by `orthogonality · Σ_k (Σ_i f(x_i) h_k(x_i))²` against the earlier ones
/// h_k on `points` fixed points of the input domain.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// How many functions.
    pub functions: usize,
    /// Coefficient c of the orthogonality penalty.
    pub orthogonality: f64,
    /// Size of the fixed orthogonality point set.
    #[serde(default = "thousand")]
    pub points: usize,
}

fn thousand() -> usize {
    1000
}

fn one() -> usize {
    1
}
fn ten() -> usize {
    10
}

/// `[inputs]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// `sphere`, `disk`, `square`, `gaussian` or `images`.
    pub domain: String,
    /// Dimension (sphere: ambient dimension, e.g. 3 for S²; ignored for disk/square).
    #[serde(default = "two")]
    pub dim: usize,
    /// images: an IDX images file (MNIST's format, gzipped or not), relative
    /// to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<String>,
    /// images: the matching IDX labels file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// images: keep only these labels (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<Vec<u8>>,
    /// images: keep the first this many (after `digits`; default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// images: pixels are mapped linearly from [0, 255] to this range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_range: Option<[f64; 2]>,
}

fn two() -> usize {
    2
}

/// `[data]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Training points per task.
    pub train: usize,
    /// Test points per task.
    pub test: usize,
    /// Samples of the target label distribution (uniform on [−1, 1]) per task.
    pub samples: usize,
}

/// `[meta_learner]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaLearner {
    /// An MLP's hidden layer widths (or give `layers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// An MLP's hidden activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// An MLP's output activation: `identity`, `cos`, `relu6/6`, `tanh`, `relu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Any network as a layer list (see [`crate::layers`]), instead of
    /// `hidden`, `activation` and `output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// `[optimizer]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optimizer {
    /// `adam`, `adagrad` or `sgd`.
    pub kind: String,
    /// Learning rate.
    pub lr: f64,
}

/// `[learner]`. Which keys apply depends on `kind`; a key that does not
/// apply to the kind is an error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learner {
    /// `mlp_gd` (an MLP trained by unrolled gradient descent), `net_gd`
    /// (any layer list, e.g. a CNN, trained likewise), `ridge` (linear ridge
    /// regression) or `kernel_ridge` (ridge on random ReLU features).
    pub kind: String,
    /// net_gd: the network as a layer list (see [`crate::layers`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    /// mlp_gd: hidden layer widths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// mlp_gd: hidden activation, `relu` or `tanh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// mlp_gd: inner gradient-descent steps T.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// mlp_gd: inner learning rate η.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// mlp_gd: rows per inner step; 0 means full batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// mlp_gd: minibatches drawn with replacement (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<bool>,
    /// mlp_gd: keep w_t only every this many inner steps and recompute the
    /// rest in the reverse sweep (bounded memory for long unrolls); 1 keeps every w_t.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
    /// mlp_gd, net_gd: run the unroll and its reverse sweep as one fused
    /// dispatch each when the learner fits the adapter (default true); false
    /// forces the step-by-step kernels (for comparison and profiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fused: Option<bool>,
    /// ridge, kernel_ridge: the ridge λ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// ridge, kernel_ridge: add a constant feature (an intercept; default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<bool>,
    /// kernel_ridge: K, the number of random ReLU features relu(x J), J ~ N(0, I).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<usize>,
    /// kernel_ridge: draw a fresh J every meta-step (default: one J for the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample_features: Option<bool>,
}

/// `[loss]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loss {
    /// a, on the learner's test MSE.
    pub generalisation: f64,
    /// b, on the distribution term.
    pub distribution: f64,
    /// `energy`.
    #[serde(default = "energy")]
    pub distribution_kind: String,
    /// `test` or `all`.
    #[serde(default = "test")]
    pub distribution_on: String,
    /// a', the weight of −a'·MSE_B for an `[adversary]` learner B.
    #[serde(default)]
    pub adversary: f64,
    /// s, the reward −s·std(z_S) for spread-out labels (Bessel-corrected std).
    #[serde(default)]
    pub std_reward: f64,
    /// Sinkhorn blur (ε = blur²), geomloss semantics.
    #[serde(default = "blur")]
    pub blur: f64,
    /// Sinkhorn ε-scaling factor, geomloss semantics.
    #[serde(default = "scaling")]
    pub scaling: f64,
}

fn blur() -> f64 {
    0.05
}
fn scaling() -> f64 {
    0.5
}

fn energy() -> String {
    "energy".into()
}
fn test() -> String {
    "test".into()
}

/// `[analysis]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// Evaluation points for the learned function (function.npy, harmonic fit).
    #[serde(default = "five_thousand")]
    pub eval_points: usize,
    /// Fresh learner inits and datasets for the held-out generalisation error.
    #[serde(default = "twenty")]
    pub heldout_tasks: usize,
    /// Named groups of inputs: the learned function is also fitted on each
    /// group's sum (e.g. [[0, 1], [2, 3, 4]] for x0+x1 and x2+x3+x4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<usize>>>,
}

impl Default for Analysis {
    fn default() -> Analysis {
        Analysis {
            eval_points: five_thousand(),
            heldout_tasks: twenty(),
            groups: None,
        }
    }
}

fn five_thousand() -> usize {
    5000
}
fn twenty() -> usize {
    20
}

/// An experiment resolved into the engine's types.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The meta-learning problem.
    pub problem: MetaProblem,
    /// How each task's data is drawn.
    pub sampler: TaskSampler,
    /// The image set of an `images` domain: its label per image (the pixels
    /// are the sampler's pool).
    pub image_labels: Option<Vec<u8>>,
    /// Optimiser of θ.
    pub optimizer: OptimizerKind,
}

impl Resolved {
    /// The engine's sizes for `tasks` tasks per meta-step.
    pub fn step_sizes(&self, tasks: usize) -> StepSizes {
        StepSizes {
            tasks,
            train: self.sampler.train,
            test: self.sampler.test,
            batch: self.sampler.batching.size(self.sampler.train),
            samples: self.sampler.samples,
        }
    }

    /// θ at initialisation for function `j` of the run with `seed` (PyTorch
    /// defaults, rounded to f32 so the GPU and the f64 reference start alike).
    pub fn initial_theta(&self, seed: u64, j: usize) -> Vec<f64> {
        self.problem
            .meta
            .init_pytorch(&mut stream(seed, Purpose::MetaInit, j as u64))
            .into_iter()
            .map(|v| f64::from(v as f32))
            .collect()
    }
}

fn bad(key: &str, message: impl std::fmt::Display) -> Failure {
    Failure::input(format!("{key}: {message}"))
}

fn activation(key: &str, name: &str) -> Result<Activation, Failure> {
    name.parse().map_err(|e: String| bad(key, e))
}

fn positive(key: &str, v: usize) -> Result<usize, Failure> {
    if v == 0 {
        Err(bad(key, "must be positive"))
    } else {
        Ok(v)
    }
}

fn finite(key: &str, v: f64) -> Result<f64, Failure> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad(key, "must be a finite number"))
    }
}

impl Experiment {
    /// Reads an experiment file, applies `key=value` overrides, and parses it.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::input(format!(
                "{}: cannot read the experiment file: {e}",
                path.display()
            ))
        })?;
        let mut table: toml::Table = toml::from_str(&text)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let mut exp: Experiment = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                Failure::input(format!(
                    "{}: {key}: {}",
                    path.display(),
                    e.into_inner().message()
                ))
            })?;
        // Data paths are relative to the experiment file; the resolved
        // configuration written with the results carries them resolved.
        exp.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = exp.base_dir.clone();
        let resolve = |p: &mut Option<String>| {
            if let Some(v) = p {
                let joined = base.join(&*v);
                *v = joined
                    .canonicalize()
                    .unwrap_or(joined)
                    .to_string_lossy()
                    .into_owned();
            }
        };
        resolve(&mut exp.inputs.images);
        resolve(&mut exp.inputs.labels);
        if let Some(c) = &mut exp.connectivity {
            resolve(&mut c.file);
        }
        Ok(exp)
    }

    /// The resolved configuration as TOML (written to the output folder).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment serialises")
    }

    /// Checks every value and builds the engine's types; errors name the key.
    pub fn resolve(&self) -> Result<Resolved, Failure> {
        positive("meta_steps", self.meta_steps)?;
        positive("tasks", self.tasks)?;
        positive("log_every", self.log_every)?;
        let (mut pool, mut image_labels) = (None, None);
        let domain = match self.inputs.domain.as_str() {
            "sphere" => InputDomain::Sphere {
                dim: positive("inputs.dim", self.inputs.dim)?,
            },
            "gaussian" => InputDomain::Gaussian {
                dim: positive("inputs.dim", self.inputs.dim)?,
            },
            "disk" => InputDomain::Disk,
            "square" => InputDomain::Square,
            "images" => {
                let set = self.load_images()?;
                let range = self.inputs.pixel_range.unwrap_or([-1.0, 1.0]);
                if !(range[0].is_finite() && range[1].is_finite() && range[0] < range[1]) {
                    return Err(bad("inputs.pixel_range", "must be [lo, hi] with lo < hi"));
                }
                let pixels: Vec<f64> = set
                    .normalised(range[0], range[1])
                    .into_iter()
                    .map(|v| f64::from(v as f32))
                    .collect();
                pool = Some(std::sync::Arc::new(pixels));
                if self.series.is_some() {
                    return Err(bad(
                        "series",
                        "an orthogonal series needs a sampled input domain, not images",
                    ));
                }
                image_labels = Some(set.labels.clone());
                InputDomain::Images {
                    channels: 1,
                    height: set.rows,
                    width: set.cols,
                }
            }
            other => {
                return Err(bad(
                    "inputs.domain",
                    format!(
                        "unknown domain {other:?}; accepted: sphere, disk, square, gaussian, images"
                    ),
                ));
            }
        };
        if !matches!(domain, InputDomain::Images { .. }) {
            for (key, set) in [
                ("images", self.inputs.images.is_some()),
                ("labels", self.inputs.labels.is_some()),
                ("digits", self.inputs.digits.is_some()),
                ("count", self.inputs.count.is_some()),
                ("pixel_range", self.inputs.pixel_range.is_some()),
            ] {
                if set {
                    return Err(bad(
                        &format!("inputs.{key}"),
                        "applies to domain = \"images\" only",
                    ));
                }
            }
        }
        let d = domain.dim();
        let input_shape = match domain {
            InputDomain::Images {
                channels,
                height,
                width,
            } => (channels, height, width),
            _ => (d, 1, 1),
        };
        let train = positive("data.train", self.data.train)?;
        let test = positive("data.test", self.data.test)?;
        let samples = positive("data.samples", self.data.samples)?;
        if let Some(pool) = &pool {
            let available = pool.len() / d;
            if train + test > available {
                return Err(bad(
                    "data.train",
                    format!(
                        "{train} training + {test} test images per task, but the image set has {available}"
                    ),
                ));
            }
        }
        let meta = resolve_meta_learner(&self.meta_learner, input_shape)?;
        let lr = finite("optimizer.lr", self.optimizer.lr)?;
        let optimizer = match self.optimizer.kind.as_str() {
            "adam" => OptimizerKind::Adam {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            "adagrad" => OptimizerKind::Adagrad { lr, eps: 1e-10 },
            "sgd" => OptimizerKind::Sgd { lr },
            other => {
                return Err(bad(
                    "optimizer.kind",
                    format!("unknown optimizer {other:?}; accepted: adam, adagrad, sgd"),
                ));
            }
        };
        let l = &self.learner;
        let (learner, learner_spec, steps, batching) = resolve_learner(l, input_shape, train)?;
        let loss = &self.loss;
        let distribution = match loss.distribution_kind.as_str() {
            "energy" => DistributionKind::Energy,
            "sinkhorn" => DistributionKind::Sinkhorn {
                blur: finite("loss.blur", loss.blur)?,
                scaling: finite("loss.scaling", loss.scaling)?,
            },
            other => {
                return Err(bad(
                    "loss.distribution_kind",
                    format!("unknown distribution term {other:?}; accepted: energy, sinkhorn"),
                ));
            }
        };
        let distribution_on = match loss.distribution_on.as_str() {
            "test" => DistributionSet::Test,
            "all" => DistributionSet::All,
            "separate" => DistributionSet::Separate,
            other => {
                return Err(bad(
                    "loss.distribution_on",
                    format!("{other:?}; accepted: test, all, separate"),
                ));
            }
        };
        if let Some(series) = &self.series {
            positive("series.functions", series.functions)?;
            positive("series.points", series.points)?;
            finite("series.orthogonality", series.orthogonality)?;
        }
        positive("analysis.eval_points", self.analysis.eval_points)?;
        positive("analysis.heldout_tasks", self.analysis.heldout_tasks)?;
        let adversary = match &self.adversary {
            None => {
                if loss.adversary != 0.0 {
                    return Err(bad("loss.adversary", "needs an [adversary] learner"));
                }
                None
            }
            Some(b) => {
                let weight = finite("loss.adversary", loss.adversary)?;
                match resolve_learner(b, input_shape, train)
                    .map_err(|e| Failure::input(e.message.replacen("learner.", "adversary.", 1)))?
                {
                    (LearnerKind::Ridge(r), ..) => Some((r, weight)),
                    (LearnerKind::Gd(_), ..) => {
                        return Err(bad("adversary.kind", "must be ridge or kernel_ridge"));
                    }
                }
            }
        };
        let problem = MetaProblem {
            meta,
            learner,
            weights: MetaLossWeights {
                generalisation: finite("loss.generalisation", loss.generalisation)?,
                distribution: finite("loss.distribution", loss.distribution)?,
                std_reward: finite("loss.std_reward", loss.std_reward)?,
                orthogonality: self.series.as_ref().map_or(0.0, |s| s.orthogonality),
            },
            distribution,
            distribution_on,
            adversary,
        };
        let mut problem = problem;
        if let (Some(_), LearnerKind::Gd(g)) = (&self.connectivity, &mut problem.learner) {
            g.constrained = true;
        }
        let draw = |learner: Option<&RidgeLearner>, which: u64| match learner {
            Some(RidgeLearner {
                features: map @ FeatureMap::RandomRelu { resample, .. },
                ..
            }) => {
                let values = map.random_values(d);
                if *resample {
                    FeatureDraw::Resample(values)
                } else {
                    FeatureDraw::fixed(self.seed, which, values)
                }
            }
            _ => FeatureDraw::None,
        };
        let features = draw(
            match &problem.learner {
                LearnerKind::Ridge(r) => Some(r),
                LearnerKind::Gd(_) => None,
            },
            0,
        );
        let adversary_features = draw(problem.adversary.as_ref().map(|(r, _)| r), 1);
        let connectivity = match (&self.connectivity, &learner_spec) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(bad(
                    "connectivity",
                    "applies to mlp_gd and net_gd learners only",
                ));
            }
            (Some(c), Some(spec)) => {
                let conn = resolve_connectivity(c, spec, &self.base_dir)?;
                let fixed = conn.fixed.then(|| {
                    conn.constraints(&mut stream(self.seed, Purpose::Connectivity, 0), spec)
                });
                Some((conn, fixed))
            }
        };
        if let Some(groups) = &self.analysis.groups {
            for (g, group) in groups.iter().enumerate() {
                if group.is_empty() || group.iter().any(|&i| i >= d) {
                    return Err(bad(
                        &format!("analysis.groups[{g}]"),
                        format!("must list inputs of 0..{d}"),
                    ));
                }
            }
        }
        let sampler = TaskSampler {
            domain,
            train,
            test,
            samples,
            batching,
            steps,
            learner: learner_spec,
            features,
            adversary_features,
            connectivity,
            pool,
        };
        Ok(Resolved {
            problem,
            sampler,
            image_labels,
            optimizer,
        })
    }
}

/// The learner of `[learner]`: the engine's learner, the GD learner's
/// architecture (for its initialisation), its inner steps and minibatch rule.
fn resolve_learner(
    l: &Learner,
    input: (usize, usize, usize),
    train: usize,
) -> Result<(LearnerKind, Option<NetSpec>, usize, Batching), Failure> {
    let d = input.0 * input.1 * input.2;
    let mlp_keys = [
        ("hidden", l.hidden.is_some()),
        ("activation", l.activation.is_some()),
    ];
    let net_keys = [("layers", l.layers.is_some())];
    let gd_keys = [
        ("hidden", l.hidden.is_some()),
        ("activation", l.activation.is_some()),
        ("layers", l.layers.is_some()),
        ("steps", l.steps.is_some()),
        ("lr", l.lr.is_some()),
        ("batch", l.batch.is_some()),
        ("replacement", l.replacement.is_some()),
        ("checkpoint_every", l.checkpoint_every.is_some()),
        ("fused", l.fused.is_some()),
    ];
    let ridge_keys = [("lambda", l.lambda.is_some()), ("bias", l.bias.is_some())];
    let kernel_keys = [
        ("features", l.features.is_some()),
        ("resample_features", l.resample_features.is_some()),
    ];
    let reject = |keys: &[(&str, bool)]| -> Result<(), Failure> {
        match keys.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(bad(
                &format!("learner.{key}"),
                format!("does not apply to kind = {:?}", l.kind),
            )),
            None => Ok(()),
        }
    };
    let require = |key: &str, present: bool| -> Result<(), Failure> {
        if present {
            Ok(())
        } else {
            Err(bad(
                &format!("learner.{key}"),
                format!("is required for kind = {:?}", l.kind),
            ))
        }
    };
    match l.kind.as_str() {
        "mlp_gd" | "net_gd" => {
            reject(&ridge_keys)?;
            reject(&kernel_keys)?;
            require("steps", l.steps.is_some())?;
            require("lr", l.lr.is_some())?;
            let spec = if l.kind == "mlp_gd" {
                reject(&net_keys)?;
                require("hidden", l.hidden.is_some())?;
                require("activation", l.activation.is_some())?;
                let hidden = activation(
                    "learner.activation",
                    l.activation.as_deref().unwrap_or_default(),
                )?;
                if !matches!(hidden, Activation::Relu | Activation::Tanh) {
                    return Err(bad("learner.activation", "must be relu or tanh"));
                }
                let mut sizes = vec![d];
                for (i, &h) in l.hidden.iter().flatten().enumerate() {
                    sizes.push(positive(&format!("learner.hidden[{i}]"), h)?);
                }
                sizes.push(1);
                NetSpec::mlp(&sizes, hidden, Activation::Identity)
            } else {
                reject(&mlp_keys)?;
                require("layers", l.layers.is_some())?;
                crate::layers::parse_net(
                    "learner.layers",
                    input,
                    l.layers.as_deref().unwrap_or_default(),
                )?
            };
            let steps = positive("learner.steps", l.steps.unwrap_or_default())?;
            let batching = match (l.batch.unwrap_or(0), l.replacement.unwrap_or(true)) {
                (0, _) => Batching::Full,
                (b, true) => Batching::WithReplacement { size: b },
                (b, false) if b <= train => Batching::WithoutReplacement { size: b },
                (b, false) => {
                    return Err(bad(
                        "learner.batch",
                        format!("{b} rows without replacement from {train} training points"),
                    ));
                }
            };
            let gd = GdLearner {
                spec: spec.clone(),
                steps,
                lr: finite("learner.lr", l.lr.unwrap_or_default())?,
                checkpoint_every: positive(
                    "learner.checkpoint_every",
                    l.checkpoint_every.unwrap_or(1),
                )?,
                constrained: false,
                fused: l.fused.unwrap_or(true),
            };
            Ok((LearnerKind::Gd(gd), Some(spec), steps, batching))
        }
        "ridge" | "kernel_ridge" => {
            reject(&gd_keys)?;
            require("lambda", l.lambda.is_some())?;
            let lambda = finite("learner.lambda", l.lambda.unwrap_or_default())?;
            if lambda < 0.0 {
                return Err(bad("learner.lambda", "must be ≥ 0"));
            }
            let bias = l.bias.unwrap_or(false);
            let features = if l.kind == "ridge" {
                reject(&kernel_keys)?;
                FeatureMap::Linear { bias }
            } else {
                require("features", l.features.is_some())?;
                FeatureMap::RandomRelu {
                    features: positive("learner.features", l.features.unwrap_or_default())?,
                    bias,
                    resample: l.resample_features.unwrap_or(false),
                }
            };
            Ok((
                LearnerKind::Ridge(RidgeLearner { features, lambda }),
                None,
                0,
                Batching::Full,
            ))
        }
        other => Err(bad(
            "learner.kind",
            format!("unknown learner {other:?}; accepted: mlp_gd, net_gd, ridge, kernel_ridge"),
        )),
    }
}

/// The meta-learner of `[meta_learner]`: an MLP (`hidden`, `activation`,
/// `output`) or a layer list (`layers`).
fn resolve_meta_learner(m: &MetaLearner, input: (usize, usize, usize)) -> Result<NetSpec, Failure> {
    match (&m.layers, &m.hidden) {
        (Some(layers), None) => {
            for (key, set) in [
                ("activation", m.activation.is_some()),
                ("output", m.output.is_some()),
            ] {
                if set {
                    return Err(bad(
                        &format!("meta_learner.{key}"),
                        "does not apply with meta_learner.layers (put activations in the list)",
                    ));
                }
            }
            crate::layers::parse_net("meta_learner.layers", input, layers)
        }
        (None, Some(hidden)) => {
            if input.1 != 1 || input.2 != 1 {
                return Err(bad(
                    "meta_learner.hidden",
                    "an MLP meta-learner needs vector inputs; give meta_learner.layers for images",
                ));
            }
            let mut sizes = vec![input.0];
            for (i, &h) in hidden.iter().enumerate() {
                sizes.push(positive(&format!("meta_learner.hidden[{i}]"), h)?);
            }
            sizes.push(1);
            let need = |key: &str, v: &Option<String>| -> Result<Activation, Failure> {
                let key = format!("meta_learner.{key}");
                activation(
                    &key,
                    v.as_deref()
                        .ok_or_else(|| bad(&key, "is required with meta_learner.hidden"))?,
                )
            };
            Ok(NetSpec::mlp(
                &sizes,
                need("activation", &m.activation)?,
                need("output", &m.output)?,
            ))
        }
        (Some(_), Some(_)) => Err(bad(
            "meta_learner.layers",
            "give either layers or hidden/activation/output, not both",
        )),
        (None, None) => Err(bad(
            "meta_learner.hidden",
            "is required (or give meta_learner.layers)",
        )),
    }
}

impl Experiment {
    /// The image set of `[inputs]` with domain = "images", filtered and cut.
    fn load_images(&self) -> Result<ImageSet, Failure> {
        let i = &self.inputs;
        let path = |key: &str, v: &Option<String>| -> Result<std::path::PathBuf, Failure> {
            let v = v.as_ref().ok_or_else(|| {
                bad(
                    &format!("inputs.{key}"),
                    "is required for domain = \"images\"",
                )
            })?;
            Ok(self.base_dir.join(v))
        };
        let (images, labels) = (path("images", &i.images)?, path("labels", &i.labels)?);
        let set = ImageSet::load(&images, &labels).map_err(|e| bad("inputs.images", e))?;
        let keep: Vec<u8> = match &i.digits {
            Some(d) if d.is_empty() => {
                return Err(bad("inputs.digits", "must list at least one label"));
            }
            Some(d) => d.clone(),
            None => (0..=u8::MAX).collect(),
        };
        if let Some(0) = i.count {
            return Err(bad("inputs.count", "must be positive"));
        }
        let set = set.select(&keep, i.count);
        if set.is_empty() {
            return Err(bad(
                "inputs.digits",
                format!("no image of {} has one of these labels", images.display()),
            ));
        }
        if let Some(c) = i.count
            && set.len() < c
        {
            return Err(bad(
                "inputs.count",
                format!(
                    "asks for {c} images, but {} has only {} with these labels",
                    images.display(),
                    set.len()
                ),
            ));
        }
        Ok(set)
    }
}

fn resolve_connectivity(
    c: &ConnectivityConfig,
    spec: &NetSpec,
    base: &std::path::Path,
) -> Result<Connectivity, Failure> {
    let Some((d, hidden)) = spec.first_dense() else {
        return Err(bad(
            "connectivity",
            "needs a learner whose first layer is dense",
        ));
    };
    if spec.depth() < 2 {
        return Err(bad("connectivity", "needs a learner with a hidden layer"));
    }
    let k = |required: bool| -> Result<usize, Failure> {
        match c.inputs_per_unit {
            Some(k) if k >= 1 && k <= d => Ok(k),
            Some(k) => Err(bad(
                "connectivity.inputs_per_unit",
                format!("{k} is not in 1..={d}"),
            )),
            None if required => Err(bad(
                "connectivity.inputs_per_unit",
                format!("is required for scheme = {:?}", c.scheme),
            )),
            None => Ok(0),
        }
    };
    let scheme = match c.scheme.as_str() {
        "random" => Scheme::Random { k: k(true)? },
        "weighted" => {
            let p = c.probabilities.clone().ok_or_else(|| {
                bad(
                    "connectivity.probabilities",
                    "is required for scheme = \"weighted\"",
                )
            })?;
            if p.len() != d
                || p.iter().any(|v| !(v.is_finite() && *v >= 0.0))
                || p.iter().filter(|v| **v > 0.0).count() < k(true)?
            {
                return Err(bad(
                    "connectivity.probabilities",
                    format!(
                        "needs {d} non-negative weights, at least inputs_per_unit of them positive"
                    ),
                ));
            }
            Scheme::Weighted {
                k: k(true)?,
                probabilities: p,
            }
        }
        "grouped" => {
            let groups = c.groups.clone().ok_or_else(|| {
                bad(
                    "connectivity.groups",
                    "is required for scheme = \"grouped\"",
                )
            })?;
            let mut seen = vec![false; d];
            for &i in groups.iter().flatten() {
                if i >= d || seen[i] {
                    return Err(bad(
                        "connectivity.groups",
                        format!("must partition the inputs 0..{d}"),
                    ));
                }
                seen[i] = true;
            }
            if seen.iter().any(|s| !s) {
                return Err(bad(
                    "connectivity.groups",
                    format!("must partition the inputs 0..{d}"),
                ));
            }
            let probabilities = c.group_probabilities.clone().ok_or_else(|| {
                bad(
                    "connectivity.group_probabilities",
                    "is required for scheme = \"grouped\"",
                )
            })?;
            if probabilities.len() != groups.len()
                || probabilities.iter().any(|p| {
                    p.len() != d - 1
                        || p.iter().any(|v| !(v.is_finite() && *v >= 0.0))
                        || p.iter().sum::<f64>() <= 0.0
                })
            {
                return Err(bad(
                    "connectivity.group_probabilities",
                    format!("needs one list of {} non-negative weights per group", d - 1),
                ));
            }
            Scheme::Grouped {
                groups,
                probabilities,
            }
        }
        "file" => {
            let file = c
                .file
                .as_ref()
                .ok_or_else(|| bad("connectivity.file", "is required for scheme = \"file\""))?;
            let path = base.join(file);
            let connections = read_connections(&path, hidden, d).map_err(Failure::input)?;
            Scheme::File { connections }
        }
        other => {
            return Err(bad(
                "connectivity.scheme",
                format!("unknown scheme {other:?}; accepted: random, weighted, grouped, file"),
            ));
        }
    };
    let signs = match c.signs.as_str() {
        "free" => SignRule::Free,
        "positive" => SignRule::Positive,
        "negative" => SignRule::Negative,
        other => {
            return Err(bad(
                "connectivity.signs",
                format!("{other:?}; accepted: free, positive, negative"),
            ));
        }
    };
    Ok(Connectivity {
        scheme,
        signs,
        fixed: c.fixed || matches!(c.scheme.as_str(), "file"),
    })
}

/// Sets `a.b.c = value` in the table; the value is parsed as TOML (so
/// `steps=100` is an integer and `output=cos` falls back to a string).
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), Failure> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| Failure::input(format!("--set {assignment:?}: expected key=value")))?;
    let key = key.trim();
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(Failure::input(format!(
                "--set {assignment:?}: empty key segment"
            )));
        }
        if i + 1 == parts.len() {
            cur.insert(part.to_string(), value);
            return Ok(());
        }
        cur = match cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => t,
            _ => {
                return Err(Failure::input(format!(
                    "--set {assignment:?}: {} is not a table",
                    parts[..=i].join(".")
                )));
            }
        };
    }
    Ok(())
}
