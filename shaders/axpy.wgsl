// axpy.wgsl — y ← y + a·x over `len` values, in place.
//
//   axpy_forward    y_i ← y_i + a·x_i
//
// The op adds one buffer into another: a loss term's cotangent into the
// shared one, an estimator's into the learner's. It is linear, so its
// adjoint (x̄ += a·ȳ) and its tangent (ẏ += a·ẋ) are the same kernel with
// other buffers: the one entry point serves every pass. One thread per
// value; no reduction, so the result does not depend on the launch.

struct AxpyParams {
    len: u32,
    a: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: AxpyParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn axpy_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.len { return; }
    y[i] = y[i] + p.a * x[i];
}
