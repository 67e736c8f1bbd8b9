//! The `mlp_gd` and `net_gd` kinds of experiment files, and the
//! `[learner.connectivity]` table that wires their first layer.

use super::{FusedLayout, GdLearner};
use crate::config_error::{ConfigError, positive};
use crate::connectivity::{Connectivity, Scheme, SignRule, read_connections};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext};
use crate::sampling::{Batching, Purpose, stream};
use occam_ops::Activation;
use occam_ops::net::NetSpec;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `kind = "mlp_gd"` (an MLP d → hidden… → 1 with an identity output, from
/// `hidden` and `activation`) or `kind = "net_gd"` (any layer list, e.g. a
/// CNN, from `layers`), trained by unrolled gradient descent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdConfig {
    /// mlp_gd: hidden layer widths.
    #[serde(default)]
    pub hidden: Option<Vec<usize>>,
    /// mlp_gd: hidden activation, `relu` or `tanh`.
    #[serde(default)]
    pub activation: Option<String>,
    /// net_gd: the network as a layer list (see [`crate::layers`]).
    #[serde(default)]
    pub layers: Option<Vec<String>>,
    /// Inner gradient-descent steps T.
    pub steps: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// Rows per inner step; 0 means full batch.
    #[serde(default)]
    pub batch: usize,
    /// Minibatches drawn with replacement (default true).
    #[serde(default = "yes")]
    pub replacement: bool,
    /// Keep w_t only every this many inner steps and recompute the rest in
    /// the reverse sweep; 1 keeps every w_t.
    #[serde(default = "one")]
    pub checkpoint_every: usize,
    /// Run the unroll and its reverse sweep as one fused dispatch each when
    /// the learner fits the adapter (default true).
    #[serde(default = "yes")]
    pub fused: bool,
    /// How the fused kernels lay a task out: `"auto"` (default: the
    /// adapter's faster layout, as measured), `"lanes"` or `"workgroup"`
    /// (docs/design.md §6).
    #[serde(default)]
    pub fused_layout: FusedLayout,
    /// Sparse wiring of the first layer (`[learner.connectivity]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity: Option<ConnectivityConfig>,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

impl LearnerConfig for GdConfig {
    fn resolve(
        self,
        kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        let only = |field: &str, set: bool| -> Result<(), ConfigError> {
            match set {
                true => Err(ctx.bad(field, format!("does not apply to kind = {kind:?}"))),
                false => Ok(()),
            }
        };
        let spec = if kind == "net_gd" {
            only("hidden", self.hidden.is_some())?;
            only("activation", self.activation.is_some())?;
            let layers = self
                .layers
                .as_ref()
                .ok_or_else(|| ctx.bad("layers", format!("is required for kind = {kind:?}")))?;
            crate::layers::parse_net(&format!("{}.layers", ctx.key), ctx.input, layers)?
        } else {
            only("layers", self.layers.is_some())?;
            self.mlp(kind, ctx)?
        };
        self.training(spec, ctx)
    }
}

impl GdConfig {
    /// The MLP of `hidden` and `activation`.
    fn mlp(&self, kind: &str, ctx: &ResolveContext<'_>) -> Result<NetSpec, ConfigError> {
        let required = |field: &str| ctx.bad(field, format!("is required for kind = {kind:?}"));
        let hidden = self.hidden.as_ref().ok_or_else(|| required("hidden"))?;
        let activation: Activation = self
            .activation
            .as_ref()
            .ok_or_else(|| required("activation"))?
            .parse()
            .map_err(|e: String| ctx.bad("activation", e))?;
        if !matches!(activation, Activation::Relu | Activation::Tanh) {
            return Err(ctx.bad("activation", "must be relu or tanh"));
        }
        if ctx.input.1 != 1 || ctx.input.2 != 1 {
            return Err(ctx.bad(
                "hidden",
                "an MLP learner needs vector inputs; use kind = \"net_gd\" with layers for images",
            ));
        }
        let mut sizes = vec![ctx.input_len()];
        for (i, &h) in hidden.iter().enumerate() {
            sizes.push(positive(&format!("{}.hidden[{i}]", ctx.key), h)?);
        }
        sizes.push(1);
        Ok(NetSpec::mlp(&sizes, activation, Activation::Identity))
    }

    /// The training procedure around `spec`, and its wiring.
    fn training(
        self,
        spec: NetSpec,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        let key = |f: &str| format!("{}.{f}", ctx.key);
        let steps = positive(&key("steps"), self.steps)?;
        let train = ctx.train;
        let batching = match (self.batch, self.replacement) {
            (0, _) => Batching::Full,
            (b, true) => Batching::WithReplacement { size: b },
            (b, false) if b <= train => Batching::WithoutReplacement { size: b },
            (b, false) => {
                return Err(ctx.bad(
                    "batch",
                    format!("{b} rows without replacement from {train} training points"),
                ));
            }
        };
        let mut learner = GdLearner::new(spec, steps, ctx.learning_rate("lr", self.lr)?, batching);
        learner.checkpoint_every = positive(&key("checkpoint_every"), self.checkpoint_every)?;
        learner.fused = self.fused;
        learner.fused_layout = self.fused_layout;
        if let Some(config) = &self.connectivity {
            let conn = resolve_connectivity(config, &learner.spec, ctx.base_dir)
                .map_err(|e| e.rekey("connectivity", &key("connectivity")))?;
            let fixed = conn.fixed.then(|| {
                conn.constraints(
                    &mut stream(ctx.seed, Purpose::Connectivity, 0),
                    &learner.spec,
                )
            });
            learner.constrained = true;
            learner.connectivity = Some((conn, fixed));
        }
        Ok(Arc::new(learner))
    }
}

/// `[learner.connectivity]`: which inputs each first-layer unit of an mlp_gd learner
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

/// The wiring rule of a `connectivity` table for the learner `spec` (errors
/// keyed `connectivity.…`; the caller puts its table's key in front).
pub fn resolve_connectivity(
    c: &ConnectivityConfig,
    spec: &NetSpec,
    base: &std::path::Path,
) -> Result<Connectivity, ConfigError> {
    let Some((d, hidden)) = spec.first_dense() else {
        return Err(ConfigError::new(
            "connectivity",
            "needs a learner whose first layer is dense",
        ));
    };
    if spec.depth() < 2 {
        return Err(ConfigError::new(
            "connectivity",
            "needs a learner with a hidden layer",
        ));
    }
    let k = |required: bool| -> Result<usize, ConfigError> {
        match c.inputs_per_unit {
            Some(k) if k >= 1 && k <= d => Ok(k),
            Some(k) => Err(ConfigError::new(
                "connectivity.inputs_per_unit",
                format!("{k} is not in 1..={d}"),
            )),
            None if required => Err(ConfigError::new(
                "connectivity.inputs_per_unit",
                format!("is required for scheme = {:?}", c.scheme),
            )),
            None => Ok(0),
        }
    };
    // Keys of another scheme are refused rather than ignored.
    let applies: &[&str] = match c.scheme.as_str() {
        "random" => &["inputs_per_unit"],
        "weighted" => &["inputs_per_unit", "probabilities"],
        "grouped" => &["groups", "group_probabilities"],
        "file" => &["file"],
        _ => &[
            "inputs_per_unit",
            "probabilities",
            "groups",
            "group_probabilities",
            "file",
        ],
    };
    for (key, set) in [
        ("inputs_per_unit", c.inputs_per_unit.is_some()),
        ("probabilities", c.probabilities.is_some()),
        ("groups", c.groups.is_some()),
        ("group_probabilities", c.group_probabilities.is_some()),
        ("file", c.file.is_some()),
    ] {
        if set && !applies.contains(&key) {
            return Err(ConfigError::new(
                format!("connectivity.{key}"),
                format!("does not apply to scheme = {:?}", c.scheme),
            ));
        }
    }
    let scheme = match c.scheme.as_str() {
        "random" => Scheme::Random { k: k(true)? },
        "weighted" => {
            let p = c.probabilities.clone().ok_or_else(|| {
                ConfigError::new(
                    "connectivity.probabilities",
                    "is required for scheme = \"weighted\"",
                )
            })?;
            if p.len() != d
                || p.iter().any(|v| !(v.is_finite() && *v >= 0.0))
                || p.iter().filter(|v| **v > 0.0).count() < k(true)?
            {
                return Err(ConfigError::new(
                    "connectivity.probabilities",
                    format!(
                        "needs {d} non-negative weights, at least inputs_per_unit of them positive"
                    ),
                ));
            }
            sums_to_one("connectivity.probabilities", &p)?;
            Scheme::Weighted {
                k: k(true)?,
                probabilities: p,
            }
        }
        "grouped" => {
            let groups = c.groups.clone().ok_or_else(|| {
                ConfigError::new(
                    "connectivity.groups",
                    "is required for scheme = \"grouped\"",
                )
            })?;
            let mut seen = vec![false; d];
            for &i in groups.iter().flatten() {
                if i >= d || seen[i] {
                    return Err(ConfigError::new(
                        "connectivity.groups",
                        format!("must partition the inputs 0..{d}"),
                    ));
                }
                seen[i] = true;
            }
            if seen.iter().any(|s| !s) {
                return Err(ConfigError::new(
                    "connectivity.groups",
                    format!("must partition the inputs 0..{d}"),
                ));
            }
            let probabilities = c.group_probabilities.clone().ok_or_else(|| {
                ConfigError::new(
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
                return Err(ConfigError::new(
                    "connectivity.group_probabilities",
                    format!("needs one list of {} non-negative weights per group", d - 1),
                ));
            }
            for (g, row) in probabilities.iter().enumerate() {
                sums_to_one(&format!("connectivity.group_probabilities[{g}]"), row)?;
            }
            Scheme::Grouped {
                groups,
                probabilities,
            }
        }
        "file" => {
            let file = c.file.as_ref().ok_or_else(|| {
                ConfigError::new("connectivity.file", "is required for scheme = \"file\"")
            })?;
            let path = base.join(file);
            let connections = read_connections(&path, hidden, d)
                .map_err(|e| ConfigError::new("connectivity.file", e))?;
            Scheme::File { connections }
        }
        other => {
            return Err(ConfigError::new(
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
            return Err(ConfigError::new(
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

/// Probabilities must sum to 1 (within 1e-6): a row that does not is
/// refused rather than renormalised behind the user's back.
fn sums_to_one(key: &str, p: &[f64]) -> Result<(), ConfigError> {
    let sum: f64 = p.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(ConfigError::new(
            key,
            format!("sums to {sum}, not 1: these are probabilities"),
        ));
    }
    Ok(())
}
