//! A network's four passes on the GPU for a fixed number of tasks and inputs,
//! composed from the op library's kernels (dense, conv2d, max-pool,
//! activation), with the per-layer scratch the passes need. Parameters are
//! one tensor per conv or dense layer, `[tasks, block]`; every task has its
//! own parameters and its own `rows` inputs.

use crate::error::Result;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::net::{Layer, NetSpec};
use occam_ops::{
    ActivationGpu, BilinearGpu, Conv2dGpu, Conv2dShape, Cotangents, DenseGpu, DenseShape,
    MaxPoolGpu, MaxPoolShape, Operands,
};

/// One layer's kernels.
enum LayerOp {
    Dense(Box<DenseGpu>),
    Conv(Conv2dGpu),
    Pool(MaxPoolGpu),
    Act(ActivationGpu),
}

impl LayerOp {
    /// A layer with parameters, as the bilinear op it is.
    fn bilinear(&self) -> &dyn BilinearGpu {
        match self {
            LayerOp::Dense(d) => &**d,
            LayerOp::Conv(c) => c,
            LayerOp::Pool(_) | LayerOp::Act(_) => unreachable!("a layer without parameters"),
        }
    }
}

/// The ops and buffers of one network evaluated on `rows` inputs per task.
pub struct GpuNet {
    ops: Vec<LayerOp>,
    /// The parameter block each layer reads (None for pool and activation).
    block: Vec<Option<usize>>,
    /// Index of the first layer with parameters: nothing before it needs a
    /// cotangent.
    first_param: usize,
    /// Each layer's output.
    out: Vec<GpuTensor>,
    /// The cotangent of each layer's input (None where nothing needs it).
    in_bar: Vec<Option<GpuTensor>>,
    /// ẋ = 0 for the network's input, then each layer's output tangent.
    dot: Vec<GpuTensor>,
    /// The tangent of each layer's input cotangent.
    in_bar_dot: Vec<Option<GpuTensor>>,
}

impl GpuNet {
    /// Kernels and scratch for `tasks` independent parameter sets, `rows`
    /// inputs each. Without `tangents` only the forward and backward passes
    /// are available (and their scratch is all that is allocated).
    pub fn new(
        gpu: &Gpu,
        spec: &NetSpec,
        tasks: usize,
        rows: usize,
        tangents: bool,
        label: &str,
    ) -> Result<GpuNet> {
        let shapes = spec.shapes();
        let len = |l: usize| {
            let (c, h, w) = shapes[l];
            tasks * rows * c * h * w
        };
        let params = spec.param_layers();
        let first_param = params.first().copied().unwrap_or(spec.layers.len());
        let mut net = GpuNet {
            ops: Vec::new(),
            block: Vec::new(),
            first_param,
            out: Vec::new(),
            in_bar: Vec::new(),
            dot: Vec::new(),
            in_bar_dot: Vec::new(),
        };
        if tangents {
            net.dot
                .push(gpu.zeros(&format!("{label} input tangent"), len(0))?);
        }
        for (l, layer) in spec.layers.iter().enumerate() {
            let (c, h, w) = shapes[l];
            net.ops.push(match *layer {
                Layer::Dense { d_out } => {
                    let shape = DenseShape {
                        batch: tasks,
                        rows,
                        d_in: c * h * w,
                        d_out,
                    };
                    LayerOp::Dense(Box::new(DenseGpu::new(gpu, shape, false)?))
                }
                Layer::Conv {
                    c_out,
                    kernel,
                    padding,
                } => LayerOp::Conv(Conv2dGpu::new(
                    gpu,
                    Conv2dShape {
                        batch: tasks,
                        images: rows,
                        c_in: c,
                        c_out,
                        height: h,
                        width: w,
                        kernel,
                        padding,
                    },
                )?),
                Layer::Pool => LayerOp::Pool(MaxPoolGpu::new(
                    gpu,
                    MaxPoolShape {
                        planes: tasks * rows * c,
                        height: h,
                        width: w,
                    },
                )?),
                Layer::Act(act) => LayerOp::Act(ActivationGpu::new(gpu, act, len(l))?),
            });
            net.block.push(params.iter().position(|&p| p == l));
            let t = |name: &str, n: usize| gpu.zeros(&format!("{label} {name} {l}"), n);
            net.out.push(t("out", len(l + 1))?);
            let needs_bar = l > first_param;
            net.in_bar.push(if needs_bar {
                Some(t("in_bar", len(l))?)
            } else {
                None
            });
            if tangents {
                net.dot.push(t("dot", len(l + 1))?);
                net.in_bar_dot.push(if needs_bar {
                    Some(t("in_bar_dot", len(l))?)
                } else {
                    None
                });
            }
        }
        // The dense layers' kernels for the passes this net runs, at once.
        let dense: Vec<(&DenseGpu, bool, bool)> = net
            .ops
            .iter()
            .enumerate()
            .filter_map(|(l, op)| match op {
                LayerOp::Dense(d) => Some((&**d, l > first_param, tangents)),
                _ => None,
            })
            .collect();
        DenseGpu::compile_all(gpu, &dense)?;
        Ok(net)
    }

    /// The output after [`GpuNet::forward`].
    pub fn output(&self) -> &GpuTensor {
        self.out.last().expect("at least one layer")
    }

    /// ⟨∇_w g, v⟩ after [`GpuNet::tangent_forward`].
    pub fn output_tangent(&self) -> &GpuTensor {
        self.dot.last().expect("a network built with tangents")
    }

    fn input<'a>(&'a self, x: &'a GpuTensor, l: usize) -> &'a GpuTensor {
        if l == 0 { x } else { &self.out[l - 1] }
    }

    /// The cotangent of layer l's output: ḡ for the last layer.
    fn out_bar<'a>(&'a self, g_bar: &'a GpuTensor, l: usize) -> &'a GpuTensor {
        if l + 1 == self.ops.len() {
            g_bar
        } else {
            self.in_bar[l + 1]
                .as_ref()
                .expect("layers after the first parameter have cotangents")
        }
    }

    fn out_bar_dot<'a>(&'a self, g_bar_dot: &'a GpuTensor, l: usize) -> &'a GpuTensor {
        if l + 1 == self.ops.len() {
            g_bar_dot
        } else {
            self.in_bar_dot[l + 1]
                .as_ref()
                .expect("layers after the first parameter have cotangent tangents")
        }
    }

    /// Records the forward pass on input `x`.
    pub fn forward(&self, enc: &mut Encoder<'_>, w: &[GpuTensor], x: &GpuTensor) -> Result<()> {
        for (l, op) in self.ops.iter().enumerate() {
            let (a, y) = (self.input(x, l), &self.out[l]);
            match op {
                LayerOp::Dense(_) | LayerOp::Conv(_) => {
                    let at = Operands {
                        x: a,
                        w: &w[self.block[l].unwrap()],
                    };
                    op.bilinear().forward(enc, at, y)?
                }
                LayerOp::Pool(p) => p.forward(enc, a, y)?,
                LayerOp::Act(f) => f.forward(enc, a, y)?,
            }
        }
        Ok(())
    }

    /// Records the backward pass for output cotangent `g_bar`, writing ∂/∂w
    /// into `w_bar` (one tensor per parameter block). Needs the forward pass first.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        w_bar: &[GpuTensor],
    ) -> Result<()> {
        for l in (self.first_param..self.ops.len()).rev() {
            let (a, y_bar, a_bar) = (
                self.input(x, l),
                self.out_bar(g_bar, l),
                self.in_bar[l].as_ref(),
            );
            match &self.ops[l] {
                op @ (LayerOp::Dense(_) | LayerOp::Conv(_)) => {
                    let p = self.block[l].unwrap();
                    let out = Cotangents {
                        x: a_bar,
                        w: &w_bar[p],
                    };
                    op.bilinear()
                        .backward(enc, Operands { x: a, w: &w[p] }, y_bar, out)?;
                }
                LayerOp::Pool(p) => p.backward(enc, a, y_bar, a_bar.expect("a cotangent"))?,
                LayerOp::Act(f) => f.backward(enc, a, y_bar, a_bar.expect("a cotangent"))?,
            }
        }
        Ok(())
    }

    /// Records the tangent forward pass along parameter direction `v` (input
    /// held fixed). Needs the forward pass first.
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        v: &[GpuTensor],
    ) -> Result<()> {
        for (l, op) in self.ops.iter().enumerate() {
            let (a, a_dot, y_dot) = (self.input(x, l), &self.dot[l], &self.dot[l + 1]);
            match op {
                LayerOp::Dense(_) | LayerOp::Conv(_) => {
                    let p = self.block[l].unwrap();
                    let (at, dir) = (Operands { x: a, w: &w[p] }, Operands { x: a_dot, w: &v[p] });
                    op.bilinear().tangent_forward(enc, at, dir, y_dot)?;
                }
                LayerOp::Pool(p) => p.tangent_forward(enc, a, a_dot, y_dot)?,
                LayerOp::Act(f) => f.tangent_forward(enc, a, a_dot, y_dot)?,
            }
        }
        Ok(())
    }

    /// Records the tangent backward pass: the derivative of the backward
    /// pass's ∂/∂w along (v, ḡ̇), into `out`. Needs forward, backward (same
    /// `g_bar`) and tangent forward (same `v`) first.
    #[allow(clippy::too_many_arguments)]
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        v: &[GpuTensor],
        g_bar_dot: &GpuTensor,
        out: &[GpuTensor],
    ) -> Result<()> {
        for l in (self.first_param..self.ops.len()).rev() {
            let (a, a_dot) = (self.input(x, l), &self.dot[l]);
            let (y_bar, y_bar_dot) = (self.out_bar(g_bar, l), self.out_bar_dot(g_bar_dot, l));
            let a_bar_dot = self.in_bar_dot[l].as_ref();
            match &self.ops[l] {
                op @ (LayerOp::Dense(_) | LayerOp::Conv(_)) => {
                    let p = self.block[l].unwrap();
                    let (at, dir) = (Operands { x: a, w: &w[p] }, Operands { x: a_dot, w: &v[p] });
                    let into = Cotangents {
                        x: a_bar_dot,
                        w: &out[p],
                    };
                    op.bilinear()
                        .tangent_backward(enc, at, dir, (y_bar, y_bar_dot), into)?;
                }
                LayerOp::Pool(p) => {
                    p.tangent_backward(enc, a, y_bar_dot, a_bar_dot.expect("a cotangent tangent"))?
                }
                LayerOp::Act(f) => f.tangent_backward(
                    enc,
                    a,
                    y_bar,
                    a_dot,
                    y_bar_dot,
                    a_bar_dot.expect("a cotangent tangent"),
                )?,
            }
        }
        Ok(())
    }
}
