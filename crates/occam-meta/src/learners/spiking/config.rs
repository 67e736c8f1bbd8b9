//! The `spiking` kind of experiment files. Names and defaults follow
//! snnTorch where it has them: time constants give the decays
//! α = exp(−dt/τ_syn), β = exp(−dt/τ_mem) of its `Synaptic` neuron,
//! threshold 1, reset by subtraction with the reset detached, and the fast
//! sigmoid surrogate with slope 25. The dynamics are normalised (each
//! variable relaxes to its input; docs/design.md §9).

use super::SpikingLearner;
use crate::config_error::{ConfigError, finite, positive};
use crate::learners::Learner;
use crate::learners::registry::{LearnerConfig, ResolveContext};
use crate::sampling::Batching;
use occam_ops::snn::{Encoding, ResetGradient, SnnSpec, Spike};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `kind = "spiking"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikingConfig {
    /// Hidden LIF neurons K.
    pub hidden: usize,
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
    /// Keep w_t only every this many inner steps.
    #[serde(default = "one")]
    pub checkpoint_every: usize,
    /// Simulation steps per input (T_sim, default 25).
    #[serde(default = "sim_steps")]
    pub sim_steps: usize,
    /// Time step dt (default 1, in units of the time constants).
    #[serde(default = "unit")]
    pub dt: f64,
    /// Synaptic time constant τ_syn (default 2).
    #[serde(default = "tau_syn")]
    pub tau_syn: f64,
    /// Membrane time constant τ_mem (default 4).
    #[serde(default = "tau_mem")]
    pub tau_mem: f64,
    /// Readout time constant τ_out (default 4).
    #[serde(default = "tau_mem")]
    pub tau_out: f64,
    /// W₁ is drawn as PyTorch's default times this gain (default 5: at the
    /// default time constants about a third of the neurons then fire for a
    /// typical input on the sphere, at about 10% of the steps).
    #[serde(default = "gain")]
    pub init_gain: f64,
    /// Firing threshold θ (default 1).
    #[serde(default = "unit")]
    pub threshold: f64,
    /// The output averages the readout over this many last steps (default 5).
    #[serde(default = "window")]
    pub readout_window: usize,
    /// `fast_sigmoid` (default), `arctan` (Heaviside with that surrogate), or
    /// `sigmoid` (smooth spikes, exactly differentiable).
    #[serde(default = "fast_sigmoid")]
    pub spike: String,
    /// The surrogate's (or the smooth sigmoid's) slope (default 25 for the
    /// fast sigmoid, 2 for arctan, 5 for sigmoid).
    #[serde(default)]
    pub slope: Option<f64>,
    /// `detached` (default) or `through`.
    #[serde(default = "detached")]
    pub reset_gradient: String,
    /// `current` (default: inputs as constant currents) or `latency` (one
    /// spike per input, earlier for larger values).
    #[serde(default = "current")]
    pub encoding: String,
    /// On the GPU, keep the membranes of only this many simulation steps at
    /// once, recomputing each segment during the backward passes (memory
    /// rows × this × K per task instead of rows × sim_steps × K); 0, the
    /// default, keeps them all.
    #[serde(default)]
    pub time_checkpoint_every: usize,
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn sim_steps() -> usize {
    25
}
fn unit() -> f64 {
    1.0
}
fn tau_syn() -> f64 {
    2.0
}
fn tau_mem() -> f64 {
    4.0
}
fn gain() -> f64 {
    5.0
}
fn window() -> usize {
    5
}
fn fast_sigmoid() -> String {
    "fast_sigmoid".into()
}
fn detached() -> String {
    "detached".into()
}
fn current() -> String {
    "current".into()
}

impl SpikingConfig {
    /// The slope a run uses: the given one, else the spike's default.
    fn slope_or_default(&self) -> f64 {
        self.slope.unwrap_or(match self.spike.as_str() {
            "arctan" => 2.0,
            "sigmoid" => 5.0,
            _ => 25.0,
        })
    }
}

impl LearnerConfig for SpikingConfig {
    /// The keys, with `slope` the spike's default where it was not given.
    fn keys(&self) -> Result<toml::Table, String> {
        let mut keys = toml::Table::try_from(self).map_err(|e| e.to_string())?;
        keys.insert("slope".into(), toml::Value::Float(self.slope_or_default()));
        Ok(keys)
    }

    fn resolve(
        self,
        _kind: &str,
        ctx: &ResolveContext<'_>,
    ) -> Result<Arc<dyn Learner>, ConfigError> {
        let key = |f: &str| format!("{}.{f}", ctx.key);
        if ctx.input.1 != 1 || ctx.input.2 != 1 {
            return Err(ctx.bad("kind", "a spiking learner needs vector inputs"));
        }
        let time = |f: &str, v: f64| -> Result<f64, ConfigError> {
            let v = finite(&key(f), v)?;
            if v > 0.0 {
                Ok(v)
            } else {
                Err(ctx.bad(f, "must be positive"))
            }
        };
        let dt = time("dt", self.dt)?;
        let decay =
            |f: &str, tau: f64| -> Result<f64, ConfigError> { Ok((-dt / time(f, tau)?).exp()) };
        let slope = || time("slope", self.slope_or_default());
        let spike = match self.spike.as_str() {
            "fast_sigmoid" => Spike::FastSigmoid { slope: slope()? },
            "arctan" => Spike::Arctan { slope: slope()? },
            "sigmoid" => Spike::Sigmoid { slope: slope()? },
            other => {
                return Err(ctx.bad(
                    "spike",
                    format!("unknown spike {other:?}; accepted: fast_sigmoid, arctan, sigmoid"),
                ));
            }
        };
        let reset = match self.reset_gradient.as_str() {
            "detached" => ResetGradient::Detached,
            "through" => ResetGradient::Through,
            other => {
                return Err(ctx.bad(
                    "reset_gradient",
                    format!("{other:?}; accepted: detached, through"),
                ));
            }
        };
        let encoding = match self.encoding.as_str() {
            "current" => Encoding::Current,
            "latency" => Encoding::Latency,
            other => {
                return Err(ctx.bad("encoding", format!("{other:?}; accepted: current, latency")));
            }
        };
        let sim = positive(&key("sim_steps"), self.sim_steps)?;
        let window = positive(&key("readout_window"), self.readout_window)?;
        if window > sim {
            return Err(ctx.bad(
                "readout_window",
                format!("{window} is longer than sim_steps = {sim}"),
            ));
        }
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
        let snn = SnnSpec {
            inputs: ctx.input_len(),
            hidden: positive(&key("hidden"), self.hidden)?,
            steps: sim,
            alpha: decay("tau_syn", self.tau_syn)?,
            beta: decay("tau_mem", self.tau_mem)?,
            gamma: decay("tau_out", self.tau_out)?,
            threshold: time("threshold", self.threshold)?,
            readout_window: window,
            spike,
            reset,
            encoding,
            time_checkpoint_every: self.time_checkpoint_every,
        };
        Ok(Arc::new(SpikingLearner {
            snn,
            steps: positive(&key("steps"), self.steps)?,
            lr: ctx.learning_rate("lr", self.lr)?,
            batching,
            checkpoint_every: positive(&key("checkpoint_every"), self.checkpoint_every)?,
            init_gain: time("init_gain", self.init_gain)?,
        }))
    }
}
