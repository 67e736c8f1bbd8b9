// unroll_lanes.wgsl — the unrolled gradient-descent learner of unroll.wgsl in
// a layout for adapters that run a workgroup as SIMD lanes (docs/design.md §6):
// one subgroup per task, each lane holding a private copy of the weights and
// the rows b ≡ lane (mod S) of every minibatch, so that every product reads
// registers and no pass needs a barrier.
//
// The math is unroll.wgsl's. At step t, on the minibatch B_t (n rows, labels
// z), with a_0 = x and r = g − z:
//   L_t = (1/n) Σ_i r_i²,    u = w_t − η M ⊙ ∇L_t(w_t),    w_{t+1} = P(u)
// with mask M and the sign projection P(u)_i = s_i |u_i| (P = id unconstrained).
//
//   forward  (unroll_lanes_forward)   w_0 → w_T, keeping w_t at every t ≡ 0 (mod k)
//   backward (unroll_lanes_backward)  from v = w̄_T, for t = T−1 … 0:
//       v ← P'(u) ⊙ v,  d = M ⊙ v
//       z̄_j += η (2/n) ⟨∇_w g(x_i), d⟩ for every i ∈ B_t with idx_i = j
//       v ← v − η H_t d,  H_t = ∇²_w L_t(w_t)
// Per row, each lane runs
//   primal      s_l = W_l a_{l−1} + b_l, a_l = σ(s_l);  δ_L = (2/n) r,
//               ∇W_l += δ_l ã_{l−1}ᵀ,  δ_{l−1} = W_lᵀ δ_l, through σ: σ'(s) δ
//   tangent     ṡ_l = W_l ȧ_{l−1} + D_l ã_{l−1},  ȧ_l = σ'(s_l) ṡ_l,  ȧ_0 = 0
//   tangent of the backward
//               δ̇_L = (2/n) ṡ_L,  (H d)_l += δ̇_l ã_{l−1}ᵀ + δ_l [ȧ_{l−1}, 0]ᵀ,
//               δ̇_{l−1} = W_lᵀ δ̇_l + D_lᵀ δ_l,  through σ: σ''(s) ṡ δ + σ'(s) δ̇
// and the per-lane sums over its rows (∇L_t, H_t d) are added across the
// subgroup by an xor butterfly: at level m every lane adds its partner's value
// to its own, and since x + y = y + x exactly, every lane ends with the same
// bits, so the lanes' weight copies never drift apart. Every sum runs in a
// fixed order, so results are bitwise reproducible on a given adapter.
//
// z̄ of training row j is kept by lane j mod S: each step, the rows' δ̇_L are
// passed round the subgroup in minibatch order and the owner adds η δ̇_L.
//
// σ is chosen per layer (act code as in activation.wgsl):
//   0 identity, 1 relu, 2 tanh, 3 cos, 4 relu6/6 (derivative 0 at the kinks).

// Lanes per workgroup: the adapter's subgroup size, set by the host.
override WG: u32 = 8u;
// Masked / sign-constrained steps (p.constrained), and a reverse sweep that
// recomputes w_t within checkpoint segments (p.every > 1), set by the host
// so that a kernel holds only the code its learner runs.
override CONSTRAINED: bool = false;
override RECOMPUTE: bool = false;
// The sizes of the private arrays. The host resizes them to the learner
// (Gpu::kernel_sized): software adapters expand each dynamic index of a
// private array into one branch per element, so their compile time grows
// with these sizes. The values here are the largest the host allows.
// Parameters per task.
const MAX_PARAMS: u32 = 1024u;
// Values of one row: the input and every layer's output.
const MAX_VALUES: u32 = 256u;
// Minibatch rows per lane.
const MAX_ROWS: u32 = 64u;
// Training rows whose z̄ one lane keeps.
const MAX_OWNED: u32 = 128u;

// #import unroll_common

@group(0) @binding(8) var<storage, read_write> seg: array<f32>;  // [tasks, WG, k, P]
@group(0) @binding(9) var<storage, read_write> v: array<f32>;    // layer-major, as w
@group(0) @binding(10) var<storage, read_write> z_bar: array<f32>; // [tasks, m]

@group(0) @binding(11) var<uniform> range: Range;

// One lane's state; all lanes hold the same w, v and direction.
var<private> w_p: array<f32, MAX_PARAMS>;   // w_t
var<private> g_p: array<f32, MAX_PARAMS>;   // ∇L_t, then the direction d
var<private> v_p: array<f32, MAX_PARAMS>;   // the adjoint v
var<private> h_p: array<f32, MAX_PARAMS>;   // H_t d
var<private> ms_p: array<vec2<f32>, MAX_PARAMS>; // (mask, sign) when constrained
var<private> act: array<f32, MAX_VALUES>;   // one row's values
var<private> bar: array<f32, MAX_VALUES>;   // their cotangents
var<private> tang: array<f32, MAX_VALUES>;  // their tangents
var<private> btang: array<f32, MAX_VALUES>;  // the tangents of the cotangents
var<private> dd_p: array<f32, MAX_ROWS>;    // δ̇_L of this lane's rows
var<private> zb_p: array<f32, MAX_OWNED>;   // z̄ of the training rows this lane owns

// #import activation

// The sum of x over the subgroup, the same bits in every lane. Written out
// level by level (subgroups of up to 128 lanes) rather than as a loop, so
// that it adds nothing to the loop count of software adapters.
fn lanes_sum(x0: f32) -> f32 {
    var x = x0;
    if WG > 1u { x += subgroupShuffleXor(x, 1u); }
    if WG > 2u { x += subgroupShuffleXor(x, 2u); }
    if WG > 4u { x += subgroupShuffleXor(x, 4u); }
    if WG > 8u { x += subgroupShuffleXor(x, 8u); }
    if WG > 16u { x += subgroupShuffleXor(x, 16u); }
    if WG > 32u { x += subgroupShuffleXor(x, 32u); }
    if WG > 64u { x += subgroupShuffleXor(x, 64u); }
    return x;
}

// (*dst)[at + k] = lane k's val for k < top: the subgroup's values passed round.
fn spread(dst: ptr<private, array<f32, MAX_PARAMS>>, val: f32, at: u32, top: u32) {
    for (var k = 0u; k < top; k++) {
        (*dst)[at + k] = subgroupShuffle(val, k);
    }
}

// Loads task b's parameters into every lane's w_p (from w), w_p (from the
// checkpoint at `base` of hist) or v_p (from v): lane ℓ reads the entries
// j ≡ ℓ (mod S) of each layer's block and spread passes them round.
// (One function per buffer: WGSL cannot pass a storage buffer to a function,
// and a switch over buffers would bind all three in both entry points.)
fn load_w(b: u32, lane: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j0 = 0u; j0 < q.y; j0 += WG) {
            let j = min(j0 + lane, q.y - 1u);
            spread(&w_p, w[global_param(l, b, j)], q.x + j0, min(WG, q.y - j0));
        }
    }
}

fn load_checkpoint(b: u32, lane: u32, base: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j0 = 0u; j0 < q.y; j0 += WG) {
            let j = min(j0 + lane, q.y - 1u);
            spread(&w_p, hist[base + global_param(l, b, j)], q.x + j0, min(WG, q.y - j0));
        }
    }
}

fn load_v(b: u32, lane: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j0 = 0u; j0 < q.y; j0 += WG) {
            let j = min(j0 + lane, q.y - 1u);
            spread(&v_p, v[global_param(l, b, j)], q.x + j0, min(WG, q.y - j0));
        }
    }
}

// Stores every lane's copy of w_p (to w or to the checkpoint at `base` of
// hist) or v_p (to v) for task b: lane ℓ writes the entries j ≡ ℓ (mod S).
fn store_w(b: u32, lane: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j = lane; j < q.y; j += WG) {
            w[global_param(l, b, j)] = w_p[q.x + j];
        }
    }
}

fn store_checkpoint(b: u32, lane: u32, base: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j = lane; j < q.y; j += WG) {
            hist[base + global_param(l, b, j)] = w_p[q.x + j];
        }
    }
}

fn store_v(b: u32, lane: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j = lane; j < q.y; j += WG) {
            v[global_param(l, b, j)] = v_p[q.x + j];
        }
    }
}

// The mask and the signs of task b into ms_p (every lane reads them all once).
fn load_constraints(b: u32) {
    for (var l = 0u; l < p.n_layers; l++) {
        let q = p.layers[2u * l + 1u];
        for (var j = 0u; j < q.y; j++) {
            let g = global_param(l, b, j);
            ms_p[q.x + j] = vec2<f32>(mask[g], signs[g]);
        }
    }
}

// Row `r` of task b's training set into act, then forward through every
// layer at w_p; then δ_L = (2/n)(g − z) in bar.
fn row_primal(b: u32, r: u32) {
    for (var k = 0u; k < p.d; k++) {
        act[k] = x[(b * p.m + r) * p.d + k];
    }
    for (var l = 0u; l < p.n_layers; l++) {
        let a = p.layers[2u * l];
        let q = p.layers[2u * l + 1u];
        if a.x == 0u {
            for (var o = 0u; o < a.w; o++) {
                let row = q.x + o * (a.z + 1u);
                var s = w_p[row + a.z];
                for (var k = 0u; k < a.z; k++) {
                    s += act[q.z + k] * w_p[row + k];
                }
                act[q.w + o] = s;
            }
        } else {
            for (var e = 0u; e < a.w; e++) {
                act[q.w + e] = sigma(a.y, act[q.z + e]);
            }
        }
    }
    let out = p.layers[2u * (p.n_layers - 1u) + 1u].w;
    bar[out] = 2.0 / f32(p.n) * (act[out] - z[b * p.m + r]);
}

// Backward from δ_L: every value's cotangent into bar; with `grad`, this
// row's share of ∇L_t added into g_p.
fn row_backward(grad: bool) {
    for (var li = 0u; li < p.n_layers; li++) {
        let l = p.n_layers - 1u - li;
        let a = p.layers[2u * l];
        let q = p.layers[2u * l + 1u];
        let din = a.z;
        if a.x == 0u {
            if grad {
                for (var o = 0u; o < a.w; o++) {
                    let row = q.x + o * (din + 1u);
                    let dy = bar[q.w + o];
                    for (var k = 0u; k < din; k++) {
                        g_p[row + k] += dy * act[q.z + k];
                    }
                    g_p[row + din] += dy;
                }
            }
            if q.z != 0u {
                for (var k = 0u; k < din; k++) {
                    var acc = 0.0;
                    for (var o = 0u; o < a.w; o++) {
                        acc += bar[q.w + o] * w_p[q.x + o * (din + 1u) + k];
                    }
                    bar[q.z + k] = acc;
                }
            }
        } else {
            for (var e = 0u; e < a.w; e++) {
                bar[q.z + e] = sigma_d1(a.y, act[q.z + e]) * bar[q.w + e];
            }
        }
    }
}

// The tangent passes of one row along d (in g_p), after row_primal and
// row_backward: this row's share of H_t d added into h_p; returns δ̇_L.
fn row_tangent() -> f32 {
    for (var l = 0u; l < p.n_layers; l++) {
        let a = p.layers[2u * l];
        let q = p.layers[2u * l + 1u];
        let din = a.z;
        if a.x == 0u {
            for (var o = 0u; o < a.w; o++) {
                let row = q.x + o * (din + 1u);
                var s = g_p[row + din];
                for (var k = 0u; k < din; k++) {
                    s += act[q.z + k] * g_p[row + k];
                    if q.z != 0u {
                        s += tang[q.z + k] * w_p[row + k];
                    }
                }
                tang[q.w + o] = s;
            }
        } else {
            for (var e = 0u; e < a.w; e++) {
                let si = q.z + e;
                tang[q.w + e] = select(sigma_d1(a.y, act[si]) * tang[si], 0.0, q.z == 0u);
            }
        }
    }
    let out = p.layers[2u * (p.n_layers - 1u) + 1u].w;
    let dd = 2.0 / f32(p.n) * tang[out];
    btang[out] = dd;
    for (var li = 0u; li < p.n_layers; li++) {
        let l = p.n_layers - 1u - li;
        let a = p.layers[2u * l];
        let q = p.layers[2u * l + 1u];
        let din = a.z;
        if a.x == 0u {
            for (var o = 0u; o < a.w; o++) {
                let row = q.x + o * (din + 1u);
                let y = q.w + o;
                for (var k = 0u; k < din; k++) {
                    var acc = btang[y] * act[q.z + k];
                    if q.z != 0u {
                        acc += bar[y] * tang[q.z + k];
                    }
                    h_p[row + k] += acc;
                }
                h_p[row + din] += btang[y];
            }
            if q.z != 0u {
                for (var k = 0u; k < din; k++) {
                    var acc = 0.0;
                    for (var o = 0u; o < a.w; o++) {
                        let y = q.w + o;
                        let wi = q.x + o * (din + 1u) + k;
                        acc += btang[y] * w_p[wi] + bar[y] * g_p[wi];
                    }
                    btang[q.z + k] = acc;
                }
            }
        } else {
            for (var e = 0u; e < a.w; e++) {
                let si = q.z + e;
                let yi = q.w + e;
                btang[si] = sigma_d2(a.y, act[si]) * tang[si] * bar[yi]
                    + sigma_d1(a.y, act[si]) * btang[yi];
            }
        }
    }
    return dd;
}

// ∇L_t(w_t) at w_p into g_p, the same in every lane.
fn gradient(b: u32, t: u32, lane: u32) {
    for (var i = 0u; i < p.n_params; i++) {
        g_p[i] = 0.0;
    }
    let rows = (t * p.tasks + b) * p.n;
    for (var i = lane; i < p.n; i += WG) {
        row_primal(b, idx[rows + i]);
        row_backward(true);
    }
    for (var i = 0u; i < p.n_params; i++) {
        g_p[i] = lanes_sum(g_p[i]);
    }
}

// w_p ← P(w_p − η M ⊙ g_p).
fn step_weights() {
    for (var i = 0u; i < p.n_params; i++) {
        if CONSTRAINED {
            let ms = ms_p[i];
            let u = w_p[i] - p.lr * ms.x * g_p[i];
            w_p[i] = select(u, ms.y * abs(u), ms.y != 0.0);
        } else {
            w_p[i] = w_p[i] - p.lr * g_p[i];
        }
    }
}

// The per-lane copy of w_t at segment position `slot`.
fn seg_index(b: u32, lane: u32, slot: u32, i: u32) -> u32 {
    return (b * WG + lane) * p.seg_len + slot * p.n_params + i;
}

@compute @workgroup_size(WG, 1, 1)
fn unroll_lanes_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let b = wid.x;
    load_w(b, lane);
    if CONSTRAINED {
        load_constraints(b);
    }
    let tp = p.tasks * p.n_params;
    for (var t = range.t0; t < range.t1; t++) {
        if t % p.every == 0u {
            store_checkpoint(b, lane, (t / p.every) * tp);
        }
        gradient(b, t, lane);
        step_weights();
    }
    store_w(b, lane);
}

// One step of the reverse sweep at w_t (in w_p), with v in v_p.
fn adjoint_step(b: u32, t: u32, lane: u32) {
    let rows = (t * p.tasks + b) * p.n;
    // The direction d, into g_p (∇L_t is needed only to find P'(u)).
    if CONSTRAINED {
        gradient(b, t, lane);
        for (var i = 0u; i < p.n_params; i++) {
            let ms = ms_p[i];
            let u = w_p[i] - p.lr * ms.x * g_p[i];
            let vi = select(1.0, ms.y * sign(u), ms.y != 0.0) * v_p[i];
            v_p[i] = vi;
            g_p[i] = ms.x * vi;
        }
    } else {
        for (var i = 0u; i < p.n_params; i++) {
            g_p[i] = v_p[i];
        }
    }
    for (var i = 0u; i < p.n_params; i++) {
        h_p[i] = 0.0;
    }
    var slot = 0u;
    for (var i = lane; i < p.n; i += WG) {
        row_primal(b, idx[rows + i]);
        row_backward(false);
        dd_p[slot] = row_tangent();
        slot++;
    }
    // z̄_j += η δ̇_L,i in minibatch order, by the lane that owns row j.
    for (var i = 0u; i < p.n; i++) {
        let dd = subgroupShuffle(dd_p[i / WG], i % WG);
        let j = idx[rows + i];
        if j % WG == lane {
            zb_p[j / WG] += p.lr * dd;
        }
    }
    // v ← v − η H_t d.
    for (var i = 0u; i < p.n_params; i++) {
        v_p[i] = v_p[i] - p.lr * lanes_sum(h_p[i]);
    }
}

@compute @workgroup_size(WG, 1, 1)
fn unroll_lanes_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let b = wid.x;
    load_v(b, lane);
    if CONSTRAINED {
        load_constraints(b);
    }
    for (var j = 0u; j < MAX_OWNED; j++) {
        zb_p[j] = 0.0;
    }
    let tp = p.tasks * p.n_params;
    for (var ci = range.c0; ci < range.c1; ci++) {
        let c = range.c1 - 1u - (ci - range.c0);
        let start = c * p.every;
        let end = min(start + p.every, p.steps);
        load_checkpoint(b, lane, c * tp);
        if RECOMPUTE {
            // Recompute w_start … w_{end−1}, each lane keeping its own copy.
            for (var t = start; t < end; t++) {
                for (var i = 0u; i < p.n_params; i++) {
                    seg[seg_index(b, lane, t - start, i)] = w_p[i];
                }
                if t + 1u < end {
                    gradient(b, t, lane);
                    step_weights();
                }
            }
        }
        for (var ti = start; ti < end; ti++) {
            let t = end - 1u - (ti - start);
            if RECOMPUTE {
                for (var i = 0u; i < p.n_params; i++) {
                    w_p[i] = seg[seg_index(b, lane, t - start, i)];
                }
            }
            adjoint_step(b, t, lane);
        }
    }
    store_v(b, lane);
    for (var j = lane; j < p.m; j += WG) {
        z_bar[b * p.m + j] += zb_p[j / WG];
    }
}
