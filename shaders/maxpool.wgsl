// maxpool.wgsl — 2×2 max-pooling with stride 2 (odd trailing rows/columns
// dropped), its four passes, per [batch·images·channels] plane of H × W:
//
//   forward            y[i,j] = x[a(i,j)],  a(i,j) = argmax over the window
//                      {(2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1)}, ties to the
//                      first in that order (deterministic)
//   backward (VJP)     x̄[r,q] = ȳ[i,j] if (r,q) = a(i,j), else 0
//   tangent forward    ẏ[i,j] = ẋ[a(i,j)]          (tangents routed through the argmax)
//   tangent backward   x̄̇ = the backward pass applied to ȳ̇ (the argmax is
//                      locally constant, so the VJP's derivative along ẋ is 0)
// One thread per output (forward passes) or per input (backward passes).

struct PoolParams {
    planes: u32,
    height: u32,
    width: u32,
    h_out: u32,
    w_out: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: PoolParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> y_bar: array<f32>;
@group(0) @binding(4) var<storage, read_write> x_bar: array<f32>;
@group(0) @binding(5) var<storage, read> x_dot: array<f32>;
@group(0) @binding(6) var<storage, read_write> y_dot: array<f32>;
@group(0) @binding(7) var<storage, read> y_bar_dot: array<f32>;
@group(0) @binding(8) var<storage, read_write> x_bar_dot: array<f32>;

// #import grid

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return grid_element(gid, nwg, 64u);
}

// Index in x of the window maximum for output (plane, i, j).
fn argmax(plane: u32, i: u32, j: u32) -> u32 {
    let base = plane * p.height * p.width;
    var best = base + (2u * i) * p.width + 2u * j;
    var best_value = x[best];
    for (var k = 1u; k < 4u; k++) {
        let idx = base + (2u * i + k / 2u) * p.width + 2u * j + k % 2u;
        let v = x[idx];
        if v > best_value {
            best = idx;
            best_value = v;
        }
    }
    return best;
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.planes * p.h_out * p.w_out { return; }
    let j = e % p.w_out;
    let i = (e / p.w_out) % p.h_out;
    let plane = e / (p.w_out * p.h_out);
    y[e] = x[argmax(plane, i, j)];
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_tangent_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.planes * p.h_out * p.w_out { return; }
    let j = e % p.w_out;
    let i = (e / p.w_out) % p.h_out;
    let plane = e / (p.w_out * p.h_out);
    y_dot[e] = x_dot[argmax(plane, i, j)];
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.planes * p.height * p.width { return; }
    let q = e % p.width;
    let r = (e / p.width) % p.height;
    let plane = e / (p.width * p.height);
    let i = r / 2u;
    let j = q / 2u;
    var v = 0.0;
    if i < p.h_out && j < p.w_out && argmax(plane, i, j) == e {
        v = y_bar[(plane * p.h_out + i) * p.w_out + j];
    }
    x_bar[e] = v;
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_tangent_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.planes * p.height * p.width { return; }
    let q = e % p.width;
    let r = (e / p.width) % p.height;
    let plane = e / (p.width * p.height);
    let i = r / 2u;
    let j = q / 2u;
    var v = 0.0;
    if i < p.h_out && j < p.w_out && argmax(plane, i, j) == e {
        v = y_bar_dot[(plane * p.h_out + i) * p.w_out + j];
    }
    x_bar_dot[e] = v;
}
