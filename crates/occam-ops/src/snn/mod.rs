//! A layer of current-based leaky integrate-and-fire neurons with a leaky
//! readout, and its four passes on the GPU (`shaders/snn.wgsl`, the math in
//! its header and in docs/design.md §9). One thread simulates (and
//! back-propagates through time) one input row of one task; parameter
//! gradients are then summed over rows in a fixed order. Its CPU f64 twin is
//! [`SnnSpec`] (`cpu.rs`), the same network as a whole [`crate::Model`].

mod cpu;

pub use cpu::{Encoding, ResetGradient, SnnSpec, SnnTrace, Spike, latency_step};

use crate::error::{OpError, Result};
use crate::launch::{dispatch_checked, spread_grid};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

/// (W₁, W₂), or a direction or gradient shaped like them: `[tasks, K(d + 1)]`
/// and `[tasks, K + 1]`.
pub type Pair<'a> = (&'a GpuTensor, &'a GpuTensor);

impl Spike {
    fn code_and_slope(self) -> (u32, f64) {
        match self {
            Spike::FastSigmoid { slope } => (0, slope),
            Spike::Arctan { slope } => (1, slope),
            Spike::Sigmoid { slope } => (2, slope),
        }
    }
}

/// Sizes and constants of a spiking layer on `tasks` × `rows` inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnnShape {
    /// Tasks (independent parameter sets).
    pub tasks: usize,
    /// Input rows per task.
    pub rows: usize,
    /// Values per input row d.
    pub inputs: usize,
    /// Neurons K.
    pub hidden: usize,
    /// Simulation steps T.
    pub steps: usize,
    /// The output averages the readout over the last L steps.
    pub window: usize,
    /// Synaptic, membrane and readout decays α, β, γ.
    pub decays: (f64, f64, f64),
    /// Firing threshold θ.
    pub threshold: f64,
    /// The spike.
    pub spike: Spike,
    /// Whether the reset carries gradient.
    pub reset_through: bool,
    /// Inputs as one spike each at a latency (instead of constant currents).
    pub latency: bool,
    /// Checkpointing over time: keep the membranes of only this many steps
    /// at once and recompute each such segment in the backward passes from
    /// its starting state (0 keeps all T steps).
    pub time_every: usize,
}

impl SnnShape {
    /// W₁ per task: K × (d + 1).
    pub fn w1_len(&self) -> usize {
        self.hidden * (self.inputs + 1)
    }

    /// W₂ per task: K + 1.
    pub fn w2_len(&self) -> usize {
        self.hidden + 1
    }

    fn threads(&self) -> usize {
        self.tasks * self.rows
    }

    /// Steps whose membranes are kept at once.
    fn segment(&self) -> usize {
        if self.time_every == 0 {
            self.steps
        } else {
            self.time_every.min(self.steps)
        }
    }
}

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/snn.wgsl` (its `SnnParams`).
    pub(crate) struct SnnParams in "snn" {
        tasks: u32,
        rows: u32,
        d: u32,
        k: u32,
        steps: u32,
        window: u32,
        spike: u32,
        through: u32,
        alpha: f32,
        beta: f32,
        gamma: f32,
        threshold: f32,
        slope: f32,
        encoding: u32,
        every: u32,
        _pad2: u32,
    }
}

/// The spiking layer's kernels and per-row scratch (the membrane trace of
/// the last forward pass and its tangent, BPTT state, each row's gradient
/// shares).
pub struct SnnGpu {
    shape: SnnShape,
    params: wgpu::Buffer,
    rows_grid: [u32; 3],
    params_grid: [u32; 3],
    u_trace: GpuTensor,
    u_dot_trace: GpuTensor,
    state: GpuTensor,
    row_c: GpuTensor,
    row_w2: GpuTensor,
    /// Latency encoding: each row's share of W̄₁'s input weights.
    row_lat: GpuTensor,
    /// Checkpointing over time: each segment's starting I, U, İ, U̇.
    ckpt: GpuTensor,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward: Arc<Kernel>,
    reduce: Arc<Kernel>,
}

fn to_u32(what: &str, v: usize) -> Result<u32> {
    crate::error::to_u32("snn", what, v)
}

impl SnnGpu {
    /// Kernels and scratch for `shape`.
    pub fn new(gpu: &Gpu, shape: SnnShape) -> Result<SnnGpu> {
        let s = shape;
        if s.tasks == 0 || s.rows == 0 || s.inputs == 0 || s.hidden == 0 || s.steps == 0 {
            return Err(OpError::InvalidShape {
                op: "snn",
                message: format!("every size must be positive, got {s:?}"),
            });
        }
        // The busiest invocations: a row's simulation (its currents, then T
        // steps of K neurons, each BPTT step likewise) and a parameter's sum
        // over rows.
        crate::loop_budget::check_loop_budget(
            gpu,
            "snn",
            &format!(
                "{} simulation steps of {} neurons on {} inputs, {} rows",
                s.steps, s.hidden, s.inputs, s.rows
            ),
            (s.hidden * (s.inputs + 2)
                + 3 * s.steps * s.hidden * (1 + usize::from(s.latency) * s.inputs))
                .max(s.rows),
        )?;
        let (spike, slope) = s.spike.code_and_slope();
        let params = SnnParams {
            tasks: to_u32("tasks", s.tasks)?,
            rows: to_u32("rows", s.rows)?,
            d: to_u32("inputs", s.inputs)?,
            k: to_u32("hidden", s.hidden)?,
            steps: to_u32("steps", s.steps)?,
            window: to_u32("window", s.window.clamp(1, s.steps))?,
            spike,
            through: u32::from(s.reset_through),
            alpha: s.decays.0 as f32,
            beta: s.decays.1 as f32,
            gamma: s.decays.2 as f32,
            threshold: s.threshold as f32,
            slope: slope as f32,
            encoding: u32::from(s.latency),
            every: to_u32(
                "time_every",
                if s.time_every == 0 { 0 } else { s.segment() },
            )?,
            _pad2: 0,
        };
        let max = gpu.limits().max_compute_workgroups_per_dimension;
        let trace = s.threads() * s.segment() * s.hidden;
        let segments = s.steps.div_ceil(s.segment());
        Ok(SnnGpu {
            shape,
            params: gpu.params("snn params", &params)?,
            rows_grid: spread_grid(s.threads(), 64, max),
            params_grid: spread_grid(s.tasks * (s.w1_len() + s.w2_len()), 64, max),
            u_trace: gpu.zeros("snn membrane trace", trace)?,
            u_dot_trace: gpu.zeros("snn membrane tangent trace", trace)?,
            state: gpu.zeros("snn row state", s.threads() * 10 * s.hidden)?,
            ckpt: gpu.zeros(
                "snn time checkpoints",
                if s.time_every == 0 {
                    1
                } else {
                    s.threads() * segments * 4 * s.hidden
                },
            )?,
            row_c: gpu.zeros("snn row current adjoints", s.threads() * s.hidden)?,
            row_w2: gpu.zeros("snn row readout shares", s.threads() * s.w2_len())?,
            row_lat: gpu.zeros(
                "snn row latency shares",
                if s.latency {
                    s.threads() * s.hidden * s.inputs
                } else {
                    1
                },
            )?,
            forward: gpu.kernel(kernels::SNN_FORWARD, &[])?,
            backward: gpu.kernel(kernels::SNN_BACKWARD, &[])?,
            tangent_forward: gpu.kernel(kernels::SNN_TANGENT_FORWARD, &[])?,
            tangent_backward: gpu.kernel(kernels::SNN_TANGENT_BACKWARD, &[])?,
            reduce: gpu.kernel(kernels::SNN_BACKWARD_PARAMS, &[])?,
        })
    }

    /// The shape.
    pub fn shape(&self) -> SnnShape {
        self.shape
    }

    fn lens(&self) -> (usize, usize, usize, usize) {
        let s = self.shape;
        (
            s.threads() * s.inputs,
            s.tasks * s.w1_len(),
            s.tasks * s.w2_len(),
            s.threads(),
        )
    }

    /// g = the readout over the last L steps, for every row, with weights
    /// (W₁, W₂); keeps the membrane trace (or its checkpoints) for the other
    /// passes.
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: Pair<'_>,
        g: &GpuTensor,
    ) -> Result<()> {
        let (nx, n1, n2, ng) = self.lens();
        dispatch_checked(
            enc,
            "snn",
            &self.forward,
            &self.params,
            &[
                ("x", x, nx),
                ("w1", w.0, n1),
                ("w2", w.1, n2),
                ("g", g, ng),
                ("u_trace", &self.u_trace, self.u_trace.len()),
                ("state", &self.state, self.state.len()),
                ("ckpt", &self.ckpt, self.ckpt.len()),
            ],
            self.rows_grid,
        )
    }

    /// (W̄₁, W̄₂) = ∂⟨g, ḡ⟩/∂(W₁, W₂) by BPTT, after [`SnnGpu::forward`] at
    /// the same x and weights.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: Pair<'_>,
        g_bar: &GpuTensor,
        w_bar: Pair<'_>,
    ) -> Result<()> {
        let (nx, n1, n2, ng) = self.lens();
        dispatch_checked(
            enc,
            "snn",
            &self.backward,
            &self.params,
            &[
                ("x", x, nx),
                ("w1", w.0, n1),
                ("w2", w.1, n2),
                ("g_bar", g_bar, ng),
                ("u_trace", &self.u_trace, self.u_trace.len()),
                ("state", &self.state, self.state.len()),
                ("ckpt", &self.ckpt, self.ckpt.len()),
                ("row_c", &self.row_c, self.row_c.len()),
                ("row_w2", &self.row_w2, self.row_w2.len()),
                ("row_lat", &self.row_lat, self.row_lat.len()),
            ],
            self.rows_grid,
        )?;
        self.reduce(enc, x, w_bar)
    }

    fn reduce(&self, enc: &mut Encoder<'_>, x: &GpuTensor, out: Pair<'_>) -> Result<()> {
        let (nx, n1, n2, _) = self.lens();
        dispatch_checked(
            enc,
            "snn",
            &self.reduce,
            &self.params,
            &[
                ("x", x, nx),
                ("row_c", &self.row_c, self.row_c.len()),
                ("row_w2", &self.row_w2, self.row_w2.len()),
                ("row_lat", &self.row_lat, self.row_lat.len()),
                ("w1_bar", out.0, n1),
                ("w2_bar", out.1, n2),
            ],
            self.params_grid,
        )
    }

    /// ġ along the direction v = (V₁, V₂), after [`SnnGpu::forward`] at the
    /// same x and weights; keeps the membrane's tangent trace (or checkpoints).
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: Pair<'_>,
        v: Pair<'_>,
        g_dot: &GpuTensor,
    ) -> Result<()> {
        let (nx, n1, n2, ng) = self.lens();
        dispatch_checked(
            enc,
            "snn",
            &self.tangent_forward,
            &self.params,
            &[
                ("x", x, nx),
                ("w1", w.0, n1),
                ("w2", w.1, n2),
                ("v1", v.0, n1),
                ("v2", v.1, n2),
                ("g_dot", g_dot, ng),
                ("u_trace", &self.u_trace, self.u_trace.len()),
                ("u_dot_trace", &self.u_dot_trace, self.u_dot_trace.len()),
                ("state", &self.state, self.state.len()),
                ("ckpt", &self.ckpt, self.ckpt.len()),
            ],
            self.rows_grid,
        )
    }

    /// The tangent of BPTT along (v, ḡ̇) — H v for the squared error's
    /// gradient — after [`SnnGpu::forward`] and [`SnnGpu::tangent_forward`].
    #[allow(clippy::too_many_arguments)]
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: Pair<'_>,
        v: Pair<'_>,
        g_bar: &GpuTensor,
        g_bar_dot: &GpuTensor,
        hv: Pair<'_>,
    ) -> Result<()> {
        let (nx, n1, n2, ng) = self.lens();
        dispatch_checked(
            enc,
            "snn",
            &self.tangent_backward,
            &self.params,
            &[
                ("x", x, nx),
                ("w1", w.0, n1),
                ("w2", w.1, n2),
                ("v1", v.0, n1),
                ("v2", v.1, n2),
                ("g_bar", g_bar, ng),
                ("g_bar_dot", g_bar_dot, ng),
                ("u_trace", &self.u_trace, self.u_trace.len()),
                ("u_dot_trace", &self.u_dot_trace, self.u_dot_trace.len()),
                ("state", &self.state, self.state.len()),
                ("ckpt", &self.ckpt, self.ckpt.len()),
                ("row_c", &self.row_c, self.row_c.len()),
                ("row_w2", &self.row_w2, self.row_w2.len()),
                ("row_lat", &self.row_lat, self.row_lat.len()),
            ],
            self.rows_grid,
        )?;
        self.reduce(enc, x, hv)
    }
}

/// One task of the GPU network at fixed inputs, as an op of its weights
/// `[W₁, W₂]` flat (the twin's layout): each pass records the passes it
/// reads the traces of first.
struct SnnAtInputs<'g> {
    gpu: &'g Gpu,
    op: SnnGpu,
    spec: SnnSpec,
    x: GpuTensor,
    rows: usize,
}

impl SnnAtInputs<'_> {
    fn pair(&self, what: &str, w: &[f64]) -> Result<(GpuTensor, GpuTensor)> {
        let n1 = self.spec.hidden * (self.spec.inputs + 1);
        let mut t = crate::registry::upload(self.gpu, what, &[&w[..n1], &w[n1..]])?;
        let second = t.pop().expect("two blocks");
        Ok((t.pop().expect("two blocks"), second))
    }

    fn zeros_pair(&self, what: &str) -> Result<(GpuTensor, GpuTensor)> {
        let n1 = self.spec.hidden * (self.spec.inputs + 1);
        Ok((
            self.gpu.zeros(what, n1)?,
            self.gpu.zeros(what, self.spec.hidden + 1)?,
        ))
    }
}

impl crate::Passes for SnnAtInputs<'_> {
    fn name(&self) -> String {
        format!("snn {:?}, reset {:?}", self.spec.spike, self.spec.reset)
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.spec.n_params()]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.rows]
    }
    fn forward(&self, w: &[Vec<f64>]) -> Result<crate::Tensors> {
        let w = self.pair("snn w", &w[0])?;
        let g = self.gpu.zeros("snn g", self.rows)?;
        crate::registry::run(self.gpu, &[&g], |enc| {
            self.op.forward(enc, &self.x, (&w.0, &w.1), &g)
        })
    }
    fn backward(&self, w: &[Vec<f64>], g_bar: &[Vec<f64>]) -> Result<crate::Tensors> {
        let w = self.pair("snn w", &w[0])?;
        let g_bar = crate::registry::upload(self.gpu, "snn g_bar", &[&g_bar[0]])?.remove(0);
        let g = self.gpu.zeros("snn g", self.rows)?;
        let w_bar = self.zeros_pair("snn w_bar")?;
        let out = crate::registry::run(self.gpu, &[&w_bar.0, &w_bar.1], |enc| {
            self.op.forward(enc, &self.x, (&w.0, &w.1), &g)?;
            self.op.backward(enc, &self.x, (&w.0, &w.1), &g_bar, (&w_bar.0, &w_bar.1))
        })?;
        Ok(vec![out.concat()])
    }
    fn tangent_forward(&self, w: &[Vec<f64>], v: &[Vec<f64>]) -> Result<crate::Tensors> {
        let (w, v) = (self.pair("snn w", &w[0])?, self.pair("snn v", &v[0])?);
        let (g, g_dot) = (
            self.gpu.zeros("snn g", self.rows)?,
            self.gpu.zeros("snn g_dot", self.rows)?,
        );
        crate::registry::run(self.gpu, &[&g_dot], |enc| {
            self.op.forward(enc, &self.x, (&w.0, &w.1), &g)?;
            self.op.tangent_forward(enc, &self.x, (&w.0, &w.1), (&v.0, &v.1), &g_dot)
        })
    }
    fn tangent_backward(
        &self,
        w: &[Vec<f64>],
        g_bar: &[Vec<f64>],
        v: &[Vec<f64>],
        g_bar_dot: &[Vec<f64>],
    ) -> Result<crate::Tensors> {
        let (w, v) = (self.pair("snn w", &w[0])?, self.pair("snn v", &v[0])?);
        let bars = crate::registry::upload(self.gpu, "snn", &[&g_bar[0], &g_bar_dot[0]])?;
        let (g, g_dot) = (
            self.gpu.zeros("snn g", self.rows)?,
            self.gpu.zeros("snn g_dot", self.rows)?,
        );
        let (w_bar, hv) = (self.zeros_pair("snn w_bar")?, self.zeros_pair("snn hv")?);
        let (w, v) = ((&w.0, &w.1), (&v.0, &v.1));
        let out = crate::registry::run(self.gpu, &[&hv.0, &hv.1], |enc| {
            self.op.forward(enc, &self.x, w, &g)?;
            self.op.backward(enc, &self.x, w, &bars[0], (&w_bar.0, &w_bar.1))?;
            self.op.tangent_forward(enc, &self.x, w, v, &g_dot)?;
            self.op
                .tangent_backward(enc, &self.x, w, v, &bars[0], &bars[1], (&hv.0, &hv.1))
        })?;
        Ok(vec![out.concat()])
    }
}

/// The spiking network in the registry: its four passes at fixed inputs
/// against the twin with a surrogate (Heaviside forward) and with the smooth
/// spike, and the smooth twin's derivatives against the dot-product identity
/// and central differences.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "snn",
    entry_points: &[
        "snn_forward",
        "snn_tangent_forward",
        "snn_backward",
        "snn_tangent_backward",
        "snn_backward_params",
    ],
    params: &[crate::registry::params::<SnnParams>],
    twin: "occam_ops::snn::SnnSpec",
    check: |gpu| {
        use crate::model::AtInputs;
        let mut c = crate::registry::Checks::new(0x55);
        let rows = 5;
        // The surrogate with the reset detached (snnTorch's default), and the
        // smooth spike differentiated through the reset: exact derivatives.
        for (spike, reset) in [
            (Spike::FastSigmoid { slope: 25.0 }, ResetGradient::Detached),
            (Spike::Sigmoid { slope: 4.0 }, ResetGradient::Through),
        ] {
            let spec = SnnSpec {
                inputs: 3,
                hidden: 7,
                steps: 15,
                alpha: 0.6,
                beta: 0.75,
                gamma: 0.8,
                threshold: 0.5,
                readout_window: 5,
                spike,
                reset,
                encoding: Encoding::Current,
                time_checkpoint_every: 0,
            };
            let x = c.uniform(rows * spec.inputs, -1.0, 1.0);
            let name = format!("snn {spike:?}, reset {reset:?}");
            let twin = AtInputs {
                model: &spec,
                x: &x,
                n_params: spec.n_params(),
                name: &name,
            };
            let op = SnnAtInputs {
                gpu,
                op: SnnGpu::new(gpu, spec.gpu_shape(1, rows))?,
                spec: spec.clone(),
                x: crate::registry::upload(gpu, "snn x", &[&x])?.remove(0),
                rows,
            };
            c.four_passes("", &op, &twin, 1e-4)?;
            if let Spike::Sigmoid { .. } = spike {
                c.twin_identities(&twin)?;
            }
        }
        Ok(c.finish())
    },
};
