//! Batched 2-D convolution, stride 1, zero padding (see `shaders/conv2d.wgsl`
//! for the math of all four passes).
//!
//! Layout, for each of `batch` problems: `x` is `images × c_in × height ×
//! width`; `w` is `c_out × (c_in·k·k + 1)` with the bias in the last column;
//! `y` is `images × c_out × h_out × w_out`, h_out = height + 2·padding − k + 1.

mod cpu;
pub(crate) mod gpu;
mod lanes;

pub use cpu::Conv2dCpu;
pub use gpu::{Conv2dGpu, Conv2dKernels};

/// The sizes of a batched convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Independent problems (tasks), each with its own weights.
    pub batch: usize,
    /// Images per problem.
    pub images: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel size k (k × k).
    pub kernel: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl Conv2dShape {
    /// Output height.
    pub fn h_out(&self) -> usize {
        self.height + 2 * self.padding + 1 - self.kernel
    }
    /// Output width.
    pub fn w_out(&self) -> usize {
        self.width + 2 * self.padding + 1 - self.kernel
    }
    /// Weights per output channel, bias included.
    pub fn fan(&self) -> usize {
        self.c_in * self.kernel * self.kernel + 1
    }
    /// Floating-point operations of one convolution over every image and
    /// problem (a multiply-add counts 2); each pass costs one or two of these.
    pub fn product_flops(&self) -> f64 {
        2.0 * self.y_len() as f64 * self.fan() as f64
    }
    /// Values in `x`.
    pub fn x_len(&self) -> usize {
        self.batch * self.images * self.c_in * self.height * self.width
    }
    /// Values in `w`.
    pub fn w_len(&self) -> usize {
        self.batch * self.c_out * self.fan()
    }
    /// Values in `y`.
    pub fn y_len(&self) -> usize {
        self.batch * self.images * self.c_out * self.h_out() * self.w_out()
    }
}

/// The convolution op in the registry: the four passes of each kernel set
/// against the twin on an odd-sized image with padding.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "conv2d",
    entry_points: &[
        "conv2d_forward",
        "conv2d_forward_naive",
        "conv2d_tangent_forward",
        "conv2d_backward_input",
        "conv2d_tangent_backward_input",
        "conv2d_backward_params",
        "conv2d_tangent_backward_params",
    ],
    params: &[crate::registry::params::<gpu::ConvParams>],
    twin: "occam_ops::conv2d::Conv2dCpu",
    check: |gpu| {
        let mut c = crate::registry::Checks::new(0xC0);
        let shape = Conv2dShape {
            batch: 2,
            images: 3,
            c_in: 2,
            c_out: 5,
            height: 7,
            width: 9,
            kernel: 3,
            padding: 1,
        };
        let twin = Conv2dCpu { shape };
        for kernels in [Conv2dKernels::Auto, Conv2dKernels::Tiled] {
            let op = crate::OnGpu {
                gpu,
                op: Conv2dGpu::with_kernels(gpu, shape, kernels)?,
            };
            let label = format!("{kernels:?}");
            c.four_passes(&label, &op, &twin, crate::registry::REDUCTION_TOL)?;
        }
        c.twin_identities(&twin)?;
        Ok(c.finish())
    },
};
