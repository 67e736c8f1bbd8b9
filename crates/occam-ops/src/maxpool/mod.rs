//! 2×2 max-pooling with stride 2 (see `shaders/maxpool.wgsl` for the math of
//! all four passes): the CPU f64 twin and the GPU kernels. Ties go to the
//! first maximum in the order (0,0), (0,1), (1,0), (1,1) of the window, on
//! both sides, so results are deterministic.

use crate::error::{OpError, Result, check_len};
use crate::launch::{dispatch_checked, spread_grid};
use crate::passes::{Passes, Tensors};
use occam_gpu::{Encoder, EntryPoint, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

/// The sizes of a max-pooling: `planes` independent H × W planes (batch ×
/// images × channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolShape {
    /// Independent planes.
    pub planes: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
}

impl MaxPoolShape {
    /// Output height (odd trailing rows dropped).
    pub fn h_out(&self) -> usize {
        self.height / 2
    }
    /// Output width.
    pub fn w_out(&self) -> usize {
        self.width / 2
    }
    /// Values in the input.
    pub fn x_len(&self) -> usize {
        self.planes * self.height * self.width
    }
    /// Values in the output.
    pub fn y_len(&self) -> usize {
        self.planes * self.h_out() * self.w_out()
    }

    /// Index in x of the maximum of output (plane, i, j)'s window.
    fn argmax(&self, x: &[f64], plane: usize, i: usize, j: usize) -> usize {
        let base = plane * self.height * self.width;
        let mut best = base + 2 * i * self.width + 2 * j;
        for k in 1..4 {
            let idx = base + (2 * i + k / 2) * self.width + 2 * j + k % 2;
            if x[idx] > x[best] {
                best = idx;
            }
        }
        best
    }

    /// (output index, argmax input index) for every output.
    fn routes(&self, x: &[f64]) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.y_len());
        for plane in 0..self.planes {
            for i in 0..self.h_out() {
                for j in 0..self.w_out() {
                    out.push((
                        (plane * self.h_out() + i) * self.w_out() + j,
                        self.argmax(x, plane, i, j),
                    ));
                }
            }
        }
        out
    }
}

/// Max-pooling in f64 on the CPU.
#[derive(Clone, Copy, Debug)]
pub struct MaxPoolCpu {
    /// The sizes.
    pub shape: MaxPoolShape,
}

impl MaxPoolCpu {
    fn route_back(&self, x: &[f64], y_bar: &[f64]) -> Vec<f64> {
        let mut x_bar = vec![0.0; self.shape.x_len()];
        for (yi, xi) in self.shape.routes(x) {
            x_bar[xi] = y_bar[yi];
        }
        x_bar
    }
}

impl Passes for MaxPoolCpu {
    fn name(&self) -> String {
        format!("maxpool {:?}", self.shape)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.shape.x_len()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.shape.y_len()]
    }
    fn forward(&self, x: &[Vec<f64>]) -> Result<Tensors> {
        check_len("maxpool", "x", x[0].len(), self.shape.x_len())?;
        let mut y = vec![0.0; self.shape.y_len()];
        for (yi, xi) in self.shape.routes(&x[0]) {
            y[yi] = x[0][xi];
        }
        Ok(vec![y])
    }
    fn backward(&self, x: &[Vec<f64>], y_bar: &[Vec<f64>]) -> Result<Tensors> {
        check_len("maxpool", "x", x[0].len(), self.shape.x_len())?;
        Ok(vec![self.route_back(&x[0], &y_bar[0])])
    }
    fn tangent_forward(&self, x: &[Vec<f64>], x_dot: &[Vec<f64>]) -> Result<Tensors> {
        check_len("maxpool", "x", x[0].len(), self.shape.x_len())?;
        let mut y_dot = vec![0.0; self.shape.y_len()];
        for (yi, xi) in self.shape.routes(&x[0]) {
            y_dot[yi] = x_dot[0][xi];
        }
        Ok(vec![y_dot])
    }
    fn tangent_backward(
        &self,
        x: &[Vec<f64>],
        _y_bar: &[Vec<f64>],
        _x_dot: &[Vec<f64>],
        y_bar_dot: &[Vec<f64>],
    ) -> Result<Tensors> {
        check_len("maxpool", "x", x[0].len(), self.shape.x_len())?;
        Ok(vec![self.route_back(&x[0], &y_bar_dot[0])])
    }
}

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/maxpool.wgsl` (its `PoolParams`).
    pub(crate) struct PoolParams in "maxpool" {
        planes: u32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// Max-pooling on the GPU.
pub struct MaxPoolGpu {
    shape: MaxPoolShape,
    params: wgpu::Buffer,
    max_groups: u32,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward: Arc<Kernel>,
}

impl MaxPoolGpu {
    /// Compiles (or fetches) the kernels for `shape`.
    pub fn new(gpu: &Gpu, shape: MaxPoolShape) -> Result<MaxPoolGpu> {
        if shape.planes == 0
            || shape.height < 2
            || shape.width < 2
            || u32::try_from(shape.x_len()).is_err()
        {
            return Err(OpError::InvalidShape {
                op: "maxpool",
                message: format!("impossible shape {shape:?}"),
            });
        }
        let params = PoolParams {
            planes: shape.planes as u32,
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
        };
        let sizes = [
            ("HEIGHT", shape.height as f64),
            ("WIDTH", shape.width as f64),
        ];
        let k = |entry: EntryPoint<'static>| gpu.kernel(entry, &sizes);
        Ok(MaxPoolGpu {
            shape,
            params: gpu.params("maxpool params", &params)?,
            max_groups: gpu.limits().max_compute_workgroups_per_dimension,
            forward: k(kernels::MAXPOOL_FORWARD)?,
            backward: k(kernels::MAXPOOL_BACKWARD)?,
            tangent_forward: k(kernels::MAXPOOL_TANGENT_FORWARD)?,
            tangent_backward: k(kernels::MAXPOOL_TANGENT_BACKWARD)?,
        })
    }

    fn run(
        &self,
        enc: &mut Encoder<'_>,
        kernel: &Kernel,
        tensors: &[(&str, &GpuTensor, usize)],
        n: usize,
    ) -> Result<()> {
        let grid = spread_grid(n, 64, self.max_groups);
        dispatch_checked(enc, "maxpool", kernel, &self.params, tensors, grid)
    }

    /// y = max over each window.
    pub fn forward(&self, enc: &mut Encoder<'_>, x: &GpuTensor, y: &GpuTensor) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            &self.forward,
            &[("x", x, s.x_len()), ("y", y, s.y_len())],
            s.y_len(),
        )
    }

    /// x̄: ȳ routed to each window's argmax.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        y_bar: &GpuTensor,
        x_bar: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            &self.backward,
            &[
                ("x", x, s.x_len()),
                ("y_bar", y_bar, s.y_len()),
                ("x_bar", x_bar, s.x_len()),
            ],
            s.y_len(),
        )
    }

    /// ẏ = ẋ at each window's argmax.
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        x_dot: &GpuTensor,
        y_dot: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            &self.tangent_forward,
            &[
                ("x", x, s.x_len()),
                ("x_dot", x_dot, s.x_len()),
                ("y_dot", y_dot, s.y_len()),
            ],
            s.y_len(),
        )
    }

    /// x̄̇: ȳ̇ routed to each window's argmax.
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        y_bar_dot: &GpuTensor,
        x_bar_dot: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            &self.tangent_backward,
            &[
                ("x", x, s.x_len()),
                ("y_bar_dot", y_bar_dot, s.y_len()),
                ("x_bar_dot", x_bar_dot, s.x_len()),
            ],
            s.y_len(),
        )
    }
}

crate::passes::unary_op_passes!(
    MaxPoolGpu,
    name: |op| format!("maxpool {:?}", op.shape),
    lens: |op| (op.shape.x_len(), op.shape.y_len()),
    tangent_backward: |op, enc, x, y_bar, x_dot, y_bar_dot, x_bar_dot| op.tangent_backward(
        enc,
        x[0],
        y_bar_dot[0],
        x_bar_dot[0]
    ),
);

/// The max-pooling op in the registry (odd sizes: the last row and column
/// are dropped).
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "maxpool",
    entry_points: &[
        "maxpool_forward",
        "maxpool_tangent_forward",
        "maxpool_backward",
        "maxpool_tangent_backward",
    ],
    params: &[crate::registry::params::<PoolParams>],
    twin: "occam_ops::maxpool::MaxPoolCpu",
    check: |gpu| {
        let mut c = crate::registry::Checks::new(0x9A);
        let shape = MaxPoolShape {
            planes: 5,
            height: 7,
            width: 9,
        };
        let twin = MaxPoolCpu { shape };
        let op = crate::OnGpu {
            gpu,
            op: MaxPoolGpu::new(gpu, shape)?,
        };
        c.four_passes("", &op, &twin, crate::registry::ELEMENTWISE_TOL)?;
        c.twin_identities(&twin)?;
        Ok(c.finish())
    },
};
