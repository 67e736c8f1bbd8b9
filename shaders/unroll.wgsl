// unroll.wgsl — a whole unrolled gradient-descent learner in one dispatch per
// pass (docs/design.md §2, §6): one workgroup per task, the loop over inner steps t
// inside the shader, the weights and the adjoint vectors in workgroup memory.
//
// The learner is a chain of dense layers (W [d_out, d_in + 1], bias last) and
// elementwise activations σ. At step t, on the minibatch B_t = idx[t, b, ·]
// (n rows of x_tr, labels z_tr), with a_0 = x and r = g − z:
//   L_t = (1/n) Σ_i r_i²,    u = w_t − η M ⊙ ∇L_t(w_t),    w_{t+1} = P(u)
// where M is the mask (1 trained, 0 held) and P(u)_i = s_i |u_i| for a fixed
// sign s_i ≠ 0 (P = id when the learner is unconstrained).
//
//   forward  (unroll_forward)   w_0 → w_T, keeping w_t at every t ≡ 0 (mod k)
//                               (steps t0 ≤ t < t1 of `range` per dispatch)
//   backward (unroll_backward)  the reverse sweep from v = w̄_T:
//     for t = T−1 … 0 (w_t recomputed from its checkpoint):
//       v ← P'(u) ⊙ v,  d = M ⊙ v                     (d = v when unconstrained)
//       z̄_i += η (2/n) ⟨∇_w g(x_i), d⟩ for i ∈ B_t    (summed over repeats of a row)
//       v ← v − η H_t d,  H_t = ∇²_w L_t(w_t)
//     leaving w̄_0 in v (checkpoint segments c0 ≤ c < c1 of `range` per dispatch).
// ⟨∇g, d⟩ and H_t d come from one forward-over-reverse pass (docs/design.md §2):
//   primal      s_l = W_l a_{l−1} + b_l, a_l = σ(s_l);  δ_L = (2/n) r,
//               ∇W_l = δ_l ã_{l−1}ᵀ (ã = [a, 1]),  δ_{l−1} = W_lᵀ δ_l, through σ: σ'(s) δ
//   tangent     ṡ_l = W_l ȧ_{l−1} + D_l ã_{l−1},  ȧ_l = σ'(s_l) ṡ_l,  ȧ_0 = 0
//   tangent of the backward
//               δ̇_L = (2/n) ṡ_L,  (H d)_l = δ̇_l ã_{l−1}ᵀ + δ_l [ȧ_{l−1}, 0]ᵀ,
//               δ̇_{l−1} = W_lᵀ δ̇_l + D_lᵀ δ_l,  through σ: σ''(s) ṡ δ + σ'(s) δ̇
// Every sum runs in a fixed order inside one thread, so results are bitwise
// reproducible on a given adapter. Activations (per row) live in per-task
// scratch buffers; they are recomputed at every step, never kept over t.
//
// σ is chosen per layer (act code as in activation.wgsl):
//   0 identity, 1 relu, 2 tanh, 3 cos, 4 relu6/6 (derivative 0 at the kinks).

// Threads per workgroup (one workgroup per task), set by the host.
override WG: u32 = 64u;
const MAX_PARAMS: u32 = 1024u;
const MAX_LAYERS: u32 = 16u;

// #import unroll_common

@group(0) @binding(8) var<storage, read_write> vals: array<f32>; // [tasks, vals_per_task]
@group(0) @binding(9) var<storage, read_write> bars: array<f32>;
@group(0) @binding(10) var<storage, read_write> dots: array<f32>;
@group(0) @binding(11) var<storage, read_write> bardots: array<f32>;
@group(0) @binding(12) var<storage, read_write> seg: array<f32>; // [tasks, k, P]
@group(0) @binding(13) var<storage, read_write> v: array<f32>;   // layer-major, as w
@group(0) @binding(14) var<storage, read_write> z_bar: array<f32>; // [tasks, m]

@group(0) @binding(15) var<uniform> range: Range;

var<workgroup> w_s: array<f32, MAX_PARAMS>;  // w_t
var<workgroup> g_s: array<f32, MAX_PARAMS>;  // ∇L_t, then the direction d
var<workgroup> v_s: array<f32, MAX_PARAMS>;  // the adjoint v
var<workgroup> h_s: array<f32, MAX_PARAMS>;  // H_t d

fn sync() {
    storageBarrier();
    workgroupBarrier();
}

// #import activation

// Copies task b's parameters from a layer-major buffer (at `base`) into w_s.
fn load_w_from_hist(b: u32, lid: u32, base: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            w_s[q.w_off + j] = hist[base + global_param(l, b, j)];
        }
    }
    sync();
}

// Gathers step t's minibatch rows of task b into value block 0.
fn load_batch(b: u32, t: u32, lid: u32) {
    let base = b * p.vals_per_task;
    for (var e = lid; e < p.n * p.d; e += WG) {
        let i = e / p.d;
        let r = idx[(t * p.tasks + b) * p.n + i];
        vals[base + e] = x[(b * p.m + r) * p.d + e % p.d];
    }
    sync();
}

// Forward through every layer at w_s; then δ_L = (2/n)(g − z) in bars.
fn forward_and_residual(b: u32, t: u32, lid: u32) {
    let base = b * p.vals_per_task;
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        let din = q.d_in;
        let dout = q.d_out;
        for (var e = lid; e < p.n * dout; e += WG) {
            let r = e / dout;
            let o = e % dout;
            if q.kind == 0u {
                let row = q.w_off + o * (din + 1u);
                var s = w_s[row + din];
                for (var k = 0u; k < din; k++) {
                    s += vals[base + q.in_off + r * din + k] * w_s[row + k];
                }
                vals[base + q.out_off + e] = s;
            } else {
                vals[base + q.out_off + e] = sigma(q.act, vals[base + q.in_off + e]);
            }
        }
        sync();
    }
    let out = layer(p.n_layers - 1u).out_off;
    let c = 2.0 / f32(p.n);
    for (var i = lid; i < p.n; i += WG) {
        let r = idx[(t * p.tasks + b) * p.n + i];
        bars[base + out + i] = c * (vals[base + out + i] - z[b * p.m + r]);
    }
    sync();
}

// Backward from δ_L: ∇L_t into g_s, every block's cotangent into bars.
fn backward(b: u32, lid: u32) {
    let base = b * p.vals_per_task;
    for (var li = 0u; li < p.n_layers; li++) {
        let l = p.n_layers - 1u - li;
        let q = layer(l);
        let din = q.d_in;
        let dout = q.d_out;
        if q.kind == 0u {
            for (var e = lid; e < dout * (din + 1u); e += WG) {
                let o = e / (din + 1u);
                let k = e % (din + 1u);
                var acc = 0.0;
                for (var r = 0u; r < p.n; r++) {
                    let xk = select(1.0, vals[base + q.in_off + r * din + k], k < din);
                    acc += bars[base + q.out_off + r * dout + o] * xk;
                }
                g_s[q.w_off + e] = acc;
            }
            if q.in_off != 0u {
                for (var e = lid; e < p.n * din; e += WG) {
                    let r = e / din;
                    let k = e % din;
                    var acc = 0.0;
                    for (var o = 0u; o < dout; o++) {
                        acc += bars[base + q.out_off + r * dout + o] * w_s[q.w_off + o * (din + 1u) + k];
                    }
                    bars[base + q.in_off + e] = acc;
                }
            }
        } else {
            for (var e = lid; e < p.n * din; e += WG) {
                bars[base + q.in_off + e] = sigma_d1(q.act, vals[base + q.in_off + e]) * bars[base + q.out_off + e];
            }
        }
        sync();
    }
}

// ∇L_t(w_t) at the w_t held in w_s.
fn gradient(b: u32, t: u32, lid: u32) {
    load_batch(b, t, lid);
    forward_and_residual(b, t, lid);
    backward(b, lid);
}

// w_s ← P(w_s − η M ⊙ g_s).
fn step_weights(b: u32, lid: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            let i = q.w_off + j;
            if p.constrained != 0u {
                let gi = global_param(l, b, j);
                let u = w_s[i] - p.lr * mask[gi] * g_s[i];
                let s = signs[gi];
                w_s[i] = select(u, s * abs(u), s != 0.0);
            } else {
                w_s[i] = w_s[i] - p.lr * g_s[i];
            }
        }
    }
    sync();
}

@compute @workgroup_size(WG, 1, 1)
fn unroll_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.x;
    load_w_from_w(b, lid);
    let tp = p.tasks * p.n_params;
    for (var t = range.t0; t < range.t1; t++) {
        if t % p.every == 0u {
            store_w_to_hist(b, lid, (t / p.every) * tp);
        }
        gradient(b, t, lid);
        step_weights(b, lid);
    }
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            w[global_param(l, b, j)] = w_s[q.w_off + j];
        }
    }
}

fn load_w_from_w(b: u32, lid: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            w_s[q.w_off + j] = w[global_param(l, b, j)];
        }
    }
    sync();
}

fn store_w_to_hist(b: u32, lid: u32, base: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            hist[base + global_param(l, b, j)] = w_s[q.w_off + j];
        }
    }
    sync();
}

// One step of the reverse sweep at w_t (in w_s), with v in v_s.
fn adjoint_step(b: u32, t: u32, lid: u32) {
    gradient(b, t, lid);
    let base = b * p.vals_per_task;
    // The direction d, into g_s (∇L_t is no longer needed after P'(u)).
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            let i = q.w_off + j;
            if p.constrained != 0u {
                let gi = global_param(l, b, j);
                let u = w_s[i] - p.lr * mask[gi] * g_s[i];
                let s = signs[gi];
                let vi = select(1.0, s * sign(u), s != 0.0) * v_s[i];
                v_s[i] = vi;
                g_s[i] = mask[gi] * vi;
            } else {
                g_s[i] = v_s[i];
            }
        }
    }
    sync();
    // Tangent forward along d; the input block's tangent is 0.
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        let din = q.d_in;
        let dout = q.d_out;
        for (var e = lid; e < p.n * dout; e += WG) {
            let r = e / dout;
            let o = e % dout;
            if q.kind == 0u {
                let row = q.w_off + o * (din + 1u);
                var s = g_s[row + din];
                for (var k = 0u; k < din; k++) {
                    s += vals[base + q.in_off + r * din + k] * g_s[row + k];
                    if q.in_off != 0u {
                        s += dots[base + q.in_off + r * din + k] * w_s[row + k];
                    }
                }
                dots[base + q.out_off + e] = s;
            } else {
                let si = base + q.in_off + e;
                dots[base + q.out_off + e] = select(sigma_d1(q.act, vals[si]) * dots[si], 0.0, q.in_off == 0u);
            }
        }
        sync();
    }
    // δ̇_L = (2/n) ṡ_L, and z̄_j += η Σ_{i : idx_i = j} δ̇_L,i in a fixed order.
    let out = layer(p.n_layers - 1u).out_off;
    let c = 2.0 / f32(p.n);
    for (var i = lid; i < p.n; i += WG) {
        bardots[base + out + i] = c * dots[base + out + i];
    }
    sync();
    let rows = (t * p.tasks + b) * p.n;
    for (var j = lid; j < p.m; j += WG) {
        var acc = 0.0;
        var hit = false;
        for (var i = 0u; i < p.n; i++) {
            if idx[rows + i] == j {
                acc += bardots[base + out + i];
                hit = true;
            }
        }
        if hit {
            z_bar[b * p.m + j] += p.lr * acc;
        }
    }
    // Tangent backward: H_t d into h_s.
    for (var li = 0u; li < p.n_layers; li++) {
        let l = p.n_layers - 1u - li;
        let q = layer(l);
        let din = q.d_in;
        let dout = q.d_out;
        if q.kind == 0u {
            for (var e = lid; e < dout * (din + 1u); e += WG) {
                let o = e / (din + 1u);
                let k = e % (din + 1u);
                var acc = 0.0;
                for (var r = 0u; r < p.n; r++) {
                    let y = base + q.out_off + r * dout + o;
                    if k < din {
                        let xi = base + q.in_off + r * din + k;
                        acc += bardots[y] * vals[xi];
                        if q.in_off != 0u {
                            acc += bars[y] * dots[xi];
                        }
                    } else {
                        acc += bardots[y];
                    }
                }
                h_s[q.w_off + e] = acc;
            }
            if q.in_off != 0u {
                for (var e = lid; e < p.n * din; e += WG) {
                    let r = e / din;
                    let k = e % din;
                    var acc = 0.0;
                    for (var o = 0u; o < dout; o++) {
                        let y = base + q.out_off + r * dout + o;
                        let wi = q.w_off + o * (din + 1u) + k;
                        acc += bardots[y] * w_s[wi] + bars[y] * g_s[wi];
                    }
                    bardots[base + q.in_off + e] = acc;
                }
            }
        } else {
            for (var e = lid; e < p.n * din; e += WG) {
                let si = base + q.in_off + e;
                let yi = base + q.out_off + e;
                bardots[si] = sigma_d2(q.act, vals[si]) * dots[si] * bars[yi]
                    + sigma_d1(q.act, vals[si]) * bardots[yi];
            }
        }
        sync();
    }
    // v ← v − η H_t d.
    for (var i = lid; i < p.n_params; i += WG) {
        v_s[i] = v_s[i] - p.lr * h_s[i];
    }
    sync();
}

@compute @workgroup_size(WG, 1, 1)
fn unroll_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.x;
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            v_s[q.w_off + j] = v[global_param(l, b, j)];
        }
    }
    sync();
    let tp = p.tasks * p.n_params;
    let seg_base = b * p.seg_len;
    for (var ci = range.c0; ci < range.c1; ci++) {
        let c = range.c1 - 1u - (ci - range.c0);
        let start = c * p.every;
        let end = min(start + p.every, p.steps);
        load_w_from_hist(b, lid, c * tp);
        if p.every > 1u {
            // Recompute w_start … w_{end−1}, keeping each in seg.
            for (var t = start; t < end; t++) {
                for (var i = lid; i < p.n_params; i += WG) {
                    seg[seg_base + (t - start) * p.n_params + i] = w_s[i];
                }
                sync();
                if t + 1u < end {
                    gradient(b, t, lid);
                    step_weights(b, lid);
                }
            }
        }
        for (var ti = start; ti < end; ti++) {
            let t = end - 1u - (ti - start);
            if p.every > 1u {
                for (var i = lid; i < p.n_params; i += WG) {
                    w_s[i] = seg[seg_base + (t - start) * p.n_params + i];
                }
                sync();
            }
            adjoint_step(b, t, lid);
        }
    }
    for (var l = 0u; l < p.n_layers; l++) {
        let q = layer(l);
        for (var j = lid; j < q.w_len; j += WG) {
            v[global_param(l, b, j)] = v_s[q.w_off + j];
        }
    }
}
