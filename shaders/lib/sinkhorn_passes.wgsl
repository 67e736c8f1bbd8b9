// lib/sinkhorn_passes.wgsl — the passes of the debiased Sinkhorn divergence
// S_ε(z, u) and its VJP (shaders/sinkhorn.wgsl states the math), shared by
// that shader, which folds through workgroup-memory tiles, and the kernels
// generated for subgroups (occam_ops::sinkhorn::lanes). The importer defines
// the two folds over the points y_j of task b's labels (its samples when
// `set_u`), taken in order a quad of four at a time with the running maximum
// updated once per quad (`softmin_quad`, `plan_quad` below), so that every
// importer gives the same numbers:
//   softmin_set(t, b, x, in_u, eps, set_u, count, pot0, pot1, logw, zero)
//       = −ε log Σ_j exp(h_j − (x − y_j)²/(2ε)),  h_j = logw + pot_j/ε
//         (pot0's potentials for a query in z, pot1's for one in u; logw
//         alone when `zero`),
//   plan_mean(t, b, x, eps, set_u, count, pot, logw) = Σ_j P_j (x − y_j),
//         P the softmax over j of h_j − (x − y_j)²/(2ε);
// every thread of a workgroup calls them together (uniform control flow).
//
// Forward, spread over workgroups: every update of the potentials is one
// dispatch of (blocks of WG queries) × tasks workgroups, since all of a
// task's potentials must be settled before the next ε uses them.
// `sinkhorn_forward_start` finds the diameter and runs the start,
// `sinkhorn_forward_step` runs list entry `steps.k0`, `sinkhorn_forward_final`
// the extrapolation, `sinkhorn_forward_loss` (one workgroup per task) sums
// the loss in a fixed tree order. The potentials alternate between two slots
// (entry k reads slot k mod 2 and writes slot (k + 1) mod 2), so no pass
// settles them separately. The list's length depends on the data (the
// diameter); the host dispatches the entries a planned diameter needs, a step
// past a task's list does nothing, and `sinkhorn_forward_steps` (one
// workgroup per task, looping over the entries [k0, k1) with all of the
// task's query blocks) runs whatever a larger diameter adds. Each query's
// softmin is the same arithmetic on either path.
// Backward: one workgroup per block of 256 labels of a task, reading the
// points and the potentials the forward pass left in `work`.
// `work` holds, per task: potentials slots 0 and 1 and the extrapolation,
// each [f_ba, f_aa (n each) | g_ab, g_bb (m each)]; after every task, its
// diameter.

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

// The list entries one forward dispatch runs: entry k0 in
// `sinkhorn_forward_step`, entries [k0, k1) in `sinkhorn_forward_steps`.
struct Steps {
    k0: u32,
    k1: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 64u;      // queries per workgroup of the forward's updates
const WIDE: u32 = 256u;   // threads of the loss and backward workgroups
const FAR: f32 = -3.0e38; // h of a padding point

@group(0) @binding(0) var<uniform> p: SinkhornParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> z_bar: array<f32>;
@group(0) @binding(6) var<uniform> steps: Steps;

var<workgroup> red: array<f32, WIDE>;
var<workgroup> shared_value: f32;

// Slot s of task b's potentials (2 is the extrapolation), and its parts.
fn slot(b: u32, s: u32) -> u32 { return (3u * b + s) * 2u * (p.n + p.m); }
fn f_ba(b: u32, s: u32) -> u32 { return slot(b, s); }
fn f_aa(b: u32, s: u32) -> u32 { return slot(b, s) + p.n; }
fn g_ab(b: u32, s: u32) -> u32 { return slot(b, s) + 2u * p.n; }
fn g_bb(b: u32, s: u32) -> u32 { return slot(b, s) + 2u * p.n + p.m; }
fn diameter_at(b: u32) -> u32 { return 6u * p.tasks * (p.n + p.m) + b; }

// Sums `v` over WIDE threads in a fixed tree order; every thread gets the total.
fn workgroup_sum(t: u32, v: f32) -> f32 {
    red[t] = v;
    for (var stride = WIDE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if t < stride { red[t] = red[t] + red[t + stride]; }
    }
    workgroupBarrier();
    if t == 0u { shared_value = red[0]; }
    return workgroupUniformLoad(&shared_value);
}

// The maximum of `v` over WG threads; every thread gets it.
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

// Point j of task b's labels (or samples when `in_u`); 0 past the end.
fn point(b: u32, in_u: bool, j: u32) -> f32 {
    if in_u {
        if j >= p.m { return 0.0; }
        return u[b * p.m + j];
    }
    if j >= p.n { return 0.0; }
    return z[b * p.n + j];
}

// Query q of task b: label q, or sample q − n.
fn query(b: u32, q: u32) -> f32 {
    if q < p.n { return z[b * p.n + q]; }
    return u[b * p.m + min(q - p.n, p.m - 1u)];
}

// max(z ∪ u) − min(z ∪ u), at least blur: the same value in every workgroup
// of the task (a fixed reduction order; max and min are exact).
fn diameter(b: u32, t: u32) -> f32 {
    var lo = 3.0e38;
    var hi = -3.0e38;
    for (var i = t; i < p.n; i += WG) {
        let v = z[b * p.n + i];
        lo = min(lo, v);
        hi = max(hi, v);
    }
    for (var j = t; j < p.m; j += WG) {
        let v = u[b * p.m + j];
        lo = min(lo, v);
        hi = max(hi, v);
    }
    return max(workgroup_max(t, hi) + workgroup_max(t, -lo), p.blur);
}

// The ε list [d², exp(e) for e in arange(2 ln d, 2 ln blur, 2 ln s), blur²]:
// its length, and its entry k.
fn list_len(d: f32) -> u32 {
    let start = 2.0 * log(d);
    let stop = 2.0 * log(p.blur);
    let step = 2.0 * log(p.scaling);
    return u32(max(ceil((stop - start) / step), 0.0)) + 2u;
}

fn epsilon(d: f32, k: u32) -> f32 {
    let start = 2.0 * log(d);
    let step = 2.0 * log(p.scaling);
    if k == 0u { return d * d; }
    if k <= list_len(d) - 2u { return exp(start + f32(k - 1u) * step); }
    return p.blur * p.blur;
}

// Task b's diameter as the start left it, read once for the workgroup (a
// uniform value: the loops and barriers that depend on it stay uniform).
fn task_diameter(b: u32, t: u32) -> f32 {
    if t == 0u { shared_value = work[diameter_at(b)]; }
    return workgroupUniformLoad(&shared_value);
}

// h_j = logw + pot_j/ε (logw alone when `zero`, the start); FAR past the end.
fn h_at(pot: u32, j: u32, count: u32, logw: f32, inv_eps: f32, zero: bool) -> f32 {
    if j >= count { return FAR; }
    if zero { return logw; }
    return logw + work[pot + j] * inv_eps;
}

// One quad of the folds, shared by every importer so that they give the
// same numbers: points y, terms h (h_j for the query's set), the running
// maximum *mx, the running sum *s of exp(e − mx) and, for plan_mean, *acc of
// exp(e − mx)·(x − y); the sums are rescaled when the maximum grows.
fn softmin_quad(x: f32, y: vec4<f32>, h: vec4<f32>, half_inv_eps: f32, mx: ptr<function, f32>, s: ptr<function, f32>) {
    let d = vec4<f32>(x) - y;
    let e = h - d * d * half_inv_eps;
    let top = max(*mx, max(max(e.x, e.y), max(e.z, e.w)));
    *s = *s * exp(*mx - top);
    *mx = top;
    let w = exp(e - vec4<f32>(top));
    *s += (w.x + w.y) + (w.z + w.w);
}

fn plan_quad(x: f32, y: vec4<f32>, h: vec4<f32>, half_inv_eps: f32, mx: ptr<function, f32>, s: ptr<function, f32>, acc: ptr<function, f32>) {
    let d = vec4<f32>(x) - y;
    let e = h - d * d * half_inv_eps;
    let top = max(*mx, max(max(e.x, e.y), max(e.z, e.w)));
    let r = exp(*mx - top);
    *s = *s * r;
    *acc = *acc * r;
    *mx = top;
    let w = exp(e - vec4<f32>(top));
    *s += (w.x + w.y) + (w.z + w.w);
    *acc += dot(w, d);
}

// Updates the potentials of task b's queries [q0, q0 + WG) at ε, reading
// slot `src` (none when `zero`) and writing slot `dst`: the average of the
// old potential and the softmin when `average`, the softmin alone otherwise.
// Queries run over z then u; each is folded against z (potentials f_aa for a
// query in z, f_ba for one in u) and against u (g_ab, g_bb).
fn update_block(b: u32, t: u32, q0: u32, eps: f32, src: u32, dst: u32, zero: bool, average: bool) {
    let la = -log(f32(p.n));
    let lb = -log(f32(p.m));
    let q = q0 + t;
    let in_u = q >= p.n;
    let x = query(b, q);
    let from_z = softmin_set(t, b, x, in_u, eps, false, p.n, f_aa(b, src), f_ba(b, src), la, zero);
    let from_u = softmin_set(t, b, x, in_u, eps, true, p.m, g_ab(b, src), g_bb(b, src), lb, zero);
    if q < p.n {
        var aa = from_z;
        var ba = from_u;
        if average {
            aa = 0.5 * work[f_aa(b, src) + q] + 0.5 * from_z;
            ba = 0.5 * work[f_ba(b, src) + q] + 0.5 * from_u;
        }
        work[f_aa(b, dst) + q] = aa;
        work[f_ba(b, dst) + q] = ba;
    } else if q < p.n + p.m {
        let j = q - p.n;
        var ab = from_z;
        var bb = from_u;
        if average {
            ab = 0.5 * work[g_ab(b, src) + j] + 0.5 * from_z;
            bb = 0.5 * work[g_bb(b, src) + j] + 0.5 * from_u;
        }
        work[g_ab(b, dst) + j] = ab;
        work[g_bb(b, dst) + j] = bb;
    }
}

// The slot holding task b's settled potentials after its whole list.
fn settled_slot(d: f32) -> u32 { return list_len(d) % 2u; }

// Workgroup (query block, task b): the diameter, and the start at ε = d²
// from zero potentials into slot 0.
@compute @workgroup_size(64, 1, 1)
fn sinkhorn_forward_start(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.y;
    let d = diameter(b, t);
    if wg.x == 0u && t == 0u { work[diameter_at(b)] = d; }
    update_block(b, t, wg.x * WG, d * d, 0u, 0u, true, false);
}

// Workgroup (query block, task b): list entry k = steps.k0, from slot k mod 2
// into slot (k + 1) mod 2; nothing past the task's list.
@compute @workgroup_size(64, 1, 1)
fn sinkhorn_forward_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.y;
    let d = task_diameter(b, t);
    let k = steps.k0;
    if k >= list_len(d) { return; }
    update_block(b, t, wg.x * WG, epsilon(d, k), k % 2u, (k + 1u) % 2u, false, true);
}

// Workgroup (task b): list entries [k0, k1) that the task's list has, every
// query block in turn, the potentials settled between entries.
@compute @workgroup_size(64, 1, 1)
fn sinkhorn_forward_steps(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    let d = task_diameter(b, t);
    let k_end = min(steps.k1, list_len(d));
    for (var k = steps.k0; k < k_end; k++) {
        let eps = epsilon(d, k);
        for (var q0 = 0u; q0 < p.n + p.m; q0 += WG) {
            update_block(b, t, q0, eps, k % 2u, (k + 1u) % 2u, false, true);
        }
        storageBarrier();
    }
}

// Workgroup (query block, task b): the final extrapolation at blur² from the
// settled slot into slot 2, without averaging (the settled potentials stay
// for the backward pass).
@compute @workgroup_size(64, 1, 1)
fn sinkhorn_forward_final(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.y;
    let d = task_diameter(b, t);
    update_block(b, t, wg.x * WG, p.blur * p.blur, settled_slot(d), 2u, false, false);
}

// Workgroup (task b): loss_b = w · [⟨α, f_ba − f_aa⟩ + ⟨β, g_ab − g_bb⟩] of
// the extrapolation, summed in a fixed tree order.
@compute @workgroup_size(256, 1, 1)
fn sinkhorn_forward_loss(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    var part = 0.0;
    for (var i = t; i < p.n; i += WIDE) {
        part += (work[f_ba(b, 2u) + i] - work[f_aa(b, 2u) + i]) / f32(p.n);
    }
    for (var j = t; j < p.m; j += WIDE) {
        part += (work[g_ab(b, 2u) + j] - work[g_bb(b, 2u) + j]) / f32(p.m);
    }
    let total = workgroup_sum(t, part);
    if t == 0u { loss[b] = p.weight * total; }
}

// Workgroup (i-block, task b): the labels z_i of the block, against the
// settled potentials the forward pass left in `work`.
@compute @workgroup_size(256, 1, 1)
fn sinkhorn_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.y;
    let i = wg.x * WIDE + t;
    let eps = p.blur * p.blur;
    let x = z[b * p.n + min(i, p.n - 1u)];
    let s = settled_slot(work[diameter_at(b)]);
    let la = -log(f32(p.n));
    let lb = -log(f32(p.m));
    let toward_u = plan_mean(t, b, x, eps, true, p.m, g_ab(b, s), lb);
    let toward_z = plan_mean(t, b, x, eps, false, p.n, f_aa(b, s), la);
    if i < p.n {
        z_bar[b * p.n + i] += p.weight * (toward_u - toward_z) / f32(p.n);
    }
}
