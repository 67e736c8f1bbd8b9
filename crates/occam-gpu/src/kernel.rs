//! Compute kernels (one pipeline per shader entry point and set of override
//! constants) and the command encoder that dispatches them.
//!
//! Bind-group layouts come from naga's reflection of the shader, and buffers
//! are bound by their WGSL variable names, so the host cannot drift from the
//! shader: a missing, extra or misnamed buffer is an error, not a wrong result.

use crate::context::Gpu;
use crate::error::{GpuError, Result};
use crate::profiler::Profiler;
use crate::shaders::{BindingInfo, BindingKind, EntryPointInfo};
use crate::tensor::GpuTensor;
use std::sync::Arc;

/// Cache key: shader, entry point, override constants (as bit patterns) and,
/// for a generated kernel, its source.
pub(crate) type KernelKey = (String, String, Vec<(String, u64)>, Option<String>);

/// A compiled compute pipeline and the binding layout reflected from its shader.
pub struct Kernel {
    shader: &'static str,
    entry: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    bindings: Vec<BindingInfo>,
}

impl Kernel {
    /// `shader::entry`, for messages and profiles.
    pub fn name(&self) -> String {
        format!("{}::{}", self.shader, self.entry)
    }

    /// The entry point's name.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The buffers the entry point expects, by WGSL name.
    pub fn bindings(&self) -> &[BindingInfo] {
        &self.bindings
    }
}

/// A buffer bound to a WGSL variable by name.
pub type Bind<'a> = (&'a str, &'a wgpu::Buffer);

/// A compute entry point of an embedded shader. Every one has a constant in
/// [`kernels`](crate::kernels), generated from the shaders at build time, so
/// code names kernels by handle and a misspelt one does not compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryPoint<'a> {
    /// The shader's name (its file stem).
    pub shader: &'a str,
    /// The entry point's name.
    pub entry: &'a str,
}

/// One host-generated kernel to compile with [`Gpu::generated_kernels`]:
/// the arguments of [`Gpu::generated_kernel`].
#[derive(Clone, Copy, Debug)]
pub struct Generated<'a> {
    /// Names the kernel in messages and profiles.
    pub shader: &'static str,
    /// A description of what generated the source, for errors.
    pub file: &'a str,
    /// The WGSL source (`// #import` lines not yet expanded).
    pub source: &'a str,
    /// The entry point to compile.
    pub entry: &'a str,
}

impl Gpu {
    /// The kernel of `ep` specialised with `constants` (WGSL `override`
    /// values), compiled on first use and cached.
    pub fn kernel(&self, ep: EntryPoint<'_>, constants: &[(&str, f64)]) -> Result<Arc<Kernel>> {
        let EntryPoint { shader, entry } = ep;
        let key = kernel_key(shader, entry, constants, None);
        if let Some(k) = self.kernels.lock().unwrap().get(&key) {
            return Ok(k.clone());
        }
        let (info, ep) = self.registry.entry_point(shader, entry)?;
        check_overrides(shader, entry, &info.overrides, constants)?;
        self.compile(key, info.name, info.file, info.source, ep, constants)
    }

    /// The kernel `entry` of WGSL that the host generated for one problem
    /// (e.g. the fused unroll written out for a learner's layers, so that
    /// every loop over its sizes is unrolled and every private array is
    /// indexed by constants). `// #import NAME` lines are expanded from
    /// `shaders/lib/` first; the result is validated and reflected by naga
    /// like the embedded shaders, and compiled once per distinct source.
    /// `shader` names the kernel in messages and profiles; errors name
    /// `file` (a description of what generated the source).
    pub fn generated_kernel(
        &self,
        shader: &'static str,
        file: &str,
        source: &str,
        entry: &str,
    ) -> Result<Arc<Kernel>> {
        let key = kernel_key(shader, entry, &[], Some(source));
        if let Some(k) = self.kernels.lock().unwrap().get(&key) {
            return Ok(k.clone());
        }
        let (expanded, eps) = crate::shaders::expand_generated(file, source)?;
        let ep = eps.into_iter().find(|e| e.name == entry).ok_or_else(|| {
            GpuError::UnknownEntryPoint {
                shader: shader.to_string(),
                entry: entry.to_string(),
            }
        })?;
        self.compile(key, shader, file, &expanded, &ep, &[])
    }

    /// Compiles several generated kernels (see [`Gpu::generated_kernel`])
    /// at once, on up to as many threads as the machine has, and returns
    /// them in the order of `list`. Drivers compile a pipeline on the
    /// calling thread when it is created — llvmpipe generates its machine
    /// code there, seconds for a fused unroll — so a problem's big kernels
    /// need not wait for each other. Put the slowest first: threads take
    /// the list in order.
    pub fn generated_kernels(&self, list: &[Generated<'_>]) -> Result<Vec<Arc<Kernel>>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(list.len());
        let one = |g: &Generated<'_>| {
            let kernel = self.generated_kernel(g.shader, g.file, g.source, g.entry)?;
            self.prime(&kernel)?;
            Ok(kernel)
        };
        if threads <= 1 {
            return list.iter().map(one).collect();
        }
        on_threads(list, threads, one)
    }

    /// On a software adapter, submits a dispatch of `kernel` over no
    /// workgroups (its buffers stand-ins), so that the driver finishes
    /// compiling it now on its queue's thread. llvmpipe splits a pipeline's
    /// compile in two: the shader's optimisation when the pipeline is
    /// created (on the calling thread) and its machine code at the first
    /// dispatch that uses it (on the queue's thread). Primed, the second
    /// half of one kernel runs while the first half of the next is under way
    /// on another thread, instead of all of it waiting for the first
    /// meta-step. The dispatch does no work. Hardware drivers compile a
    /// pipeline when it is created, so nothing is submitted there.
    fn prime(&self, kernel: &Kernel) -> Result<()> {
        if !self.adapter().is_software {
            return Ok(());
        }
        let max_uniform = self.limits.max_uniform_buffer_binding_size.min(1 << 16);
        let stand_ins: Vec<wgpu::Buffer> = kernel
            .bindings
            .iter()
            .map(|b| {
                let uniform = matches!(b.kind, BindingKind::Uniform);
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("priming stand-in"),
                    size: if uniform { max_uniform } else { 16 },
                    usage: if uniform {
                        wgpu::BufferUsages::UNIFORM
                    } else {
                        wgpu::BufferUsages::STORAGE
                    },
                    mapped_at_creation: false,
                })
            })
            .collect();
        let entries: Vec<wgpu::BindGroupEntry<'_>> = kernel
            .bindings
            .iter()
            .zip(&stand_ins)
            .map(|(b, buffer)| wgpu::BindGroupEntry {
                binding: b.binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let context = format!("priming {}", kernel.name());
        self.scoped(&context, || {
            let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("priming"),
                layout: &kernel.layout,
                entries: &entries,
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("priming"),
                });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("priming"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&kernel.pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(0, 0, 0);
            }
            self.queue.submit([encoder.finish()]);
        })
    }

    /// Builds, caches and returns the pipeline of `ep` in `source`.
    fn compile(
        &self,
        key: KernelKey,
        shader: &'static str,
        file: &str,
        source: &str,
        ep: &EntryPointInfo,
        constants: &[(&str, f64)],
    ) -> Result<Arc<Kernel>> {
        let entry = ep.name.as_str();
        let context = format!("compiling {shader}::{entry}");
        let kernel = self.scoped(&context, || {
            let entries: Vec<wgpu::BindGroupLayoutEntry> = ep
                .bindings
                .iter()
                .map(|b| wgpu::BindGroupLayoutEntry {
                    binding: b.binding,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: match b.kind {
                            BindingKind::Uniform => wgpu::BufferBindingType::Uniform,
                            BindingKind::StorageRead => {
                                wgpu::BufferBindingType::Storage { read_only: true }
                            }
                            BindingKind::StorageReadWrite => {
                                wgpu::BufferBindingType::Storage { read_only: false }
                            }
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                })
                .collect();
            let layout = self
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(entry),
                    entries: &entries,
                });
            let pipeline_layout =
                self.device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(entry),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
            let module = self
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(file),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
            let pipeline = self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                });
            Kernel {
                shader,
                entry: entry.to_string(),
                pipeline,
                layout,
                bindings: ep.bindings.clone(),
            }
        })?;
        let kernel = Arc::new(kernel);
        self.kernels.lock().unwrap().insert(key, kernel.clone());
        Ok(kernel)
    }

    /// A command encoder; dispatches recorded on it run when it is submitted.
    pub fn encoder(&self) -> Encoder<'_> {
        Encoder {
            gpu: self,
            encoder: self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("occam"),
                }),
            profiler: None,
            scope: String::new(),
            skipped: false,
            pass: None,
        }
    }

    /// A command encoder that times every dispatch with `profiler`.
    pub fn profiled_encoder<'a>(&'a self, profiler: &'a mut Profiler) -> Encoder<'a> {
        let mut enc = self.encoder();
        profiler.reset();
        enc.profiler = Some(profiler);
        enc
    }
}

/// The cache key of a kernel: its shader, entry point, override constants
/// (as bit patterns) and, for generated kernels, the whole source.
fn kernel_key(
    shader: &str,
    entry: &str,
    constants: &[(&str, f64)],
    source: Option<&str>,
) -> KernelKey {
    (
        shader.to_string(),
        entry.to_string(),
        constants
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_bits()))
            .collect(),
        source.map(str::to_string),
    )
}

/// Refuses override constants the shader does not declare.
fn check_overrides(
    shader: &str,
    entry: &str,
    declared: &[String],
    constants: &[(&str, f64)],
) -> Result<()> {
    match constants
        .iter()
        .find(|(name, _)| !declared.iter().any(|o| o == name))
    {
        Some((name, _)) => Err(GpuError::BindingMismatch {
            shader: shader.into(),
            entry: entry.into(),
            message: format!("override constant {name:?} is not declared (declared: {declared:?})"),
        }),
        None => Ok(()),
    }
}

/// Records dispatches into one command buffer (one submission).
pub struct Encoder<'a> {
    gpu: &'a Gpu,
    encoder: wgpu::CommandEncoder,
    profiler: Option<&'a mut Profiler>,
    scope: String,
    /// The last dispatch was empty and recorded nothing.
    skipped: bool,
    /// The compute pass that consecutive dispatches share (without a
    /// profiler), ended by the next copy, clear or submission. wgpu still
    /// orders dependent dispatches inside it; one pass per dispatch costs
    /// software adapters a fixed overhead each.
    pass: Option<wgpu::ComputePass<'static>>,
}

impl Encoder<'_> {
    /// The GPU this encoder records for (ops that compile a kernel on its
    /// first use reach the device through it).
    pub fn gpu(&self) -> &Gpu {
        self.gpu
    }

    /// Records one dispatch of `kernel` over `workgroups`, binding each buffer
    /// to the WGSL variable of the same name. Every binding the entry point
    /// uses must be given exactly once, and nothing else.
    pub fn dispatch(
        &mut self,
        kernel: &Kernel,
        binds: &[Bind<'_>],
        workgroups: [u32; 3],
    ) -> Result<()> {
        let mismatch = |message: String| GpuError::BindingMismatch {
            shader: kernel.shader.to_string(),
            entry: kernel.entry.clone(),
            message,
        };
        let mut entries = Vec::with_capacity(kernel.bindings.len());
        for b in &kernel.bindings {
            let mut found = binds.iter().filter(|(name, _)| *name == b.name);
            let (_, buffer) = found.next().ok_or_else(|| {
                mismatch(format!(
                    "no buffer given for `{}` (expected: {})",
                    b.name,
                    kernel
                        .bindings
                        .iter()
                        .map(|b| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            if found.next().is_some() {
                return Err(mismatch(format!("`{}` given twice", b.name)));
            }
            entries.push(wgpu::BindGroupEntry {
                binding: b.binding,
                resource: buffer.as_entire_binding(),
            });
        }
        if let Some((extra, _)) = binds
            .iter()
            .find(|(name, _)| !kernel.bindings.iter().any(|b| b.name == *name))
        {
            return Err(mismatch(format!("the shader does not use `{extra}`")));
        }
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        if let Some(&n) = workgroups.iter().find(|&&n| n > max) {
            return Err(GpuError::OverLimit {
                what: format!("dispatch of {}", kernel.name()),
                needed: u64::from(n),
                limit: u64::from(max),
                limit_name: "max_compute_workgroups_per_dimension",
            });
        }
        self.skipped = workgroups.contains(&0);
        if self.skipped {
            return Ok(());
        }
        let bind_group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&kernel.entry),
                layout: &kernel.layout,
                entries: &entries,
            });
        if self.profiler.is_some() {
            // Timed: a pass of its own, with timestamps at its start and end.
            self.end_pass();
            let timestamp_writes = self
                .profiler
                .as_deref_mut()
                .and_then(|p| p.next_pass(&kernel.name(), &self.scope));
            let mut pass = self
                .encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(&kernel.entry),
                    timestamp_writes,
                });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
            return Ok(());
        }
        let encoder = &mut self.encoder;
        let pass = self.pass.get_or_insert_with(|| {
            encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("occam dispatches"),
                    timestamp_writes: None,
                })
                .forget_lifetime()
        });
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        Ok(())
    }

    /// Ends the shared compute pass, if one is open (before copies).
    fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Names the scope (e.g. a phase of the meta-step) of the dispatches
    /// recorded from now on, for the profiler.
    pub fn set_scope(&mut self, scope: &str) {
        self.scope = scope.to_string();
    }

    /// Attaches a count of floating-point operations to the dispatch just
    /// recorded (multiply-adds count 2), when a profiler is attached.
    pub fn note_flops(&mut self, flops: f64) {
        if let Some(p) = self.profiler.as_deref_mut()
            && !self.skipped
        {
            p.note_flops(flops);
        }
    }

    /// Records a copy of `len` f32 values from `from[from_offset..]` to
    /// `to[to_offset..]` (offsets and length in values).
    pub fn copy(
        &mut self,
        from: &GpuTensor,
        from_offset: usize,
        to: &GpuTensor,
        to_offset: usize,
        len: usize,
    ) -> Result<()> {
        if from_offset + len > from.len() || to_offset + len > to.len() {
            return Err(GpuError::BindingMismatch {
                shader: "host".into(),
                entry: "copy".into(),
                message: format!(
                    "copy of {len} values from {:?}[{from_offset}..] ({} values) to {:?}[{to_offset}..] ({} values) is out of range",
                    from.label(),
                    from.len(),
                    to.label(),
                    to.len()
                ),
            });
        }
        if len > 0 {
            self.end_pass();
            self.encoder.copy_buffer_to_buffer(
                from.buffer(),
                from_offset as u64 * 4,
                to.buffer(),
                to_offset as u64 * 4,
                len as u64 * 4,
            );
        }
        Ok(())
    }

    /// Records setting every value of `tensor` to zero.
    pub fn clear(&mut self, tensor: &GpuTensor) {
        self.end_pass();
        self.encoder.clear_buffer(tensor.buffer(), 0, None);
    }

    /// Records a copy of `bytes` bytes between raw buffers (e.g. into a uniform block).
    pub fn copy_raw(
        &mut self,
        from: &wgpu::Buffer,
        from_offset: u64,
        to: &wgpu::Buffer,
        to_offset: u64,
        bytes: u64,
    ) {
        self.end_pass();
        self.encoder
            .copy_buffer_to_buffer(from, from_offset, to, to_offset, bytes);
    }

    /// Submits everything recorded, without waiting for it to finish.
    pub fn submit(mut self) -> Result<()> {
        self.end_pass();
        if let Some(p) = self.profiler.as_deref_mut() {
            p.resolve(&mut self.encoder);
        }
        let gpu = self.gpu;
        let buffer = self.encoder.finish();
        gpu.queue.submit([buffer]);
        gpu.check_errors("submitting work")
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("name", &self.name())
            .field("bindings", &self.bindings)
            .finish()
    }
}

/// Compiles `list` with `one` on `threads` threads and returns the kernels
/// in the order of `list`. A browser gives wgpu one thread: there the list
/// compiles in turn.
#[cfg(not(target_arch = "wasm32"))]
fn on_threads(
    list: &[Generated<'_>],
    threads: usize,
    one: impl Fn(&Generated<'_>) -> Result<Arc<Kernel>> + Sync,
) -> Result<Vec<Arc<Kernel>>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<Arc<Kernel>>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(g) = list.get(i) else { break mine };
                        mine.push((i, one(g)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a kernel-compiling thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, k)| k).collect()
}

#[cfg(target_arch = "wasm32")]
fn on_threads(
    list: &[Generated<'_>],
    _threads: usize,
    one: impl Fn(&Generated<'_>) -> Result<Arc<Kernel>>,
) -> Result<Vec<Arc<Kernel>>> {
    list.iter().map(one).collect()
}
