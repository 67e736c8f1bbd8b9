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
// One thread per output window in every pass: the backward passes write the
// window's four x̄ (ȳ at the argmax, 0 elsewhere) and the zeros of a dropped
// trailing row or column beside it. The plane's sizes are the overrides
// HEIGHT and WIDTH (set per shape, so index arithmetic folds to constants).

struct PoolParams {
    planes: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override HEIGHT: u32 = 2u;
override WIDTH: u32 = 2u;

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

// Index in x of the window maximum for output (plane, i, j), its four
// candidates compared in order.
fn argmax(plane: u32, i: u32, j: u32) -> u32 {
    let base = plane * HEIGHT * WIDTH + (2u * i) * WIDTH + 2u * j;
    var best = base;
    var best_value = x[base];
    let v1 = x[base + 1u];
    if v1 > best_value {
        best = base + 1u;
        best_value = v1;
    }
    let v2 = x[base + WIDTH];
    if v2 > best_value {
        best = base + WIDTH;
        best_value = v2;
    }
    if x[base + WIDTH + 1u] > best_value {
        best = base + WIDTH + 1u;
    }
    return best;
}

// The window (plane, i, j) of output element e.
fn window(e: u32) -> vec3<u32> {
    let w_out = WIDTH / 2u;
    let h_out = HEIGHT / 2u;
    return vec3<u32>(e / (w_out * h_out), (e / w_out) % h_out, e % w_out);
}

fn outputs() -> u32 {
    return p.planes * (HEIGHT / 2u) * (WIDTH / 2u);
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= outputs() { return; }
    let w = window(e);
    y[e] = x[argmax(w.x, w.y, w.z)];
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_tangent_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= outputs() { return; }
    let w = window(e);
    y_dot[e] = x_dot[argmax(w.x, w.y, w.z)];
}

// The four inputs of window w, in the order argmax compares them.
fn window_inputs(w: vec3<u32>) -> vec4<u32> {
    let base = w.x * HEIGHT * WIDTH + (2u * w.y) * WIDTH + 2u * w.z;
    return vec4<u32>(base, base + 1u, base + WIDTH, base + WIDTH + 1u);
}

// The inputs no window reads (odd HEIGHT or WIDTH) that window w sets to 0:
// the two of the dropped column beside it, the two of the dropped row below
// it, and the corner (the window at both edges); their count is entry 5.
fn dropped(w: vec3<u32>) -> array<u32, 6> {
    let plane = w.x * HEIGHT * WIDTH;
    let last_col = WIDTH % 2u == 1u && w.z == WIDTH / 2u - 1u;
    let last_row = HEIGHT % 2u == 1u && w.y == HEIGHT / 2u - 1u;
    var d = array<u32, 6>(0u, 0u, 0u, 0u, 0u, 0u);
    var n = 0u;
    if last_col {
        d[0] = plane + (2u * w.y) * WIDTH + WIDTH - 1u;
        d[1] = d[0] + WIDTH;
        n = 2u;
    }
    if last_row {
        let r = plane + (HEIGHT - 1u) * WIDTH;
        d[n] = r + 2u * w.z;
        d[n + 1u] = r + 2u * w.z + 1u;
        n += 2u;
        if last_col {
            d[n] = r + WIDTH - 1u;
            n += 1u;
        }
    }
    d[5] = n;
    return d;
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= outputs() { return; }
    let w = window(e);
    let best = argmax(w.x, w.y, w.z);
    let g = y_bar[e];
    let idx = window_inputs(w);
    for (var t = 0u; t < 4u; t++) {
        x_bar[idx[t]] = select(0.0, g, idx[t] == best);
    }
    let d = dropped(w);
    for (var t = 0u; t < d[5]; t++) {
        x_bar[d[t]] = 0.0;
    }
}

@compute @workgroup_size(64, 1, 1)
fn maxpool_tangent_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= outputs() { return; }
    let w = window(e);
    let best = argmax(w.x, w.y, w.z);
    let g = y_bar_dot[e];
    let idx = window_inputs(w);
    for (var t = 0u; t < 4u; t++) {
        x_bar_dot[idx[t]] = select(0.0, g, idx[t] == best);
    }
    let d = dropped(w);
    for (var t = 0u; t < d[5]; t++) {
        x_bar_dot[d[t]] = 0.0;
    }
}
