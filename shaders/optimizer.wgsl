// optimizer.wgsl — in-place parameter updates, PyTorch semantics.
//
//   optimizer_sgd       w ← w − lr·g
//                       (also the inner gradient-descent step, and the reverse
//                       sweep's v ← v − η·(H v))
//   optimizer_adam      m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,
//                       w ← w − (lr / c1) · m / (√v / √c2 + ε),
//                       c1 = 1 − β1^t, c2 = 1 − β2^t (bias corrections, from the host)
//   optimizer_adagrad   s ← s + g²,  w ← w − lr · g / (√s + ε)
// Optimisers are not differentiated through, so there are no adjoint passes.

struct OptParams {
    len: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    c1: f32,
    c2: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: OptParams;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> state_m: array<f32>;
@group(0) @binding(4) var<storage, read_write> state_v: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn optimizer_sgd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.len { return; }
    w[i] = w[i] - p.lr * g[i];
}

@compute @workgroup_size(64, 1, 1)
fn optimizer_adam(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.len { return; }
    let gi = g[i];
    let m = p.beta1 * state_m[i] + (1.0 - p.beta1) * gi;
    let v = p.beta2 * state_v[i] + (1.0 - p.beta2) * gi * gi;
    state_m[i] = m;
    state_v[i] = v;
    w[i] = w[i] - (p.lr / p.c1) * m / (sqrt(v) / sqrt(p.c2) + p.eps);
}

@compute @workgroup_size(64, 1, 1)
fn optimizer_adagrad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.len { return; }
    let gi = g[i];
    let s = state_v[i] + gi * gi;
    state_v[i] = s;
    w[i] = w[i] - p.lr * gi / (sqrt(s) + p.eps);
}
