//! A current-based leaky integrate-and-fire network as a [`Model`], in f64:
//! its forward simulation, backpropagation through time (the VJP), the
//! forward tangent (JVP) and the tangent of BPTT (JVP of the VJP) that the
//! unrolled learner's exact meta-gradient needs (docs/design.md §9).
//!
//! Per input row x (d values), with K hidden neurons over T time steps,
//! W₁ = [K, d + 1] and W₂ = [1, K + 1] (bias last):
//!
//! ```text
//! c      = W₁ [x, 1]                           constant input current
//! I_t    = α I_{t−1} + (1 − α) c               synaptic current
//! R_t    = s(U_{t−1} − θ)                      reset (detached or not)
//! U_t    = β U_{t−1} + (1 − β) I_t − θ R_t     membrane (reset by subtraction)
//! S_t    = s(U_t − θ)                          spikes
//! O_t    = γ O_{t−1} + (1 − γ) W₂ [S_t, 1]     leaky, non-spiking readout
//! g      = (1/L) Σ_{t ≥ T−L} O_t               output: readout over the last L steps
//! ```
//!
//! The (1 − decay) factors make each variable relax to its input (the
//! exact-exponential form of τ dv/dt = −v + input, as in Norse), so the
//! membrane settles at c without spikes and gradients stay of order one
//! whatever the time constants.
//!
//! ```text
//! ```
//!
//! s is the Heaviside step with a surrogate derivative s′ (fast sigmoid or
//! arctan), or, in the smooth mode, σ(k u) with its exact derivatives. Every
//! pass differentiates s as a function whose slope is s′ (and whose
//! curvature is s″), which is what a framework's custom autograd function
//! with a surrogate backward does under double differentiation; in the
//! smooth mode that is the exact derivative, so finite differences check
//! everything.

use super::SnnShape;
use crate::model::Model;
use std::ops::{Add, Mul, Sub};

/// The spike nonlinearity and its (surrogate) derivatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Spike {
    /// Heaviside forward, s′(u) = 1/(1 + k|u|)² backward (SuperSpike's
    /// fast sigmoid; snnTorch's `surrogate.fast_sigmoid`, default k = 25).
    FastSigmoid {
        /// k.
        slope: f64,
    },
    /// Heaviside forward, s′(u) = (a/2) / (1 + (π a u / 2)²) backward
    /// (snnTorch's `surrogate.atan`, default a = 2).
    Arctan {
        /// a.
        slope: f64,
    },
    /// Smooth: s(u) = σ(k u) forward, its exact derivative backward.
    Sigmoid {
        /// k.
        slope: f64,
    },
}

impl Spike {
    /// s(u).
    pub fn value(self, u: f64) -> f64 {
        match self {
            Spike::FastSigmoid { .. } | Spike::Arctan { .. } => f64::from(u8::from(u > 0.0)),
            Spike::Sigmoid { slope } => 1.0 / (1.0 + (-slope * u).exp()),
        }
    }

    /// s′(u).
    pub fn d1(self, u: f64) -> f64 {
        match self {
            Spike::FastSigmoid { slope } => 1.0 / (1.0 + slope * u.abs()).powi(2),
            Spike::Arctan { slope } => {
                let q = std::f64::consts::FRAC_PI_2 * slope * u;
                slope / 2.0 / (1.0 + q * q)
            }
            Spike::Sigmoid { slope } => {
                let s = self.value(u);
                slope * s * (1.0 - s)
            }
        }
    }

    /// s″(u).
    pub fn d2(self, u: f64) -> f64 {
        match self {
            Spike::FastSigmoid { slope } => {
                -2.0 * slope * u.signum() / (1.0 + slope * u.abs()).powi(3)
            }
            Spike::Arctan { slope } => {
                let a = std::f64::consts::FRAC_PI_2 * slope;
                let q = a * u;
                -slope * a * q / (1.0 + q * q).powi(2)
            }
            Spike::Sigmoid { slope } => {
                let s = self.value(u);
                slope * slope * s * (1.0 - s) * (1.0 - 2.0 * s)
            }
        }
    }
}

/// Whether the reset term carries gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetGradient {
    /// R_t is a constant for differentiation (snnTorch's default: its
    /// `mem_reset` detaches the reset).
    Detached,
    /// R_t = s(U_{t−1} − θ) is differentiated like the spikes.
    Through,
}

/// How an input row drives the neurons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// As a constant current: c = W₁[x, 1] at every step.
    Current,
    /// As one spike per input at a latency that falls linearly with the
    /// value (snnTorch's `spikegen.latency(..., linear=True)` over [−1, 1]):
    /// input i spikes at t_i = ⌊(1 − (x_i + 1)/2)(T − 1) + ½⌋ (values
    /// clamped to [−1, 1], computed in f32), and c_t = W₁[e_t, 1] with e_t
    /// the inputs spiking at t.
    Latency,
}

/// The step at which an input of value `x` spikes under latency encoding,
/// over `steps` steps (f32, as on the GPU).
pub fn latency_step(x: f64, steps: usize) -> usize {
    let level = ((x as f32 + 1.0) / 2.0).clamp(0.0, 1.0);
    ((1.0 - level) * (steps.max(1) - 1) as f32 + 0.5).floor() as usize
}

/// The network's sizes and constants.
#[derive(Clone, Debug, PartialEq)]
pub struct SnnSpec {
    /// Inputs d.
    pub inputs: usize,
    /// Hidden neurons K.
    pub hidden: usize,
    /// Simulation steps T.
    pub steps: usize,
    /// Synaptic decay α = exp(−dt/τ_syn).
    pub alpha: f64,
    /// Membrane decay β = exp(−dt/τ_mem).
    pub beta: f64,
    /// Readout decay γ = exp(−dt/τ_out).
    pub gamma: f64,
    /// Firing threshold θ.
    pub threshold: f64,
    /// The output averages the readout over the last L steps.
    pub readout_window: usize,
    /// The spike nonlinearity.
    pub spike: Spike,
    /// Whether the reset carries gradient.
    pub reset: ResetGradient,
    /// How inputs drive the neurons.
    pub encoding: Encoding,
    /// On the GPU, keep the membranes of only this many simulation steps at
    /// once and recompute each segment in the backward passes (0: keep all).
    /// The f64 twin always keeps all; results are the same.
    pub time_checkpoint_every: usize,
}

impl SnnSpec {
    /// Parameters: W₁ (K × (d + 1)) then W₂ (K + 1).
    pub fn n_params(&self) -> usize {
        self.hidden * (self.inputs + 1) + self.hidden + 1
    }

    /// PyTorch's default initialisation of the two linear layers (uniform
    /// ±1/√fan_in), W₁ then W₂.
    pub fn init_pytorch<R: rand::Rng>(&self, rng: &mut R) -> Vec<f64> {
        let layer = |rng: &mut R, fan_in: usize, len: usize| -> Vec<f64> {
            let b = 1.0 / (fan_in as f64).sqrt();
            (0..len).map(|_| rng.random_range(-b..b)).collect()
        };
        let mut w = layer(rng, self.inputs, self.hidden * (self.inputs + 1));
        w.extend(layer(rng, self.hidden, self.hidden + 1));
        w
    }
}

/// A number the passes are written over: f64, or a dual number (value,
/// tangent) for forward-mode differentiation of the same code.
trait Num: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn constant(v: f64) -> Self;
    fn value(self) -> f64;
    /// s(self), with slope s′.
    fn spike(self, s: Spike) -> Self;
    /// s′(self), with slope s″.
    fn spike_d1(self, s: Spike) -> Self;
}

impl Num for f64 {
    fn constant(v: f64) -> f64 {
        v
    }
    fn value(self) -> f64 {
        self
    }
    fn spike(self, s: Spike) -> f64 {
        s.value(self)
    }
    fn spike_d1(self, s: Spike) -> f64 {
        s.d1(self)
    }
}

/// (value, tangent).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dual(f64, f64);

impl Add for Dual {
    type Output = Dual;
    fn add(self, o: Dual) -> Dual {
        Dual(self.0 + o.0, self.1 + o.1)
    }
}

impl Sub for Dual {
    type Output = Dual;
    fn sub(self, o: Dual) -> Dual {
        Dual(self.0 - o.0, self.1 - o.1)
    }
}

impl Mul for Dual {
    type Output = Dual;
    fn mul(self, o: Dual) -> Dual {
        Dual(self.0 * o.0, self.0 * o.1 + self.1 * o.0)
    }
}

impl Num for Dual {
    fn constant(v: f64) -> Dual {
        Dual(v, 0.0)
    }
    fn value(self) -> f64 {
        self.0
    }
    fn spike(self, s: Spike) -> Dual {
        Dual(s.value(self.0), s.d1(self.0) * self.1)
    }
    fn spike_d1(self, s: Spike) -> Dual {
        Dual(s.d1(self.0), s.d2(self.0) * self.1)
    }
}

/// One row's simulation: U_t and S_t for every step, K values each.
#[derive(Clone, Debug)]
struct RowTrace<N> {
    u: Vec<N>,
    s: Vec<N>,
}

impl SnnSpec {
    fn forward_row<N: Num>(&self, w: &[N], x: &[f64]) -> (N, RowTrace<N>) {
        let (d, k, t_max) = (self.inputs, self.hidden, self.steps);
        let w2 = &w[k * (d + 1)..];
        let theta = N::constant(self.threshold);
        let (alpha, beta, gamma) = (
            N::constant(self.alpha),
            N::constant(self.beta),
            N::constant(self.gamma),
        );
        // Current encoding: c once; latency: c_t from the inputs spiking at t.
        let latency: Vec<usize> = x.iter().map(|&xi| latency_step(xi, t_max)).collect();
        let current_at = |t: usize| -> Vec<N> {
            (0..k)
                .map(|j| {
                    let row = &w[j * (d + 1)..(j + 1) * (d + 1)];
                    match self.encoding {
                        Encoding::Current => x
                            .iter()
                            .zip(row)
                            .fold(row[d], |acc, (&xi, &wi)| acc + wi * N::constant(xi)),
                        Encoding::Latency => latency
                            .iter()
                            .zip(row)
                            .filter(|(ti, _)| **ti == t)
                            .fold(row[d], |acc, (_, &wi)| acc + wi),
                    }
                })
                .collect()
        };
        let mut c = current_at(0);
        let (one_alpha, one_beta, one_gamma) = (
            N::constant(1.0 - self.alpha),
            N::constant(1.0 - self.beta),
            N::constant(1.0 - self.gamma),
        );
        let mut i_syn = vec![N::constant(0.0); k];
        let mut u_prev = vec![N::constant(0.0); k];
        let mut tr = RowTrace {
            u: Vec::with_capacity(t_max * k),
            s: Vec::with_capacity(t_max * k),
        };
        let (mut out, mut acc) = (N::constant(0.0), N::constant(0.0));
        let window = self.readout_window.min(t_max);
        for t in 0..t_max {
            if self.encoding == Encoding::Latency && t > 0 {
                c = current_at(t);
            }
            let mut drive = w2[k];
            for j in 0..k {
                let reset = (u_prev[j] - theta).spike(self.spike);
                let reset = match self.reset {
                    ResetGradient::Detached => N::constant(reset.value()),
                    ResetGradient::Through => reset,
                };
                i_syn[j] = alpha * i_syn[j] + one_alpha * c[j];
                let u = beta * u_prev[j] + one_beta * i_syn[j] - theta * reset;
                let s = (u - theta).spike(self.spike);
                drive = drive + w2[j] * s;
                tr.u.push(u);
                tr.s.push(s);
                u_prev[j] = u;
            }
            out = gamma * out + one_gamma * drive;
            if t + window >= t_max {
                acc = acc + out;
            }
        }
        (acc * N::constant(1.0 / window as f64), tr)
    }

    /// Adds ḡ ∂g/∂w for one row into `grad` (BPTT).
    fn backward_row<N: Num>(&self, w: &[N], x: &[f64], tr: &RowTrace<N>, g_bar: N, grad: &mut [N]) {
        let (d, k, t_max) = (self.inputs, self.hidden, self.steps);
        let w2 = &w[k * (d + 1)..];
        let theta = N::constant(self.threshold);
        let (alpha, beta, gamma) = (
            N::constant(self.alpha),
            N::constant(self.beta),
            N::constant(self.gamma),
        );
        let window = self.readout_window.min(t_max);
        let per_step = g_bar * N::constant(1.0 / window as f64);
        let zero = N::constant(0.0);
        let (mut o_bar, mut u_next, mut i_next) = (zero, vec![zero; k], vec![zero; k]);
        let mut c_bar = vec![zero; k];
        let w2_off = k * (d + 1);
        let latency: Vec<usize> = x.iter().map(|&xi| latency_step(xi, t_max)).collect();
        let (one_alpha, one_beta, one_gamma) = (
            N::constant(1.0 - self.alpha),
            N::constant(1.0 - self.beta),
            N::constant(1.0 - self.gamma),
        );
        for t in (0..t_max).rev() {
            let own = if t + window >= t_max { per_step } else { zero };
            o_bar = own + gamma * o_bar;
            // The readout's drive enters O_t with weight (1 − γ).
            let drive_bar = one_gamma * o_bar;
            grad[w2_off + k] = grad[w2_off + k] + drive_bar;
            for j in 0..k {
                let (u, s) = (tr.u[t * k + j], tr.s[t * k + j]);
                grad[w2_off + j] = grad[w2_off + j] + drive_bar * s;
                let slope = (u - theta).spike_d1(self.spike);
                let mut u_bar = drive_bar * w2[j] * slope + beta * u_next[j];
                if self.reset == ResetGradient::Through && t + 1 < t_max {
                    u_bar = u_bar - theta * u_next[j] * slope;
                }
                let i_bar = one_beta * u_bar + alpha * i_next[j];
                match self.encoding {
                    Encoding::Current => c_bar[j] = c_bar[j] + one_alpha * i_bar,
                    Encoding::Latency => {
                        // c_t = W₁[j] · [e_t, 1]: the inputs spiking at t and the bias.
                        let row = j * (d + 1);
                        let share = one_alpha * i_bar;
                        grad[row + d] = grad[row + d] + share;
                        for (i, &ti) in latency.iter().enumerate() {
                            if ti == t {
                                grad[row + i] = grad[row + i] + share;
                            }
                        }
                    }
                }
                u_next[j] = u_bar;
                i_next[j] = i_bar;
            }
        }
        for (j, &cb) in c_bar.iter().enumerate() {
            let row = j * (d + 1);
            for (i, &xi) in x.iter().enumerate() {
                grad[row + i] = grad[row + i] + cb * N::constant(xi);
            }
            grad[row + d] = grad[row + d] + cb;
        }
    }

    fn rows<'a>(&self, x: &'a [f64]) -> impl Iterator<Item = &'a [f64]> {
        x.chunks(self.inputs)
    }
}

/// A forward pass over rows: each row's simulation and the outputs.
#[derive(Clone, Debug)]
pub struct SnnTrace {
    x: Vec<f64>,
    rows: Vec<RowTrace<f64>>,
    out: Vec<f64>,
}

impl SnnTrace {
    /// Spikes per neuron and step over all rows: the mean firing rate.
    pub fn firing_rate(&self) -> f64 {
        let (n, sum) = self.rows.iter().fold((0usize, 0.0), |(n, s), r| {
            (n + r.s.len(), s + r.s.iter().sum::<f64>())
        });
        if n == 0 { 0.0 } else { sum / n as f64 }
    }
}

fn duals(w: &[f64], v: &[f64]) -> Vec<Dual> {
    w.iter().zip(v).map(|(&a, &b)| Dual(a, b)).collect()
}

impl Model for SnnSpec {
    type Trace = SnnTrace;

    fn d_in(&self) -> usize {
        self.inputs
    }

    fn forward(&self, w: &[f64], x: &[f64]) -> SnnTrace {
        let (out, rows) = self.rows(x).map(|row| self.forward_row(w, row)).unzip();
        SnnTrace {
            x: x.to_vec(),
            rows,
            out,
        }
    }

    fn output<'t>(&self, trace: &'t SnnTrace) -> &'t [f64] {
        &trace.out
    }

    fn backward(&self, w: &[f64], trace: &SnnTrace, g_bar: &[f64]) -> Vec<f64> {
        let mut grad = vec![0.0; w.len()];
        for ((row, tr), &gb) in self.rows(&trace.x).zip(&trace.rows).zip(g_bar) {
            self.backward_row(w, row, tr, gb, &mut grad);
        }
        grad
    }

    fn tangent_forward(&self, w: &[f64], trace: &SnnTrace, v: &[f64]) -> Vec<f64> {
        let wd = duals(w, v);
        self.rows(&trace.x)
            .map(|row| self.forward_row(&wd, row).0.1)
            .collect()
    }

    fn tangent_backward(
        &self,
        w: &[f64],
        trace: &SnnTrace,
        g_bar: &[f64],
        v: &[f64],
        g_bar_dot: &[f64],
    ) -> Vec<f64> {
        let wd = duals(w, v);
        let mut grad = vec![Dual(0.0, 0.0); w.len()];
        for ((row, &gb), &gbd) in self.rows(&trace.x).zip(g_bar).zip(g_bar_dot) {
            let (_, tr) = self.forward_row(&wd, row);
            self.backward_row(&wd, row, &tr, Dual(gb, gbd), &mut grad);
        }
        grad.into_iter().map(|g| g.1).collect()
    }
}

impl SnnSpec {
    /// The op's shape for `tasks` × `rows` inputs.
    pub fn gpu_shape(&self, tasks: usize, rows: usize) -> SnnShape {
        SnnShape {
            tasks,
            rows,
            inputs: self.inputs,
            hidden: self.hidden,
            steps: self.steps,
            window: self.readout_window,
            decays: (self.alpha, self.beta, self.gamma),
            threshold: self.threshold,
            spike: self.spike,
            reset_through: self.reset == ResetGradient::Through,
            latency: self.encoding == Encoding::Latency,
            time_every: self.time_checkpoint_every,
        }
    }
}
