//! Device buffers of f32 values, with upload and readback.

use crate::context::Gpu;
use crate::error::{GpuError, Result};
use wgpu::util::DeviceExt;

/// A storage buffer holding `len` f32 values.
pub struct GpuTensor {
    buffer: wgpu::Buffer,
    len: usize,
    label: String,
}

impl GpuTensor {
    /// The wgpu buffer, for binding.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Number of f32 values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The label it was created with (used in error messages and GPU debuggers).
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Gpu {
    fn check_storage_size(&self, label: &str, bytes: u64) -> Result<()> {
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(GpuError::OverLimit {
                what: format!("buffer {label:?}"),
                needed: bytes,
                limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    /// A zero-filled tensor of `len` f32 values.
    pub fn zeros(&self, label: &str, len: usize) -> Result<GpuTensor> {
        let bytes = (len.max(1) * 4) as u64;
        self.check_storage_size(label, bytes)?;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuTensor {
            buffer,
            len,
            label: label.to_string(),
        })
    }

    /// A tensor holding a copy of `data`.
    pub fn upload(&self, label: &str, data: &[f32]) -> Result<GpuTensor> {
        let bytes = (data.len().max(1) * 4) as u64;
        self.check_storage_size(label, bytes)?;
        let contents: &[u8] = if data.is_empty() {
            &[0; 4]
        } else {
            bytemuck::cast_slice(data)
        };
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            });
        Ok(GpuTensor {
            buffer,
            len: data.len(),
            label: label.to_string(),
        })
    }

    /// A tensor holding a copy of `data` as u32 values (indices); `len` counts them.
    pub fn upload_u32(&self, label: &str, data: &[u32]) -> Result<GpuTensor> {
        let as_f32: &[f32] = bytemuck::cast_slice(data);
        self.upload(label, as_f32)
    }

    /// Overwrites a tensor's u32 values from the host.
    pub fn write_u32(&self, tensor: &GpuTensor, data: &[u32]) -> Result<()> {
        self.write(tensor, bytemuck::cast_slice(data))
    }

    /// Overwrites a uniform buffer with `value` (ordered before the next submission).
    pub fn write_uniform<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, value: &T) {
        self.queue
            .write_buffer(buffer, 0, bytemuck::bytes_of(value));
    }

    /// Overwrites a tensor's values from the host (queued; ordered before the next submission).
    pub fn write(&self, tensor: &GpuTensor, data: &[f32]) -> Result<()> {
        if data.len() != tensor.len {
            return Err(GpuError::BindingMismatch {
                shader: "host".into(),
                entry: "write".into(),
                message: format!(
                    "tensor {:?} holds {} values, {} given",
                    tensor.label,
                    tensor.len,
                    data.len()
                ),
            });
        }
        if !data.is_empty() {
            self.queue
                .write_buffer(&tensor.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// A uniform buffer holding a parameter struct, after checking the
    /// struct against its shader's layout
    /// ([`ShaderRegistry::check_params`](crate::shaders::ShaderRegistry::check_params)).
    pub fn params<P: crate::UniformParams>(&self, label: &str, value: &P) -> Result<wgpu::Buffer> {
        self.registry.check_params::<P>()?;
        Ok(self.uniform(label, value))
    }

    /// A uniform buffer holding `value` as bytes (unchecked: prefer [`Gpu::params`]).
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Copies a tensor back to the host, waiting for all submitted work first.
    pub fn read(&self, tensor: &GpuTensor) -> Result<Vec<f32>> {
        block_on(self.read_async(tensor))
    }

    /// The same, as a future: the one read-back path. Native code drives it
    /// with [`Gpu::read`]; a browser awaits it (WebGPU maps buffers only
    /// when the page's event loop turns).
    pub async fn read_async(&self, tensor: &GpuTensor) -> Result<Vec<f32>> {
        if tensor.len == 0 {
            return Ok(Vec::new());
        }
        let bytes =
            read_bytes_async(self, &tensor.buffer, (tensor.len * 4) as u64, &tensor.label).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }
}

/// A read-back in flight: what the engine's dyn parts (loss terms,
/// learners) return, so that native code and a browser share one path.
pub type GpuFuture<'a, T, E = GpuError> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<T, E>> + 'a>>;

/// Runs a read-back future to its end on this thread (native), or says
/// that a browser must await it instead: a page cannot block.
pub fn block_on<T, E: From<GpuError>>(
    future: impl std::future::Future<Output = std::result::Result<T, E>>,
) -> std::result::Result<T, E> {
    #[cfg(not(target_arch = "wasm32"))]
    return pollster::block_on(future);
    #[cfg(target_arch = "wasm32")]
    {
        drop(future);
        Err(GpuError::Readback(
            "a browser cannot wait for the GPU: await the read-back (the *_async methods)".into(),
        )
        .into())
    }
}

/// Copies the first `size` bytes of `buffer` (which must allow COPY_SRC) to the host.
pub(crate) async fn read_bytes_async(
    gpu: &Gpu,
    buffer: &wgpu::Buffer,
    size: u64,
    label: &str,
) -> Result<Vec<u8>> {
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("occam readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("occam readback"),
        });
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
    gpu.queue.submit([encoder.finish()]);
    let (tx, rx) = futures_channel::oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    // Natively the map completes only when the device is polled; in a
    // browser, when the page's event loop turns while this future waits.
    gpu.wait(&format!("reading back {label:?}"))?;
    rx.await
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(format!("{label:?}: {e}")))?;
    let data = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(format!("{label:?}: {e:?}")))?
        .to_vec();
    staging.unmap();
    Ok(data)
}
