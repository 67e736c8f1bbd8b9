//! The dense layer's GPU kernels: tiled and untiled (`shaders/dense.wgsl`),
//! or generated per shape for software adapters ([`super::lanes`]).

use super::DenseShape;
use super::lanes::{self, LanesPlan, Pass};
use crate::error::{OpError, Result, check_len};
use crate::passes::{BilinearGpu, Cotangents, Operands};
use occam_gpu::{
    Encoder, EntryPoint, Generated, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for,
};
use std::sync::{Arc, OnceLock};

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/dense.wgsl` (its `DenseParams`).
    pub(crate) struct DenseParams in "dense" {
        batch: u32,
        rows: u32,
        d_in: u32,
        d_out: u32,
        splits: u32,
        chunk: u32,
        pad0: u32,
        pad1: u32,
    }
}

/// Output block of one workgroup of the tiled kernels (see the shader).
const TILE: usize = 64;

/// Depth of one staged slice of the tiled kernels.
const SLICE: usize = 16;

/// Rows that one chunk of a split parameter pass covers at least.
const MIN_SPLIT_ROWS: usize = 256;

/// Workgroups a parameter pass should launch before its rows are split
/// further: enough to fill a discrete GPU; on software adapters, enough for
/// every core of a desktop CPU (more only adds reduction work).
const TARGET_WORKGROUPS_HARDWARE: usize = 1024;
const TARGET_WORKGROUPS_SOFTWARE: usize = 16;

/// The most rows one invocation of a parameter pass may loop over on a
/// software adapter (see [`crate::loop_budget`]): the tiled tangent pass runs
/// 41 loop iterations per 16-row slice (the slice loop, and twice four
/// staging and sixteen multiply iterations), under 3 per row.
const SOFTWARE_MAX_SPLIT_ROWS: usize = crate::loop_budget::SOFTWARE_LOOP_BUDGET / 3;

/// How the rows of the parameter passes are cut: `splits` chunks of `chunk`
/// rows (a multiple of the 16-row slice), partial sums reduced in a second
/// dispatch when `splits > 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSplit {
    /// Number of chunks (1 = one pass over all rows, no reduction).
    pub splits: usize,
    /// Rows per chunk (the last may be shorter).
    pub chunk: usize,
}

impl RowSplit {
    /// The split for `rows` rows per problem when the pass without splitting
    /// launches `workgroups` workgroups in all, on a software adapter or not,
    /// with at most `max_z` workgroups along z (batch × splits).
    pub fn plan(
        rows: usize,
        workgroups: usize,
        batch: usize,
        software: bool,
        max_z: usize,
    ) -> RowSplit {
        let target = if software {
            TARGET_WORKGROUPS_SOFTWARE
        } else {
            TARGET_WORKGROUPS_HARDWARE
        };
        let mut splits = (rows / MIN_SPLIT_ROWS)
            .min(target.div_ceil(workgroups.max(1)))
            .max(1);
        if software {
            splits = splits.max(rows.div_ceil(SOFTWARE_MAX_SPLIT_ROWS));
        }
        splits = splits.min((max_z / batch.max(1)).max(1));
        let chunk = rows.div_ceil(splits).div_ceil(SLICE) * SLICE;
        let splits = rows.div_ceil(chunk.max(1)).max(1);
        RowSplit {
            splits,
            chunk: chunk.max(SLICE),
        }
    }
}

/// Which kernels a dense layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseKernels {
    /// The lanes kernels on software adapters with subgroups (see
    /// [`DenseKernels::Lanes`]); elsewhere per pass: tiled, unless its grid
    /// would be mostly padding (more than 4× the useful multiply-adds), then
    /// untiled.
    Auto,
    /// Always the tiled kernels.
    Tiled,
    /// Always the untiled kernels (one thread per output).
    Naive,
    /// Kernels generated for the shape, one subgroup per workgroup, operands
    /// shared across lanes by subgroup broadcasts (`dense::lanes`): for
    /// adapters that run a workgroup as one CPU core's SIMD lanes. Needs
    /// subgroups of at most 16 invocations (a power of two).
    Lanes,
}

/// The kernel one pass runs.
enum PassKernel {
    /// `shaders/dense.wgsl`'s tiled kernel: 64 × 64 outputs per workgroup.
    Tiled(Arc<Kernel>),
    /// `shaders/dense.wgsl`'s untiled kernel: one thread per output.
    Naive(Arc<Kernel>),
    /// The generated kernel.
    Lanes(Box<LanesKernel>),
}

/// A generated pass: its source, compiled on the first dispatch (a pass an
/// experiment never runs, such as the tangent passes of a closed-form
/// learner's meta-learner, costs no compile), its grid along x and y, and
/// the buffers it binds.
struct LanesKernel {
    pass: Pass,
    source: String,
    file: String,
    grid: [u32; 2],
    binds: Vec<&'static str>,
    kernel: OnceLock<Arc<Kernel>>,
}

impl LanesKernel {
    fn new(
        pass: Pass,
        shape: &DenseShape,
        plan: LanesPlan,
        split: RowSplit,
        accumulate: bool,
    ) -> LanesKernel {
        let splits = (split.splits, split.chunk);
        let source = lanes::generate(pass, shape, plan, splits, accumulate);
        let (m, n, _) = pass.dims(shape);
        LanesKernel {
            pass,
            source,
            file: format!("dense_lanes_{} (generated for {shape:?})", pass.name()),
            grid: plan.grid(m, n).map(|g| g as u32),
            binds: lanes::bindings(pass, split.splits > 1),
            kernel: OnceLock::new(),
        }
    }

    /// The compiled kernel (compiled now if this is its first use).
    fn kernel(&self, gpu: &Gpu) -> Result<Arc<Kernel>> {
        if let Some(k) = self.kernel.get() {
            return Ok(k.clone());
        }
        let k = gpu.generated_kernel("dense_lanes", &self.file, &self.source, &self.entry())?;
        Ok(self.kernel.get_or_init(|| k).clone())
    }

    /// The entry point of the generated source.
    fn entry(&self) -> String {
        format!("dense_lanes_{}", self.pass.name())
    }
}

/// The subgroup size the lanes kernels would run at on `gpu`, if it has one
/// they support: a power of two up to the 16-row slice the row chunks are
/// cut in multiples of.
fn lanes_on(gpu: &Gpu) -> Option<usize> {
    gpu.subgroup_size()
        .map(|w| w as usize)
        .filter(|w| w.is_power_of_two() && *w <= SLICE)
}

/// A dense layer of one shape on the GPU: its kernels and parameter block.
pub struct DenseGpu {
    shape: DenseShape,
    params: wgpu::Buffer,
    split: RowSplit,
    /// Partial sums of a split parameter pass (`[splits, w_len]`, `w_len`
    /// covering every problem; one unused float when the rows are not split).
    partials: GpuTensor,
    reduce: Arc<Kernel>,
    /// The untiled forward kernel, the benchmarks' baseline.
    naive_forward: Arc<Kernel>,
    forward: PassKernel,
    backward_input: PassKernel,
    backward_params: PassKernel,
    tangent_forward: PassKernel,
    tangent_backward_input: PassKernel,
    tangent_backward_params: PassKernel,
}

/// Whether a tiled m × n output with depth k would compute more than 4×
/// the useful multiply-adds (64 × 64 tiles, 16-deep slices).
fn mostly_padding(m: usize, n: usize, k: usize) -> bool {
    let padded = m.div_ceil(TILE) * TILE * n.div_ceil(TILE) * TILE * k.div_ceil(SLICE) * SLICE;
    padded > 4 * m * n * k.max(1)
}

/// Workgroups along x and y of a pass over an `m × n` output per problem:
/// one thread per output (untiled) or one 64 × 64 tile per workgroup.
fn grid(naive: bool, (m, n): (usize, usize)) -> [u32; 2] {
    if naive {
        [workgroups_for(m * n, 64), 1]
    } else {
        [workgroups_for(n, TILE), workgroups_for(m, TILE)]
    }
}

fn to_u32(what: &str, v: usize) -> Result<u32> {
    crate::error::to_u32("dense", what, v)
}

impl DenseGpu {
    /// Compiles (or fetches from the cache) the kernels for `shape`. With
    /// `accumulate`, every pass adds into its outputs instead of overwriting them.
    pub fn new(gpu: &Gpu, shape: DenseShape, accumulate: bool) -> Result<DenseGpu> {
        Self::with_kernels(gpu, shape, accumulate, DenseKernels::Auto)
    }

    /// Like [`DenseGpu::new`], choosing the kernels explicitly (tests and
    /// benchmarks compare the tiled and untiled ones).
    pub fn with_kernels(
        gpu: &Gpu,
        shape: DenseShape,
        accumulate: bool,
        kernels: DenseKernels,
    ) -> Result<DenseGpu> {
        if shape.batch == 0 || shape.d_out == 0 {
            return Err(OpError::InvalidShape {
                op: "dense",
                message: format!("batch and d_out must be positive, got {shape:?}"),
            });
        }
        let constants = [("ACCUMULATE", if accumulate { 1.0 } else { 0.0 })];
        let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
        let software = gpu.adapter().is_software;
        let lanes = match kernels {
            DenseKernels::Lanes => Some(lanes_on(gpu).ok_or_else(|| OpError::Unsupported {
                op: "dense",
                message: format!(
                    "the lanes kernels need subgroups of a power of two up to {SLICE} \
                     invocations; the adapter {} offers {:?}",
                    gpu.adapter().name,
                    gpu.subgroup_size()
                ),
            })?),
            DenseKernels::Auto if software => lanes_on(gpu),
            _ => None,
        };
        // The lanes plan of each pass, when it runs the lanes kernels and its
        // grid fits the dispatch limits.
        let plan = |pass: Pass| -> Option<LanesPlan> {
            let w = lanes?;
            let (m, n, k) = pass.dims(&shape);
            let plan = LanesPlan::choose(m, n, k, w);
            let [gx, gy] = plan.grid(m, n);
            let loops = if pass.sums_rows() { 0 } else { k.div_ceil(w) };
            (gx <= max && gy <= max && loops <= crate::loop_budget::SOFTWARE_LOOP_BUDGET)
                .then_some(plan)
        };
        let (rows, d_in, d_out) = (shape.rows, shape.d_in, shape.d_out);
        let params_out = (d_out, d_in + 1, rows);
        let params_plan = plan(Pass::BackwardParams);
        let tiled_params_naive = params_plan.is_none() && Self::untiled(kernels, max, params_out);
        // The reduction runs one thread per parameter along x.
        let split = if shape.w_len().div_ceil(64) <= max {
            let [gx, gy] = match params_plan {
                Some(p) => p.grid(d_out, d_in + 1).map(|g| g as u32),
                None => grid(tiled_params_naive, (d_out, d_in + 1)),
            };
            let workgroups = shape.batch * (gx * gy) as usize;
            RowSplit::plan(rows, workgroups, shape.batch, software, max)
        } else {
            RowSplit {
                splits: 1,
                chunk: rows.max(1),
            }
        };
        let pass = |p: Pass,
                    (tiled, naive): (EntryPoint<'static>, EntryPoint<'static>)|
         -> Result<PassKernel> {
            if let Some(plan) = plan(p) {
                let kernel = LanesKernel::new(p, &shape, plan, split, accumulate);
                return Ok(PassKernel::Lanes(Box::new(kernel)));
            }
            let (m, n, k) = p.dims(&shape);
            Ok(if Self::untiled(kernels, max, (m, n, k)) {
                PassKernel::Naive(gpu.kernel(naive, &constants)?)
            } else {
                PassKernel::Tiled(gpu.kernel(tiled, &constants)?)
            })
        };
        let params = DenseParams {
            batch: to_u32("batch", shape.batch)?,
            rows: to_u32("rows", shape.rows)?,
            d_in: to_u32("d_in", shape.d_in)?,
            d_out: to_u32("d_out", shape.d_out)?,
            splits: to_u32("splits", split.splits)?,
            chunk: to_u32("chunk", split.chunk)?,
            pad0: 0,
            pad1: 0,
        };
        let partials_len = if split.splits > 1 {
            split.splits * shape.w_len()
        } else {
            1
        };
        use kernels::*;
        Ok(DenseGpu {
            shape,
            params: gpu.params("dense params", &params)?,
            split,
            partials: gpu.zeros("dense partial sums", partials_len)?,
            reduce: gpu.kernel(DENSE_BACKWARD_PARAMS_REDUCE, &constants)?,
            naive_forward: gpu.kernel(DENSE_FORWARD_NAIVE, &constants)?,
            forward: pass(Pass::Forward, (DENSE_FORWARD, DENSE_FORWARD_NAIVE))?,
            backward_input: pass(
                Pass::BackwardInput,
                (DENSE_BACKWARD_INPUT, DENSE_BACKWARD_INPUT_NAIVE),
            )?,
            backward_params: pass(
                Pass::BackwardParams,
                (DENSE_BACKWARD_PARAMS, DENSE_BACKWARD_PARAMS_NAIVE),
            )?,
            tangent_forward: pass(
                Pass::TangentForward,
                (DENSE_TANGENT_FORWARD, DENSE_TANGENT_FORWARD_NAIVE),
            )?,
            tangent_backward_input: pass(
                Pass::TangentBackwardInput,
                (
                    DENSE_TANGENT_BACKWARD_INPUT,
                    DENSE_TANGENT_BACKWARD_INPUT_NAIVE,
                ),
            )?,
            tangent_backward_params: pass(
                Pass::TangentBackwardParams,
                (
                    DENSE_TANGENT_BACKWARD_PARAMS,
                    DENSE_TANGENT_BACKWARD_PARAMS_NAIVE,
                ),
            )?,
        })
    }

    /// Compiles now the generated kernels of the passes a caller will run
    /// (forward and the parameter cotangent; with `input_cotangent` x̄;
    /// with `tangents` the tangent passes), so that a run's first meta-step
    /// does not pay for them; the rest compile on first use, if ever.
    pub fn compile(&self, gpu: &Gpu, input_cotangent: bool, tangents: bool) -> Result<()> {
        Self::compile_all(gpu, &[(self, input_cotangent, tangents)])
    }

    /// [`DenseGpu::compile`] for several layers (each with its
    /// `input_cotangent` and `tangents`), their kernels compiled at once on
    /// the machine's threads ([`Gpu::generated_kernels`]).
    pub fn compile_all(gpu: &Gpu, layers: &[(&DenseGpu, bool, bool)]) -> Result<()> {
        let mut pending: Vec<&LanesKernel> = Vec::new();
        for &(layer, input_cotangent, tangents) in layers {
            let mut passes = vec![&layer.forward, &layer.backward_params];
            if input_cotangent {
                passes.push(&layer.backward_input);
            }
            if tangents {
                passes.push(&layer.tangent_forward);
                passes.push(&layer.tangent_backward_params);
                if input_cotangent {
                    passes.push(&layer.tangent_backward_input);
                }
            }
            for pass in passes {
                if let PassKernel::Lanes(lanes) = pass
                    && lanes.kernel.get().is_none()
                {
                    pending.push(lanes);
                }
            }
        }
        let entries: Vec<String> = pending.iter().map(|k| k.entry()).collect();
        let list: Vec<Generated<'_>> = pending
            .iter()
            .zip(&entries)
            .map(|(k, entry)| Generated {
                shader: "dense_lanes",
                file: &k.file,
                source: &k.source,
                entry,
            })
            .collect();
        for (lanes, kernel) in pending.into_iter().zip(gpu.generated_kernels(&list)?) {
            let _ = lanes.kernel.set(kernel);
        }
        Ok(())
    }

    /// Whether a tiled-or-untiled pass over an M × N × K product runs the
    /// untiled kernel under `kernels` (never when its grid would not fit).
    fn untiled(kernels: DenseKernels, max: usize, (m, n, k): (usize, usize, usize)) -> bool {
        (m * n).div_ceil(64) <= max
            && match kernels {
                DenseKernels::Auto => mostly_padding(m, n, k),
                DenseKernels::Tiled | DenseKernels::Lanes => false,
                DenseKernels::Naive => true,
            }
    }

    /// The layer's sizes.
    pub fn shape(&self) -> DenseShape {
        self.shape
    }

    /// How the parameter passes cut their rows.
    pub fn row_split(&self) -> RowSplit {
        self.split
    }

    /// Records a parameter pass (a `d_out × (d_in + 1)` output per problem
    /// summed over the rows) into `out` (a binding name and its buffer): when
    /// the rows are split, each chunk into the partial sums, then their sum
    /// into `out`.
    fn launch_params(
        &self,
        enc: &mut Encoder<'_>,
        pass: &PassKernel,
        binds: &[(&str, &wgpu::Buffer)],
        out: (&str, &wgpu::Buffer),
        products: f64,
    ) -> Result<()> {
        let splits = self.split.splits;
        // The shader kernels bind both outputs and pick by `p.splits`; a
        // generated kernel declares the one it writes.
        let mut all = vec![("partials", self.partials.buffer())];
        all.extend_from_slice(binds);
        all.push(out);
        let output = (self.shape.d_out, self.shape.d_in + 1);
        self.record(enc, pass, &all, output, splits, products)?;
        if splits > 1 {
            let binds = [
                ("p", &self.params),
                ("partials", self.partials.buffer()),
                ("w_bar", out.1),
            ];
            let n = self.shape.w_len();
            enc.dispatch(&self.reduce, &binds, [workgroups_for(n, 64), 1, 1])?;
        }
        Ok(())
    }

    /// Records `pass` over an `m × n` output per problem with its chosen
    /// kernel, and notes its FLOPs (`products` products of the layer's size).
    fn launch(
        &self,
        enc: &mut Encoder<'_>,
        pass: &PassKernel,
        binds: &[(&str, &wgpu::Buffer)],
        output: (usize, usize),
        products: f64,
    ) -> Result<()> {
        self.record(enc, pass, binds, output, 1, products)
    }

    /// Dispatches `pass` over an `m × n` output per problem, `splits`
    /// workgroups along z per problem: the shader kernels with the
    /// parameters bound as `p` beside `binds`, a generated kernel with the
    /// buffers it declares.
    fn record(
        &self,
        enc: &mut Encoder<'_>,
        pass: &PassKernel,
        binds: &[(&str, &wgpu::Buffer)],
        output: (usize, usize),
        splits: usize,
        products: f64,
    ) -> Result<()> {
        let z = (self.shape.batch * splits) as u32;
        match pass {
            PassKernel::Tiled(kernel) | PassKernel::Naive(kernel) => {
                let mut all = vec![("p", &self.params)];
                all.extend_from_slice(binds);
                let [gx, gy] = grid(matches!(pass, PassKernel::Naive(_)), output);
                enc.dispatch(kernel, &all, [gx, gy, z])?;
            }
            PassKernel::Lanes(lanes) => {
                let all: Vec<_> = binds
                    .iter()
                    .filter(|(name, _)| lanes.binds.contains(name))
                    .copied()
                    .collect();
                let kernel = lanes.kernel(enc.gpu())?;
                enc.dispatch(&kernel, &all, [lanes.grid[0], lanes.grid[1], z])?;
            }
        }
        enc.note_flops(products * self.shape.product_flops());
        Ok(())
    }

    fn check(&self, pairs: &[(&str, &GpuTensor, usize)]) -> Result<()> {
        pairs
            .iter()
            .try_for_each(|(name, t, n)| check_len("dense", name, t.len(), *n))
    }

    /// y = [x, 1] wᵀ with the untiled kernel, whatever the shape (the
    /// benchmark baseline of the tiled one).
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
        let binds = [("x", x.buffer()), ("w", w.buffer()), ("y", y.buffer())];
        let naive = PassKernel::Naive(self.naive_forward.clone());
        self.record(enc, &naive, &binds, (s.rows, s.d_out), 1, 1.0)
    }
}

impl BilinearGpu for DenseGpu {
    fn describe(&self) -> String {
        format!("dense {:?}", self.shape)
    }

    fn lens(&self) -> (usize, usize, usize) {
        (self.shape.x_len(), self.shape.w_len(), self.shape.y_len())
    }

    /// y = [x, 1] wᵀ.
    fn forward(&self, enc: &mut Encoder<'_>, at: Operands<'_>, y: &GpuTensor) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("y", y, s.y_len()),
        ])?;
        let binds = [("x", x.buffer()), ("w", w.buffer()), ("y", y.buffer())];
        self.launch(enc, &self.forward, &binds, (s.rows, s.d_out), 1.0)
    }

    /// x̄ = ȳ w[:, :d_in] (skipped when `out.x` is `None`, e.g. for a first
    /// layer) and w̄ = ȳᵀ [x, 1].
    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        y_bar: &GpuTensor,
        out: Cotangents<'_>,
    ) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        let (x_bar, w_bar) = (out.x, out.w);
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("y_bar", y_bar, s.y_len()),
            ("w_bar", w_bar, s.w_len()),
        ])?;
        if let Some(x_bar) = x_bar {
            self.check(&[("x_bar", x_bar, s.x_len())])?;
            let binds = [
                ("w", w.buffer()),
                ("y_bar", y_bar.buffer()),
                ("x_bar", x_bar.buffer()),
            ];
            self.launch(enc, &self.backward_input, &binds, (s.rows, s.d_in), 1.0)?;
        }
        let binds = [("x", x.buffer()), ("y_bar", y_bar.buffer())];
        let out = ("w_bar", w_bar.buffer());
        self.launch_params(enc, &self.backward_params, &binds, out, 1.0)
    }

    /// ẏ = [ẋ, 0] wᵀ + [x, 1] ẇᵀ.
    fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        dir: Operands<'_>,
        y_dot: &GpuTensor,
    ) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        let Operands { x: x_dot, w: w_dot } = dir;
        self.check(&[
            ("x", x, s.x_len()),
            ("w", w, s.w_len()),
            ("x_dot", x_dot, s.x_len()),
            ("w_dot", w_dot, s.w_len()),
            ("y_dot", y_dot, s.y_len()),
        ])?;
        let binds = [
            ("x", x.buffer()),
            ("w", w.buffer()),
            ("x_dot", x_dot.buffer()),
            ("w_dot", w_dot.buffer()),
            ("y_dot", y_dot.buffer()),
        ];
        self.launch(enc, &self.tangent_forward, &binds, (s.rows, s.d_out), 2.0)
    }

    /// x̄̇ = ȳ̇ w + ȳ ẇ (skipped when `out.x` is `None`) and
    /// w̄̇ = ȳ̇ᵀ [x, 1] + ȳᵀ [ẋ, 0].
    fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        dir: Operands<'_>,
        (y_bar, y_bar_dot): (&GpuTensor, &GpuTensor),
        out: Cotangents<'_>,
    ) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        let Operands { x: x_dot, w: w_dot } = dir;
        let (x_bar_dot, w_bar_dot) = (out.x, out.w);
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
            let binds = [
                ("w", w.buffer()),
                ("w_dot", w_dot.buffer()),
                ("y_bar", y_bar.buffer()),
                ("y_bar_dot", y_bar_dot.buffer()),
                ("x_bar_dot", x_bar_dot.buffer()),
            ];
            let pass = &self.tangent_backward_input;
            self.launch(enc, pass, &binds, (s.rows, s.d_in), 2.0)?;
        }
        let binds = [
            ("x", x.buffer()),
            ("x_dot", x_dot.buffer()),
            ("y_bar", y_bar.buffer()),
            ("y_bar_dot", y_bar_dot.buffer()),
        ];
        let out = ("w_bar_dot", w_bar_dot.buffer());
        let pass = &self.tangent_backward_params;
        self.launch_params(enc, pass, &binds, out, 2.0)
    }
}
