// lib/unroll_lanes.wgsl — the driver of the fused unroll in the lanes layout
// (docs/design.md §6), for adapters that run a workgroup as SIMD lanes: one
// subgroup per task, each lane holding a private copy of the weights and the
// rows b ≡ lane (mod S) of every minibatch, so that every product reads
// registers and no pass needs a barrier.
//
// The host writes the rest of the kernel for each learner
// (occam_ops::unroll::lanes_kernel): the sizes below as constants, a lane's
// weights and values as private scalars, the subgroup sum, and every
// function that walks the layers or the parameters written out in full, so
// that no loop runs over a size and nothing is indexed by a variable
// (llvmpipe then keeps them in registers; a dynamic index into a private
// array costs it a branch per element, at compile and at run time). This
// file holds what does not depend on the layers: the steps and the rows.
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
// Per row, each lane runs (the generated row_primal, row_backward, row_tangent)
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
// What the generated part declares:
//   const WG (lanes = the subgroup size), N_PARAMS, MAX_ROWS (minibatch rows
//   per lane), MAX_OWNED (training rows whose z̄ one lane keeps),
//   CONSTRAINED, RECOMPUTE (p.every > 1);
//   the private scalars above; lanes_sum (the subgroup sum);
//   load_w, load_checkpoint, load_v, store_w, store_checkpoint, store_v,
//   seg_store, seg_load (moving w_p / v_p);
//   row_primal, row_backward, row_tangent (one row, as above);
//   zero_g, sum_g, step_weights, direction, zero_h, apply_h (per parameter;
//   a constrained learner's step and direction read mask and signs there).

// #import unroll_common

@group(0) @binding(8) var<storage, read_write> seg: array<f32>;  // [tasks, WG, k, P]
@group(0) @binding(9) var<storage, read_write> v: array<f32>;    // layer-major, as w
@group(0) @binding(10) var<storage, read_write> z_bar: array<f32>; // [tasks, m]

@group(0) @binding(11) var<uniform> range: Range;

// One lane's state beyond the generated scalars (w_p_i, g_p_i, v_p_i, h_p_i
// per parameter; act_k, bar_k, tang_k, btang_k per value of a row), which
// all lanes hold alike for the parameters.
var<private> dd_p: array<f32, MAX_ROWS>;  // δ̇_L of this lane's rows
var<private> zb_p: array<f32, MAX_OWNED>; // z̄ of the training rows this lane owns

// #import activation

// ∇L_t(w_t) at w_p into g_p, the same in every lane.
fn lanes_gradient(b: u32, t: u32, lane: u32) {
    zero_g();
    let rows = (t * p.tasks + b) * p.n;
    for (var i = lane; i < p.n; i += WG) {
        row_primal(b, idx[rows + i]);
        row_backward(true);
    }
    sum_g();
}

@compute @workgroup_size(WG, 1, 1)
fn unroll_lanes_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let b = wid.x;
    load_w(b, lane);
    let tp = p.tasks * p.n_params;
    for (var t = range.t0; t < range.t1; t++) {
        if t % p.every == 0u {
            store_checkpoint(b, lane, (t / p.every) * tp);
        }
        lanes_gradient(b, t, lane);
        step_weights(b, lane);
    }
    store_w(b, lane);
}

// One step of the reverse sweep at w_t (in w_p), with v in v_p.
fn lanes_adjoint_step(b: u32, t: u32, lane: u32) {
    let rows = (t * p.tasks + b) * p.n;
    // The direction d, into g_p (∇L_t is needed only to find P'(u)).
    if CONSTRAINED {
        lanes_gradient(b, t, lane);
    }
    direction(b, lane);
    zero_h();
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
    apply_h();
}

@compute @workgroup_size(WG, 1, 1)
fn unroll_lanes_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let b = wid.x;
    load_v(b, lane);
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
                seg_store(b, lane, t - start);
                if t + 1u < end {
                    lanes_gradient(b, t, lane);
                    step_weights(b, lane);
                }
            }
        }
        for (var ti = start; ti < end; ti++) {
            let t = end - 1u - (ti - start);
            if RECOMPUTE {
                seg_load(b, lane, t - start);
            }
            lanes_adjoint_step(b, t, lane);
        }
    }
    store_v(b, lane);
    for (var j = lane; j < p.m; j += WG) {
        z_bar[b * p.m + j] += zb_p[j / WG];
    }
}
