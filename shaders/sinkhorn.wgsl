// sinkhorn.wgsl — debiased Sinkhorn divergence between labels z (n per task)
// and target samples u (m per task), with the semantics of geomloss
// SamplesLoss("sinkhorn", p=2, blur, scaling), uniform weights α = 1/n, β = 1/m:
//
//   cost C(x, y) = |x − y|²/2, ε-scaling from diameter² down to blur² in steps
//   of scaling² (the schedule [d², exp(arange(2 ln d, 2 ln blur, 2 ln s)), blur²]),
//   softmin_ε(x_i; y, h) = −ε log Σ_j exp(h_j − C(x_i, y_j)/ε),
//   start              f_ba, g_ab, f_aa, g_bb ← softmin at ε = d² from zero potentials,
//   symmetric updates  f_ba ← ½(f_ba + softmin(x; y, log β + g_ab/ε)),
//                      g_ab ← ½(g_ab + softmin(y; x, log α + f_ba/ε)),
//                      f_aa, g_bb likewise against themselves, for each ε of the list,
//   then one final extrapolation at ε = blur² without averaging:
//   forward            loss_b = w · [⟨α, f_ba − f_aa⟩ + ⟨β, g_ab − g_bb⟩]
//   backward (VJP)     z_bar_i += w · α [Σ_j P_ij (z_i − u_j) − Σ_k Q_ik (z_i − z_k)]
//                      with P, Q the row-normalised plans of the final
//                      extrapolation (the gradient geomloss's autograd gives).
// A meta-loss term, never differentiated twice: no tangent passes.
//
// Here each fold streams the task's points through workgroup memory in tiles
// of TILE, four to a vec4 with h_j = log w + pot_j/ε precomputed (padding
// gets h = −3e38, which adds exp(−∞) = 0), and every thread folds one query
// point against both sets with a running maximum taken over each quad.
// The passes (entry points, dispatch plan, the layout of `work`) are
// shaders/lib/sinkhorn_passes.wgsl's.

// #import sinkhorn_passes

const TILE: u32 = 256u;   // points of one set staged at a time
const QUADS: u32 = 64u;   // TILE / 4

// One staged tile of a set: its points, and h_j for the queries of each set
// (tile_h0 for queries in z, tile_h1 for queries in u).
var<workgroup> tile_y: array<vec4<f32>, QUADS>;
var<workgroup> tile_h0: array<vec4<f32>, QUADS>;
var<workgroup> tile_h1: array<vec4<f32>, QUADS>;

// Stages points [s0, s0 + TILE) of task b's set (u when `set_u`; `count`
// points, weight exp(logw)) with the potentials pot0 (for queries in z) and
// pot1 (for queries in u). Called by every thread; threads t < QUADS load one
// quad.
fn stage(t: u32, b: u32, set_u: bool, count: u32, s0: u32, pot0: u32, pot1: u32, logw: f32, inv_eps: f32, zero: bool) {
    workgroupBarrier();
    if t < QUADS {
        let j = s0 + 4u * t;
        tile_y[t] = vec4<f32>(point(b, set_u, j), point(b, set_u, j + 1u),
                              point(b, set_u, j + 2u), point(b, set_u, j + 3u));
        tile_h0[t] = vec4<f32>(h_at(pot0, j, count, logw, inv_eps, zero), h_at(pot0, j + 1u, count, logw, inv_eps, zero),
                               h_at(pot0, j + 2u, count, logw, inv_eps, zero), h_at(pot0, j + 3u, count, logw, inv_eps, zero));
        tile_h1[t] = vec4<f32>(h_at(pot1, j, count, logw, inv_eps, zero), h_at(pot1, j + 1u, count, logw, inv_eps, zero),
                               h_at(pot1, j + 2u, count, logw, inv_eps, zero), h_at(pot1, j + 3u, count, logw, inv_eps, zero));
    }
    workgroupBarrier();
}

// softmin_ε(x; set, h) = −ε log Σ_j exp(h_j − (x − y_j)²/(2ε)) over every
// point of task b's set, streamed through the tiles; `in_u` picks the
// query's potentials. One pass with a running maximum, updated once per quad.
fn softmin_set(t: u32, b: u32, x: f32, in_u: bool, eps: f32, set_u: bool, count: u32, pot0: u32, pot1: u32, logw: f32, zero: bool) -> f32 {
    let inv_eps = 1.0 / eps;
    let half_inv_eps = 0.5 * inv_eps;
    var mx = FAR;
    var s = 0.0;
    for (var s0 = 0u; s0 < count; s0 += TILE) {
        stage(t, b, set_u, count, s0, pot0, pot1, logw, inv_eps, zero);
        let quads = min(QUADS, (count - s0 + 3u) / 4u);
        for (var q = 0u; q < quads; q++) {
            softmin_quad(x, tile_y[q], select(tile_h0[q], tile_h1[q], in_u), half_inv_eps, &mx, &s);
        }
    }
    return -eps * (mx + log(s));
}

// Σ_j P_j (x − y_j) with P the softmax over j of h_j − (x − y_j)²/(2ε),
// h_j = logw + pot_j/ε, over task b's set, streamed through the tiles like
// `softmin_set` (one pass: the running sums are rescaled whenever the
// maximum grows).
fn plan_mean(t: u32, b: u32, x: f32, eps: f32, set_u: bool, count: u32, pot: u32, logw: f32) -> f32 {
    let inv_eps = 1.0 / eps;
    let half_inv_eps = 0.5 * inv_eps;
    var mx = FAR;
    var s = 0.0;
    var acc = 0.0;
    for (var s0 = 0u; s0 < count; s0 += TILE) {
        stage(t, b, set_u, count, s0, pot, pot, logw, inv_eps, false);
        let quads = min(QUADS, (count - s0 + 3u) / 4u);
        for (var q = 0u; q < quads; q++) {
            plan_quad(x, tile_y[q], tile_h0[q], half_inv_eps, &mx, &s, &acc);
        }
    }
    return acc / s;
}
