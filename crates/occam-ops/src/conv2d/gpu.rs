//! The convolution's GPU kernels (`shaders/conv2d.wgsl`), or kernels
//! generated per shape for software adapters ([`super::lanes`]).

use super::Conv2dShape;
use super::lanes::{self, Pass};
use crate::error::{OpError, Result, check_len};
use crate::launch::{dispatch_checked, spread_grid};
use crate::passes::{BilinearGpu, Cotangents, Operands};
use occam_gpu::{Encoder, EntryPoint, Generated, Gpu, GpuTensor, Kernel, kernels, wgpu};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/conv2d.wgsl` (its `ConvParams`).
    pub(crate) struct ConvParams in "conv2d" {
        batch: u32,
        images: u32,
        c_in: u32,
        c_out: u32,
        height: u32,
        width: u32,
        kernel: u32,
        padding: u32,
        h_out: u32,
        w_out: u32,
        fan: u32,
        _pad: u32,
    }
}

/// Largest kernel size the tiled forward kernel stages (its workgroup tile holds 7×7 taps).
const MAX_TILED_KERNEL: usize = 7;

/// Which kernels a convolution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv2dKernels {
    /// The lanes kernels on software adapters with subgroups (kernels up to
    /// 7 × 7), elsewhere `shaders/conv2d.wgsl`'s.
    Auto,
    /// Always `shaders/conv2d.wgsl`'s kernels (tiled forward).
    Tiled,
    /// Kernels generated for the shape, one subgroup per workgroup, lanes
    /// over channels and the image's rows shared by subgroup broadcasts
    /// (`conv2d::lanes`): for adapters that run a workgroup as one CPU
    /// core's SIMD lanes. Needs subgroups of 4 to 64 lanes (a power of two)
    /// and kernels up to 7 × 7.
    Lanes,
}

/// One generated pass: its kernel, grid and the buffers it binds; for a
/// parameter pass cut into chunks of images, the kernel that adds the
/// chunks' partial sums and its grid.
struct LanesKernel {
    kernel: Arc<Kernel>,
    grid: [u32; 3],
    binds: Vec<&'static str>,
    reduce: Option<(Arc<Kernel>, [u32; 3])>,
}

/// A convolution of one shape on the GPU: its kernels and parameter block.
pub struct Conv2dGpu {
    shape: Conv2dShape,
    /// The generated kernels, in the order of [`Pass::ALL`], when they run.
    lanes: Option<Vec<LanesKernel>>,
    /// The parameter passes' partial sums per chunk of images (lanes
    /// kernels on a software adapter, more images than one chunk).
    partials: Option<GpuTensor>,
    params: wgpu::Buffer,
    max_groups: u32,
    forward: Arc<Kernel>,
    forward_naive: Arc<Kernel>,
    backward_input: Arc<Kernel>,
    backward_params: Arc<Kernel>,
    tangent_forward: Arc<Kernel>,
    tangent_backward_input: Arc<Kernel>,
    tangent_backward_params: Arc<Kernel>,
}

impl Conv2dGpu {
    /// Compiles (or fetches) the kernels for `shape`
    /// ([`Conv2dKernels::Auto`]).
    pub fn new(gpu: &Gpu, shape: Conv2dShape) -> Result<Conv2dGpu> {
        Conv2dGpu::with_kernels(gpu, shape, Conv2dKernels::Auto)
    }

    /// Like [`Conv2dGpu::new`], choosing the kernels explicitly (tests and
    /// benchmarks compare them).
    pub fn with_kernels(
        gpu: &Gpu,
        shape: Conv2dShape,
        kernels: Conv2dKernels,
    ) -> Result<Conv2dGpu> {
        let s = shape;
        if s.batch == 0
            || s.images == 0
            || s.c_in == 0
            || s.c_out == 0
            || s.kernel == 0
            || s.height + 2 * s.padding < s.kernel
            || s.width + 2 * s.padding < s.kernel
        {
            return Err(OpError::InvalidShape {
                op: "conv2d",
                message: format!("impossible shape {shape:?}"),
            });
        }
        if u32::try_from(s.x_len().max(s.y_len()).max(s.w_len())).is_err() {
            return Err(OpError::InvalidShape {
                op: "conv2d",
                message: format!("{shape:?} has more than 2³² values"),
            });
        }
        let params = ConvParams {
            batch: s.batch as u32,
            images: s.images as u32,
            c_in: s.c_in as u32,
            c_out: s.c_out as u32,
            height: s.height as u32,
            width: s.width as u32,
            kernel: s.kernel as u32,
            padding: s.padding as u32,
            h_out: s.h_out() as u32,
            w_out: s.w_out() as u32,
            fan: s.fan() as u32,
            _pad: 0,
        };
        let max_groups = gpu.limits().max_compute_workgroups_per_dimension;
        let width = gpu
            .subgroup_size()
            .filter(|&w| lanes::supported(w) && s.kernel <= lanes::MAX_KERNEL);
        let width = match kernels {
            Conv2dKernels::Tiled => None,
            Conv2dKernels::Auto => width.filter(|_| gpu.adapter().is_software),
            Conv2dKernels::Lanes => Some(width.ok_or_else(|| OpError::Unsupported {
                op: "conv2d",
                message: format!(
                    "the lanes kernels need subgroups of 4 to 64 lanes (a power of two) and \
                     kernels up to {m}×{m}; the adapter {} offers {:?}, the kernel is {k}×{k}",
                    gpu.adapter().name,
                    gpu.subgroup_size(),
                    m = lanes::MAX_KERNEL,
                    k = s.kernel,
                ),
            })?),
        };
        if width.is_none() {
            // The shader's parameter passes loop over every image, row and
            // column of the output in one invocation.
            let iterations = s.images * (1 + s.h_out() * (1 + s.w_out()));
            crate::loop_budget::check_loop_budget(
                gpu,
                "conv2d",
                &format!(
                    "{} images of {}×{} outputs (the parameter gradient's sums; the lanes \
                     kernels, which cut them, need subgroups, e.g. lavapipe on Vulkan)",
                    s.images,
                    s.h_out(),
                    s.w_out()
                ),
                iterations,
            )?;
        }
        let budget = crate::loop_budget::loop_budget(gpu);
        let mut partials = None;
        let lanes = match width {
            None => None,
            Some(w) => {
                // One buffer serves every pass, sized for the one with the most chunks.
                let most = Pass::ALL
                    .iter()
                    .map(|&p| lanes::params_split(p, &s, budget).0)
                    .max()
                    .unwrap_or(1);
                if most > 1 {
                    partials = Some(gpu.zeros("conv2d partials", most * s.w_len())?);
                }
                let w = w as usize;
                // Every pass's source (and its reduction's, where its rows
                // are split), compiled at once.
                let split_of = Pass::ALL.map(|pass| lanes::params_split(pass, &s, budget));
                let mut sources: Vec<(String, String, String)> = Vec::new();
                for (pass, split) in Pass::ALL.into_iter().zip(split_of) {
                    let splits = split.0;
                    sources.push((
                        format!("occam_ops::conv2d::lanes ({pass:?}, {s:?}, {w} lanes)"),
                        lanes::generate(pass, &s, w, split),
                        format!("conv2d_lanes_{}", pass.name()),
                    ));
                    if splits > 1 {
                        sources.push((
                            format!("occam_ops::conv2d::lanes (reduce, {s:?}, {splits})"),
                            lanes::reduce(s.w_len(), splits),
                            "conv2d_lanes_reduce".to_string(),
                        ));
                    }
                }
                let list: Vec<Generated<'_>> = sources
                    .iter()
                    .map(|(file, source, entry)| Generated {
                        shader: "conv2d_lanes",
                        file,
                        source,
                        entry,
                    })
                    .collect();
                let mut compiled = gpu.generated_kernels(&list)?.into_iter();
                let mut passes = Vec::with_capacity(Pass::ALL.len());
                for (pass, (splits, _)) in Pass::ALL.into_iter().zip(split_of) {
                    let kernel = compiled.next().expect("one kernel per pass");
                    let reduce = (splits > 1).then(|| {
                        let kernel = compiled.next().expect("one reduction per split pass");
                        (kernel, spread_grid(s.w_len(), 64, max_groups))
                    });
                    passes.push(LanesKernel {
                        kernel,
                        grid: spread_grid(lanes::workgroups(pass, &s, w, splits), 1, max_groups),
                        binds: lanes::bindings(pass, splits > 1),
                        reduce,
                    });
                }
                Some(passes)
            }
        };
        let k = |entry: EntryPoint<'static>| gpu.kernel(entry, &[]);
        Ok(Conv2dGpu {
            shape,
            lanes,
            partials,
            params: gpu.params("conv2d params", &params)?,
            max_groups,
            forward: k(kernels::CONV2D_FORWARD)?,
            forward_naive: k(kernels::CONV2D_FORWARD_NAIVE)?,
            backward_input: k(kernels::CONV2D_BACKWARD_INPUT)?,
            backward_params: k(kernels::CONV2D_BACKWARD_PARAMS)?,
            tangent_forward: k(kernels::CONV2D_TANGENT_FORWARD)?,
            tangent_backward_input: k(kernels::CONV2D_TANGENT_BACKWARD_INPUT)?,
            tangent_backward_params: k(kernels::CONV2D_TANGENT_BACKWARD_PARAMS)?,
        })
    }

    /// The sizes.
    pub fn shape(&self) -> Conv2dShape {
        self.shape
    }

    /// Dispatches `pass`: its generated kernel where the lanes kernels run
    /// (`kernel` is then unused), else `kernel` on `n` threads.
    fn run(
        &self,
        enc: &mut Encoder<'_>,
        pass: Option<Pass>,
        kernel: &Kernel,
        tensors: &[(&str, &GpuTensor, usize)],
        n: usize,
    ) -> Result<()> {
        let generated = pass.and_then(|pass| {
            let i = Pass::ALL.iter().position(|&p| p == pass)?;
            self.lanes.as_ref().map(|l| &l[i])
        });
        match generated {
            Some(lk) => {
                let mut binds: Vec<(&str, &wgpu::Buffer)> = Vec::with_capacity(tensors.len());
                let mut out = None;
                for (name, t, len) in tensors {
                    check_len("conv2d", name, t.len(), *len)?;
                    if lk.binds.contains(name) {
                        binds.push((name, t.buffer()));
                    } else {
                        // A parameter pass's output, reached through its partials.
                        out = Some(t.buffer());
                    }
                }
                match (&lk.reduce, &self.partials, out) {
                    (Some((reduce, grid)), Some(partials), Some(out)) => {
                        binds.push(("partials", partials.buffer()));
                        enc.dispatch(&lk.kernel, &binds, lk.grid)?;
                        let binds = [("partials", partials.buffer()), ("out", out)];
                        enc.dispatch(reduce, &binds, *grid)?;
                    }
                    _ => enc.dispatch(&lk.kernel, &binds, lk.grid)?,
                }
            }
            None => {
                let grid = spread_grid(n, 64, self.max_groups);
                dispatch_checked(enc, "conv2d", kernel, &self.params, tensors, grid)?;
            }
        }
        // Tangent passes compute two products, the others one.
        let products = if kernel.entry().starts_with("conv2d_tangent") {
            2.0
        } else {
            1.0
        };
        enc.note_flops(products * self.shape.product_flops());
        Ok(())
    }

    /// y = conv(x, w) + bias, one thread per output (the baseline of the
    /// tiled kernel).
    pub fn forward_naive(
        &self,
        enc: &mut Encoder<'_>,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        self.run_forward(enc, None, &self.forward_naive, self.shape.y_len(), x, w, y)
    }

    /// Dispatches a forward kernel on `threads` threads.
    #[allow(clippy::too_many_arguments)]
    fn run_forward(
        &self,
        enc: &mut Encoder<'_>,
        pass: Option<Pass>,
        kernel: &Kernel,
        threads: usize,
        x: &GpuTensor,
        w: &GpuTensor,
        y: &GpuTensor,
    ) -> Result<()> {
        let s = self.shape;
        self.run(
            enc,
            pass,
            kernel,
            &[
                ("x", x, s.x_len()),
                ("w", w, s.w_len()),
                ("y", y, s.y_len()),
            ],
            threads,
        )
    }
}

impl BilinearGpu for Conv2dGpu {
    fn describe(&self) -> String {
        format!("conv2d {:?}", self.shape)
    }

    fn lens(&self) -> (usize, usize, usize) {
        (self.shape.x_len(), self.shape.w_len(), self.shape.y_len())
    }

    /// y = conv(x, w) + bias: the tiled kernel (kernels up to 7×7; larger
    /// ones fall back to the naive kernel).
    fn forward(&self, enc: &mut Encoder<'_>, at: Operands<'_>, y: &GpuTensor) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        if s.kernel > MAX_TILED_KERNEL {
            return self.forward_naive(enc, x, w, y);
        }
        // One 64-thread workgroup per (image, block of 8 channels, tile of 64 pixels).
        let tiles = (s.h_out() * s.w_out()).div_ceil(64);
        let groups = s.batch * s.images * s.c_out.div_ceil(8) * tiles;
        self.run_forward(
            enc,
            Some(Pass::Forward),
            &self.forward,
            groups * 64,
            x,
            w,
            y,
        )
    }

    /// x̄ (skipped when `out.x` is `None`) and w̄ for cotangent ȳ.
    fn backward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        y_bar: &GpuTensor,
        out: Cotangents<'_>,
    ) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        let (x_bar, w_bar) = (out.x, out.w);
        if let Some(x_bar) = x_bar {
            self.run(
                enc,
                Some(Pass::BackwardInput),
                &self.backward_input,
                &[
                    ("w", w, s.w_len()),
                    ("y_bar", y_bar, s.y_len()),
                    ("x_bar", x_bar, s.x_len()),
                ],
                s.x_len(),
            )?;
        }
        self.run(
            enc,
            Some(Pass::BackwardParams),
            &self.backward_params,
            &[
                ("x", x, s.x_len()),
                ("y_bar", y_bar, s.y_len()),
                ("w_bar", w_bar, s.w_len()),
            ],
            s.w_len(),
        )
    }

    /// ẏ = conv(ẋ, w) + conv(x, ẇ).
    fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        at: Operands<'_>,
        dir: Operands<'_>,
        y_dot: &GpuTensor,
    ) -> Result<()> {
        let (s, Operands { x, w }) = (self.shape, at);
        let Operands { x: x_dot, w: w_dot } = dir;
        self.run(
            enc,
            Some(Pass::TangentForward),
            &self.tangent_forward,
            &[
                ("x", x, s.x_len()),
                ("w", w, s.w_len()),
                ("x_dot", x_dot, s.x_len()),
                ("w_dot", w_dot, s.w_len()),
                ("y_dot", y_dot, s.y_len()),
            ],
            s.y_len(),
        )
    }

    /// x̄̇ (skipped when `out.x` is `None`) and w̄̇.
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
        if let Some(x_bar_dot) = x_bar_dot {
            self.run(
                enc,
                Some(Pass::TangentBackwardInput),
                &self.tangent_backward_input,
                &[
                    ("w", w, s.w_len()),
                    ("w_dot", w_dot, s.w_len()),
                    ("y_bar", y_bar, s.y_len()),
                    ("y_bar_dot", y_bar_dot, s.y_len()),
                    ("x_bar_dot", x_bar_dot, s.x_len()),
                ],
                s.x_len(),
            )?;
        }
        self.run(
            enc,
            Some(Pass::TangentBackwardParams),
            &self.tangent_backward_params,
            &[
                ("x", x, s.x_len()),
                ("x_dot", x_dot, s.x_len()),
                ("y_bar", y_bar, s.y_len()),
                ("y_bar_dot", y_bar_dot, s.y_len()),
                ("w_bar_dot", w_bar_dot, s.w_len()),
            ],
            s.w_len(),
        )
    }
}
