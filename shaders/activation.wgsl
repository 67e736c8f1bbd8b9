// activation.wgsl — elementwise activation a = σ(s), its four passes.
//
//   forward            a  = σ(s)
//   backward (VJP)     s̄  = σ'(s) ā
//   tangent forward    ȧ  = σ'(s) ṡ
//   tangent backward   s̄̇ = σ''(s) ṡ ā + σ'(s) ā̇        (JVP of the VJP along (ṡ, ā̇))
//
// σ is chosen by the override ACT:
//   0 identity   σ = s                    σ' = 1                  σ'' = 0
//   1 relu       σ = max(s, 0)            σ' = [s > 0]            σ'' = 0
//   2 tanh       σ = tanh s               σ' = 1 − σ²             σ'' = −2σσ'
//   3 cos        σ = cos s                σ' = −sin s             σ'' = −cos s
//   4 relu6/6    σ = min(max(s, 0), 6)/6  σ' = [0 < s < 6]/6      σ'' = 0
// At the kinks of relu and relu6 the derivative is taken as 0 (PyTorch's choice).
// One thread per element; `len` elements in all (any batch layout).

struct ActParams {
    len: u32,
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

fn sigma(v: f32) -> f32 {
    switch ACT {
        case 1u: { return max(v, 0.0); }
        case 2u: { return tanh(v); }
        case 3u: { return cos(v); }
        case 4u: { return clamp(v, 0.0, 6.0) / 6.0; }
        default: { return v; }
    }
}

fn sigma_d1(v: f32) -> f32 {
    switch ACT {
        case 1u: { return select(0.0, 1.0, v > 0.0); }
        case 2u: { let t = tanh(v); return 1.0 - t * t; }
        case 3u: { return -sin(v); }
        case 4u: { return select(0.0, 1.0 / 6.0, v > 0.0 && v < 6.0); }
        default: { return 1.0; }
    }
}

fn sigma_d2(v: f32) -> f32 {
    switch ACT {
        case 2u: { let t = tanh(v); return -2.0 * t * (1.0 - t * t); }
        case 3u: { return -cos(v); }
        default: { return 0.0; }
    }
}

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256, 1, 1)
fn activation_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    a[i] = sigma(s[i]);
}

@compute @workgroup_size(256, 1, 1)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    s_bar[i] = sigma_d1(s[i]) * a_bar[i];
}

@compute @workgroup_size(256, 1, 1)
fn activation_tangent_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    a_dot[i] = sigma_d1(s[i]) * s_dot[i];
}

@compute @workgroup_size(256, 1, 1)
fn activation_tangent_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if i >= p.len { return; }
    let v = s[i];
    s_bar_dot[i] = sigma_d2(v) * s_dot[i] * a_bar[i] + sigma_d1(v) * a_bar_dot[i];
}
