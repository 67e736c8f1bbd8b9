//! A whole unrolled gradient-descent learner in one dispatch per pass
//! (`shaders/unroll.wgsl`, docs/design.md §6): one workgroup per task runs all T
//! inner steps (`forward`) or the whole reverse sweep (`backward`), with the
//! weights and adjoint vectors in workgroup memory. It serves learners that
//! are chains of dense layers and activations with at most
//! [`UnrollShape::MAX_PARAMS`] parameters; anything else runs step by step.
//! Its CPU twin is the f64 unroll [`train`] / [`adjoint`] (`cpu.rs`) of any
//! [`crate::Model`], here a [`crate::net::NetSpec`] of the same layers.

use crate::activation::Activation;
use crate::error::{OpError, Result, check_len};
use crate::loop_budget::{SOFTWARE_LOOP_CAP, loop_budget};
use occam_gpu::{Encoder, Generated, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

mod cpu;
mod lanes_kernel;

pub use cpu::{adjoint, loss_gradient, train};

/// One layer of a fused learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnrollLayer {
    /// Dense layer, weights `[d_out, d_in + 1]` with the bias last.
    Dense {
        /// Input width.
        d_in: usize,
        /// Output width.
        d_out: usize,
    },
    /// Elementwise activation on `width` values.
    Act {
        /// Values per row.
        width: usize,
        /// σ.
        act: Activation,
    },
}

impl UnrollLayer {
    fn widths(self) -> (usize, usize) {
        match self {
            UnrollLayer::Dense { d_in, d_out } => (d_in, d_out),
            UnrollLayer::Act { width, .. } => (width, width),
        }
    }

    fn params(self) -> usize {
        match self {
            UnrollLayer::Dense { d_in, d_out } => d_out * (d_in + 1),
            UnrollLayer::Act { .. } => 0,
        }
    }
}

/// Sizes of a fused unroll.
#[derive(Clone, Debug, PartialEq)]
pub struct UnrollShape {
    /// Independent tasks (one workgroup each).
    pub tasks: usize,
    /// Rows per minibatch.
    pub batch: usize,
    /// Training rows per task.
    pub train: usize,
    /// Inner steps T.
    pub steps: usize,
    /// Keep w_t every `every` steps (recomputing the rest in the sweep).
    pub every: usize,
    /// Inner learning rate η.
    pub lr: f64,
    /// Masked / sign-constrained steps (docs/design.md §2).
    pub constrained: bool,
    /// The learner's layers, input first.
    pub layers: Vec<UnrollLayer>,
}

/// How the fused kernels lay a task out on the adapter. Both run the same
/// steps in the same math; they differ in where values live and who sums them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnrollLayout {
    /// `shaders/unroll.wgsl`: one workgroup of `threads` invocations per
    /// task, each computing whole entries (an output of a row, a weight's
    /// gradient) from rows' values in storage and weights in workgroup
    /// memory, with barriers between phases. Suits hardware, where those
    /// memories are fast.
    Workgroup {
        /// Invocations per workgroup.
        threads: u32,
    },
    /// Generated per learner (`lanes_kernel`, around the driver
    /// `shaders/lib/unroll_lanes.wgsl`): one subgroup of `lanes` invocations per
    /// task, each with a private copy of the weights and a share of the
    /// rows; sums over rows cross lanes by subgroup shuffles, so no pass
    /// has a barrier and every product reads registers. Needs subgroup
    /// operations at a fixed subgroup size. Suits adapters that run a
    /// workgroup as the SIMD lanes of one CPU core (llvmpipe), where every
    /// workgroup or storage load is a per-lane scalar load.
    Lanes {
        /// The subgroup size: invocations per workgroup.
        lanes: u32,
    },
}

impl UnrollLayout {
    /// Invocations per workgroup.
    pub fn threads(self) -> u32 {
        match self {
            UnrollLayout::Workgroup { threads } => threads,
            UnrollLayout::Lanes { lanes } => lanes,
        }
    }

    /// `"workgroup"` or `"lanes"`, as configurations and reports name them.
    pub fn name(self) -> &'static str {
        match self {
            UnrollLayout::Workgroup { .. } => "workgroup",
            UnrollLayout::Lanes { .. } => "lanes",
        }
    }

    /// The layout to use for `shape` when the configuration leaves it to
    /// Occam: lanes on software adapters that offer subgroups, the workgroup
    /// layout of the default width otherwise. On llvmpipe the lanes layout,
    /// written out for the learner (`lanes_kernel`), runs an inner step
    /// tens of times faster and compiles in seconds (bench/RESULTS.md,
    /// docs/design.md §6).
    pub fn preferred(gpu: &Gpu) -> UnrollLayout {
        match (gpu.adapter().is_software, gpu.subgroup_size()) {
            (true, Some(lanes)) => UnrollLayout::Lanes { lanes },
            _ => UnrollLayout::workgroup(gpu),
        }
    }

    /// The workgroup layout at the adapter's default width (64 invocations on
    /// software adapters, 256 on hardware).
    pub fn workgroup(gpu: &Gpu) -> UnrollLayout {
        UnrollLayout::Workgroup {
            threads: threads(gpu),
        }
    }

    /// The lanes layout on `gpu`, or why it has none.
    pub fn lanes(gpu: &Gpu) -> std::result::Result<UnrollLayout, String> {
        gpu.subgroup_size()
            .map(|lanes| UnrollLayout::Lanes { lanes })
            .ok_or_else(|| {
                format!(
                    "the adapter {} ({}) offers no subgroup operations at a fixed subgroup size",
                    gpu.adapter().name,
                    gpu.adapter().backend
                )
            })
    }
}

impl UnrollShape {
    /// Most values of one row (its input and every layer's output) the lanes
    /// layout holds per lane.
    pub const MAX_ROW_VALUES: usize = 256;
    /// Most minibatch rows one lane of the lanes layout takes.
    pub const MAX_ROWS_PER_LANE: usize = 64;
    /// Most training rows whose z̄ one lane of the lanes layout keeps.
    pub const MAX_OWNED_PER_LANE: usize = 128;

    /// Most parameters per task the shader's workgroup arrays hold.
    pub const MAX_PARAMS: usize = 1024;
    /// Most layers (dense and activation) the uniform block describes.
    pub const MAX_LAYERS: usize = 16;
    /// Workgroup memory the kernels declare, in bytes (four arrays of MAX_PARAMS f32).
    pub const WORKGROUP_BYTES: u32 = 4 * 4 * Self::MAX_PARAMS as u32;

    /// Parameters per task.
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(|l| l.params()).sum()
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.layers.first().map_or(0, |l| l.widths().0)
    }

    /// Checkpoints kept: ⌈T / every⌉.
    pub fn checkpoints(&self) -> usize {
        self.steps.div_ceil(self.every.max(1)).max(1)
    }

    /// Scratch values per task: n × (input width + every layer's output width).
    pub fn values_per_task(&self) -> usize {
        self.batch * self.row_values()
    }

    /// Why this learner cannot run fused on an adapter with `limits` (and,
    /// for a software adapter, a cap of `loop_budget` loop iterations per
    /// invocation), or `None` when it can.
    pub fn unfit_reason(
        &self,
        limits: &wgpu::Limits,
        loop_budget: Option<usize>,
        layout: UnrollLayout,
    ) -> Option<String> {
        let p = self.n_params();
        if self.layers.is_empty() || self.layers.len() > Self::MAX_LAYERS {
            return Some(format!(
                "{} layers (the fused kernels take 1 to {})",
                self.layers.len(),
                Self::MAX_LAYERS
            ));
        }
        if p > Self::MAX_PARAMS {
            return Some(format!(
                "{p} parameters per task (the fused kernels hold at most {})",
                Self::MAX_PARAMS
            ));
        }
        if self.layers.last().map(|l| l.widths().1) != Some(1) {
            return Some("the learner does not end in one output".into());
        }
        if self
            .layers
            .windows(2)
            .any(|w| w[0].widths().1 != w[1].widths().0)
        {
            return Some("the layer widths do not chain".into());
        }
        if let UnrollLayout::Lanes { lanes } = layout {
            let lanes = lanes as usize;
            let checks = [
                (self.row_values(), Self::MAX_ROW_VALUES, "values per row"),
                (
                    self.batch.div_ceil(lanes),
                    Self::MAX_ROWS_PER_LANE,
                    "minibatch rows per lane",
                ),
                (
                    self.train.div_ceil(lanes),
                    Self::MAX_OWNED_PER_LANE,
                    "training rows per lane",
                ),
            ];
            for (have, most, what) in checks {
                if have > most {
                    return Some(format!(
                        "{have} {what} (the lanes layout holds at most {most})"
                    ));
                }
            }
        } else if limits.max_compute_workgroup_storage_size < Self::WORKGROUP_BYTES {
            return Some(format!(
                "the adapter offers {} bytes of workgroup memory, the fused kernels need {}",
                limits.max_compute_workgroup_storage_size,
                Self::WORKGROUP_BYTES
            ));
        }
        if self.tasks > limits.max_compute_workgroups_per_dimension as usize {
            return Some(format!(
                "{} tasks exceed the adapter's {} workgroups per dispatch dimension",
                self.tasks, limits.max_compute_workgroups_per_dimension
            ));
        }
        if self.steps == 0 || self.batch == 0 || self.every == 0 {
            return Some("no inner steps, an empty minibatch or a zero checkpoint interval".into());
        }
        let largest = [
            self.tasks * self.values_per_task(),
            self.checkpoints() * self.tasks * p,
            self.tasks * self.seg_copies(layout) * self.seg_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let bytes = largest as u64 * 4;
        if bytes > limits.max_storage_buffer_binding_size || largest as u64 >= 1u64 << 32 {
            return Some(format!(
                "a scratch buffer of {bytes} bytes exceeds the adapter's storage binding limit"
            ));
        }
        self.chunks(layout, loop_budget).err()
    }

    /// Values of one row: its input and every layer's output.
    pub fn row_values(&self) -> usize {
        self.d_in() + self.layers.iter().map(|l| l.widths().1).sum::<usize>()
    }

    /// Upper bound of the loop iterations one invocation of `wg` threads runs
    /// for one inner gradient (batch gather, forward, residual, backward).
    fn gradient_iterations(&self, wg: usize) -> usize {
        let c = |x: usize| x.div_ceil(wg);
        let n = self.batch;
        c(n * self.d_in()) + c(n) + 2 + self.layer_iterations(wg)
    }

    /// Loop iterations of one sweep through the layers, forward then back
    /// (the primal and the tangent passes have the same loops).
    fn layer_iterations(&self, wg: usize) -> usize {
        let c = |x: usize| x.div_ceil(wg);
        let n = self.batch;
        let mut it = 0;
        for (l, layer) in self.layers.iter().enumerate() {
            it += 2 + match *layer {
                UnrollLayer::Dense { d_in, d_out } => {
                    c(n * d_out) * (d_in + 1)
                        + c(d_out * (d_in + 1)) * (n + 1)
                        + if l > 0 { c(n * d_in) * (d_out + 1) } else { 0 }
                }
                UnrollLayer::Act { width, .. } => 2 * c(n * width),
            };
        }
        it
    }

    /// Loop iterations of one pass over every parameter block.
    fn params_iterations(&self, wg: usize) -> usize {
        self.layers.len()
            + self
                .layers
                .iter()
                .map(|l| l.params().div_ceil(wg))
                .sum::<usize>()
    }

    /// The tangent part of one reverse step: the direction, the tangent
    /// forward and backward, z̄ and the update of v.
    fn tangent_iterations(&self, wg: usize) -> usize {
        let c = |x: usize| x.div_ceil(wg);
        let n = self.batch;
        self.params_iterations(wg)
            + c(n)
            + c(self.train) * (n + 1)
            + c(self.n_params())
            + self.layer_iterations(wg)
    }

    /// How the forward and the backward pass split into dispatches: step
    /// ranges `[t0, t1)` and checkpoint-segment ranges `[c0, c1)`. With a
    /// loop budget (software adapters), each dispatch's invocations stay
    /// under it; without one, each pass is one dispatch. Fails when a single
    /// step or segment is over the budget.
    pub fn chunks(
        &self,
        layout: UnrollLayout,
        loop_budget: Option<usize>,
    ) -> std::result::Result<Chunks, String> {
        let (steps, segments) = (self.steps, self.checkpoints());
        let Some(budget) = loop_budget else {
            return Ok((vec![(0, steps)], vec![(0, segments)]));
        };
        let (fixed, per_step, per_segment) = match layout {
            // The workgroup layout's model undercounts for small learners:
            // a 2-4-1 learner over 1000 steps of 60 rows came out wrong
            // under a budget of 50 000 and right under 20 000
            // (tests/gpu_meta_step.rs, case 2), so it is planned at twice
            // its modelled count until the model is corrected.
            UnrollLayout::Workgroup { threads } => {
                let (fixed, step, segment) = self.workgroup_iterations(threads as usize);
                (2 * fixed, 2 * step, 2 * segment)
            }
            UnrollLayout::Lanes { lanes } => lanes_kernel::iterations(self, lanes as usize),
        };
        let split = |count: usize,
                     per: usize,
                     what: &str|
         -> std::result::Result<Vec<(usize, usize)>, String> {
            let fit = budget.saturating_sub(fixed) / per.max(1);
            if fit == 0 {
                return Err(format!(
                    "one {what} needs about {per} loop iterations per invocation, over the software adapter's cap ({budget} planned of {SOFTWARE_LOOP_CAP})"
                ));
            }
            Ok((0..count.div_ceil(fit))
                .map(|i| (i * fit, ((i + 1) * fit).min(count)))
                .collect())
        };
        Ok((
            split(steps, per_step, "inner step")?,
            split(
                segments,
                per_segment,
                "checkpoint segment of the reverse sweep",
            )?,
        ))
    }

    /// Upper bounds of the loop iterations one invocation of the workgroup
    /// layout runs: (outside the steps, per inner step, per checkpoint segment).
    fn workgroup_iterations(&self, wg: usize) -> (usize, usize, usize) {
        let steps = self.steps;
        let params = self.params_iterations(wg);
        let fixed = 2 * params + 2;
        let per_step = self.gradient_iterations(wg) + 2 * params + 1;
        let k = self.every.min(steps.max(1));
        let recompute = if k > 1 {
            k * (self.n_params().div_ceil(wg) + 1)
                + (k - 1) * (self.gradient_iterations(wg) + params)
        } else {
            0
        };
        let per_segment = params
            + recompute
            + k * (self.gradient_iterations(wg)
                + self.tangent_iterations(wg)
                + self.n_params().div_ceil(wg)
                + 2);
        (fixed, per_step, per_segment)
    }

    /// Copies of the recomputation segment per task: one per lane in the
    /// lanes layout (each lane keeps its own), one in the workgroup layout.
    fn seg_copies(&self, layout: UnrollLayout) -> usize {
        match layout {
            UnrollLayout::Workgroup { .. } => 1,
            UnrollLayout::Lanes { lanes } => lanes as usize,
        }
    }

    fn seg_len(&self) -> usize {
        if self.every > 1 {
            self.every * self.n_params()
        } else {
            0
        }
    }
}

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/unroll.wgsl` (its `UnrollParams`).
    pub(crate) struct UnrollParams in "unroll" {
        tasks: u32,
        n: u32,
        m: u32,
        d: u32,
        steps: u32,
        every: u32,
        n_layers: u32,
        n_params: u32,
        lr: f32,
        constrained: u32,
        vals_per_task: u32,
        seg_len: u32,
        layers: [[u32; 4]; 2 * UnrollShape::MAX_LAYERS],
    }
}

/// The fused unroll's kernels, parameters and per-task scratch.
pub struct UnrollGpu {
    shape: UnrollShape,
    layout: UnrollLayout,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
    /// The workgroup layout's per-row scratch (values, cotangents, tangents,
    /// their cotangents); the lanes layout keeps them in registers.
    scratch: Option<[GpuTensor; 4]>,
    seg: GpuTensor,
    /// One `range` uniform per dispatch of the forward pass, and of the backward.
    forward_ranges: Vec<wgpu::Buffer>,
    backward_ranges: Vec<wgpu::Buffer>,
}

/// Step ranges of the forward dispatches and checkpoint-segment ranges of
/// the backward ones.
pub type Chunks = (Vec<(usize, usize)>, Vec<(usize, usize)>);

/// Threads per workgroup of the fused kernels (the shader's `WG`) on
/// software adapters, where the loop budget is counted for this width.
const THREADS: u32 = 64;

/// Threads per workgroup of the fused kernels on hardware. Measured on an
/// H100 (mlp_gd, 2026-11-28): 64 → 256 threads take one task's meta-step
/// from 47 to 23 ms and 4096 tasks' from 1238 to 918 ms; 512 and 1024 gain
/// under 10% on one task and lose at 4096 (bench/RESULTS.md).
const HARDWARE_THREADS: u32 = 256;

/// Threads per workgroup of the fused kernels on `gpu`.
fn threads(gpu: &Gpu) -> u32 {
    if gpu.adapter().is_software {
        THREADS
    } else {
        HARDWARE_THREADS.min(gpu.limits().max_compute_invocations_per_workgroup)
    }
}

occam_gpu::uniform_params! {
    /// The `range` uniform of one dispatch.
    pub(crate) struct Range in "unroll" {
        t0: u32,
        t1: u32,
        c0: u32,
        c1: u32,
    }
}

/// The data every pass of the fused unroll reads.
pub struct UnrollInputs<'a> {
    /// Training inputs `[tasks, train, d]`.
    pub x: &'a GpuTensor,
    /// Training labels `[tasks, train]`.
    pub z: &'a GpuTensor,
    /// Minibatch rows `[steps, tasks, batch]` (u32).
    pub idx: &'a GpuTensor,
    /// Mask, layer-major like the parameters (any length-1 tensor when unconstrained).
    pub mask: &'a GpuTensor,
    /// Fixed signs, layer-major (any length-1 tensor when unconstrained).
    pub signs: &'a GpuTensor,
}

impl UnrollGpu {
    /// Kernels and scratch for `shape` in the preferred layout
    /// ([`UnrollLayout::preferred`]); fails with the reason when the learner
    /// does not fit the adapter (see [`UnrollShape::unfit_reason`]).
    pub fn new(gpu: &Gpu, shape: UnrollShape) -> Result<UnrollGpu> {
        let layout = UnrollLayout::preferred(gpu);
        Self::with_layout(gpu, shape, layout)
    }

    /// Like [`UnrollGpu::new`] with `wg` threads per workgroup in the
    /// workgroup layout. Every value is summed by one thread in a fixed order
    /// whatever the width, so all widths give bit-identical results; tests
    /// use this to run the hardware width on a software adapter.
    pub fn with_threads(gpu: &Gpu, shape: UnrollShape, wg: u32) -> Result<UnrollGpu> {
        Self::with_layout(gpu, shape, UnrollLayout::Workgroup { threads: wg })
    }

    /// Kernels and scratch for `shape` in `layout`.
    pub fn with_layout(gpu: &Gpu, shape: UnrollShape, layout: UnrollLayout) -> Result<UnrollGpu> {
        let invalid = |message: String| OpError::InvalidShape {
            op: "unroll",
            message,
        };
        let unsupported = |message: String| OpError::Unsupported {
            op: "unroll",
            message,
        };
        let wg = layout.threads();
        let lanes = matches!(layout, UnrollLayout::Lanes { .. });
        let most = gpu.limits().max_compute_invocations_per_workgroup;
        if wg == 0 || wg > most || (lanes && !(wg.is_power_of_two() && wg <= 128)) {
            return Err(unsupported(format!(
                "{wg} threads per workgroup; the adapter allows 1 to {most} (the lanes layout, a power of two up to 128)"
            )));
        }
        if let UnrollLayout::Lanes { lanes } = layout
            && gpu.subgroup_size() != Some(lanes)
        {
            return Err(unsupported(format!(
                "the lanes layout needs subgroups of exactly {lanes} invocations; the adapter {} has {:?}",
                gpu.adapter().name,
                gpu.subgroup_size()
            )));
        }
        let budget = loop_budget(gpu);
        if let Some(reason) = shape.unfit_reason(gpu.limits(), budget, layout) {
            return Err(invalid(reason));
        }
        let u = |v: usize| v as u32; // every size was bounded by unfit_reason
        let mut layers = [[0u32; 4]; 2 * UnrollShape::MAX_LAYERS];
        // Value offsets: per row in the lanes layout, per block of n rows in
        // the workgroup layout (both with the input first).
        let rows_per_block = if lanes { 1 } else { shape.batch };
        let (mut p_off, mut v_off) = (0, rows_per_block * shape.d_in());
        let mut v_in = 0;
        for (l, layer) in shape.layers.iter().enumerate() {
            let (d_in, d_out) = layer.widths();
            let (kind, act) = match layer {
                UnrollLayer::Dense { .. } => (0, 0),
                UnrollLayer::Act { act, .. } => (1, act.code()),
            };
            layers[2 * l] = [kind, act, u(d_in), u(d_out)];
            layers[2 * l + 1] = [u(p_off), u(layer.params()), u(v_in), u(v_off)];
            p_off += layer.params();
            v_in = v_off;
            v_off += rows_per_block * d_out;
        }
        let params = UnrollParams {
            tasks: u(shape.tasks),
            n: u(shape.batch),
            m: u(shape.train),
            d: u(shape.d_in()),
            steps: u(shape.steps),
            every: u(shape.every),
            n_layers: u(shape.layers.len()),
            n_params: u(shape.n_params()),
            lr: shape.lr as f32,
            constrained: u32::from(shape.constrained),
            vals_per_task: u(if lanes {
                shape.row_values()
            } else {
                shape.values_per_task()
            }),
            seg_len: u(shape.seg_len()),
            layers,
        };
        let (forward_chunks, backward_chunks) = shape.chunks(layout, budget).map_err(invalid)?;
        let range = |(a, b): (usize, usize), forward: bool| {
            let r = if forward {
                Range {
                    t0: u(a),
                    t1: u(b),
                    c0: 0,
                    c1: 0,
                }
            } else {
                Range {
                    t0: 0,
                    t1: 0,
                    c0: u(a),
                    c1: u(b),
                }
            };
            gpu.params("unroll range", &r)
        };
        let (forward, backward, scratch) = if lanes {
            let kernel = lanes_kernel::generate(&shape, wg as usize);
            let file = "unroll_lanes (generated by occam_ops::unroll::lanes_kernel)";
            let entry = |entry| Generated {
                shader: "unroll_lanes",
                file,
                source: &kernel,
                entry,
            };
            // The backward kernel takes llvmpipe about twice the forward's
            // compile time: it goes first, the two at once.
            let [backward, forward]: [Arc<Kernel>; 2] = gpu
                .generated_kernels(&[
                    entry("unroll_lanes_backward"),
                    entry("unroll_lanes_forward"),
                ])?
                .try_into()
                .expect("two kernels");
            (forward, backward, None)
        } else {
            let len = shape.tasks * shape.values_per_task();
            let scratch = [
                gpu.zeros("unroll values", len)?,
                gpu.zeros("unroll cotangents", len)?,
                gpu.zeros("unroll tangents", len)?,
                gpu.zeros("unroll tangent cotangents", len)?,
            ];
            let constants = [("WG", f64::from(wg))];
            (
                gpu.kernel(kernels::UNROLL_FORWARD, &constants)?,
                gpu.kernel(kernels::UNROLL_BACKWARD, &constants)?,
                Some(scratch),
            )
        };
        let seg = shape.tasks * shape.seg_copies(layout) * shape.seg_len();
        Ok(UnrollGpu {
            params: gpu.params("unroll params", &params)?,
            forward,
            backward,
            scratch,
            seg: gpu.zeros("unroll segment", seg.max(1))?,
            forward_ranges: forward_chunks
                .into_iter()
                .map(|c| range(c, true))
                .collect::<occam_gpu::Result<_>>()?,
            backward_ranges: backward_chunks
                .into_iter()
                .map(|c| range(c, false))
                .collect::<occam_gpu::Result<_>>()?,
            shape,
            layout,
        })
    }

    /// The layout in use.
    pub fn layout(&self) -> UnrollLayout {
        self.layout
    }

    /// Dispatches per forward and per backward pass.
    pub fn dispatches(&self) -> (usize, usize) {
        (self.forward_ranges.len(), self.backward_ranges.len())
    }

    /// The shape this op was built for.
    pub fn shape(&self) -> &UnrollShape {
        &self.shape
    }

    fn check_inputs(&self, io: &UnrollInputs<'_>) -> Result<()> {
        let s = &self.shape;
        let p = s.tasks * s.n_params();
        check_len("unroll", "x", io.x.len(), s.tasks * s.train * s.d_in())?;
        check_len("unroll", "z", io.z.len(), s.tasks * s.train)?;
        check_len("unroll", "idx", io.idx.len(), s.steps * s.tasks * s.batch)?;
        let side = if s.constrained { p } else { io.mask.len() };
        check_len("unroll", "mask", io.mask.len(), side)?;
        check_len("unroll", "signs", io.signs.len(), side)
    }

    /// w ← w_T from w = w_0 (layer-major `[tasks · P]`), keeping w_t for
    /// every t ≡ 0 (mod every) in `hist` (`[checkpoints, tasks · P]`).
    pub fn forward(
        &self,
        enc: &mut Encoder<'_>,
        io: &UnrollInputs<'_>,
        w: &GpuTensor,
        hist: &GpuTensor,
    ) -> Result<()> {
        self.check_inputs(io)?;
        let p = self.shape.tasks * self.shape.n_params();
        check_len("unroll", "w", w.len(), p)?;
        check_len("unroll", "hist", hist.len(), self.shape.checkpoints() * p)?;
        let mut extra = vec![("w", w.buffer())];
        extra.extend(self.scratch_binds(false));
        let ranges = self.forward_ranges.iter();
        self.run(
            enc,
            &self.forward,
            io,
            hist,
            &extra,
            ranges,
            self.forward_flops(),
        )
    }

    /// The reverse sweep: from v = w̄_T, adds η (2/n) ⟨∇g, d⟩ of every step
    /// into `z_bar` (`[tasks, train]`) and leaves w̄_0 in v.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        io: &UnrollInputs<'_>,
        hist: &GpuTensor,
        v: &GpuTensor,
        z_bar: &GpuTensor,
    ) -> Result<()> {
        self.check_inputs(io)?;
        let s = &self.shape;
        let p = s.tasks * s.n_params();
        check_len("unroll", "hist", hist.len(), s.checkpoints() * p)?;
        check_len("unroll", "v", v.len(), p)?;
        check_len("unroll", "z_bar", z_bar.len(), s.tasks * s.train)?;
        let mut extra = vec![("v", v.buffer()), ("z_bar", z_bar.buffer())];
        if self.reads("seg") {
            extra.push(("seg", self.seg.buffer()));
        }
        extra.extend(self.scratch_binds(true));
        // The sweep runs from the last checkpoint segment back to the first.
        let ranges = self.backward_ranges.iter().rev();
        self.run(
            enc,
            &self.backward,
            io,
            hist,
            &extra,
            ranges,
            self.backward_flops(),
        )
    }

    /// Whether the kernels read `buffer` (`mask` standing for the mask and
    /// the signs): the workgroup layout's read them all; the lanes layout's,
    /// generated for this learner, read the mask and signs only when it is
    /// constrained and the recomputation segment only when w_t is not kept
    /// at every step.
    fn reads(&self, buffer: &str) -> bool {
        match (self.layout, buffer) {
            (UnrollLayout::Workgroup { .. }, _) => true,
            (UnrollLayout::Lanes { .. }, "mask") => self.shape.constrained,
            (UnrollLayout::Lanes { .. }, "seg") => self.shape.every > 1,
            _ => true,
        }
    }

    /// The workgroup layout's per-row scratch, as its kernels bind it: the
    /// values and cotangents, and in the backward pass their tangents too.
    /// The lanes layout has none.
    fn scratch_binds(&self, backward: bool) -> Vec<(&'static str, &wgpu::Buffer)> {
        let Some([vals, bars, dots, bardots]) = &self.scratch else {
            return Vec::new();
        };
        let mut binds = vec![("vals", vals.buffer()), ("bars", bars.buffer())];
        if backward {
            binds.extend([("dots", dots.buffer()), ("bardots", bardots.buffer())]);
        }
        binds
    }

    /// Dispatches `kernel` once per range, binding what both passes read
    /// plus `extra`, and spreads `flops` over the dispatches.
    #[allow(clippy::too_many_arguments)]
    fn run<'r>(
        &self,
        enc: &mut Encoder<'_>,
        kernel: &Kernel,
        io: &UnrollInputs<'_>,
        hist: &GpuTensor,
        extra: &[(&str, &wgpu::Buffer)],
        ranges: impl ExactSizeIterator<Item = &'r wgpu::Buffer>,
        flops: f64,
    ) -> Result<()> {
        let share = flops / ranges.len() as f64;
        for range in ranges {
            let mut binds = vec![
                ("p", &self.params),
                ("range", range),
                ("x", io.x.buffer()),
                ("z", io.z.buffer()),
                ("idx", io.idx.buffer()),
                ("hist", hist.buffer()),
            ];
            if self.reads("mask") {
                binds.extend([("mask", io.mask.buffer()), ("signs", io.signs.buffer())]);
            }
            binds.extend_from_slice(extra);
            enc.dispatch(kernel, &binds, [self.shape.tasks as u32, 1, 1])?;
            enc.note_flops(share);
        }
        Ok(())
    }

    /// Floating-point operations of one forward dispatch (multiply-adds count 2).
    pub fn forward_flops(&self) -> f64 {
        let s = &self.shape;
        (s.tasks * s.steps) as f64 * self.gradient_flops()
    }

    /// Floating-point operations of one backward dispatch, recomputation included.
    pub fn backward_flops(&self) -> f64 {
        let s = &self.shape;
        let recompute = s.steps.saturating_sub(s.checkpoints());
        let recompute = if s.every > 1 { recompute } else { 0 };
        let per_step = self.gradient_flops() + self.tangent_flops();
        s.tasks as f64 * (s.steps as f64 * per_step + recompute as f64 * self.gradient_flops())
    }

    /// Σ over layers of (products per dense layer × 2·n·d_in·d_out, with
    /// `first` products for the first layer and `later` for the others; flops
    /// per activation value × n·width), plus 2·P for the parameter update.
    fn step_flops(&self, first: f64, later: f64, per_act_value: f64) -> f64 {
        let n = self.shape.batch as f64;
        self.shape
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| match *layer {
                UnrollLayer::Dense { d_in, d_out } => {
                    let products = if l > 0 { later } else { first };
                    products * 2.0 * n * (d_in * d_out) as f64
                }
                UnrollLayer::Act { width, .. } => per_act_value * n * width as f64,
            })
            .sum::<f64>()
            + 2.0 * self.shape.n_params() as f64
    }

    /// One inner step: per dense layer the forward product, ∇W and (past the
    /// first layer) the input cotangents; the step itself.
    fn gradient_flops(&self) -> f64 {
        self.step_flops(2.0, 3.0, 2.0)
    }

    /// The tangent forward and tangent backward of one step (each dense layer
    /// past the first does twice the primal's products).
    fn tangent_flops(&self) -> f64 {
        self.step_flops(2.0, 6.0, 5.0)
    }
}

/// The fused unroll in the registry: T inner steps (w_0 → w_T) and the
/// reverse sweep ((w̄_T) → (w̄_0, z̄)) of a small MLP on the layout the
/// adapter runs, against the twin [`train`] / [`adjoint`] of the same
/// network as a [`crate::net::NetSpec`], and the twin's sweep against
/// central differences of its training.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "unroll",
    entry_points: &["unroll_forward", "unroll_backward"],
    params: &[
        crate::registry::params::<UnrollParams>,
        crate::registry::params::<Range>,
    ],
    twin: "occam_ops::unroll::{train, adjoint}",
    check: |gpu| {
        use crate::constraint::Constraints;
        use crate::net::NetSpec;
        use crate::registry::{self, Checks, FD_TOL, H};
        let mut c = Checks::new(0x0B);
        let net = NetSpec::mlp(&[3, 8, 1], Activation::Tanh, Activation::Identity);
        let layers = net.unroll_layers().map_err(|message| OpError::InvalidShape {
            op: "unroll",
            message,
        })?;
        let shape = UnrollShape {
            tasks: 1,
            batch: 6,
            train: 10,
            steps: 8,
            every: 3,
            lr: 0.1,
            constrained: false,
            layers,
        };
        let (p, n) = (shape.n_params(), shape.train);
        let x = c.uniform(n * 3, -1.0, 1.0);
        let z = c.uniform(n, -1.0, 1.0);
        let w0 = c.uniform(p, -0.7, 0.7);
        let w_bar = c.uniform(p, -1.0, 1.0);
        let idx: Vec<usize> = (0..shape.steps * shape.batch).map(|k| (k * 7 + k / 4) % n).collect();
        let idx32: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
        let batches: Vec<Vec<usize>> = idx.chunks(shape.batch).map(<[usize]>::to_vec).collect();

        let op = UnrollGpu::new(gpu, shape.clone())?;
        let t = registry::upload(gpu, "unroll", &[&x, &z, &w0, &w_bar, &[0.0], &[0.0]])?;
        let idx_t = gpu.upload_u32("unroll idx", &idx32)?;
        let hist = gpu.zeros("unroll hist", shape.checkpoints() * p)?;
        let z_bar = gpu.zeros("unroll z_bar", n)?;
        let io = UnrollInputs {
            x: &t[0],
            z: &t[1],
            idx: &idx_t,
            mask: &t[4],
            signs: &t[5],
        };
        let w_t = registry::run(gpu, &[&t[2]], |enc| op.forward(enc, &io, &t[2], &hist))?;
        let bars = registry::run(gpu, &[&t[3], &z_bar], |enc| {
            op.backward(enc, &io, &hist, &t[3], &z_bar)
        })?;

        let free = Constraints::default();
        let ws = train(&net, &w0, &x, &z, &batches, shape.lr, &free);
        let (z_bar_want, w0_bar_want) = adjoint(&net, &ws, &x, &z, &batches, shape.lr, &free, &w_bar);
        let what = format!("unroll 3→8→1, {} steps ({})", shape.steps, op.layout().name());
        c.compare(format!("{what} forward: GPU vs twin"), &w_t, &ws[shape.steps..], 1e-5);
        c.compare(
            format!("{what} backward: GPU vs twin"),
            &bars,
            &[w0_bar_want.clone(), z_bar_want.clone()],
            1e-4,
        );
        // ⟨w̄_T, w_T(w_0, z)⟩ has the gradient (w̄_0, z̄).
        let gradient = [w0_bar_want, z_bar_want].concat();
        let point = [w0.clone(), z.clone()].concat();
        c.gradient(
            "unroll",
            |wz: &[f64]| {
                let ws = train(&net, &wz[..p], &x, &wz[p..], &batches, shape.lr, &free);
                let value = ws[shape.steps].iter().zip(&w_bar).map(|(a, b)| a * b).sum();
                (value, gradient.clone())
            },
            &point,
            H,
            FD_TOL,
        );
        Ok(c.finish())
    },
};
