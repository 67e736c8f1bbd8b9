// lib/grid.wgsl — the element a thread handles in a 2-D dispatch grid, for
// one-thread-per-element passes dispatched as (x, y) workgroups of `width`
// threads (y > 1 only past the 65535-workgroup limit of one dimension):
//   e = gid.x + gid.y · (workgroups in x) · width.

fn grid_element(gid: vec3<u32>, nwg: vec3<u32>, width: u32) -> u32 {
    return gid.x + gid.y * nwg.x * width;
}
