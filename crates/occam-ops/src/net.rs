//! Networks as a list of layers — convolution, max-pooling, dense,
//! activation — with their four passes on the CPU in f64, composed from the
//! op library's twins. This is the general form of an MLP
//! (dense and activation layers alternating) that CNN learners and
//! meta-learners on images are built from. A dense layer after a
//! convolution or pooling layer reads each image's C × H × W values as one
//! row (flattening is free: the layouts are contiguous per image).

use crate::Result;
use crate::model::Model;
use crate::unroll::UnrollLayer;
use crate::{
    Activation, ActivationCpu, Conv2dCpu, Conv2dShape, DenseCpu, DenseShape, MaxPoolCpu,
    MaxPoolShape, Passes, Tensors,
};
use rand::Rng;

/// One layer of a [`NetSpec`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layer {
    /// 2-D convolution, stride 1.
    Conv {
        /// Output channels.
        c_out: usize,
        /// Kernel size k (k × k).
        kernel: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// 2 × 2 max-pooling, stride 2.
    Pool,
    /// Dense layer on the flattened values.
    Dense {
        /// Output features.
        d_out: usize,
    },
    /// Elementwise activation.
    Act(Activation),
}

/// A network: its input (channels, height, width) and layers.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    /// (channels, height, width) of one input; (d, 1, 1) for vectors.
    pub input: (usize, usize, usize),
    /// The layers, first to last.
    pub layers: Vec<Layer>,
}

/// The shape (channels, height, width) flowing out of each layer, and each
/// layer's parameter count.
#[derive(Clone, Debug)]
struct Plan {
    shapes: Vec<(usize, usize, usize)>,
    params: Vec<usize>,
}

impl NetSpec {
    /// An MLP: dense layers of widths `sizes[1..]` on `sizes[0]` inputs, the
    /// hidden activation after every dense layer but the last and the output
    /// activation after the last (identity activations are left out).
    pub fn mlp(sizes: &[usize], hidden: Activation, output: Activation) -> NetSpec {
        let mut layers = Vec::new();
        for (l, &d_out) in sizes.iter().enumerate().skip(1) {
            layers.push(Layer::Dense { d_out });
            let act = if l + 1 == sizes.len() { output } else { hidden };
            if act != Activation::Identity {
                layers.push(Layer::Act(act));
            }
        }
        NetSpec {
            input: (sizes[0], 1, 1),
            layers,
        }
    }

    fn plan(&self) -> Plan {
        let mut shapes = vec![self.input];
        let mut params = Vec::new();
        for layer in &self.layers {
            let (c, h, w) = *shapes.last().expect("the input shape");
            let (out, p) = match *layer {
                Layer::Conv {
                    c_out,
                    kernel,
                    padding,
                } => (
                    (
                        c_out,
                        (h + 2 * padding + 1).saturating_sub(kernel),
                        (w + 2 * padding + 1).saturating_sub(kernel),
                    ),
                    c_out * (c * kernel * kernel + 1),
                ),
                Layer::Pool => ((c, h / 2, w / 2), 0),
                Layer::Dense { d_out } => ((d_out, 1, 1), d_out * (c * h * w + 1)),
                Layer::Act(_) => ((c, h, w), 0),
            };
            shapes.push(out);
            params.push(p);
        }
        Plan { shapes, params }
    }

    /// The shape entering each layer, then the output's: `layers.len() + 1` entries.
    pub fn shapes(&self) -> Vec<(usize, usize, usize)> {
        self.plan().shapes
    }

    /// Checks that every layer has something to work on: a convolution's
    /// kernel fits its padded input, a pooled plane is at least 2 × 2, no
    /// size is zero. The message names the layer.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let (c, h, w) = self.input;
        if c == 0 || h == 0 || w == 0 {
            return Err(format!("the input shape {:?} has a zero size", self.input));
        }
        if self.layers.is_empty() {
            return Err("the network has no layers".into());
        }
        let plan = self.plan();
        for (l, layer) in self.layers.iter().enumerate() {
            let (c, h, w) = plan.shapes[l];
            let bad = match *layer {
                Layer::Conv {
                    c_out,
                    kernel,
                    padding,
                } => {
                    c_out == 0
                        || kernel == 0
                        || h + 2 * padding < kernel
                        || w + 2 * padding < kernel
                }
                Layer::Pool => h < 2 || w < 2,
                Layer::Dense { d_out } => d_out == 0,
                Layer::Act(_) => false,
            };
            if bad {
                return Err(format!(
                    "layer {l} ({layer:?}) cannot act on an input of shape {:?}",
                    (c, h, w)
                ));
            }
        }
        Ok(())
    }

    /// Values of one input.
    pub fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Values of one input (the same as [`NetSpec::input_len`]).
    pub fn d_in(&self) -> usize {
        self.input_len()
    }

    /// Values of one output.
    pub fn output_len(&self) -> usize {
        let (c, h, w) = *self.plan().shapes.last().expect("the output shape");
        c * h * w
    }

    /// Values of one output (the same as [`NetSpec::output_len`]).
    pub fn d_out(&self) -> usize {
        self.output_len()
    }

    /// Indices (into `layers`) of the layers with parameters, in order.
    pub fn param_layers(&self) -> Vec<usize> {
        let plan = self.plan();
        (0..self.layers.len())
            .filter(|&l| plan.params[l] > 0)
            .collect()
    }

    /// Number of parameter blocks (conv and dense layers).
    pub fn depth(&self) -> usize {
        self.param_layers().len()
    }

    /// Length of parameter block `p` (the p-th conv or dense layer).
    pub fn block_len(&self, p: usize) -> usize {
        let plan = self.plan();
        plan.params[self.param_layers()[p]]
    }

    /// Start of parameter block `p` in the flat parameters.
    pub fn offset(&self, p: usize) -> usize {
        (0..p).map(|q| self.block_len(q)).sum()
    }

    /// The layers as the fused unroll kernels see them (dense layers and
    /// activations on vector inputs), or why this network has none.
    pub fn unroll_layers(&self) -> std::result::Result<Vec<UnrollLayer>, String> {
        let (d, h, w) = self.input;
        if h != 1 || w != 1 {
            return Err("the learner takes images".into());
        }
        let mut width = d;
        self.layers
            .iter()
            .map(|layer| match *layer {
                Layer::Dense { d_out } => {
                    let l = UnrollLayer::Dense { d_in: width, d_out };
                    width = d_out;
                    Ok(l)
                }
                Layer::Act(act) => Ok(UnrollLayer::Act { width, act }),
                Layer::Conv { .. } | Layer::Pool => {
                    Err("the learner has convolution or pooling layers".into())
                }
            })
            .collect()
    }

    /// The most values one row carries between layers (the input included).
    pub fn widest(&self) -> usize {
        self.plan()
            .shapes
            .iter()
            .map(|&(c, h, w)| c.saturating_mul(h).saturating_mul(w))
            .max()
            .unwrap_or(0)
    }

    /// The largest parameter block.
    pub fn largest_block(&self) -> usize {
        self.plan().params.iter().copied().max().unwrap_or(0)
    }

    /// Total number of parameters (each parameterised layer's block, in order;
    /// a block is `out × (fan_in + 1)` with the bias last, as in the ops).
    pub fn n_params(&self) -> usize {
        self.plan().params.iter().sum()
    }

    /// (inputs, units) of the first layer when it is a dense layer on vector
    /// inputs — the layer connectivity schemes wire.
    pub fn first_dense(&self) -> Option<(usize, usize)> {
        match self.layers.first() {
            Some(&Layer::Dense { d_out }) if self.input.1 == 1 && self.input.2 == 1 => {
                Some((self.input.0, d_out))
            }
            _ => None,
        }
    }

    /// PyTorch's defaults (nn.Conv2d / nn.Linear): weights and biases uniform
    /// in ±1/√fan_in.
    pub fn init_pytorch<R: Rng>(&self, rng: &mut R) -> Vec<f64> {
        let plan = self.plan();
        let mut theta = Vec::with_capacity(self.n_params());
        for (l, layer) in self.layers.iter().enumerate() {
            let (c, h, w) = plan.shapes[l];
            let fan_in = match *layer {
                Layer::Conv { kernel, .. } => c * kernel * kernel,
                Layer::Dense { .. } => c * h * w,
                _ => continue,
            };
            let bound = 1.0 / (fan_in as f64).sqrt();
            theta.extend((0..plan.params[l]).map(|_| rng.random_range(-bound..bound)));
        }
        theta
    }

    /// The op twin of layer l for `n` inputs.
    fn op(&self, plan: &Plan, l: usize, n: usize) -> Box<dyn Passes> {
        let (c, h, w) = plan.shapes[l];
        match self.layers[l] {
            Layer::Conv {
                c_out,
                kernel,
                padding,
            } => Box::new(Conv2dCpu {
                shape: Conv2dShape {
                    batch: 1,
                    images: n,
                    c_in: c,
                    c_out,
                    height: h,
                    width: w,
                    kernel,
                    padding,
                },
            }),
            Layer::Pool => Box::new(MaxPoolCpu {
                shape: MaxPoolShape {
                    planes: n * c,
                    height: h,
                    width: w,
                },
            }),
            Layer::Dense { d_out } => Box::new(DenseCpu {
                shape: DenseShape {
                    batch: 1,
                    rows: n,
                    d_in: c * h * w,
                    d_out,
                },
            }),
            Layer::Act(act) => Box::new(ActivationCpu {
                act,
                len: n * c * h * w,
            }),
        }
    }

    /// The whole network on `n` inputs as one op with inputs \[x, θ\] and output
    /// \[y\], so that the derivative checks and any caller of [`Passes`] can
    /// use it.
    pub fn as_op(&self, n: usize) -> NetOp<'_> {
        NetOp {
            spec: self,
            plan: self.plan(),
            n,
        }
    }

    /// The forward pass on the inputs `x` (rows × [`NetSpec::d_in`]), keeping
    /// every layer's input for the other passes.
    pub fn forward(&self, theta: &[f64], x: &[f64]) -> NetTrace {
        let n = x.len() / self.d_in();
        let acts = self
            .as_op(n)
            .trace(x, theta)
            .expect("the trace's shapes follow the spec");
        NetTrace { n, acts }
    }

    /// ∂L/∂θ for the output cotangent ḡ.
    pub fn backward(&self, theta: &[f64], tr: &NetTrace, g_bar: &[f64]) -> Vec<f64> {
        self.as_op(tr.n)
            .backward_from(&tr.acts, theta, g_bar)
            .expect("shapes follow the spec")
            .1
    }

    /// ⟨∇_θ g, v⟩ at every input (inputs held fixed).
    pub fn tangent_forward(&self, theta: &[f64], tr: &NetTrace, v: &[f64]) -> Vec<f64> {
        let zero = vec![0.0; tr.acts[0].len()];
        self.as_op(tr.n)
            .tangents(&tr.acts, theta, &zero, v)
            .expect("shapes follow the spec")
            .pop()
            .expect("an output tangent")
    }

    /// The derivative of [`NetSpec::backward`]'s ∂L/∂θ along (v, ḡ̇), inputs held fixed.
    pub fn tangent_backward(
        &self,
        theta: &[f64],
        tr: &NetTrace,
        g_bar: &[f64],
        v: &[f64],
        g_bar_dot: &[f64],
    ) -> Vec<f64> {
        let zero = vec![0.0; tr.acts[0].len()];
        self.as_op(tr.n)
            .tangent_backward_from(&tr.acts, theta, g_bar, &zero, v, g_bar_dot)
            .expect("shapes follow the spec")
            .1
    }
}

/// The values entering each layer of one forward pass, and the output last.
#[derive(Clone, Debug)]
pub struct NetTrace {
    n: usize,
    acts: Vec<Vec<f64>>,
}

impl NetTrace {
    /// The network's output.
    pub fn output(&self) -> &[f64] {
        self.acts.last().expect("an output")
    }

    /// Takes the output out of the trace.
    pub fn into_output(mut self) -> Vec<f64> {
        self.acts.pop().expect("an output")
    }
}

/// A [`NetSpec`] on a fixed number of inputs, as a [`Passes`] op.
pub struct NetOp<'a> {
    spec: &'a NetSpec,
    plan: Plan,
    n: usize,
}

impl NetOp<'_> {
    fn offsets(&self) -> Vec<usize> {
        let mut off = vec![0];
        for p in &self.plan.params {
            off.push(off.last().unwrap() + p);
        }
        off
    }

    /// Layer l's inputs: [activation] or [activation, parameter block].
    fn layer_inputs(&self, l: usize, a: &[f64], theta: &[f64], off: &[usize]) -> Tensors {
        if self.plan.params[l] == 0 {
            vec![a.to_vec()]
        } else {
            vec![a.to_vec(), theta[off[l]..off[l + 1]].to_vec()]
        }
    }

    /// The activations entering each layer, and the output.
    #[allow(clippy::needless_range_loop)] // each layer reads the activation the previous one pushed
    fn trace(&self, x: &[f64], theta: &[f64]) -> Result<Vec<Vec<f64>>> {
        let off = self.offsets();
        let mut acts = vec![x.to_vec()];
        for l in 0..self.spec.layers.len() {
            let op = self.spec.op(&self.plan, l, self.n);
            let out = op
                .forward(&self.layer_inputs(l, &acts[l], theta, &off))?
                .swap_remove(0);
            acts.push(out);
        }
        Ok(acts)
    }

    /// (x̄, θ̄) from a trace.
    fn backward_from(
        &self,
        acts: &[Vec<f64>],
        theta: &[f64],
        y_bar: &[f64],
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let (mut bars, theta_bar) = self.cotangents(acts, theta, y_bar)?;
        Ok((bars.swap_remove(0), theta_bar))
    }

    /// The primal cotangents entering each layer (the last entry ȳ itself),
    /// and θ̄.
    fn cotangents(
        &self,
        acts: &[Vec<f64>],
        theta: &[f64],
        y_bar: &[f64],
    ) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
        let off = self.offsets();
        let layers = self.spec.layers.len();
        let mut theta_bar = vec![0.0; self.spec.n_params()];
        let mut bars = vec![Vec::new(); layers + 1];
        bars[layers] = y_bar.to_vec();
        for l in (0..layers).rev() {
            let op = self.spec.op(&self.plan, l, self.n);
            let mut g = op.backward(
                &self.layer_inputs(l, &acts[l], theta, &off),
                &[bars[l + 1].clone()],
            )?;
            if self.plan.params[l] > 0 {
                theta_bar[off[l]..off[l + 1]]
                    .copy_from_slice(&g.pop().expect("a parameter cotangent"));
            }
            bars[l] = g.pop().expect("an input cotangent");
        }
        Ok((bars, theta_bar))
    }

    /// The tangents entering each layer, and the output's, along (ẋ, θ̇).
    fn tangents(
        &self,
        acts: &[Vec<f64>],
        theta: &[f64],
        x_dot: &[f64],
        theta_dot: &[f64],
    ) -> Result<Vec<Vec<f64>>> {
        let off = self.offsets();
        let mut dots = vec![x_dot.to_vec()];
        for l in 0..self.spec.layers.len() {
            let op = self.spec.op(&self.plan, l, self.n);
            let dirs = self.layer_inputs(l, &dots[l], theta_dot, &off);
            dots.push(
                op.tangent_forward(&self.layer_inputs(l, &acts[l], theta, &off), &dirs)?
                    .swap_remove(0),
            );
        }
        Ok(dots)
    }

    /// (x̄̇, θ̄̇) from a trace.
    fn tangent_backward_from(
        &self,
        acts: &[Vec<f64>],
        theta: &[f64],
        y_bar: &[f64],
        x_dot: &[f64],
        theta_dot: &[f64],
        y_bar_dot: &[f64],
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let off = self.offsets();
        let dots = self.tangents(acts, theta, x_dot, theta_dot)?;
        let (bars, _) = self.cotangents(acts, theta, y_bar)?;
        let mut theta_bar_dot = vec![0.0; self.spec.n_params()];
        let mut bar_dot = y_bar_dot.to_vec();
        for l in (0..self.spec.layers.len()).rev() {
            let op = self.spec.op(&self.plan, l, self.n);
            let prim = self.layer_inputs(l, &acts[l], theta, &off);
            let dirs = self.layer_inputs(l, &dots[l], theta_dot, &off);
            let mut g = op.tangent_backward(&prim, &[bars[l + 1].clone()], &dirs, &[bar_dot])?;
            if self.plan.params[l] > 0 {
                theta_bar_dot[off[l]..off[l + 1]]
                    .copy_from_slice(&g.pop().expect("a parameter tangent"));
            }
            bar_dot = g.pop().expect("an input tangent");
        }
        Ok((bar_dot, theta_bar_dot))
    }
}

impl Passes for NetOp<'_> {
    fn name(&self) -> String {
        format!("net {:?} on {} inputs", self.spec.layers, self.n)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.n * self.spec.input_len(), self.spec.n_params()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.n * self.spec.output_len()]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        Ok(vec![self.trace(&x[0], &x[1])?.pop().expect("an output")])
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        let acts = self.trace(&x[0], &x[1])?;
        let (x_bar, theta_bar) = self.backward_from(&acts, &x[1], &y_bar[0])?;
        Ok(vec![x_bar, theta_bar])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        let acts = self.trace(&x[0], &x[1])?;
        let mut dots = self.tangents(&acts, &x[1], &x_dot[0], &x_dot[1])?;
        Ok(vec![dots.pop().expect("an output tangent")])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        let acts = self.trace(&x[0], &x[1])?;
        let (a, b) = self.tangent_backward_from(
            &acts,
            &x[1],
            &y_bar[0],
            &x_dot[0],
            &x_dot[1],
            &y_bar_dot[0],
        )?;
        Ok(vec![a, b])
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{
        dot_product_test, jvp_vs_central_difference, tangent_backward_vs_central_difference,
    };

    fn random(n: usize, seed: u64) -> Vec<f64> {
        let mut r = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        (0..n).map(|_| r.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn a_small_cnn_passes_the_derivative_checks() {
        // The paper's CNN learner in miniature: conv → relu → pool → dense.
        let spec = NetSpec {
            input: (1, 6, 6),
            layers: vec![
                Layer::Conv {
                    c_out: 3,
                    kernel: 3,
                    padding: 1,
                },
                Layer::Act(Activation::Tanh),
                Layer::Pool,
                Layer::Dense { d_out: 1 },
            ],
        };
        let op = spec.as_op(2);
        let lens = op.input_lens();
        let x = vec![random(lens[0], 1), random(lens[1], 2)];
        let u = vec![random(lens[0], 3), random(lens[1], 4)];
        let v = vec![random(op.output_lens()[0], 5)];
        let v_dot = vec![random(op.output_lens()[0], 6)];
        assert!(dot_product_test(&op, &x, &u, &v).unwrap() < 1e-12);
        assert!(jvp_vs_central_difference(&op, &x, &u, 1e-5).unwrap() < 1e-7);
        assert!(
            tangent_backward_vs_central_difference(&op, &x, &v, &u, &v_dot, 1e-5).unwrap() < 1e-7
        );
    }

    #[test]
    fn an_mlp_has_the_dense_block_layout_and_passes_the_derivative_checks() {
        let net = NetSpec::mlp(&[3, 5, 4, 1], Activation::Tanh, Activation::Identity);
        // Identity output left out: dense, tanh, dense, tanh, dense.
        assert_eq!(net.layers.len(), 5);
        assert_eq!(net.depth(), 3);
        assert_eq!(
            (0..3).map(|p| net.block_len(p)).collect::<Vec<_>>(),
            [5 * 4, 4 * 6, 5]
        );
        assert_eq!(net.offset(2), 44);
        assert_eq!(net.first_dense(), Some((3, 5)));
        // One hidden unit by hand: y = w2 · tanh(W1 x + b1) + b2 on a 1-1-1 net.
        let tiny = NetSpec::mlp(&[1, 1, 1], Activation::Tanh, Activation::Identity);
        let y = tiny.forward(&[0.5, 0.1, 2.0, -0.3], &[0.7]).into_output();
        assert!((y[0] - (2.0 * (0.5f64 * 0.7 + 0.1).tanh() - 0.3)).abs() < 1e-15);
        let op = net.as_op(7);
        let lens = op.input_lens();
        let x = vec![random(lens[0], 11), random(lens[1], 12)];
        let u = vec![random(lens[0], 13), random(lens[1], 14)];
        let v = vec![random(7, 15)];
        assert!(dot_product_test(&op, &x, &u, &v).unwrap() < 1e-12);
        assert!(jvp_vs_central_difference(&op, &x, &u, 1e-5).unwrap() < 1e-7);
    }

    #[test]
    fn impossible_layer_lists_are_refused_naming_the_layer() {
        let net = NetSpec {
            input: (1, 3, 3),
            layers: vec![Layer::Pool, Layer::Pool, Layer::Dense { d_out: 1 }],
        };
        let err = net.validate().unwrap_err();
        assert!(err.contains("layer 1"), "{err}");
    }
}
