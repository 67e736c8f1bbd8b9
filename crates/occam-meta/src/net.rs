//! Networks as a list of layers — convolution, max-pooling, dense,
//! activation — with their four passes on the CPU in f64, composed from the
//! op library's twins. This is the general form of [`crate::mlp::MlpSpec`]
//! (an MLP is dense and activation layers alternating) that CNN learners and
//! meta-learners on images are built from. A dense layer after a
//! convolution or pooling layer reads each image's C × H × W values as one
//! row (flattening is free: the layouts are contiguous per image).

use occam_ops::{
    Activation, ActivationCpu, Conv2dCpu, Conv2dShape, DenseCpu, DenseShape, MaxPoolCpu,
    MaxPoolShape, Passes, Result, Tensors,
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
                        h + 2 * padding + 1 - kernel,
                        w + 2 * padding + 1 - kernel,
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

    /// Values of one input.
    pub fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Values of one output.
    pub fn output_len(&self) -> usize {
        let (c, h, w) = *self.plan().shapes.last().expect("the output shape");
        c * h * w
    }

    /// Total number of parameters (each parameterised layer's block, in order;
    /// a block is `out × (fan_in + 1)` with the bias last, as in the ops).
    pub fn n_params(&self) -> usize {
        self.plan().params.iter().sum()
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

    /// The whole network on `n` inputs as one op with inputs [x, θ] and output
    /// [y], so that the derivative checks and any caller of [`Passes`] can
    /// use it.
    pub fn as_op(&self, n: usize) -> NetOp<'_> {
        NetOp {
            spec: self,
            plan: self.plan(),
            n,
        }
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
        let (off, acts) = (self.offsets(), self.trace(&x[0], &x[1])?);
        let mut theta_bar = vec![0.0; self.spec.n_params()];
        let mut bar = y_bar[0].clone();
        for l in (0..self.spec.layers.len()).rev() {
            let op = self.spec.op(&self.plan, l, self.n);
            let mut g = op.backward(&self.layer_inputs(l, &acts[l], &x[1], &off), &[bar])?;
            if self.plan.params[l] > 0 {
                theta_bar[off[l]..off[l + 1]]
                    .copy_from_slice(&g.pop().expect("a parameter cotangent"));
            }
            bar = g.pop().expect("an input cotangent");
        }
        Ok(vec![bar, theta_bar])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        let (off, acts) = (self.offsets(), self.trace(&x[0], &x[1])?);
        let mut dot = x_dot[0].clone();
        for (l, act) in acts.iter().enumerate().take(self.spec.layers.len()) {
            let op = self.spec.op(&self.plan, l, self.n);
            let dirs = self.layer_inputs(l, &dot, &x_dot[1], &off);
            dot = op
                .tangent_forward(&self.layer_inputs(l, act, &x[1], &off), &dirs)?
                .swap_remove(0);
        }
        Ok(vec![dot])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        y_bar: &[Vec<f64>],
        x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        let (off, acts) = (self.offsets(), self.trace(&x[0], &x[1])?);
        let layers = self.spec.layers.len();
        // Tangents entering each layer, and the primal cotangents leaving it.
        let mut dots = vec![x_dot[0].clone()];
        for l in 0..layers {
            let op = self.spec.op(&self.plan, l, self.n);
            let dirs = self.layer_inputs(l, &dots[l], &x_dot[1], &off);
            dots.push(
                op.tangent_forward(&self.layer_inputs(l, &acts[l], &x[1], &off), &dirs)?
                    .swap_remove(0),
            );
        }
        let mut bars = vec![Vec::new(); layers + 1];
        bars[layers] = y_bar[0].clone();
        for l in (0..layers).rev() {
            let op = self.spec.op(&self.plan, l, self.n);
            bars[l] = op
                .backward(
                    &self.layer_inputs(l, &acts[l], &x[1], &off),
                    &[bars[l + 1].clone()],
                )?
                .swap_remove(0);
        }
        let mut theta_bar_dot = vec![0.0; self.spec.n_params()];
        let mut bar_dot = y_bar_dot[0].clone();
        for l in (0..layers).rev() {
            let op = self.spec.op(&self.plan, l, self.n);
            let prim = self.layer_inputs(l, &acts[l], &x[1], &off);
            let dirs = self.layer_inputs(l, &dots[l], &x_dot[1], &off);
            let mut g = op.tangent_backward(&prim, &[bars[l + 1].clone()], &dirs, &[bar_dot])?;
            if self.plan.params[l] > 0 {
                theta_bar_dot[off[l]..off[l + 1]]
                    .copy_from_slice(&g.pop().expect("a parameter tangent"));
            }
            bar_dot = g.pop().expect("an input tangent");
        }
        Ok(vec![bar_dot, theta_bar_dot])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::MlpSpec;
    use crate::sampling::{Purpose, stream};
    use occam_ops::check::{
        dot_product_test, jvp_vs_central_difference, rel_error,
        tangent_backward_vs_central_difference,
    };

    fn random(n: usize, seed: u64) -> Vec<f64> {
        let mut r = stream(seed, Purpose::Evaluation, 3);
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
    fn a_layer_list_mlp_matches_the_mlp_spec() {
        let mlp = MlpSpec {
            sizes: vec![3, 5, 4, 1],
            hidden: Activation::Tanh,
            output: Activation::Identity,
        };
        let net = NetSpec {
            input: (3, 1, 1),
            layers: vec![
                Layer::Dense { d_out: 5 },
                Layer::Act(Activation::Tanh),
                Layer::Dense { d_out: 4 },
                Layer::Act(Activation::Tanh),
                Layer::Dense { d_out: 1 },
            ],
        };
        assert_eq!(net.n_params(), mlp.n_params());
        let theta = random(mlp.n_params(), 7);
        let x = random(7 * 3, 8);
        let y_net = net.as_op(7).forward(&[x.clone(), theta.clone()]).unwrap();
        let y_mlp = mlp.forward(&theta, &x).a.pop().unwrap();
        assert!(rel_error(&y_net, &[y_mlp]) < 1e-14);
    }
}
