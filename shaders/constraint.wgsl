// constraint.wgsl — a gradient-descent step under structural constraints
// (docs/design.md §2: masks and projections), elementwise over a parameter tensor:
// mask M (1 trained, 0 held at zero) and signs s (+1/−1 fixed sign, 0 free),
//
//   forward            w ← P(w − η M ⊙ g),   P(u)_i = s_i |u_i| if s_i ≠ 0, else u_i
//   backward (VJP)     with u = w − η M ⊙ g recomputed from w_t and g = ∇L_t(w_t):
//                      v ← P'(u) ⊙ v   (P'(u)_i = s_i sign(u_i) if s_i ≠ 0, else 1)
//                      v_m = M ⊙ v     (the direction the step's tangent passes see)
// The reverse sweep then takes w̄_t = v − η H_t v_m and z̄ from the tangent
// along v_m. Not differentiated twice: no tangent passes.

struct ConstraintParams {
    len: u32,
    lr: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ConstraintParams;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read> signs: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> w: array<f32>;
@group(0) @binding(5) var<storage, read> w_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_m: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn constraint_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.len { return; }
    let u = w[i] - p.lr * mask[i] * g[i];
    let s = signs[i];
    w[i] = select(u, s * abs(u), s != 0.0);
}

@compute @workgroup_size(64, 1, 1)
fn constraint_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.len { return; }
    let u = w_in[i] - p.lr * mask[i] * g[i];
    let s = signs[i];
    let d = select(1.0, s * sign(u), s != 0.0);
    let vi = d * v[i];
    v[i] = vi;
    v_m[i] = mask[i] * vi;
}
