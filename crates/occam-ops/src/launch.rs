//! Dispatch helpers shared by the elementwise-style ops (one thread per
//! element): the grid that covers n elements, and a dispatch that checks
//! every tensor's length and binds it by its WGSL name.

use crate::error::{Result, check_len};
use occam_gpu::{Encoder, GpuTensor, Kernel, wgpu};

/// Workgroups of `size` threads covering `n` elements, spread over x and y
/// so that each dimension stays under `max_per_dimension`; the shaders
/// flatten (x, y) back as gid.x + gid.y · num_workgroups.x · size.
pub(crate) fn spread_grid(n: usize, size: u32, max_per_dimension: u32) -> [u32; 3] {
    let groups = (n as u32).div_ceil(size);
    let gx = groups.clamp(1, max_per_dimension);
    [gx, groups.div_ceil(gx).max(1), 1]
}

/// Checks each (name, tensor, expected length), binds `params` as `p` and
/// the tensors by name, and records the dispatch.
pub(crate) fn dispatch_checked(
    enc: &mut Encoder<'_>,
    op: &'static str,
    kernel: &Kernel,
    params: &wgpu::Buffer,
    tensors: &[(&str, &GpuTensor, usize)],
    grid: [u32; 3],
) -> Result<()> {
    let mut binds: Vec<(&str, &wgpu::Buffer)> = vec![("p", params)];
    for (name, t, len) in tensors {
        check_len(op, name, t.len(), *len)?;
        binds.push((name, t.buffer()));
    }
    enc.dispatch(kernel, &binds, grid)?;
    Ok(())
}
