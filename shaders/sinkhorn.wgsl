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
// A meta-loss term, never differentiated twice: no tangent passes. One
// workgroup per task runs the loop; reductions are fixed-order trees.
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
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: SinkhornParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read> work_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> z_bar: array<f32>;

// The part of the ε list one forward dispatch runs.
struct Stages {
    k0: u32,
    k1: u32,
    first: u32,  // start the potentials (update at d² from zero, replace)
    last: u32,   // final extrapolation and the loss
}

@group(0) @binding(7) var<uniform> stages: Stages;

var<workgroup> red: array<f32, WG>;
var<workgroup> shared_value: f32;

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

// −ε log Σ_j exp(logw + pot_j/ε − (x − y_j)²/(2ε)) over `count` points of
// `work` starting at `src`; pot = NONE means potentials of zero. One pass
// with a running maximum (the sum is rescaled whenever the maximum grows):
// half the loop iterations of a max pass plus a sum pass, which matters on
// llvmpipe, where an invocation's loops all stop after 65535 iterations.
fn softmin(eps: f32, x: f32, src: u32, count: u32, logw: f32, pot: u32) -> f32 {
    var mx = -3.0e38;
    var s = 0.0;
    for (var j = 0u; j < count; j++) {
        let d = x - work[src + j];
        var t = logw - d * d / (2.0 * eps);
        if pot != NONE { t += work[pot + j] / eps; }
        if t > mx {
            s = s * exp(mx - t) + 1.0;
            mx = t;
        } else {
            s += exp(t - mx);
        }
    }
    return -eps * (mx + log(s));
}

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

// One round of updates at ε into the ft/gt slots, from the f/g potentials
// (or from zero potentials when `first`).
fn update(b: u32, t: u32, eps: f32, first: bool) {
    let la = -log(f32(p.n));
    let lb = -log(f32(p.m));
    let zs = pts(b);
    let us = pts(b) + p.n;
    for (var i = t; i < p.n; i += WG) {
        let x = work[zs + i];
        work[off_ft_ba(b) + i] = softmin(eps, x, us, p.m, lb, select(off_g_ab(b), NONE, first));
        work[off_ft_aa(b) + i] = softmin(eps, x, zs, p.n, la, select(off_f_aa(b), NONE, first));
    }
    for (var j = t; j < p.m; j += WG) {
        let y = work[us + j];
        work[off_gt_ab(b) + j] = softmin(eps, y, zs, p.n, la, select(off_f_ba(b), NONE, first));
        work[off_gt_bb(b) + j] = softmin(eps, y, us, p.m, lb, select(off_g_bb(b), NONE, first));
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

// Σ_j P_j (x − y_j) with P the softmax over j of logw + pot_j/ε − (x − y_j)²/(2ε),
// points and potentials read from `work_in`.
fn plan_mean(eps: f32, x: f32, src: u32, count: u32, logw: f32, pot: u32) -> f32 {
    var mx = -3.0e38;
    for (var j = 0u; j < count; j++) {
        let d = x - work_in[src + j];
        mx = max(mx, logw + work_in[pot + j] / eps - d * d / (2.0 * eps));
    }
    var s = 0.0;
    var acc = 0.0;
    for (var j = 0u; j < count; j++) {
        let d = x - work_in[src + j];
        let w = exp(logw + work_in[pot + j] / eps - d * d / (2.0 * eps) - mx);
        s += w;
        acc += w * d;
    }
    return acc / s;
}

@compute @workgroup_size(64, 1, 1)
fn sinkhorn_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if e >= p.tasks * p.n { return; }
    let b = e / p.n;
    let i = e % p.n;
    let eps = p.blur * p.blur;
    let base = b * task_len();
    let x = work_in[base + i];
    let la = -log(f32(p.n));
    let lb = -log(f32(p.m));
    let g_ab = base + p.n + p.m + 4u * p.n;
    let f_aa = base + p.n + p.m + p.n;
    let toward_u = plan_mean(eps, x, base + p.n, p.m, lb, g_ab);
    let toward_z = plan_mean(eps, x, base, p.n, la, f_aa);
    z_bar[e] += p.weight * (toward_u - toward_z) / f32(p.n);
}
