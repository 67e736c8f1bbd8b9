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
