//! The dense layer's GPU kernels (`shaders/dense.wgsl`).

use super::DenseShape;
use crate::error::{OpError, Result, check_len};
use crate::passes::EncodePasses;
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, wgpu, workgroups_for};
use std::sync::Arc;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DenseParams {
    batch: u32,
    rows: u32,
    d_in: u32,
    d_out: u32,
}

/// Output block of one workgroup of the tiled kernels (see the shader).
const TILE: usize = 64;

/// A dense layer of one shape on the GPU: its kernels and parameter block.
pub struct DenseGpu {
    shape: DenseShape,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    forward_naive: Arc<Kernel>,
    backward_input: Arc<Kernel>,
    backward_params: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward_input: Arc<Kernel>,
    tangent_backward_params: Arc<Kernel>,
}

fn to_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| OpError::InvalidShape {
        op: "dense",
        message: format!("{what} = {v} does not fit in 32 bits"),
    })
}

impl DenseGpu {
    /// Compiles (or fetches from the cache) the kernels for `shape`. With
    /// `accumulate`, every pass adds into its outputs instead of overwriting them.
    pub fn new(gpu: &Gpu, shape: DenseShape, accumulate: bool) -> Result<DenseGpu> {
        if shape.batch == 0 || shape.d_out == 0 {
            return Err(OpError::InvalidShape {
                op: "dense",
                message: format!("batch and d_out must be positive, got {shape:?}"),
            });
        }
        let params = DenseParams {
            batch: to_u32("batch", shape.batch)?,
            rows: to_u32("rows", shape.rows)?,
            d_in: to_u32("d_in", shape.d_in)?,
            d_out: to_u32("d_out", shape.d_out)?,
        };
        let constants = [("ACCUMULATE", if accumulate { 1.0 } else { 0.0 })];
        let k = |entry: &str| gpu.kernel("dense", entry, &constants);
        Ok(DenseGpu {
            shape,
            params: gpu.uniform("dense params", &params),
            forward: k("dense_forward")?,
            forward_naive: k("dense_forward_naive")?,
            backward_input: k("dense_backward_input")?,
            backward_params: k("dense_backward_params")?,
            tangent_forward: k("dense_tangent_forward")?,
            tangent_backward_input: k("dense_tangent_backward_input")?,
            tangent_backward_params: k("dense_tangent_backward_params")?,
        })
    }

    /// The layer's sizes.
    pub fn shape(&self) -> DenseShape {
        self.shape
    }

    /// Workgroups covering an `m × n` output per problem.
    fn grid(&self, m: usize, n: usize) -> [u32; 3] {
        [
            workgroups_for(n, TILE),
            workgroups_for(m, TILE),
            self.shape.batch as u32,
        ]
    }

    fn check(&self, pairs: &[(&str, &GpuTensor, usize)]) -> Result<()> {
        pairs
            .iter()
            .try_for_each(|(name, t, n)| check_len("dense", name, t.len(), *n))
    }

    /// y = [x, 1] wᵀ (tiled kernel).
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("y", y, s.y_len()),
        ])?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("x", x.buffer()),
                ("w", w.buffer()),
                ("y", y.buffer()),
            ],
            self.grid(s.rows, s.d_out),
        )?;
        enc.note_flops(s.product_flops());
        Ok(())
    }

    /// y = [x, 1] wᵀ with the untiled baseline kernel (for benchmarks).
    pub fn forward_naive(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("y", y, s.y_len()),
        ])?;
        enc.dispatch(
            &self.forward_naive,
            &[
                ("p", &self.params),
                ("x", x.buffer()),
                ("w", w.buffer()),
                ("y", y.buffer()),
            ],
            [workgroups_for(s.rows * s.d_out, 64), 1, s.batch as u32],
        )?;
        enc.note_flops(s.product_flops());
        Ok(())
    }

    /// x̄ = ȳ w[:, :d_in] (skipped when `x_bar` is `None`, e.g. for a first
    /// layer) and w̄ = ȳᵀ [x, 1].
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
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("y_bar", y_bar, s.y_len()),
            ("w_bar", w_bar, s.w_len()),
        ])?;
        if let Some(x_bar) = x_bar {
            self.check(&[("x_bar", x_bar, s.x_len())])?;
            enc.dispatch(
                &self.backward_input,
                &[
                    ("p", &self.params),
                    ("w", w.buffer()),
                    ("y_bar", y_bar.buffer()),
                    ("x_bar", x_bar.buffer()),
                ],
                self.grid(s.rows, s.d_in),
            )?;
            enc.note_flops(s.product_flops());
        }
        enc.dispatch(
            &self.backward_params,
            &[
                ("p", &self.params),
                ("x", x.buffer()),
                ("y_bar", y_bar.buffer()),
                ("w_bar", w_bar.buffer()),
            ],
            self.grid(s.d_out, s.d_in + 1),
        )?;
        enc.note_flops(s.product_flops());
        Ok(())
    }

    /// ẏ = [ẋ, 0] wᵀ + [x, 1] ẇᵀ.
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
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("x_dot", x_dot, s.x_len()),
            ("w_dot", w_dot, s.w_len()),
            ("y_dot", y_dot, s.y_len()),
        ])?;
        enc.dispatch(
            &self.tangent_forward,
            &[
                ("p", &self.params),
                ("x", x.buffer()),
                ("w", w.buffer()),
                ("x_dot", x_dot.buffer()),
                ("w_dot", w_dot.buffer()),
                ("y_dot", y_dot.buffer()),
            ],
            self.grid(s.rows, s.d_out),
        )?;
        enc.note_flops(2.0 * s.product_flops());
        Ok(())
    }

    /// x̄̇ = ȳ̇ w + ȳ ẇ (skipped when `x_bar_dot` is `None`) and
    /// w̄̇ = ȳ̇ᵀ [x, 1] + ȳᵀ [ẋ, 0].
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
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("y_bar", y_bar, s.y_len()),
            ("x_dot", x_dot, s.x_len()),
            ("w_dot", w_dot, s.w_len()),
            ("y_bar_dot", y_bar_dot, s.y_len()),
            ("w_bar_dot", w_bar_dot, s.w_len()),
        ])?;
        if let Some(x_bar_dot) = x_bar_dot {
            self.check(&[("x_bar_dot", x_bar_dot, s.x_len())])?;
            enc.dispatch(
                &self.tangent_backward_input,
                &[
                    ("p", &self.params),
                    ("w", w.buffer()),
                    ("w_dot", w_dot.buffer()),
                    ("y_bar", y_bar.buffer()),
                    ("y_bar_dot", y_bar_dot.buffer()),
                    ("x_bar_dot", x_bar_dot.buffer()),
                ],
                self.grid(s.rows, s.d_in),
            )?;
            enc.note_flops(2.0 * s.product_flops());
        }
        enc.dispatch(
            &self.tangent_backward_params,
            &[
                ("p", &self.params),
                ("x", x.buffer()),
                ("x_dot", x_dot.buffer()),
                ("y_bar", y_bar.buffer()),
                ("y_bar_dot", y_bar_dot.buffer()),
                ("w_bar_dot", w_bar_dot.buffer()),
            ],
            self.grid(s.d_out, s.d_in + 1),
        )?;
        enc.note_flops(2.0 * s.product_flops());
        Ok(())
    }
}

impl EncodePasses for DenseGpu {
    fn name(&self) -> String {
        format!("dense {:?}", self.shape)
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
