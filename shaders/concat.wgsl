// concat.wgsl — two per-task label sets side by side: a = [tasks, m] and
// c = [tasks, k] into z = [tasks, m + k] (a task's training labels, then its
// test labels, for the terms that read z_tr ∪ z_te):
//
//   forward            z[b, i] = a[b, i]          for i < m
//                      z[b, i] = c[b, i − m]      for m ≤ i < m + k
//   backward (VJP)     a_bar[b, i] += z_bar[b, i],  c_bar[b, j] += z_bar[b, m + j]
//                      (accumulates)
// The op is linear, so its tangent passes are these two kernels applied to
// tangents. One thread per value and no sums across threads: the results do
// not depend on the launch.

struct ConcatParams {
    tasks: u32,
    m: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ConcatParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;           // [tasks, m]
@group(0) @binding(2) var<storage, read> c: array<f32>;           // [tasks, k]
@group(0) @binding(3) var<storage, read_write> z: array<f32>;     // [tasks, m + k]
@group(0) @binding(4) var<storage, read> z_bar: array<f32>;       // [tasks, m + k]
@group(0) @binding(5) var<storage, read_write> a_bar: array<f32>; // [tasks, m]
@group(0) @binding(6) var<storage, read_write> c_bar: array<f32>; // [tasks, k]

@compute @workgroup_size(64, 1, 1)
fn concat_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    let n = p.m + p.k;
    if e >= p.tasks * n { return; }
    let b = e / n;
    let i = e % n;
    if i < p.m {
        z[e] = a[b * p.m + i];
    } else {
        z[e] = c[b * p.k + i - p.m];
    }
}

@compute @workgroup_size(64, 1, 1)
fn concat_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    let n = p.m + p.k;
    if e >= p.tasks * n { return; }
    let b = e / n;
    let i = e % n;
    if i < p.m {
        a_bar[b * p.m + i] += z_bar[e];
    } else {
        c_bar[b * p.k + i - p.m] += z_bar[e];
    }
}
