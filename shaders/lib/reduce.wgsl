// lib/reduce.wgsl — a deterministic workgroup sum: Σ_t partial[t] by a fixed
// binary tree (strides WG/2, WG/4, …, 1), so results are bitwise
// reproducible. The importing shader declares `const WG: u32` (a power of
// two, the workgroup size) and `var<workgroup> partial: array<f32, WG>`.

// Sums `partial` in a fixed tree order; the total ends up in partial[0],
// visible to every thread.
fn reduce_partial(t: u32) {
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if t < stride {
            partial[t] = partial[t] + partial[t + stride];
        }
    }
    workgroupBarrier();
}
