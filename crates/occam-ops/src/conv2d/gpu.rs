//! The convolution's GPU kernels (`shaders/conv2d.wgsl`).

use super::Conv2dShape;
use crate::error::{OpError, Result};
use crate::launch::{dispatch_checked, spread_grid};
use occam_gpu::{Encoder, EntryPoint, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/conv2d.wgsl` (its `ConvParams`).
    pub(crate) struct ConvParams in "conv2d" {
        batch: u32,
        images: u32,
        c_in: u32,
        c_out: u32,
        height: u32,
        width: u32,
        kernel: u32,
        padding: u32,
        h_out: u32,
        w_out: u32,
        fan: u32,
        _pad: u32,
    }
}

/// Largest kernel size the tiled forward kernel stages (its workgroup tile holds 7×7 taps).
const MAX_TILED_KERNEL: usize = 7;

/// A convolution of one shape on the GPU: its kernels and parameter block.
pub struct Conv2dGpu {
    shape: Conv2dShape,
    params: wgpu::Buffer,
    max_groups: u32,
    forward: Arc<Kernel>,
    forward_naive: Arc<Kernel>,
    backward_input: Arc<Kernel>,
    backward_params: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward_input: Arc<Kernel>,
    tangent_backward_params: Arc<Kernel>,
}

impl Conv2dGpu {
    /// Compiles (or fetches) the kernels for `shape`.
    pub fn new(gpu: &Gpu, shape: Conv2dShape) -> Result<Conv2dGpu> {
        let s = shape;
        if s.batch == 0
            || s.images == 0
            || s.c_in == 0
            || s.c_out == 0
            || s.kernel == 0
            || s.height + 2 * s.padding < s.kernel
            || s.width + 2 * s.padding < s.kernel
        {
            return Err(OpError::InvalidShape {
                op: "conv2d",
                message: format!("impossible shape {shape:?}"),
            });
        }
        if u32::try_from(s.x_len().max(s.y_len()).max(s.w_len())).is_err() {
            return Err(OpError::InvalidShape {
                op: "conv2d",
                message: format!("{shape:?} has more than 2³² values"),
            });
        }
        let params = ConvParams {
            batch: s.batch as u32,
            images: s.images as u32,
            c_in: s.c_in as u32,
            c_out: s.c_out as u32,
            height: s.height as u32,
            width: s.width as u32,
            kernel: s.kernel as u32,
            padding: s.padding as u32,
            h_out: s.h_out() as u32,
            w_out: s.w_out() as u32,
            fan: s.fan() as u32,
            _pad: 0,
        };
        let k = |entry: EntryPoint<'static>| gpu.kernel(entry, &[]);
        Ok(Conv2dGpu {
            shape,
            params: gpu.params("conv2d params", &params)?,
            max_groups: gpu.limits().max_compute_workgroups_per_dimension,
            forward: k(kernels::CONV2D_FORWARD)?,
            forward_naive: k(kernels::CONV2D_FORWARD_NAIVE)?,
            backward_input: k(kernels::CONV2D_BACKWARD_INPUT)?,
            backward_params: k(kernels::CONV2D_BACKWARD_PARAMS)?,
            tangent_forward: k(kernels::CONV2D_TANGENT_FORWARD)?,
            tangent_backward_input: k(kernels::CONV2D_TANGENT_BACKWARD_INPUT)?,
            tangent_backward_params: k(kernels::CONV2D_TANGENT_BACKWARD_PARAMS)?,
        })
    }

    /// The sizes.
    pub fn shape(&self) -> Conv2dShape {
        self.shape
    }

    fn run(
        &self,
        enc: &mut Encoder<'_>,
        kernel: &Kernel,
        tensors: &[(&str, &GpuTensor, usize)],
        n: usize,
    ) -> Result<()> {
        let grid = spread_grid(n, 64, self.max_groups);
        dispatch_checked(enc, "conv2d", kernel, &self.params, tensors, grid)?;
        // Tangent passes compute two products, the others one.
        let products = if kernel.entry().starts_with("conv2d_tangent") {
            2.0
        } else {
            1.0
        };
        enc.note_flops(products * self.shape.product_flops());
        Ok(())
    }

    /// y = conv(x, w) + bias: the tiled kernel (kernels up to 7×7; larger
    /// ones fall back to the naive kernel).
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        if s.kernel > MAX_TILED_KERNEL {
            return self.forward_naive(enc, x, w, y);
        }
        // One 64-thread workgroup per (image, block of 8 channels, tile of 64 pixels).
        let tiles = (s.h_out() * s.w_out()).div_ceil(64);
        let groups = s.batch * s.images * s.c_out.div_ceil(8) * tiles;
        self.run_forward(enc, &self.forward, groups * 64, x, w, y)
    }

    /// y = conv(x, w) + bias, one thread per output (the baseline of the
    /// tiled kernel).
    pub fn forward_naive(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        self.run_forward(enc, &self.forward_naive, self.shape.y_len(), x, w, y)
    }

    /// Dispatches a forward kernel on `threads` threads.
    fn run_forward(
        &self,
        enc: &mut Encoder<'_>,
        kernel: &Kernel,
        threads: usize,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            kernel,
            &[
                ("x", x, s.x_len()),
                ("w", w, s.w_len()),
                ("y", y, s.y_len()),
            ],
            threads,
        )
    }

    /// x̄ (skipped when `x_bar` is `None`) and w̄ for cotangent ȳ.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y_bar: &GpuTensor,
        x_bar: Option<&GpuTensor>,
        w_bar: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        if let Some(x_bar) = x_bar {
            self.run(
                enc,
                &self.backward_input,
                &[
                    ("w", w, s.w_len()),
                    ("y_bar", y_bar, s.y_len()),
                    ("x_bar", x_bar, s.x_len()),
                ],
                s.x_len(),
            )?;
        }
        self.run(
            enc,
            &self.backward_params,
            &[
                ("x", x, s.x_len()),
                ("y_bar", y_bar, s.y_len()),
                ("w_bar", w_bar, s.w_len()),
            ],
            s.w_len(),
        )
    }

    /// ẏ = conv(ẋ, w) + conv(x, ẇ).
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        x_dot: &GpuTensor,
        w_dot: &GpuTensor,
        y_dot: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            &self.tangent_forward,
            &[
                ("x", x, s.x_len()),
                ("w", w, s.w_len()),
                ("x_dot", x_dot, s.x_len()),
                ("w_dot", w_dot, s.w_len()),
                ("y_dot", y_dot, s.y_len()),
            ],
            s.y_len(),
        )
    }

    /// x̄̇ (skipped when `x_bar_dot` is `None`) and w̄̇.
    #[allow(clippy::too_many_arguments)]
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y_bar: &GpuTensor,
        x_dot: &GpuTensor,
        w_dot: &GpuTensor,
        y_bar_dot: &GpuTensor,
        x_bar_dot: Option<&GpuTensor>,
        w_bar_dot: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        if let Some(x_bar_dot) = x_bar_dot {
            self.run(
                enc,
                &self.tangent_backward_input,
                &[
                    ("w", w, s.w_len()),
                    ("w_dot", w_dot, s.w_len()),
                    ("y_bar", y_bar, s.y_len()),
                    ("y_bar_dot", y_bar_dot, s.y_len()),
                    ("x_bar_dot", x_bar_dot, s.x_len()),
                ],
                s.x_len(),
            )?;
        }
        self.run(
            enc,
            &self.tangent_backward_params,
            &[
                ("x", x, s.x_len()),
                ("x_dot", x_dot, s.x_len()),
                ("y_bar", y_bar, s.y_len()),
                ("y_bar_dot", y_bar_dot, s.y_len()),
                ("w_bar_dot", w_bar_dot, s.w_len()),
            ],
            s.w_len(),
        )
    }
}

crate::passes::weighted_layer_passes!(Conv2dGpu, "conv2d");
