//! What an unrolled gradient-descent learner needs of the network it trains
//! on the GPU. Its four passes in f64 are [`Model`] (docs/design.md §2):
//! layer-list networks ([`NetSpec`]) are one model, a spiking network
//! (`occam_ops::snn::SnnSpec`) is another, and both are trained and
//! differentiated through by the same unroll ([`occam_ops::unroll::train`]).

use crate::error::Result;
use crate::gpu_net::GpuNet;
use occam_gpu::{Encoder, Gpu, GpuTensor};
pub use occam_ops::Model;
use occam_ops::net::NetSpec;

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
