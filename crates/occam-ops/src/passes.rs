//! The four passes every learner op provides, as one interface shared by the
//! CPU f64 twins and (through [`OnGpu`]) the GPU kernels, so the same tests and
//! gradient checks run against both.
//!
//! For an op y = f(x) with inputs x = (x₁, …) and outputs y = (y₁, …):
//! - forward:          y = f(x)
//! - backward (VJP):   x̄ = (∂f/∂x)ᵀ ȳ
//! - tangent forward:  ẏ = (∂f/∂x) ẋ                         (JVP)
//! - tangent backward: x̄̇ = d/dε [(∂f/∂x)ᵀ ȳ] at x + εẋ, ȳ + εȳ̇  (JVP of the VJP)

use crate::error::{Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor};

/// A list of flat tensors, in the op's declared order.
pub type Tensors = Vec<Vec<f64>>;

/// The four passes on host vectors (f64 on the CPU twin, f32 inside on the GPU).
pub trait Passes {
    /// The op's name, for messages.
    fn name(&self) -> String;
    /// Length of each input tensor.
    fn input_lens(&self) -> Vec<usize>;
    /// Length of each output tensor.
    fn output_lens(&self) -> Vec<usize>;
    /// y = f(x).
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors>;
    /// x̄ = (∂f/∂x)ᵀ ȳ.
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors>;
    /// ẏ = (∂f/∂x) ẋ.
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors>;
    /// x̄̇, the derivative of the VJP along (ẋ, ȳ̇).
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors>;
}

/// An op linear in its input x and, separately, in its weights w — the
/// bias being a weight fed a constant input (1 for x, 0 for a tangent ẋ).
/// Its four passes follow from the product and its transpose alone:
/// y = B(x, w), x̄, w̄ = Bᵀ(x, w; ȳ), ẏ = B(ẋ, w) + B(x, ẇ),
/// x̄̇, w̄̇ = Bᵀ(x, w; ȳ̇) + Bᵀ(ẋ, ẇ; ȳ). Dense layers and convolutions are such ops.
pub trait Bilinear {
    /// The op's name, for messages (e.g. `dense`).
    const OP: &'static str;
    /// The op and its shape, for messages.
    fn describe(&self) -> String;
    /// Lengths of x, w and y.
    fn lens(&self) -> (usize, usize, usize);
    /// B(x, w) with the bias weights multiplied by `bias_input`.
    fn product(&self, x: &[f64], w: &[f64], bias_input: f64) -> Vec<f64>;
    /// (x̄, w̄) of B for cotangent ȳ, with the bias input `bias_input`.
    fn transpose_products(
        &self,
        x: &[f64],
        w: &[f64],
        y_bar: &[f64],
        bias_input: f64,
    ) -> (Vec<f64>, Vec<f64>);
}

fn check_bilinear<T: Bilinear>(op: &T, x: &[Vec<f64>]) -> Result<()> {
    let (xl, wl, _) = op.lens();
    check_len(T::OP, "x", x[0].len(), xl)?;
    check_len(T::OP, "w", x[1].len(), wl)
}

fn add(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    a.into_iter().zip(b).map(|(p, q)| p + q).collect()
}

impl<T: Bilinear> Passes for T {
    fn name(&self) -> String {
        self.describe()
    }
    fn input_lens(&self) -> Vec<usize> {
        let (x, w, _) = self.lens();
        vec![x, w]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.lens().2]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        check_bilinear(self, x)?;
        Ok(vec![self.product(&x[0], &x[1], 1.0)])
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        check_bilinear(self, x)?;
        check_len(T::OP, "y_bar", y_bar[0].len(), self.lens().2)?;
        let (x_bar, w_bar) = self.transpose_products(&x[0], &x[1], &y_bar[0], 1.0);
        Ok(vec![x_bar, w_bar])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        check_bilinear(self, x)?;
        check_bilinear(self, x_dot)?;
        Ok(vec![add(
            self.product(&x_dot[0], &x[1], 0.0),
            self.product(&x[0], &x_dot[1], 1.0),
        )])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        check_bilinear(self, x)?;
        check_bilinear(self, x_dot)?;
        let (xb1, wb1) = self.transpose_products(&x[0], &x[1], &y_bar_dot[0], 1.0);
        let (xb2, wb2) = self.transpose_products(&x_dot[0], &x_dot[1], &y_bar[0], 0.0);
        Ok(vec![add(xb1, xb2), add(wb1, wb2)])
    }
}

/// The four passes recorded on a GPU encoder, tensors in the same order as [`Passes`].
pub trait EncodePasses {
    /// The op's name, for messages.
    fn name(&self) -> String;
    /// Length of each input tensor.
    fn input_lens(&self) -> Vec<usize>;
    /// Length of each output tensor.
    fn output_lens(&self) -> Vec<usize>;
    /// Records y = f(x).
    fn encode_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y: &[&GpuTensor],
    ) -> Result<()>;
    /// Records x̄ = (∂f/∂x)ᵀ ȳ.
    fn encode_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_bar: &[&GpuTensor],
    ) -> Result<()>;
    /// Records ẏ = (∂f/∂x) ẋ.
    fn encode_tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_dot: &[&GpuTensor],
    ) -> Result<()>;
    /// Records x̄̇.
    fn encode_tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_bar_dot: &[&GpuTensor],
        x_bar_dot: &[&GpuTensor],
    ) -> Result<()>;
}

/// Runs a GPU op's passes one submission at a time on host data (uploads in
/// f32, reads back as f64): the bridge that lets a GPU op be tested against its
/// CPU twin through the same [`Passes`] interface.
pub struct OnGpu<'g, T> {
    /// The device.
    pub gpu: &'g Gpu,
    /// The op.
    pub op: T,
}

impl<T: EncodePasses> OnGpu<'_, T> {
    fn upload_all(&self, what: &str, data: &[&[Vec<f64>]]) -> Result<Vec<GpuTensor>> {
        data.iter()
            .flat_map(|group| group.iter())
            .enumerate()
            .map(|(i, v)| {
                let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
                Ok(self.gpu.upload(&format!("{what} {i}"), &f)?)
            })
            .collect()
    }

    fn run(
        &self,
        groups: &[&[Vec<f64>]],
        out_lens: &[usize],
        encode: impl FnOnce(&mut Encoder<'_>, &[GpuTensor], &[&GpuTensor]) -> Result<()>,
    ) -> Result<Tensors> {
        let inputs = self.upload_all(&self.op.name(), groups)?;
        let outputs: Vec<GpuTensor> = out_lens
            .iter()
            .enumerate()
            .map(|(i, &n)| self.gpu.zeros(&format!("{} out {i}", self.op.name()), n))
            .collect::<std::result::Result<_, _>>()?;
        let out_refs: Vec<&GpuTensor> = outputs.iter().collect();
        let mut enc = self.gpu.encoder();
        encode(&mut enc, &inputs, &out_refs)?;
        enc.submit()?;
        outputs
            .iter()
            .map(|t| Ok(self.gpu.read(t)?.into_iter().map(f64::from).collect()))
            .collect()
    }
}

fn split<'a>(all: &'a [GpuTensor], counts: &[usize]) -> Vec<Vec<&'a GpuTensor>> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in counts {
        out.push(all[start..start + c].iter().collect());
        start += c;
    }
    out
}

impl<T: EncodePasses> Passes for OnGpu<'_, T> {
    fn name(&self) -> String {
        format!("{} on {}", self.op.name(), self.gpu.adapter())
    }
    fn input_lens(&self) -> Vec<usize> {
        self.op.input_lens()
    }
    fn output_lens(&self) -> Vec<usize> {
        self.op.output_lens()
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        self.run(&[x], &self.op.output_lens(), |enc, ins, outs| {
            let ins: Vec<&GpuTensor> = ins.iter().collect();
            self.op.encode_forward(enc, &ins, outs)
        })
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        self.run(&[x, y_bar], &self.op.input_lens(), |enc, ins, outs| {
            let g = split(ins, &[x.len(), y_bar.len()]);
            self.op.encode_backward(enc, &g[0], &g[1], outs)
        })
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        self.run(&[x, x_dot], &self.op.output_lens(), |enc, ins, outs| {
            let g = split(ins, &[x.len(), x_dot.len()]);
            self.op.encode_tangent_forward(enc, &g[0], &g[1], outs)
        })
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        self.run(
            &[x, y_bar, x_dot, y_bar_dot],
            &self.op.input_lens(),
            |enc, ins, outs| {
                let g = split(ins, &[x.len(), y_bar.len(), x_dot.len(), y_bar_dot.len()]);
                self.op
                    .encode_tangent_backward(enc, &g[0], &g[1], &g[2], &g[3], outs)
            },
        )
    }
}

/// (x, w) of a [`BilinearGpu`] op: where it is evaluated, or a direction
/// (ẋ, ẇ).
#[derive(Clone, Copy)]
pub struct Operands<'a> {
    /// The input x (or ẋ).
    pub x: &'a GpuTensor,
    /// The weights w (or ẇ), bias last.
    pub w: &'a GpuTensor,
}

/// Where a [`BilinearGpu`] op's cotangents go: x̄ (`None` where the input
/// needs none, as a first layer's) and w̄.
#[derive(Clone, Copy)]
pub struct Cotangents<'a> {
    /// x̄ (or x̄̇), when it is wanted.
    pub x: Option<&'a GpuTensor>,
    /// w̄ (or w̄̇).
    pub w: &'a GpuTensor,
}

/// The GPU side of a [`Bilinear`] op (dense layers, convolutions): the same
/// four passes, recorded on buffers. Every op of this kind gets its
/// [`EncodePasses`] (so its CPU twin's tests) from these alone.
pub trait BilinearGpu {
    /// The op and its shape, for messages.
    fn describe(&self) -> String;
    /// Lengths of x, w and y.
    fn lens(&self) -> (usize, usize, usize);
    /// y = B(x, w).
    fn forward(&self, enc: &mut Encoder<'_>, at: Operands<'_>, y: &GpuTensor) -> Result<()>;
    /// x̄, w̄ = Bᵀ(x, w; ȳ) into `out`.
    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        y_bar: &GpuTensor,
        out: Cotangents<'_>,
    ) -> Result<()>;
    /// ẏ = B(ẋ, w) + B(x, ẇ), with `dir` = (ẋ, ẇ) (the bias input of ẋ is 0).
    fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        dir: Operands<'_>,
        y_dot: &GpuTensor,
    ) -> Result<()>;
    /// x̄̇, w̄̇ = Bᵀ(x, w; ȳ̇) + Bᵀ(ẋ, ẇ; ȳ) into `out`, with `y_bars` =
    /// (ȳ, ȳ̇).
    fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        dir: Operands<'_>,
        y_bars: (&GpuTensor, &GpuTensor),
        out: Cotangents<'_>,
    ) -> Result<()>;
}

impl<T: BilinearGpu> EncodePasses for T {
    fn name(&self) -> String {
        self.describe()
    }
    fn input_lens(&self) -> Vec<usize> {
        let (x, w, _) = self.lens();
        vec![x, w]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.lens().2]
    }
    fn encode_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y: &[&GpuTensor],
    ) -> Result<()> {
        self.forward(enc, Operands { x: x[0], w: x[1] }, y[0])
    }
    fn encode_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        y_bar: &[&GpuTensor],
        x_bar: &[&GpuTensor],
    ) -> Result<()> {
        let out = Cotangents {
            x: Some(x_bar[0]),
            w: x_bar[1],
        };
        self.backward(enc, Operands { x: x[0], w: x[1] }, y_bar[0], out)
    }
    fn encode_tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &[&GpuTensor],
        x_dot: &[&GpuTensor],
        y_dot: &[&GpuTensor],
    ) -> Result<()> {
        let dir = Operands {
            x: x_dot[0],
            w: x_dot[1],
        };
        self.tangent_forward(enc, Operands { x: x[0], w: x[1] }, dir, y_dot[0])
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
        let dir = Operands {
            x: x_dot[0],
            w: x_dot[1],
        };
        let out = Cotangents {
            x: Some(x_bar_dot[0]),
            w: x_bar_dot[1],
        };
        let at = Operands { x: x[0], w: x[1] };
        self.tangent_backward(enc, at, dir, (y_bar[0], y_bar_dot[0]), out)
    }
}

/// [`EncodePasses`] for an op of one input and one output whose first three
/// passes are its inherent methods `forward(x, y)`, `backward(x, ȳ, x̄)` and
/// `tangent_forward(x, ẋ, ẏ)` (activation, max-pooling); the name, the two
/// lengths and the tangent-backward call are given as closures over the op
/// and the pass's tensors.
macro_rules! unary_op_passes {
    (
        $op:ty,
        name: |$n:ident| $name:expr,
        lens: |$l:ident| ($len_in:expr, $len_out:expr),
        tangent_backward: |$t:ident, $enc:ident, $x:ident, $yb:ident, $xd:ident, $ybd:ident, $xbd:ident| $tb:expr $(,)?
    ) => {
        impl $crate::passes::EncodePasses for $op {
            fn name(&self) -> String {
                let $n = self;
                $name
            }
            fn input_lens(&self) -> Vec<usize> {
                let $l = self;
                vec![$len_in]
            }
            fn output_lens(&self) -> Vec<usize> {
                let $l = self;
                vec![$len_out]
            }
            fn encode_forward(
                &self,
                enc: &mut Encoder<'_>,
                x: &[&GpuTensor],
                y: &[&GpuTensor],
            ) -> Result<()> {
                self.forward(enc, x[0], y[0])
            }
            fn encode_backward(
                &self,
                enc: &mut Encoder<'_>,
                x: &[&GpuTensor],
                y_bar: &[&GpuTensor],
                x_bar: &[&GpuTensor],
            ) -> Result<()> {
                self.backward(enc, x[0], y_bar[0], x_bar[0])
            }
            fn encode_tangent_forward(
                &self,
                enc: &mut Encoder<'_>,
                x: &[&GpuTensor],
                x_dot: &[&GpuTensor],
                y_dot: &[&GpuTensor],
            ) -> Result<()> {
                self.tangent_forward(enc, x[0], x_dot[0], y_dot[0])
            }
            #[allow(unused_variables)]
            fn encode_tangent_backward(
                &self,
                $enc: &mut Encoder<'_>,
                $x: &[&GpuTensor],
                $yb: &[&GpuTensor],
                $xd: &[&GpuTensor],
                $ybd: &[&GpuTensor],
                $xbd: &[&GpuTensor],
            ) -> Result<()> {
                let $t = self;
                $tb
            }
        }
    };
}
pub(crate) use unary_op_passes;
