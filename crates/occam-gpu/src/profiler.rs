//! Per-dispatch GPU timing with timestamp queries.
//!
//! Attach a [`Profiler`] to an encoder ([`Gpu::profiled_encoder`]); every
//! dispatch then runs in its own compute pass with a timestamp at its start and
//! end, and [`Profiler::read`] returns each kernel's GPU time after submission.

use crate::context::Gpu;
use crate::error::Result;
use crate::tensor::{block_on, read_bytes_async};

/// The GPU time of one dispatch.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// `shader::entry`.
    pub kernel: String,
    /// The scope the dispatch was recorded in ([`crate::Encoder::set_scope`]), e.g. a phase.
    pub scope: String,
    /// Nanoseconds from the first profiled pass's start to this pass's start.
    pub start_nanos: f64,
    /// Nanoseconds between the pass's start and end timestamps.
    pub nanos: f64,
    /// Floating-point operations the op counted for this dispatch, when it did.
    pub flops: Option<f64>,
}

/// What the profiler knows of one dispatch before its timestamps are read.
struct Entry {
    kernel: String,
    scope: String,
    flops: Option<f64>,
}

/// Timestamp queries for up to `capacity` dispatches of one submission.
pub struct Profiler {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
    labels: Vec<Entry>,
    period_ns: f64,
    /// Dispatches recorded past `capacity` (not timed).
    untimed: usize,
}

impl Profiler {
    /// A profiler for up to `capacity` dispatches, or `None` when the adapter
    /// has no timestamp queries (e.g. the GL backend).
    pub fn new(gpu: &Gpu, capacity: u32) -> Option<Profiler> {
        if !gpu.has_timestamps() || capacity == 0 {
            return None;
        }
        let count = capacity * 2;
        let query_set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("occam profiler"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("occam profiler resolve"),
            size: u64::from(count) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Profiler {
            query_set,
            resolve,
            capacity,
            labels: Vec::new(),
            untimed: 0,
            period_ns: f64::from(gpu.queue.get_timestamp_period()),
        })
    }

    pub(crate) fn reset(&mut self) {
        self.labels.clear();
        self.untimed = 0;
    }

    /// Dispatches of the last profiled submission that were past capacity
    /// and went untimed.
    pub fn untimed(&self) -> usize {
        self.untimed
    }

    /// Attaches a FLOP count to the last timed dispatch.
    pub(crate) fn note_flops(&mut self, flops: f64) {
        if self.untimed == 0
            && let Some(last) = self.labels.last_mut()
        {
            last.flops = Some(flops);
        }
    }

    /// Timestamp writes for the next pass, or `None` once capacity is used up.
    pub(crate) fn next_pass(
        &mut self,
        label: &str,
        scope: &str,
    ) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let i = self.labels.len() as u32;
        if i >= self.capacity {
            self.untimed += 1;
            return None;
        }
        self.labels.push(Entry {
            kernel: label.to_string(),
            scope: scope.to_string(),
            flops: None,
        });
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.query_set,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        })
    }

    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let n = self.labels.len() as u32 * 2;
        if n > 0 {
            encoder.resolve_query_set(&self.query_set, 0..n, &self.resolve, 0);
        }
    }

    /// Waits for the profiled submission and returns each dispatch's GPU time, in order.
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<KernelTime>> {
        if self.labels.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = block_on(read_bytes_async(
            gpu,
            &self.resolve,
            self.labels.len() as u64 * 16,
            "profiler timestamps",
        ))?;
        let ticks: &[u64] = bytemuck::cast_slice(&bytes);
        let first = ticks.iter().step_by(2).copied().min().unwrap_or(0);
        Ok(self
            .labels
            .iter()
            .enumerate()
            .map(|(i, e)| KernelTime {
                kernel: e.kernel.clone(),
                scope: e.scope.clone(),
                start_nanos: ticks[2 * i].saturating_sub(first) as f64 * self.period_ns,
                nanos: ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * self.period_ns,
                flops: e.flops,
            })
            .collect())
    }
}
