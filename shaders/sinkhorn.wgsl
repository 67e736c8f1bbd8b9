// sinkhorn.wgsl — debiased Sinkhorn divergence between labels z (n per task)
// and target samples u (m per task), with the semantics of geomloss
// SamplesLoss("sinkhorn", p=2, blur, scaling), uniform weights α = 1/n, β = 1/m:
//
//   cost C(x, y) = |x − y|²/2, ε-scaling from diameter² down to blur² in steps
//   of scaling² (the schedule [d², exp(arange(2 ln d, 2 ln blur, 2 ln s)), blur²]),
//   softmin_ε(x_i; y, h) = −ε log Σ_j exp(h_j − C(x_i, y_j)/ε),
//   symmetric updates  f_ba ← ½(f_ba + softmin(x; y, log β + g_ab/ε)),
//                      g_ab ← ½(g_ab + softmin(y; x, log α + f_ba/ε)),
//                      f_aa, g_bb likewise against themselves,
//   then one final extrapolation at ε = blur² without averaging:
//   forward            loss_b = w · [⟨α, f_ba − f_aa⟩ + ⟨β, g_ab − g_bb⟩]
//   backward (VJP)     z_bar_i += w · α [Σ_j P_ij (z_i − u_j) − Σ_k Q_ik (z_i − z_k)]
//                      with P, Q the row-normalised plans of the final
//                      extrapolation (the gradient geomloss's autograd gives).
// A meta-loss term, never differentiated twice: no tangent passes. Forward:
// one workgroup per task runs the loop; reductions are fixed-order trees.
// Backward: one workgroup per block of 256 labels of a task, reading the
// points and potentials the forward pass left in `work`.
// Each update (and the backward pass) streams the task's points through workgroup memory in tiles of
// TILE, four to a vec4 with h_j = log w + pot_j/ε precomputed (padding gets
// h = −3e38, which adds exp(−∞) = 0), and every thread folds one query point
// against both sets with a running maximum taken over each quad: one
// workgroup-memory load per four points and operand, where per-point storage
// loads dominated the time on software adapters.
// The forward pass may be cut into several dispatches over the ε list
// (`stages`: list entries k0 ≤ k < k1, the first dispatch also starting the
// potentials, the last also extrapolating and writing the loss); the
// potentials carry over in `work`. Hardware runs one dispatch; software
// adapters cut the list so that no invocation loops more than llvmpipe's
// 65535 iterations in all.
// `work` holds, per task: [z, u | f_ba, f_aa, ft_ba, ft_aa (n each) |
// g_ab, g_bb, gt_ab, gt_bb (m each)].

struct SinkhornParams {
    tasks: u32,
    n: u32,
    m: u32,
    weight: f32,
    blur: f32,
    scaling: f32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 256u;
const TILE: u32 = 256u;   // points of one set staged at a time
const QUADS: u32 = 64u;   // TILE / 4
const FAR: f32 = -3.0e38; // h of a padding point

@group(0) @binding(0) var<uniform> p: SinkhornParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> z_bar: array<f32>;

// The part of the ε list one forward dispatch runs.
struct Stages {
    k0: u32,
    k1: u32,
    first: u32,  // start the potentials (update at d² from zero, replace)
    last: u32,   // final extrapolation and the loss
}

@group(0) @binding(6) var<uniform> stages: Stages;

var<workgroup> red: array<f32, WG>;
var<workgroup> shared_value: f32;
// One staged tile of a set: its points, and h_j for the queries of each set
// (tile_h0 for queries in z, tile_h1 for queries in u).
var<workgroup> tile_y: array<vec4<f32>, QUADS>;
var<workgroup> tile_h0: array<vec4<f32>, QUADS>;
var<workgroup> tile_h1: array<vec4<f32>, QUADS>;

fn task_len() -> u32 { return 5u * (p.n + p.m); }
fn pts(b: u32) -> u32 { return b * task_len(); }
fn off_f_ba(b: u32) -> u32 { return pts(b) + p.n + p.m; }
fn off_f_aa(b: u32) -> u32 { return off_f_ba(b) + p.n; }
fn off_ft_ba(b: u32) -> u32 { return off_f_ba(b) + 2u * p.n; }
fn off_ft_aa(b: u32) -> u32 { return off_f_ba(b) + 3u * p.n; }
fn off_g_ab(b: u32) -> u32 { return off_f_ba(b) + 4u * p.n; }
fn off_g_bb(b: u32) -> u32 { return off_g_ab(b) + p.m; }
fn off_gt_ab(b: u32) -> u32 { return off_g_ab(b) + 2u * p.m; }
fn off_gt_bb(b: u32) -> u32 { return off_g_ab(b) + 3u * p.m; }

// Sums `v` over the workgroup in a fixed tree order; every thread gets the total.
fn workgroup_sum(t: u32, v: f32) -> f32 {
    red[t] = v;
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if t < stride { red[t] = red[t] + red[t + stride]; }
    }
    workgroupBarrier();
    if t == 0u { shared_value = red[0]; }
    return workgroupUniformLoad(&shared_value);
}

fn workgroup_max(t: u32, v: f32) -> f32 {
    red[t] = v;
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if t < stride { red[t] = max(red[t], red[t + stride]); }
    }
    workgroupBarrier();
    if t == 0u { shared_value = red[0]; }
    return workgroupUniformLoad(&shared_value);
}

// Point j of a set of `count` points at `src`; 0 past the end.
fn point_at(src: u32, j: u32, count: u32) -> f32 {
    if j >= count { return 0.0; }
    return work[src + j];
}

// h_j = logw + pot_j/ε (logw alone when `zero`, the potentials' start); FAR
// past the end.
fn h_at(pot: u32, j: u32, count: u32, logw: f32, inv_eps: f32, zero: bool) -> f32 {
    if j >= count { return FAR; }
    if zero { return logw; }
    return logw + work[pot + j] * inv_eps;
}

// Stages points [s0, s0 + TILE) of the set at `src` (`count` points, weight
// exp(logw)) with the potentials pot0 (for queries in z) and pot1 (for
// queries in u). Called by every thread; threads t < QUADS load one quad.
fn stage(t: u32, src: u32, count: u32, s0: u32, pot0: u32, pot1: u32, logw: f32, inv_eps: f32, zero: bool) {
    workgroupBarrier();
    if t < QUADS {
        let j = s0 + 4u * t;
        tile_y[t] = vec4<f32>(point_at(src, j, count), point_at(src, j + 1u, count),
                              point_at(src, j + 2u, count), point_at(src, j + 3u, count));
        tile_h0[t] = vec4<f32>(h_at(pot0, j, count, logw, inv_eps, zero), h_at(pot0, j + 1u, count, logw, inv_eps, zero),
                               h_at(pot0, j + 2u, count, logw, inv_eps, zero), h_at(pot0, j + 3u, count, logw, inv_eps, zero));
        tile_h1[t] = vec4<f32>(h_at(pot1, j, count, logw, inv_eps, zero), h_at(pot1, j + 1u, count, logw, inv_eps, zero),
                               h_at(pot1, j + 2u, count, logw, inv_eps, zero), h_at(pot1, j + 3u, count, logw, inv_eps, zero));
    }
    workgroupBarrier();
}

// softmin_ε(x; set, h) = −ε log Σ_j exp(h_j − (x − y_j)²/(2ε)) over every
// point of the set at `src`, streamed through the tiles; `in_u` picks the
// query's potentials. One pass with a running maximum, updated once per quad.
fn softmin_set(t: u32, x: f32, in_u: bool, eps: f32, src: u32, count: u32, pot0: u32, pot1: u32, logw: f32, zero: bool) -> f32 {
    let inv_eps = 1.0 / eps;
    let half_inv_eps = 0.5 * inv_eps;
    var mx = FAR;
    var s = 0.0;
    for (var s0 = 0u; s0 < count; s0 += TILE) {
        stage(t, src, count, s0, pot0, pot1, logw, inv_eps, zero);
        let quads = min(QUADS, (count - s0 + 3u) / 4u);
        for (var q = 0u; q < quads; q++) {
            let d = vec4<f32>(x) - tile_y[q];
            let h = select(tile_h0[q], tile_h1[q], in_u);
            let e = h - d * d * half_inv_eps;
            let top = max(max(e.x, e.y), max(e.z, e.w));
            if top > mx {
                s = s * exp(mx - top);
                mx = top;
            }
            let w = exp(e - vec4<f32>(mx));
            s += (w.x + w.y) + (w.z + w.w);
        }
    }
    return -eps * (mx + log(s));
}

// One round of updates at ε into the ft/gt slots, from the f/g potentials
// (or from zero potentials when `first`). Query q runs over z then u (the
// two are contiguous in `work`); each is folded against z (potentials f_aa
// for a query in z, f_ba for one in u) and against u (g_ab, g_bb).
fn update(b: u32, t: u32, eps: f32, first: bool) {
    let la = -log(f32(p.n));
    let lb = -log(f32(p.m));
    let zs = pts(b);
    let us = pts(b) + p.n;
    let total = p.n + p.m;
    for (var r0 = 0u; r0 < total; r0 += WG) {
        let q = r0 + t;
        let in_u = q >= p.n;
        let x = work[zs + min(q, total - 1u)];
        let from_z = softmin_set(t, x, in_u, eps, zs, p.n, off_f_aa(b), off_f_ba(b), la, first);
        let from_u = softmin_set(t, x, in_u, eps, us, p.m, off_g_ab(b), off_g_bb(b), lb, first);
        if q < p.n {
            work[off_ft_aa(b) + q] = from_z;
            work[off_ft_ba(b) + q] = from_u;
        } else if q < total {
            work[off_gt_ab(b) + q - p.n] = from_z;
            work[off_gt_bb(b) + q - p.n] = from_u;
        }
    }
    storageBarrier();
}

// f ← ½(f + ft) (or f ← ft when `replace`).
fn settle(b: u32, t: u32, replace: bool) {
    let keep = select(0.5, 0.0, replace);
    let take = select(0.5, 1.0, replace);
    for (var i = t; i < p.n; i += WG) {
        work[off_f_ba(b) + i] = keep * work[off_f_ba(b) + i] + take * work[off_ft_ba(b) + i];
        work[off_f_aa(b) + i] = keep * work[off_f_aa(b) + i] + take * work[off_ft_aa(b) + i];
    }
    for (var j = t; j < p.m; j += WG) {
        work[off_g_ab(b) + j] = keep * work[off_g_ab(b) + j] + take * work[off_gt_ab(b) + j];
        work[off_g_bb(b) + j] = keep * work[off_g_bb(b) + j] + take * work[off_gt_bb(b) + j];
    }
    storageBarrier();
}

@compute @workgroup_size(256, 1, 1)
fn sinkhorn_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    var lo = 3.0e38;
    var hi = -3.0e38;
    for (var i = t; i < p.n; i += WG) {
        let v = z[b * p.n + i];
        work[pts(b) + i] = v;
        lo = min(lo, v);
        hi = max(hi, v);
    }
    for (var j = t; j < p.m; j += WG) {
        let v = u[b * p.m + j];
        work[pts(b) + p.n + j] = v;
        lo = min(lo, v);
        hi = max(hi, v);
    }
    storageBarrier();
    let diameter = max(workgroup_max(t, hi) + workgroup_max(t, -lo), p.blur);

    // ε schedule: d², then exp(e) for e in arange(2 ln d, 2 ln blur, 2 ln s), then blur².
    let start = 2.0 * log(diameter);
    let stop = 2.0 * log(p.blur);
    let step = 2.0 * log(p.scaling);
    let count = u32(max(ceil((stop - start) / step), 0.0));

    if stages.first != 0u {
        update(b, t, diameter * diameter, true);
        settle(b, t, true);
    }
    // The whole list is d², the arange, blur²; this dispatch runs [k0, k1).
    let k_end = min(stages.k1, count + 2u);
    for (var k = stages.k0; k < k_end; k++) {
        var eps: f32;
        if k == 0u {
            eps = diameter * diameter;
        } else if k <= count {
            eps = exp(start + f32(k - 1u) * step);
        } else {
            eps = p.blur * p.blur;
        }
        update(b, t, eps, false);
        settle(b, t, false);
    }
    if stages.last == 0u {
        return;
    }
    // Final extrapolation at blur², without averaging: results stay in ft/gt,
    // the potentials it started from stay in f/g (the backward pass uses them).
    update(b, t, p.blur * p.blur, false);

    var part = 0.0;
    for (var i = t; i < p.n; i += WG) {
        part += (work[off_ft_ba(b) + i] - work[off_ft_aa(b) + i]) / f32(p.n);
    }
    for (var j = t; j < p.m; j += WG) {
        part += (work[off_gt_ab(b) + j] - work[off_gt_bb(b) + j]) / f32(p.m);
    }
    let total = workgroup_sum(t, part);
    if t == 0u { loss[b] = p.weight * total; }
}

// Σ_j P_j (x − y_j) with P the softmax over j of h_j − (x − y_j)²/(2ε),
// h_j = logw + pot_j/ε, over the set at `src`, streamed through the tiles
// like `softmin_set` (one pass: the running sums are rescaled whenever the
// maximum grows).
fn plan_mean(t: u32, x: f32, eps: f32, src: u32, count: u32, pot: u32, logw: f32) -> f32 {
    let inv_eps = 1.0 / eps;
    let half_inv_eps = 0.5 * inv_eps;
    var mx = FAR;
    var s = 0.0;
    var acc = 0.0;
    for (var s0 = 0u; s0 < count; s0 += TILE) {
        stage(t, src, count, s0, pot, pot, logw, inv_eps, false);
        let quads = min(QUADS, (count - s0 + 3u) / 4u);
        for (var q = 0u; q < quads; q++) {
            let d = vec4<f32>(x) - tile_y[q];
            let e = tile_h0[q] - d * d * half_inv_eps;
            let top = max(max(e.x, e.y), max(e.z, e.w));
            if top > mx {
                let r = exp(mx - top);
                s = s * r;
                acc = acc * r;
                mx = top;
            }
            let w = exp(e - vec4<f32>(mx));
            s += (w.x + w.y) + (w.z + w.w);
            acc += dot(w, d);
        }
    }
    return acc / s;
}

// Workgroup (i-block, task b): the labels z_i of the block, against the
// potentials the forward pass left in `work`.
@compute @workgroup_size(256, 1, 1)
fn sinkhorn_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.y;
    let i = wg.x * WG + t;
    let eps = p.blur * p.blur;
    let x = work[pts(b) + min(i, p.n - 1u)];
    let la = -log(f32(p.n));
    let lb = -log(f32(p.m));
    let toward_u = plan_mean(t, x, eps, pts(b) + p.n, p.m, off_g_ab(b), lb);
    let toward_z = plan_mean(t, x, eps, pts(b), p.n, off_f_aa(b), la);
    if i < p.n {
        z_bar[b * p.n + i] += p.weight * (toward_u - toward_z) / f32(p.n);
    }
}
