//! What an unrolled gradient-descent learner needs of the network it trains:
//! its four passes in f64 (forward, VJP, JVP, JVP of the VJP; docs/design.md
//! §2). Layer-list networks ([`NetSpec`]) are one model; a spiking network
//! (`learners::spiking`) is another, and both are trained and
//! differentiated through by the same unroll ([`super::cpu`]).

use crate::net::{NetSpec, NetTrace};

/// A differentiable model g_w(x) with one output per input row.
pub trait Model: std::fmt::Debug + Send + Sync {
    /// What the forward pass keeps for the other passes.
    type Trace;

    /// Values per input row.
    fn d_in(&self) -> usize;

    /// g_w on the rows of `x` (row-major, `d_in` values each).
    fn forward(&self, w: &[f64], x: &[f64]) -> Self::Trace;

    /// The outputs of a forward pass, one per row.
    fn output<'t>(&self, trace: &'t Self::Trace) -> &'t [f64];

    /// ∂⟨g, ḡ⟩/∂w.
    fn backward(&self, w: &[f64], trace: &Self::Trace, g_bar: &[f64]) -> Vec<f64>;

    /// ġ = (∂g/∂w) v.
    fn tangent_forward(&self, w: &[f64], trace: &Self::Trace, v: &[f64]) -> Vec<f64>;

    /// The directional derivative of [`Model::backward`] along (v, ḡ̇).
    fn tangent_backward(
        &self,
        w: &[f64],
        trace: &Self::Trace,
        g_bar: &[f64],
        v: &[f64],
        g_bar_dot: &[f64],
    ) -> Vec<f64>;
}

impl Model for NetSpec {
    type Trace = NetTrace;

    fn d_in(&self) -> usize {
        NetSpec::d_in(self)
    }

    fn forward(&self, w: &[f64], x: &[f64]) -> NetTrace {
        NetSpec::forward(self, w, x)
    }

    fn output<'t>(&self, trace: &'t NetTrace) -> &'t [f64] {
        trace.output()
    }

    fn backward(&self, w: &[f64], trace: &NetTrace, g_bar: &[f64]) -> Vec<f64> {
        NetSpec::backward(self, w, trace, g_bar)
    }

    fn tangent_forward(&self, w: &[f64], trace: &NetTrace, v: &[f64]) -> Vec<f64> {
        NetSpec::tangent_forward(self, w, trace, v)
    }

    fn tangent_backward(
        &self,
        w: &[f64],
        trace: &NetTrace,
        g_bar: &[f64],
        v: &[f64],
        g_bar_dot: &[f64],
    ) -> Vec<f64> {
        NetSpec::tangent_backward(self, w, trace, g_bar, v, g_bar_dot)
    }
}
