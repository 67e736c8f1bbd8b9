//! Weighted mean-squared error per problem, L_b = (weight / count) Σ_i (g_i − z_i)²
//! (see `shaders/mse.wgsl` for the math of all four passes).

mod cpu;
pub(crate) mod gpu;

pub use cpu::MseCpu;
pub use gpu::MseGpu;

/// The sizes and weight of a batched MSE.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MseShape {
    /// Independent problems, each with its own loss.
    pub batch: usize,
    /// Elements per problem (the mean is over these).
    pub count: usize,
    /// Factor in front of the mean (the meta-loss coefficient; 1 for a plain MSE).
    pub weight: f64,
}

impl MseShape {
    /// Values in `g` and in `z`.
    pub fn len(&self) -> usize {
        self.batch * self.count
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The mean-squared-error op in the registry.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "mse",
    entry_points: &[
        "mse_forward",
        "mse_backward",
        "mse_tangent_forward",
        "mse_tangent_backward",
    ],
    params: &[crate::registry::params::<gpu::MseParams>],
    twin: "occam_ops::mse::MseCpu",
    check: |gpu| {
        let mut c = crate::registry::Checks::new(0x5E);
        let shape = MseShape {
            batch: 3,
            count: 257,
            weight: 2.5,
        };
        let twin = MseCpu { shape };
        let op = crate::OnGpu {
            gpu,
            op: MseGpu::new(gpu, shape)?,
        };
        c.four_passes("", &op, &twin, crate::registry::REDUCTION_TOL)?;
        c.twin_identities(&twin)?;
        Ok(c.finish())
    },
};
