//! The convolution's GPU kernels (`shaders/conv2d.wgsl`).

use super::Conv2dShape;
use crate::error::{OpError, Result};
use crate::launch::{dispatch_checked, spread_grid};
use crate::passes::EncodePasses;
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, wgpu};
use std::sync::Arc;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
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
        let k = |entry: &str| gpu.kernel("conv2d", entry, &[]);
        Ok(Conv2dGpu {
            shape,
            params: gpu.uniform("conv2d params", &params),
            max_groups: gpu.limits().max_compute_workgroups_per_dimension,
            forward: k("conv2d_forward")?,
            forward_naive: k("conv2d_forward_naive")?,
            backward_input: k("conv2d_backward_input")?,
            backward_params: k("conv2d_backward_params")?,
            tangent_forward: k("conv2d_tangent_forward")?,
            tangent_backward_input: k("conv2d_tangent_backward_input")?,
            tangent_backward_params: k("conv2d_tangent_backward_params")?,
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

impl EncodePasses for Conv2dGpu {
    fn name(&self) -> String {
        format!("conv2d {:?}", self.shape)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.shape.x_len(), self.shape.w_len()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.shape.y_len()]
    }
    fn encode_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y: &[&GpuTensor],
    ) -> Result<()> {
        self.forward(enc, x[0], x[1], y[0])
    }
    fn encode_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_bar: &[&GpuTensor],
    ) -> Result<()> {
        self.backward(enc, x[0], x[1], y_bar[0], Some(x_bar[0]), x_bar[1])
    }
    fn encode_tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_dot: &[&GpuTensor],
    ) -> Result<()> {
        self.tangent_forward(enc, x[0], x[1], x_dot[0], x_dot[1], y_dot[0])
    }
    fn encode_tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_bar_dot: &[&GpuTensor],
        x_bar_dot: &[&GpuTensor],
    ) -> Result<()> {
        self.tangent_backward(
            enc,
            x[0],
            x[1],
            y_bar[0],
            x_dot[0],
            x_dot[1],
            y_bar_dot[0],
            Some(x_bar_dot[0]),
            x_bar_dot[1],
        )
    }
}
