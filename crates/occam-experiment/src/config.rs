//! Experiment files: the TOML schema, `--set key=value` overrides, and the
//! translation into the engine's types. Every table rejects unknown keys, so a
//! typo is an error naming the key, never a silent default.

use crate::Error;
use occam_meta::engine::StepSizes;
use occam_meta::images::ImageSet;
use occam_meta::learners::registry::{self, ResolveContext};
use occam_meta::loss::StandardLoss;
use occam_meta::loss::distribution::{DistributionKind, DistributionSet};
use occam_meta::problem::MetaProblem;
use occam_meta::sampling::{InputDomain, Purpose, TaskSampler, stream};
use occam_ops::net::NetSpec;
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
    /// Write a checkpoint (θ, optimiser state, progress) every this many
    /// meta-steps, so that `occam run --resume DIR` can continue a killed
    /// run; 0 writes one only when the run is interrupted.
    #[serde(default = "hundred")]
    pub checkpoint_every: usize,
    /// Input domain.
    pub inputs: Inputs,
    /// Points per task.
    pub data: Data,
    /// The meta-learner f_θ.
    pub meta_learner: MetaLearner,
    /// Optimiser of θ.
    pub optimizer: Optimizer,
    /// The learner: `kind` and that kind's keys (see
    /// [`occam_meta::learners::registry`]).
    pub learner: toml::Table,
    /// Meta-loss coefficients.
    pub loss: Loss,
    /// Analyses written to summary.json.
    #[serde(default)]
    pub analysis: Analysis,
    /// An orthogonal series: several functions learned one after another.
    #[serde(default)]
    pub series: Option<Series>,
    /// An adversarial pair: a second learner B (any kind, same keys as
    /// `[learner]`) whose test error is subtracted, weighted by
    /// `loss.adversary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversary: Option<toml::Table>,
    /// The folder of the experiment file (connectome paths are relative to it).
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// Data files held in memory, by file name (a web page has no file
    /// system): an image set whose file name is here is read from these
    /// bytes instead of from its path.
    #[serde(skip)]
    pub files: std::collections::BTreeMap<String, std::sync::Arc<Vec<u8>>>,
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
    /// The distribution term's weight b for each function, in order,
    /// replacing `loss.distribution` (the paper's notebooks weight the first
    /// function's term 1 and the later ones 1e6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Vec<f64>>,
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
fn hundred() -> usize {
    100
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
    /// K fixed stimulus sets, as an experimenter would use: K pairs of
    /// (training, test) inputs drawn once from the run's seed, each task
    /// taking one at random (default 0: fresh inputs for every task).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stimulus_sets: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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
    /// Any network as a layer list (see [`occam_meta::layers`]), instead of
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
    /// Sinkhorn blur (ε = blur²), geomloss semantics (default 0.05; only
    /// with `distribution_kind = "sinkhorn"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blur: Option<f64>,
    /// Sinkhorn ε-scaling factor, geomloss semantics (default 0.5; only
    /// with `distribution_kind = "sinkhorn"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<f64>,
}

/// The Sinkhorn defaults (geomloss's blur 0.05 and scaling 0.5).
const BLUR: f64 = 0.05;
const SCALING: f64 = 0.5;

/// The most ε steps a Sinkhorn schedule may take (from the largest f32
/// diameter down to the blur): beyond it a meta-step would crawl.
const MAX_EPSILON_STEPS: f64 = 10_000.0;

/// The most fixed stimulus sets a run may draw.
const MAX_STIMULUS_SETS: usize = 4096;

/// blur and scaling checked: blur > 0 and representable in f32, scaling in
/// (0, 1) also in f32, and a schedule of at most [`MAX_EPSILON_STEPS`].
fn sinkhorn_settings(loss: &Loss) -> Result<(f64, f64), Error> {
    let blur = finite("loss.blur", loss.blur.unwrap_or(BLUR))?;
    let scaling = finite("loss.scaling", loss.scaling.unwrap_or(SCALING))?;
    if !(blur > 0.0 && (blur as f32) > 0.0) {
        return Err(bad(
            "loss.blur",
            format!(
                "{blur:e} must be > 0 (and not round to 0 in f32): ε = blur² is the final temperature"
            ),
        ));
    }
    if !(scaling > 0.0 && (scaling as f32) > 0.0 && (scaling as f32) < 1.0) {
        return Err(bad(
            "loss.scaling",
            format!(
                "{scaling} must be in (0, 1), and stay below 1 in f32 (each ε step multiplies ε by scaling²)"
            ),
        ));
    }
    let (b, s) = (f64::from(blur as f32), f64::from(scaling as f32));
    let steps = (f64::from(f32::MAX).ln() - b.ln()) / -s.ln();
    if steps > MAX_EPSILON_STEPS {
        return Err(bad(
            "loss.scaling",
            format!(
                "{scaling} with blur {blur} gives a schedule of up to {steps:.0} ε steps (over {MAX_EPSILON_STEPS}); use a smaller scaling (geomloss's default is 0.5)"
            ),
        ));
    }
    Ok((blur, scaling))
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
    /// Legal but pointless values (a learning rate of 0), for the caller to
    /// print as warnings.
    pub warnings: Vec<String>,
    /// The meta-loss's weights, from which `problem.terms` is built.
    pub loss: StandardLoss,
    /// A series' distribution weight per function (`series.distribution`);
    /// empty when every function uses `loss.distribution`.
    pub distribution_by_function: Vec<f64>,
}

impl Resolved {
    /// The engine's sizes for `tasks` tasks per meta-step.
    pub fn step_sizes(&self, tasks: usize) -> StepSizes {
        StepSizes {
            tasks,
            train: self.sampler.train,
            test: self.sampler.test,
            samples: self.sampler.samples,
        }
    }

    /// The problem of function `j` of a series: this one, with the
    /// distribution term's weight that `series.distribution` gives `j`.
    pub fn for_function(&self, j: usize) -> std::borrow::Cow<'_, Resolved> {
        match self.distribution_by_function.get(j) {
            Some(&b) if b != self.loss.distribution => {
                let mut r = self.clone();
                r.loss.distribution = b;
                r.problem.terms = r.loss.terms();
                std::borrow::Cow::Owned(r)
            }
            _ => std::borrow::Cow::Borrowed(self),
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

fn bad(key: &str, message: impl std::fmt::Display) -> Error {
    Error::input(format!("{key}: {message}"))
}

fn activation(key: &str, name: &str) -> Result<Activation, Error> {
    name.parse().map_err(|e: String| bad(key, e))
}

fn positive(key: &str, v: usize) -> Result<usize, Error> {
    Ok(occam_meta::config_error::positive(key, v)?)
}

fn finite(key: &str, v: f64) -> Result<f64, Error> {
    Ok(occam_meta::config_error::finite(key, v)?)
}

/// A loss weight: finite and ≥ 0 (each term's sign is fixed by the
/// meta-loss: rewards and the adversary's error enter subtracted).
fn weight(key: &str, v: f64) -> Result<f64, Error> {
    let v = finite(key, v)?;
    if v < 0.0 {
        return Err(bad(
            key,
            format!("{v} is negative; weights are ≥ 0 (the meta-loss fixes each term's sign)"),
        ));
    }
    Ok(v)
}

impl Experiment {
    /// Reads an experiment file, applies `key=value` overrides, and parses it.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!(
                "{}: cannot read the experiment file: {e}",
                path.display()
            ))
        })?;
        Experiment::from_text(&text, path, overrides)
    }

    /// An experiment from the text of its file (e.g. one edited in a web
    /// page); `path` names it in errors, and its folder is where data
    /// paths are relative to.
    pub fn from_text(text: &str, path: &Path, overrides: &[String]) -> Result<Experiment, Error> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        if table.contains_key("connectivity") {
            return Err(Error::input(format!(
                "{}: connectivity: the table belongs to the learner it wires now: \
                 write [learner.connectivity] (or [adversary.connectivity], \
                 [learner.inner.connectivity]) with the same keys",
                path.display()
            )));
        }
        let mut exp: Experiment = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                Error::input(format!(
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
        // The resolved configuration carries the Sinkhorn defaults.
        if exp.loss.distribution_kind == "sinkhorn" {
            exp.loss.blur.get_or_insert(BLUR);
            exp.loss.scaling.get_or_insert(SCALING);
        }
        resolve(&mut exp.inputs.images);
        resolve(&mut exp.inputs.labels);
        // Paths in a learner's table, resolved: external programs run in a
        // folder the resolved configuration names, so that a resumed run
        // (read from its config.toml, in the run folder) starts them where
        // the first start did, and a connectome file is found from there.
        fn learner_paths(t: &mut toml::Table, base: &Path) {
            if t.get("kind").and_then(toml::Value::as_str) == Some("external") {
                let dir = occam_meta::learners::external::config::program_dir(
                    base,
                    t.get("dir").and_then(toml::Value::as_str),
                );
                let dir = dir.canonicalize().unwrap_or(dir);
                t.insert(
                    "dir".into(),
                    toml::Value::String(dir.to_string_lossy().into_owned()),
                );
            }
            // A connectome file, relative to the experiment file.
            if let Some(toml::Value::Table(c)) = t.get_mut("connectivity")
                && let Some(toml::Value::String(file)) = c.get_mut("file")
            {
                let joined = base.join(&*file);
                *file = joined
                    .canonicalize()
                    .unwrap_or(joined)
                    .to_string_lossy()
                    .into_owned();
            }
            if let Some(toml::Value::Table(inner)) = t.get_mut("inner") {
                learner_paths(inner, base);
            }
        }
        learner_paths(&mut exp.learner, &base);
        if let Some(a) = exp.adversary.as_mut() {
            learner_paths(a, &base);
        }
        Ok(exp)
    }

    /// The resolved configuration as TOML (written to the output folder).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment serialises")
    }

    /// Checks every value and builds the engine's types; errors name the key.
    pub fn resolve(&self) -> Result<Resolved, Error> {
        // The name becomes a folder name (runs/NAME-seedS): no separators,
        // no leading dot, nothing that could point outside the output folder.
        let name_ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(bad(
                "name",
                format!(
                    "{:?} must be letters, digits, '_', '-' or '.', not starting with '.' (it names the output folder)",
                    self.name
                ),
            ));
        }
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
        if lr < 0.0 {
            return Err(bad(
                "optimizer.lr",
                format!("{lr} is negative (it would climb the meta-loss); use a rate > 0"),
            ));
        }
        let warnings = std::cell::RefCell::new(Vec::new());
        if lr == 0.0 {
            warnings
                .borrow_mut()
                .push("optimizer.lr: is 0: θ never moves from its initialisation".to_string());
        }
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
        let ctx = ResolveContext {
            key: "learner",
            input: input_shape,
            train,
            seed: self.seed,
            index: 0,
            base_dir: &self.base_dir,
            warnings: &warnings,
        };
        let mut learners = vec![registry::resolve(&self.learner, &ctx)?];
        let loss = &self.loss;
        let distribution = match loss.distribution_kind.as_str() {
            "energy" => DistributionKind::Energy,
            "sinkhorn" => {
                let (blur, scaling) = sinkhorn_settings(loss)?;
                DistributionKind::Sinkhorn { blur, scaling }
            }
            other => {
                return Err(bad(
                    "loss.distribution_kind",
                    format!("unknown distribution term {other:?}; accepted: energy, sinkhorn"),
                ));
            }
        };
        if !matches!(distribution, DistributionKind::Sinkhorn { .. }) {
            for (key, set) in [
                ("blur", loss.blur.is_some()),
                ("scaling", loss.scaling.is_some()),
            ] {
                if set {
                    return Err(bad(
                        &format!("loss.{key}"),
                        format!(
                            "applies to distribution_kind = \"sinkhorn\" only (this is {:?})",
                            loss.distribution_kind
                        ),
                    ));
                }
            }
        }
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
            if series.functions > series.points {
                return Err(bad(
                    "series.functions",
                    format!(
                        "{} functions cannot be orthogonal on series.points = {} points",
                        series.functions, series.points
                    ),
                ));
            }
            weight("series.orthogonality", series.orthogonality)?;
            if let Some(list) = &series.distribution {
                if list.len() != series.functions {
                    return Err(bad(
                        "series.distribution",
                        format!(
                            "lists {} weights for series.functions = {} functions",
                            list.len(),
                            series.functions
                        ),
                    ));
                }
                if loss.distribution == 0.0 {
                    return Err(bad(
                        "series.distribution",
                        "needs the distribution term: loss.distribution is 0",
                    ));
                }
                for (i, &b) in list.iter().enumerate() {
                    if !(b.is_finite() && b > 0.0) {
                        return Err(bad(
                            &format!("series.distribution[{i}]"),
                            format!("{b} is not a finite weight > 0"),
                        ));
                    }
                }
            }
        }
        positive("analysis.eval_points", self.analysis.eval_points)?;
        positive("analysis.heldout_tasks", self.analysis.heldout_tasks)?;
        let mut standard = StandardLoss {
            generalisation: weight("loss.generalisation", loss.generalisation)?,
            distribution: weight("loss.distribution", loss.distribution)?,
            distribution_kind: distribution,
            distribution_on,
            std_reward: weight("loss.std_reward", loss.std_reward)?,
            orthogonality: self.series.as_ref().map_or(0.0, |s| s.orthogonality),
            adversary: None,
        };
        match &self.adversary {
            None if loss.adversary != 0.0 => {
                return Err(bad("loss.adversary", "needs an [adversary] learner"));
            }
            None => {}
            Some(table) => {
                standard.adversary = Some(weight("loss.adversary", loss.adversary)?);
                let ctx = ResolveContext {
                    key: "adversary",
                    index: 1,
                    ..ctx
                };
                learners.push(registry::resolve(table, &ctx)?);
            }
        }
        let problem = MetaProblem {
            meta,
            learners: learners.clone(),
            terms: standard.terms(),
        };
        let distribution_by_function = self
            .series
            .as_ref()
            .and_then(|s| s.distribution.clone())
            .unwrap_or_default();
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
        let sets = self.data.stimulus_sets;
        if sets > MAX_STIMULUS_SETS {
            return Err(bad(
                "data.stimulus_sets",
                format!("must be at most {MAX_STIMULUS_SETS}"),
            ));
        }
        if sets == 0
            && let Some(what) = learners.iter().find_map(|l| l.fixed_stimuli())
        {
            return Err(bad(
                "data.stimulus_sets",
                format!("must be ≥ 1: a learner with {what} fits its sessions on fixed stimuli"),
            ));
        }
        let mut sampler = TaskSampler {
            domain,
            train,
            test,
            samples,
            learners,
            pool,
            stimuli: None,
        };
        if sets > 0 {
            sampler.stimuli = Some(std::sync::Arc::new(sampler.stimulus_sets(self.seed, sets)));
        }
        Ok(Resolved {
            problem,
            sampler,
            image_labels,
            optimizer,
            warnings: warnings.into_inner(),
            loss: standard,
            distribution_by_function,
        })
    }
}

/// The meta-learner of `[meta_learner]`: an MLP (`hidden`, `activation`,
/// `output`) or a layer list (`layers`).
fn resolve_meta_learner(m: &MetaLearner, input: (usize, usize, usize)) -> Result<NetSpec, Error> {
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
            Ok(occam_meta::layers::parse_net(
                "meta_learner.layers",
                input,
                layers,
            )?)
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
            let need = |key: &str, v: &Option<String>| -> Result<Activation, Error> {
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
    fn load_images(&self) -> Result<ImageSet, Error> {
        let i = &self.inputs;
        let path = |key: &str, v: &Option<String>| -> Result<std::path::PathBuf, Error> {
            let v = v.as_ref().ok_or_else(|| {
                bad(
                    &format!("inputs.{key}"),
                    "is required for domain = \"images\"",
                )
            })?;
            Ok(self.base_dir.join(v))
        };
        let (images, labels) = (path("images", &i.images)?, path("labels", &i.labels)?);
        let in_memory = |p: &Path| {
            p.file_name()
                .and_then(|n| self.files.get(&*n.to_string_lossy()))
        };
        let set = match (in_memory(&images), in_memory(&labels)) {
            (Some(im), Some(lb)) => {
                let (im_name, lb_name) =
                    (images.display().to_string(), labels.display().to_string());
                occam_meta::images::parse_idx(im, &im_name)
                    .and_then(|im| Ok((im, occam_meta::images::parse_idx(lb, &lb_name)?)))
                    .and_then(|(im, lb)| ImageSet::from_idx(im, lb, &im_name, &lb_name))
            }
            _ => ImageSet::load(&images, &labels),
        }
        .map_err(|e| bad("inputs.images", e))?;
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

/// Sets `a.b.c = value` in the table; the value is parsed as TOML (so
/// `steps=100` is an integer and `output=cos` falls back to a string).
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), Error> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| Error::input(format!("--set {assignment:?}: expected key=value")))?;
    let key = key.trim();
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(Error::input(format!(
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
                return Err(Error::input(format!(
                    "--set {assignment:?}: {} is not a table",
                    parts[..=i].join(".")
                )));
            }
        };
    }
    Ok(())
}
