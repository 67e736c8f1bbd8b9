// ridge.wgsl — ridge regression in closed form on features, per task b:
// Φ_tr (m × K) with labels z (m), Φ_te (M × K), ridge λ:
//
//   forward            A = Φ_trᵀ Φ_tr + λ I,  A = L Lᵀ (Cholesky),
//                      w = A⁻¹ Φ_trᵀ z  (two triangular solves),  ŷ = Φ_te w
//   backward (VJP)     c = Φ_teᵀ ŷ̄,  u = A⁻¹ c (the same L),  z_bar += Φ_tr u
// Each solve is refined (corrected semi-normal equations, `refine` steps):
// the residual is formed from Φ itself, never from A, so it does not carry
// A's κ(Φ)² rounding — forward g = Φ_trᵀ(z − Φ_tr w) − λ w, backward
// g = c − Φ_trᵀ(Φ_tr u) − λ u — and the correction A⁻¹ g is added.
// No explicit inverse is ever formed. A non-positive pivot (A numerically
// singular: λ too small for the features) is not hidden: `status[b]` gets the
// 1-based column where the factorisation failed (0 = fine) and the pivot is
// replaced by 1 so that nothing downstream turns into NaN; the host reads
// `status` and reports the failure. The learner is never differentiated
// twice, so there are no tangent passes. One workgroup per task; sums run in
// a fixed order, so results are deterministic.

struct RidgeParams {
    tasks: u32,
    m: u32,        // training rows
    big_m: u32,    // test rows
    k: u32,        // features
    lambda: f32,
    refine: u32,   // refinement steps after each solve
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: RidgeParams;
@group(0) @binding(1) var<storage, read> phi_tr: array<f32>;        // [tasks, m, k]
@group(0) @binding(2) var<storage, read> z: array<f32>;             // [tasks, m]
@group(0) @binding(3) var<storage, read> phi_te: array<f32>;        // [tasks, M, k]
@group(0) @binding(4) var<storage, read_write> chol: array<f32>;    // [tasks, k, k]: L (lower)
@group(0) @binding(5) var<storage, read_write> sol: array<f32>;     // [tasks, k]: w
@group(0) @binding(6) var<storage, read_write> y: array<f32>;       // [tasks, M]
@group(0) @binding(7) var<storage, read_write> status: array<u32>;  // [tasks]
@group(0) @binding(12) var<storage, read_write> resid: array<f32>; // [tasks, k]
@group(0) @binding(13) var<storage, read_write> rows: array<f32>;  // [tasks, m]
@group(0) @binding(9) var<storage, read> y_bar: array<f32>;         // [tasks, M]
@group(0) @binding(10) var<storage, read_write> scratch: array<f32>; // [tasks, k]
@group(0) @binding(11) var<storage, read_write> z_bar: array<f32>;  // [tasks, m]

var<workgroup> pivot_failed: u32;

fn l_index(b: u32, i: u32, j: u32) -> u32 {
    return (b * p.k + i) * p.k + j;
}

// c_i = Σ_j Φ_te[b, j, i] ŷ̄[b, j].
fn phi_te_dot_y_bar(b: u32, i: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < p.big_m; j++) {
        s = fma(phi_te[(b * p.big_m + j) * p.k + i], y_bar[b * p.big_m + j], s);
    }
    return s;
}

// resid[b] ← L⁻ᵀ L⁻¹ resid[b]: the two triangular solves (one thread).
fn solve_resid(b: u32) {
    let k = p.k;
    for (var i = 0u; i < k; i++) {
        var s = resid[b * k + i];
        for (var q = 0u; q < i; q++) { s -= chol[l_index(b, i, q)] * resid[b * k + q]; }
        resid[b * k + i] = s / chol[l_index(b, i, i)];
    }
    for (var ii = 0u; ii < k; ii++) {
        let i = k - 1u - ii;
        var s = resid[b * k + i];
        for (var q = i + 1u; q < k; q++) { s -= chol[l_index(b, q, i)] * resid[b * k + q]; }
        resid[b * k + i] = s / chol[l_index(b, i, i)];
    }
}

// Σ_q Φ_tr[b, r, q] v[q] for the coefficients v in sol (which = 0) or
// scratch (which = 1).
fn phi_tr_row_dot(b: u32, r: u32, which: u32) -> f32 {
    let k = p.k;
    let row = (b * p.m + r) * k;
    var s = 0.0;
    for (var q = 0u; q < k; q++) {
        let v = select(sol[b * k + q], scratch[b * k + q], which == 1u);
        s = fma(phi_tr[row + q], v, s);
    }
    return s;
}

@compute @workgroup_size(256, 1, 1)
fn ridge_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    let k = p.k;
    // A = Φᵀ Φ + λ I (lower triangle) and the right-hand side Φᵀ z.
    for (var e = t; e < k * k; e += WG) {
        let i = e / k;
        let j = e % k;
        if j <= i {
            var s = select(0.0, p.lambda, i == j);
            for (var r = 0u; r < p.m; r++) {
                let row = (b * p.m + r) * k;
                s = fma(phi_tr[row + i], phi_tr[row + j], s);
            }
            chol[l_index(b, i, j)] = s;
        } else {
            chol[l_index(b, i, j)] = 0.0;
        }
    }
    for (var i = t; i < k; i += WG) {
        var s = 0.0;
        for (var r = 0u; r < p.m; r++) {
            s = fma(phi_tr[(b * p.m + r) * k + i], z[b * p.m + r], s);
        }
        resid[b * k + i] = s;
    }
    if t == 0u { pivot_failed = 0u; }
    storageBarrier();
    workgroupBarrier();

    // Left-looking Cholesky, one column at a time.
    for (var j = 0u; j < k; j++) {
        if t == 0u {
            let a_jj = chol[l_index(b, j, j)];
            var d = a_jj;
            for (var q = 0u; q < j; q++) {
                let v = chol[l_index(b, j, q)];
                d -= v * v;
            }
            // A pivot below 1e-6 of its diagonal entry is rounding noise in f32.
            if !(d > 1e-6 * a_jj) {
                if pivot_failed == 0u { pivot_failed = j + 1u; }
                d = 1.0;
            }
            chol[l_index(b, j, j)] = sqrt(d);
        }
        storageBarrier();
        for (var i = j + 1u + t; i < k; i += WG) {
            var s = chol[l_index(b, i, j)];
            for (var q = 0u; q < j; q++) {
                s -= chol[l_index(b, i, q)] * chol[l_index(b, j, q)];
            }
            chol[l_index(b, i, j)] = s / chol[l_index(b, j, j)];
        }
        storageBarrier();
    }

    // w = L⁻ᵀ L⁻¹ (Φᵀ z): two triangular solves, sequential.
    if t == 0u {
        solve_resid(b);
        for (var i = 0u; i < k; i++) { sol[b * k + i] = resid[b * k + i]; }
        status[b] = pivot_failed;
    }
    storageBarrier();
    for (var it = 0u; it < p.refine; it++) {
        // e = z − Φ_tr w row by row, then g = Φ_trᵀ e − λ w.
        for (var r = t; r < p.m; r += WG) {
            rows[b * p.m + r] = z[b * p.m + r] - phi_tr_row_dot(b, r, 0u);
        }
        storageBarrier();
        for (var i = t; i < k; i += WG) {
            var g = 0.0;
            for (var r = 0u; r < p.m; r++) {
                g = fma(phi_tr[(b * p.m + r) * k + i], rows[b * p.m + r], g);
            }
            resid[b * k + i] = g - p.lambda * sol[b * k + i];
        }
        storageBarrier();
        if t == 0u {
            solve_resid(b);
            for (var i = 0u; i < k; i++) { sol[b * k + i] += resid[b * k + i]; }
        }
        storageBarrier();
    }
    for (var j = t; j < p.big_m; j += WG) {
        var s = 0.0;
        for (var q = 0u; q < k; q++) {
            s = fma(phi_te[(b * p.big_m + j) * k + q], sol[b * k + q], s);
        }
        y[b * p.big_m + j] = s;
    }
}

@compute @workgroup_size(256, 1, 1)
fn ridge_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    let k = p.k;
    // u = L⁻ᵀ L⁻¹ c with c = Φ_teᵀ ŷ̄ (in resid, then kept in scratch).
    for (var i = t; i < k; i += WG) {
        resid[b * k + i] = phi_te_dot_y_bar(b, i);
    }
    storageBarrier();
    if t == 0u {
        solve_resid(b);
        for (var i = 0u; i < k; i++) { scratch[b * k + i] = resid[b * k + i]; }
    }
    storageBarrier();
    for (var it = 0u; it < p.refine; it++) {
        // v = Φ_tr u row by row, then g = c − Φ_trᵀ v − λ u.
        for (var r = t; r < p.m; r += WG) {
            rows[b * p.m + r] = phi_tr_row_dot(b, r, 1u);
        }
        storageBarrier();
        for (var i = t; i < k; i += WG) {
            var au = p.lambda * scratch[b * k + i];
            for (var r = 0u; r < p.m; r++) {
                au = fma(phi_tr[(b * p.m + r) * k + i], rows[b * p.m + r], au);
            }
            resid[b * k + i] = phi_te_dot_y_bar(b, i) - au;
        }
        storageBarrier();
        if t == 0u {
            solve_resid(b);
            for (var i = 0u; i < k; i++) { scratch[b * k + i] += resid[b * k + i]; }
        }
        storageBarrier();
    }
    // z̄ += Φ_tr u.
    for (var r = t; r < p.m; r += WG) {
        var s = 0.0;
        for (var q = 0u; q < k; q++) {
            s = fma(phi_tr[(b * p.m + r) * k + q], scratch[b * k + q], s);
        }
        z_bar[b * p.m + r] += s;
    }
}
