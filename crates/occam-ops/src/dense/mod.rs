//! Batched dense layer y = [x, 1] wᵀ (see `shaders/dense.wgsl` for the math of
//! all four passes).
//!
//! Layout, for each of `batch` independent problems: `x` is `rows × d_in`,
//! `w` is `d_out × (d_in + 1)` with the bias in the last column, `y` is
//! `rows × d_out`, all row-major and contiguous across the batch.

mod cpu;
pub(crate) mod gpu;
mod lanes;

pub use cpu::DenseCpu;
pub use gpu::{DenseGpu, DenseKernels, RowSplit};

/// The sizes of a batched dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    /// Independent problems (tasks), each with its own weights.
    pub batch: usize,
    /// Input rows (data points) per problem.
    pub rows: usize,
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
}

impl DenseShape {
    /// Floating-point operations of one product [x, 1] wᵀ over every problem
    /// (a multiply-add counts 2); each pass costs one or two of these.
    pub fn product_flops(&self) -> f64 {
        2.0 * (self.batch * self.rows * self.d_out) as f64 * (self.d_in + 1) as f64
    }

    /// Values in `x`.
    pub fn x_len(&self) -> usize {
        self.batch * self.rows * self.d_in
    }
    /// Values in `w` (weights and biases).
    pub fn w_len(&self) -> usize {
        self.batch * self.d_out * (self.d_in + 1)
    }
    /// Values in `y`.
    pub fn y_len(&self) -> usize {
        self.batch * self.rows * self.d_out
    }
    /// Multiply-add FLOPs of the forward pass (2 per multiply-add, bias included).
    pub fn forward_flops(&self) -> f64 {
        2.0 * (self.batch * self.rows * self.d_out * (self.d_in + 1)) as f64
    }
}

/// The dense op in the registry: the four passes of each kernel set against
/// the twin (`Auto` is what learners run: the generated lanes kernels on a
/// software adapter with subgroups).
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "dense",
    entry_points: &[
        "dense_forward",
        "dense_forward_naive",
        "dense_backward_input",
        "dense_backward_params",
        "dense_tangent_forward",
        "dense_tangent_backward_input",
        "dense_tangent_backward_params",
        "dense_backward_input_naive",
        "dense_backward_params_naive",
        "dense_backward_params_reduce",
        "dense_tangent_forward_naive",
        "dense_tangent_backward_input_naive",
        "dense_tangent_backward_params_naive",
    ],
    params: &[crate::registry::params::<gpu::DenseParams>],
    twin: "occam_ops::dense::DenseCpu",
    check: |gpu| {
        let mut c = crate::registry::Checks::new(0xDE);
        let shape = DenseShape {
            batch: 2,
            rows: 33,
            d_in: 7,
            d_out: 5,
        };
        let twin = DenseCpu { shape };
        for kernels in [DenseKernels::Auto, DenseKernels::Tiled, DenseKernels::Naive] {
            let op = crate::OnGpu {
                gpu,
                op: DenseGpu::with_kernels(gpu, shape, false, kernels)?,
            };
            let label = format!("{kernels:?}");
            c.four_passes(&label, &op, &twin, crate::registry::REDUCTION_TOL)?;
        }
        c.twin_identities(&twin)?;
        Ok(c.finish())
    },
};
