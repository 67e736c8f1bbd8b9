//! What an unrolled gradient-descent learner needs of the network it trains:
//! its four passes in f64 (forward, VJP, JVP, JVP of the VJP; docs/design.md
//! §2). Layer-list networks ([`NetSpec`]) are one model; a spiking network
//! (`learners::spiking`) is another, and both are trained and
//! differentiated through by the same unroll ([`super::cpu`]).

use crate::error::Result;
use crate::gpu_net::GpuNet;
use crate::net::{NetSpec, NetTrace};
use occam_gpu::{Encoder, Gpu, GpuTensor};

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

/// A model's four passes on the GPU for `tasks` parameter sets of `rows`
/// inputs each; parameters are one tensor `[tasks, block]` per block.
pub trait GpuModel: Send + Sync {
    /// g = g_w(x).
    fn forward(&self, enc: &mut Encoder<'_>, w: &[GpuTensor], x: &GpuTensor) -> Result<()>;

    /// The outputs of the last forward pass.
    fn output(&self) -> &GpuTensor;

    /// w̄ = ∂⟨g, ḡ⟩/∂w, after `forward` at the same w and x.
    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        w_bar: &[GpuTensor],
    ) -> Result<()>;

    /// ġ along v, after `forward` at the same w and x.
    fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        v: &[GpuTensor],
    ) -> Result<()>;

    /// The output tangent of the last `tangent_forward`.
    fn output_tangent(&self) -> &GpuTensor;

    /// The tangent of `backward` along (v, ḡ̇), after `tangent_forward`.
    #[allow(clippy::too_many_arguments)]
    fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        v: &[GpuTensor],
        g_bar_dot: &GpuTensor,
        hv: &[GpuTensor],
    ) -> Result<()>;
}

/// A model that builds its GPU side, and what an unroll needs of its layout.
pub trait GpuModelSource {
    /// Values per input row.
    fn input_len(&self) -> usize;

    /// Outputs per input row (1 for a learner).
    fn output_len(&self) -> usize;

    /// The length of each parameter block of one task, in the flat order.
    fn blocks(&self) -> Vec<usize>;

    /// Its passes for `tasks` × `rows` inputs (tangent passes only when
    /// `tangents`).
    fn gpu_model(
        &self,
        gpu: &Gpu,
        tasks: usize,
        rows: usize,
        tangents: bool,
        label: &str,
    ) -> Result<Box<dyn GpuModel>>;
}

impl GpuModel for GpuNet {
    fn forward(&self, enc: &mut Encoder<'_>, w: &[GpuTensor], x: &GpuTensor) -> Result<()> {
        GpuNet::forward(self, enc, w, x)
    }

    fn output(&self) -> &GpuTensor {
        GpuNet::output(self)
    }

    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        w_bar: &[GpuTensor],
    ) -> Result<()> {
        GpuNet::backward(self, enc, w, x, g_bar, w_bar)
    }

    fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        v: &[GpuTensor],
    ) -> Result<()> {
        GpuNet::tangent_forward(self, enc, w, x, v)
    }

    fn output_tangent(&self) -> &GpuTensor {
        GpuNet::output_tangent(self)
    }

    fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        v: &[GpuTensor],
        g_bar_dot: &GpuTensor,
        hv: &[GpuTensor],
    ) -> Result<()> {
        GpuNet::tangent_backward(self, enc, w, x, g_bar, v, g_bar_dot, hv)
    }
}

impl GpuModelSource for NetSpec {
    fn input_len(&self) -> usize {
        NetSpec::d_in(self)
    }

    fn output_len(&self) -> usize {
        self.d_out()
    }

    fn blocks(&self) -> Vec<usize> {
        (0..self.depth()).map(|l| self.block_len(l)).collect()
    }

    fn gpu_model(
        &self,
        gpu: &Gpu,
        tasks: usize,
        rows: usize,
        tangents: bool,
        label: &str,
    ) -> Result<Box<dyn GpuModel>> {
        Ok(Box::new(GpuNet::new(
            gpu, self, tasks, rows, tangents, label,
        )?))
    }
}
