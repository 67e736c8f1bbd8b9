// mse.wgsl — weighted mean-squared error per problem, its four passes.
//
// For each of `batch` problems b with `count` elements g (predictions) and
// z (targets), c = weight / count:
//   forward            L_b  = c Σ_i (g_i − z_i)²
//   backward (VJP)     ḡ_i  = 2c L̄_b (g_i − z_i),          z̄_i = −ḡ_i
//   tangent forward    L̇_b  = 2c Σ_i (g_i − z_i)(ġ_i − ż_i)
//   tangent backward   ḡ̇_i  = 2c [L̄̇_b (g_i − z_i) + L̄_b (ġ_i − ż_i)],   z̄̇_i = −ḡ̇_i
//                      (JVP of the VJP along (ġ, ż, L̄̇))
// The reductions run one workgroup per problem: a strided per-thread sum,
// then a fixed-order tree in workgroup memory, so they are deterministic.

struct MseParams {
    batch: u32,
    count: u32,
    weight: f32,
    _pad: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: MseParams;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read> loss_bar: array<f32>;
@group(0) @binding(5) var<storage, read_write> g_bar: array<f32>;
@group(0) @binding(6) var<storage, read_write> z_bar: array<f32>;
@group(0) @binding(7) var<storage, read> g_dot: array<f32>;
@group(0) @binding(8) var<storage, read> z_dot: array<f32>;
@group(0) @binding(9) var<storage, read_write> loss_dot: array<f32>;
@group(0) @binding(10) var<storage, read> loss_bar_dot: array<f32>;
@group(0) @binding(11) var<storage, read_write> g_bar_dot: array<f32>;
@group(0) @binding(12) var<storage, read_write> z_bar_dot: array<f32>;

var<workgroup> partial: array<f32, WG>;

fn scale() -> f32 {
    return p.weight / f32(p.count);
}

// #import reduce

@compute @workgroup_size(256, 1, 1)
fn mse_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    var sum = 0.0;
    for (var i = t; i < p.count; i += WG) {
        let r = g[b * p.count + i] - z[b * p.count + i];
        sum = fma(r, r, sum);
    }
    partial[t] = sum;
    reduce_partial(t);
    if t == 0u {
        loss[b] = scale() * partial[0];
    }
}

@compute @workgroup_size(256, 1, 1)
fn mse_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.batch * p.count { return; }
    let b = i / p.count;
    let v = 2.0 * scale() * loss_bar[b] * (g[i] - z[i]);
    g_bar[i] = v;
    z_bar[i] = -v;
}

@compute @workgroup_size(256, 1, 1)
fn mse_tangent_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    var sum = 0.0;
    for (var i = t; i < p.count; i += WG) {
        let k = b * p.count + i;
        sum = fma(g[k] - z[k], g_dot[k] - z_dot[k], sum);
    }
    partial[t] = sum;
    reduce_partial(t);
    if t == 0u {
        loss_dot[b] = 2.0 * scale() * partial[0];
    }
}

@compute @workgroup_size(256, 1, 1)
fn mse_tangent_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.batch * p.count { return; }
    let b = i / p.count;
    let v = 2.0 * scale() * (loss_bar_dot[b] * (g[i] - z[i]) + loss_bar[b] * (g_dot[i] - z_dot[i]));
    g_bar_dot[i] = v;
    z_bar_dot[i] = -v;
}
