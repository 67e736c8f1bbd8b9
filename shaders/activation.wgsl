// activation.wgsl — elementwise activation a = σ(s), its four passes.
//
//   forward            a  = σ(s)
//   backward (VJP)     s̄  = σ'(s) ā
//   tangent forward    ȧ  = σ'(s) ṡ
//   tangent backward   s̄̇ = σ''(s) ṡ ā + σ'(s) ā̇        (JVP of the VJP along (ṡ, ā̇))
//
// σ is chosen by the override ACT (0 identity, 1 relu, 2 tanh, 3 cos,
// 4 relu6/6); σ, σ' and σ'' come from lib/activation.wgsl.
// One thread per element; `len` elements in all (any batch layout).

struct ActParams {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override ACT: u32 = 0u;

@group(0) @binding(0) var<uniform> p: ActParams;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read> a_bar: array<f32>;
@group(0) @binding(4) var<storage, read_write> s_bar: array<f32>;
@group(0) @binding(5) var<storage, read> s_dot: array<f32>;
@group(0) @binding(6) var<storage, read_write> a_dot: array<f32>;
@group(0) @binding(7) var<storage, read> a_bar_dot: array<f32>;
@group(0) @binding(8) var<storage, read_write> s_bar_dot: array<f32>;

// #import activation
// #import grid

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return grid_element(gid, nwg, 256u);
}

@compute @workgroup_size(256, 1, 1)
fn activation_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    a[i] = sigma(ACT, s[i]);
}

@compute @workgroup_size(256, 1, 1)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    s_bar[i] = sigma_d1(ACT, s[i]) * a_bar[i];
}

@compute @workgroup_size(256, 1, 1)
fn activation_tangent_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    a_dot[i] = sigma_d1(ACT, s[i]) * s_dot[i];
}

@compute @workgroup_size(256, 1, 1)
fn activation_tangent_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    let v = s[i];
    s_bar_dot[i] = sigma_d2(ACT, v) * s_dot[i] * a_bar[i] + sigma_d1(ACT, v) * a_bar_dot[i];
}
