// dense.wgsl — batched dense (fully connected) layer, its four passes.
//
// Shapes, for each of `batch` independent problems b (dispatch z):
//   x  [rows, d_in]            inputs, row-major
//   w  [d_out, d_in + 1]       weights; column d_in holds the bias
//   y  [rows, d_out]           outputs
// Write x̃ = [x, 1] (x with a column of ones) and ẋ̃ = [ẋ, 0]. Then
//
//   forward            y  = x̃ wᵀ                         (y_ro = Σ_k x_rk w_ok + w_o,d_in)
//   backward (VJP)     x̄  = ȳ w[:, :d_in]                 (x̄_rk = Σ_o ȳ_ro w_ok)
//                      w̄  = ȳᵀ x̃                          (w̄_ok = Σ_r ȳ_ro x̃_rk; bias column = Σ_r ȳ_ro)
//   tangent forward    ẏ  = ẋ̃ wᵀ + x̃ ẇᵀ                   (JVP along (ẋ, ẇ))
//   tangent backward   x̄̇ = ȳ̇ w + ȳ ẇ                     (JVP of the VJP along (ẋ, ẇ, ȳ̇))
//                      w̄̇ = ȳ̇ᵀ x̃ + ȳᵀ ẋ̃
//
// Every pass is a tiled matrix product C[M×N] = Σ_terms A[M×K] B[K×N]: each
// workgroup of 16×16 threads owns a 64×64 block of C, stages 64×16 slices of A
// and 16×64 slices of B through workgroup memory, and each thread accumulates
// a 4×4 register block. Summation order is fixed, so results are bitwise
// reproducible on a given adapter. `dense_forward_naive` (one thread per
// output, no tiling) is kept as the benchmark baseline.
//
// Override ACCUMULATE: when true, every pass adds its result to the output
// buffer instead of overwriting it.

struct DenseParams {
    batch: u32,
    rows: u32,
    d_in: u32,
    d_out: u32,
}

override ACCUMULATE: bool = false;

const TM: u32 = 64u;      // rows of C per workgroup
const TN: u32 = 64u;      // columns of C per workgroup
const TK: u32 = 16u;      // depth of one staged slice
const THREADS: u32 = 256u;

@group(0) @binding(0) var<uniform> p: DenseParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> y_bar: array<f32>;
@group(0) @binding(5) var<storage, read_write> x_bar: array<f32>;
@group(0) @binding(6) var<storage, read_write> w_bar: array<f32>;
@group(0) @binding(7) var<storage, read> x_dot: array<f32>;
@group(0) @binding(8) var<storage, read> w_dot: array<f32>;
@group(0) @binding(9) var<storage, read_write> y_dot: array<f32>;
@group(0) @binding(10) var<storage, read> y_bar_dot: array<f32>;
@group(0) @binding(11) var<storage, read_write> x_bar_dot: array<f32>;
@group(0) @binding(12) var<storage, read_write> w_bar_dot: array<f32>;

var<workgroup> tile_a: array<f32, 1024>;   // [TK][TM]
var<workgroup> tile_b: array<f32, 1024>;   // [TK][TN]

// ---- bounds-checked operand reads (zero outside the matrix) ----

fn x_aug(b: u32, r: u32, k: u32) -> f32 {
    if r >= p.rows || k > p.d_in { return 0.0; }
    if k == p.d_in { return 1.0; }
    return x[(b * p.rows + r) * p.d_in + k];
}

fn x_dot_aug(b: u32, r: u32, k: u32) -> f32 {
    if r >= p.rows || k >= p.d_in { return 0.0; }
    return x_dot[(b * p.rows + r) * p.d_in + k];
}

fn w_at(b: u32, o: u32, k: u32) -> f32 {
    if o >= p.d_out || k > p.d_in { return 0.0; }
    return w[(b * p.d_out + o) * (p.d_in + 1u) + k];
}

fn w_dot_at(b: u32, o: u32, k: u32) -> f32 {
    if o >= p.d_out || k > p.d_in { return 0.0; }
    return w_dot[(b * p.d_out + o) * (p.d_in + 1u) + k];
}

fn y_bar_at(b: u32, r: u32, o: u32) -> f32 {
    if r >= p.rows || o >= p.d_out { return 0.0; }
    return y_bar[(b * p.rows + r) * p.d_out + o];
}

fn y_bar_dot_at(b: u32, r: u32, o: u32) -> f32 {
    if r >= p.rows || o >= p.d_out { return 0.0; }
    return y_bar_dot[(b * p.rows + r) * p.d_out + o];
}

// ---- staging index maps: element j of thread t, laid out so that adjacent
// threads read adjacent addresses of the operand in global memory ----

// A slice [TM rows][TK cols], source contiguous along K: returns (m, k).
fn a_k_fast(t: u32, j: u32) -> vec2<u32> {
    let e = t + THREADS * j;
    return vec2<u32>(e / TK, e % TK);
}

// A slice, source contiguous along M: returns (m, k).
fn a_m_fast(t: u32, j: u32) -> vec2<u32> {
    let e = t + THREADS * j;
    return vec2<u32>(e % TM, e / TM);
}

// B slice [TK rows][TN cols], source contiguous along K: returns (k, n).
fn b_k_fast(t: u32, j: u32) -> vec2<u32> {
    let e = t + THREADS * j;
    return vec2<u32>(e % TK, e / TK);
}

// B slice, source contiguous along N: returns (k, n).
fn b_n_fast(t: u32, j: u32) -> vec2<u32> {
    let e = t + THREADS * j;
    return vec2<u32>(e / TN, e % TN);
}

fn put_a(mk: vec2<u32>, v: f32) { tile_a[mk.y * TM + mk.x] = v; }
fn put_b(kn: vec2<u32>, v: f32) { tile_b[kn.x * TN + kn.y] = v; }

// acc[i] holds C[ty*4 + i, tx + 16*j] in component j.
fn multiply_staged(acc: ptr<function, array<vec4<f32>, 4>>, tx: u32, ty: u32) {
    for (var kk = 0u; kk < TK; kk++) {
        let bo = kk * TN + tx;
        let bv = vec4<f32>(tile_b[bo], tile_b[bo + 16u], tile_b[bo + 32u], tile_b[bo + 48u]);
        let ao = kk * TM + ty * 4u;
        (*acc)[0] = fma(vec4<f32>(tile_a[ao]), bv, (*acc)[0]);
        (*acc)[1] = fma(vec4<f32>(tile_a[ao + 1u]), bv, (*acc)[1]);
        (*acc)[2] = fma(vec4<f32>(tile_a[ao + 2u]), bv, (*acc)[2]);
        (*acc)[3] = fma(vec4<f32>(tile_a[ao + 3u]), bv, (*acc)[3]);
    }
}

// Output index of register (i, j) for block origin (m0, n0); `n_cols` is N.
// Returns false when it falls outside the M×N matrix.
fn out_pos(m0: u32, n0: u32, tx: u32, ty: u32, i: u32, j: u32, n_rows: u32, n_cols: u32) -> vec3<u32> {
    let m = m0 + ty * 4u + i;
    let n = n0 + tx + 16u * j;
    return vec3<u32>(m, n, select(0u, 1u, m < n_rows && n < n_cols));
}

// ---------------------------------------------------------------- forward --

@compute @workgroup_size(16, 16, 1)
fn dense_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                 @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.d_in + 1u; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = a_k_fast(t, j);
            put_a(a, x_aug(b, m0 + a.x, k0 + a.y));
            let c = b_k_fast(t, j);
            put_b(c, w_at(b, n0 + c.y, k0 + c.x));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_out);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_out + o.y;
                y[idx] = select(acc[i][j], y[idx] + acc[i][j], ACCUMULATE);
            }
        }
    }
}

// Baseline for benchmarks: one thread per output element, operands read
// straight from global memory. Same math as dense_forward.
@compute @workgroup_size(64, 1, 1)
fn dense_forward_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.z;
    let r = gid.x / p.d_out;
    let o = gid.x % p.d_out;
    if r >= p.rows { return; }
    let wrow = (b * p.d_out + o) * (p.d_in + 1u);
    let xrow = (b * p.rows + r) * p.d_in;
    var s = w[wrow + p.d_in];
    for (var k = 0u; k < p.d_in; k++) {
        s = fma(x[xrow + k], w[wrow + k], s);
    }
    let idx = (b * p.rows + r) * p.d_out + o;
    y[idx] = select(s, y[idx] + s, ACCUMULATE);
}

// --------------------------------------------------------------- backward --

// x̄ = ȳ w[:, :d_in]: M = rows, N = d_in, K = d_out.
@compute @workgroup_size(16, 16, 1)
fn dense_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                        @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.d_out; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = a_k_fast(t, j);
            put_a(a, y_bar_at(b, m0 + a.x, k0 + a.y));
            let c = b_n_fast(t, j);
            put_b(c, select(0.0, w_at(b, k0 + c.x, n0 + c.y), n0 + c.y < p.d_in));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_in);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_in + o.y;
                x_bar[idx] = select(acc[i][j], x_bar[idx] + acc[i][j], ACCUMULATE);
            }
        }
    }
}

// w̄ = ȳᵀ x̃: M = d_out, N = d_in + 1, K = rows.
@compute @workgroup_size(16, 16, 1)
fn dense_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                         @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.rows; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = a_m_fast(t, j);
            put_a(a, y_bar_at(b, k0 + a.y, m0 + a.x));
            let c = b_n_fast(t, j);
            put_b(c, x_aug(b, k0 + c.x, n0 + c.y));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.d_out, p.d_in + 1u);
            if o.z == 1u {
                let idx = (b * p.d_out + o.x) * (p.d_in + 1u) + o.y;
                w_bar[idx] = select(acc[i][j], w_bar[idx] + acc[i][j], ACCUMULATE);
            }
        }
    }
}

// -------------------------------------------------------- tangent forward --

// ẏ = ẋ̃ wᵀ + x̃ ẇᵀ: M = rows, N = d_out, K = d_in + 1.
@compute @workgroup_size(16, 16, 1)
fn dense_tangent_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                         @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.d_in + 1u; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = a_k_fast(t, j);
            put_a(a, x_dot_aug(b, m0 + a.x, k0 + a.y));
            let c = b_k_fast(t, j);
            put_b(c, w_at(b, n0 + c.y, k0 + c.x));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
        for (var j = 0u; j < 4u; j++) {
            let a = a_k_fast(t, j);
            put_a(a, x_aug(b, m0 + a.x, k0 + a.y));
            let c = b_k_fast(t, j);
            put_b(c, w_dot_at(b, n0 + c.y, k0 + c.x));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_out);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_out + o.y;
                y_dot[idx] = select(acc[i][j], y_dot[idx] + acc[i][j], ACCUMULATE);
            }
        }
    }
}

// ------------------------------------------------------- tangent backward --

// x̄̇ = ȳ̇ w + ȳ ẇ (input columns only): M = rows, N = d_in, K = d_out.
@compute @workgroup_size(16, 16, 1)
fn dense_tangent_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                                @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.d_out; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = a_k_fast(t, j);
            put_a(a, y_bar_dot_at(b, m0 + a.x, k0 + a.y));
            let c = b_n_fast(t, j);
            put_b(c, select(0.0, w_at(b, k0 + c.x, n0 + c.y), n0 + c.y < p.d_in));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
        for (var j = 0u; j < 4u; j++) {
            let a = a_k_fast(t, j);
            put_a(a, y_bar_at(b, m0 + a.x, k0 + a.y));
            let c = b_n_fast(t, j);
            put_b(c, select(0.0, w_dot_at(b, k0 + c.x, n0 + c.y), n0 + c.y < p.d_in));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_in);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_in + o.y;
                x_bar_dot[idx] = select(acc[i][j], x_bar_dot[idx] + acc[i][j], ACCUMULATE);
            }
        }
    }
}

// w̄̇ = ȳ̇ᵀ x̃ + ȳᵀ ẋ̃: M = d_out, N = d_in + 1, K = rows.
@compute @workgroup_size(16, 16, 1)
fn dense_tangent_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                                 @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.rows; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = a_m_fast(t, j);
            put_a(a, y_bar_dot_at(b, k0 + a.y, m0 + a.x));
            let c = b_n_fast(t, j);
            put_b(c, x_aug(b, k0 + c.x, n0 + c.y));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
        for (var j = 0u; j < 4u; j++) {
            let a = a_m_fast(t, j);
            put_a(a, y_bar_at(b, k0 + a.y, m0 + a.x));
            let c = b_n_fast(t, j);
            put_b(c, x_dot_aug(b, k0 + c.x, n0 + c.y));
        }
        workgroupBarrier();
        multiply_staged(&acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.d_out, p.d_in + 1u);
            if o.z == 1u {
                let idx = (b * p.d_out + o.x) * (p.d_in + 1u) + o.y;
                w_bar_dot[idx] = select(acc[i][j], w_bar_dot[idx] + acc[i][j], ACCUMULATE);
            }
        }
    }
}
