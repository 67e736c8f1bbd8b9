// gather.wgsl — minibatch row selection, per task, for inner step t.
//
// With idx_t[b, i] the i-th training row of task b at step t (read from the
// index table at the step held in `cursor`):
//   forward            dst[b, i, :] = src[b, idx_t[b, i], :]
//   backward (VJP)     src_bar[b, j, :] += alpha · Σ_{i : idx_t[b, i] = j} dst_bar[b, i, :]
// The op is linear, so its tangent passes are these same two kernels applied
// to tangents. The backward pass loops over the minibatch for each source row
// instead of scattering with atomics, so duplicates (sampling with
// replacement) sum in a fixed order: the result is deterministic.

struct GatherParams {
    tasks: u32,
    n: u32,        // rows per minibatch
    m: u32,        // rows of the source
    width: u32,    // values per row
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Cursor {
    t: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: GatherParams;
@group(0) @binding(1) var<uniform> cursor: Cursor;
@group(0) @binding(2) var<storage, read> idx: array<u32>;        // [T, tasks, n]
@group(0) @binding(3) var<storage, read> src: array<f32>;        // [tasks, m, width]
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;  // [tasks, n, width]
@group(0) @binding(5) var<storage, read> dst_bar: array<f32>;    // [tasks, n, width]
@group(0) @binding(6) var<storage, read_write> src_bar: array<f32>;

fn row_of(b: u32, i: u32) -> u32 {
    return idx[(cursor.t * p.tasks + b) * p.n + i];
}

@compute @workgroup_size(64, 1, 1)
fn gather_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if e >= p.tasks * p.n * p.width { return; }
    let c = e % p.width;
    let i = (e / p.width) % p.n;
    let b = e / (p.width * p.n);
    dst[e] = src[(b * p.m + row_of(b, i)) * p.width + c];
}

@compute @workgroup_size(64, 1, 1)
fn gather_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if e >= p.tasks * p.m * p.width { return; }
    let c = e % p.width;
    let j = (e / p.width) % p.m;
    let b = e / (p.width * p.m);
    var s = 0.0;
    for (var i = 0u; i < p.n; i++) {
        if row_of(b, i) == j {
            s += dst_bar[(b * p.n + i) * p.width + c];
        }
    }
    src_bar[e] += p.alpha * s;
}
