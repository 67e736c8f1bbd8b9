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
// workgroup of 8×8 threads owns a 64×64 block of C and stages 64×16 slices of
// A and 16×64 slices of B through workgroup memory (as vec4 quads); each thread
// accumulates an 8×8 register block, so every value read from workgroup
// memory feeds 8 multiply-adds. The accumulators are named struct members,
// never a dynamically indexed array: software adapters (llvmpipe) spill such
// arrays to scratch memory, which costs ~6× in throughput. Summation order is
// fixed, so results are bitwise reproducible on a given adapter.
// `dense_forward_naive` (one thread per output, no tiling) is kept as the
// benchmark baseline. On software adapters with subgroups the same six
// products run instead in kernels generated per shape (occam_ops::dense::lanes:
// one subgroup per workgroup, operands shared by subgroup broadcasts).
//
// Override ACCUMULATE: when true, every pass adds its result to the output
// buffer instead of overwriting it.
//
// Split reduction (the two parameter passes, whose sum runs over all rows):
// with p.splits = S > 1 the rows are cut into S chunks of p.chunk rows (a
// multiple of TK); workgroup z = b·S + s computes the partial sum over chunk s
//   P_s = Σ_{r ∈ chunk s} (the summand above)       into partials[s, b, ·]
// and `dense_backward_params_reduce` then forms w̄ = Σ_s P_s (s ascending, so
// the order is fixed), adding into the output under ACCUMULATE. Long row
// counts thus fill the GPU instead of a handful of workgroups, and on
// software adapters no invocation loops over more rows than llvmpipe's
// per-invocation loop budget allows.

struct DenseParams {
    batch: u32,
    rows: u32,
    d_in: u32,
    d_out: u32,
    splits: u32,    // S: row chunks of the parameter passes (1 = no split)
    chunk: u32,     // rows per chunk
    pad0: u32,
    pad1: u32,
}

override ACCUMULATE: bool = false;

const TILE: u32 = 64u;    // rows and columns of C per workgroup
const TK: u32 = 16u;      // depth of one staged slice
const QUADS: u32 = 16u;   // vec4 quads across one staged slice (TILE / 4)
const THREADS: u32 = 64u;

@group(0) @binding(0) var<uniform> p: DenseParams;
// x, w, y and their cotangents and tangents (bindings 1–12).
// #import bilinear
@group(0) @binding(13) var<storage, read_write> partials: array<f32>; // [S, batch, d_out, d_in + 1]

var<workgroup> tile_a: array<vec4<f32>, 256>;   // [TK][QUADS]: A(m0 + 4q .. +3, k0 + kk)
var<workgroup> tile_b: array<vec4<f32>, 256>;   // [TK][QUADS]: B(k0 + kk, n0 + 4q .. +3)

// One thread's 8×8 block of C: row i of the block is (r{i}lo, r{i}hi).
struct Block {
    r0lo: vec4<f32>, r0hi: vec4<f32>, r1lo: vec4<f32>, r1hi: vec4<f32>,
    r2lo: vec4<f32>, r2hi: vec4<f32>, r3lo: vec4<f32>, r3hi: vec4<f32>,
    r4lo: vec4<f32>, r4hi: vec4<f32>, r5lo: vec4<f32>, r5hi: vec4<f32>,
    r6lo: vec4<f32>, r6hi: vec4<f32>, r7lo: vec4<f32>, r7hi: vec4<f32>,
}

struct BlockRow {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

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

// `cols` limits the columns read: d_in + 1 (with bias) or d_in (inputs only).
fn w_at(b: u32, o: u32, k: u32, cols: u32) -> f32 {
    if o >= p.d_out || k >= cols { return 0.0; }
    return w[(b * p.d_out + o) * (p.d_in + 1u) + k];
}

fn w_dot_at(b: u32, o: u32, k: u32, cols: u32) -> f32 {
    if o >= p.d_out || k >= cols { return 0.0; }
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

// Rows [r0, r1) of split s.
fn split_rows(s: u32) -> vec2<u32> {
    let r0 = s * p.chunk;
    return vec2<u32>(r0, min(p.rows, r0 + p.chunk));
}

// Stores split s's sum v for parameter element `idx`: into the partial
// sums when the rows are split, else into w̄ (or w̄̇), adding under ACCUMULATE.
fn store_w_bar(s: u32, idx: u32, v: f32) {
    if p.splits > 1u {
        partials[s * p.batch * p.d_out * (p.d_in + 1u) + idx] = v;
    } else {
        w_bar[idx] = select(v, w_bar[idx] + v, ACCUMULATE);
    }
}

fn store_w_bar_dot(s: u32, idx: u32, v: f32) {
    if p.splits > 1u {
        partials[s * p.batch * p.d_out * (p.d_in + 1u) + idx] = v;
    } else {
        w_bar_dot[idx] = select(v, w_bar_dot[idx] + v, ACCUMULATE);
    }
}

// ---- quads: four consecutive rows ("down") or columns ("across") ----

fn x_aug_down(b: u32, r: u32, k: u32) -> vec4<f32> {
    return vec4<f32>(x_aug(b, r, k), x_aug(b, r + 1u, k), x_aug(b, r + 2u, k), x_aug(b, r + 3u, k));
}
fn x_aug_across(b: u32, r: u32, k: u32) -> vec4<f32> {
    return vec4<f32>(x_aug(b, r, k), x_aug(b, r, k + 1u), x_aug(b, r, k + 2u), x_aug(b, r, k + 3u));
}
fn x_dot_aug_down(b: u32, r: u32, k: u32) -> vec4<f32> {
    return vec4<f32>(x_dot_aug(b, r, k), x_dot_aug(b, r + 1u, k), x_dot_aug(b, r + 2u, k), x_dot_aug(b, r + 3u, k));
}
fn x_dot_aug_across(b: u32, r: u32, k: u32) -> vec4<f32> {
    return vec4<f32>(x_dot_aug(b, r, k), x_dot_aug(b, r, k + 1u), x_dot_aug(b, r, k + 2u), x_dot_aug(b, r, k + 3u));
}
fn w_down(b: u32, o: u32, k: u32) -> vec4<f32> {
    let c = p.d_in + 1u;
    return vec4<f32>(w_at(b, o, k, c), w_at(b, o + 1u, k, c), w_at(b, o + 2u, k, c), w_at(b, o + 3u, k, c));
}
fn w_inputs_across(b: u32, o: u32, k: u32) -> vec4<f32> {
    let c = p.d_in;
    return vec4<f32>(w_at(b, o, k, c), w_at(b, o, k + 1u, c), w_at(b, o, k + 2u, c), w_at(b, o, k + 3u, c));
}
fn w_dot_down(b: u32, o: u32, k: u32) -> vec4<f32> {
    let c = p.d_in + 1u;
    return vec4<f32>(w_dot_at(b, o, k, c), w_dot_at(b, o + 1u, k, c), w_dot_at(b, o + 2u, k, c), w_dot_at(b, o + 3u, k, c));
}
fn w_dot_inputs_across(b: u32, o: u32, k: u32) -> vec4<f32> {
    let c = p.d_in;
    return vec4<f32>(w_dot_at(b, o, k, c), w_dot_at(b, o, k + 1u, c), w_dot_at(b, o, k + 2u, c), w_dot_at(b, o, k + 3u, c));
}
fn y_bar_down(b: u32, r: u32, o: u32) -> vec4<f32> {
    return vec4<f32>(y_bar_at(b, r, o), y_bar_at(b, r + 1u, o), y_bar_at(b, r + 2u, o), y_bar_at(b, r + 3u, o));
}
fn y_bar_across(b: u32, r: u32, o: u32) -> vec4<f32> {
    return vec4<f32>(y_bar_at(b, r, o), y_bar_at(b, r, o + 1u), y_bar_at(b, r, o + 2u), y_bar_at(b, r, o + 3u));
}
fn y_bar_dot_down(b: u32, r: u32, o: u32) -> vec4<f32> {
    return vec4<f32>(y_bar_dot_at(b, r, o), y_bar_dot_at(b, r + 1u, o), y_bar_dot_at(b, r + 2u, o), y_bar_dot_at(b, r + 3u, o));
}
fn y_bar_dot_across(b: u32, r: u32, o: u32) -> vec4<f32> {
    return vec4<f32>(y_bar_dot_at(b, r, o), y_bar_dot_at(b, r, o + 1u), y_bar_dot_at(b, r, o + 2u), y_bar_dot_at(b, r, o + 3u));
}

// ---- staging: quad j of thread t goes to (kk, q). "k-fast" puts adjacent
// threads on adjacent kk (for operands stored contiguously along K), "q-fast"
// on adjacent quads (for operands stored contiguously along M or N). ----

fn k_fast(t: u32, j: u32) -> vec2<u32> {
    let e = t + THREADS * j;
    return vec2<u32>(e % TK, e / TK);
}

fn q_fast(t: u32, j: u32) -> vec2<u32> {
    let e = t + THREADS * j;
    return vec2<u32>(e / QUADS, e % QUADS);
}

fn put_a(kq: vec2<u32>, v: vec4<f32>) { tile_a[kq.x * QUADS + kq.y] = v; }
fn put_b(kq: vec2<u32>, v: vec4<f32>) { tile_b[kq.x * QUADS + kq.y] = v; }

// Adds the staged slices' product into thread (tx, ty)'s block: rows
// 8ty .. 8ty+7 and columns 8tx .. 8tx+7 of the workgroup's 64×64 tile.
fn multiply_staged(acc: Block, tx: u32, ty: u32) -> Block {
    var c = acc;
    for (var kk = 0u; kk < TK; kk++) {
        let a_lo = tile_a[kk * QUADS + ty * 2u];
        let a_hi = tile_a[kk * QUADS + ty * 2u + 1u];
        let b_lo = tile_b[kk * QUADS + tx * 2u];
        let b_hi = tile_b[kk * QUADS + tx * 2u + 1u];
        c.r0lo = fma(vec4<f32>(a_lo.x), b_lo, c.r0lo); c.r0hi = fma(vec4<f32>(a_lo.x), b_hi, c.r0hi);
        c.r1lo = fma(vec4<f32>(a_lo.y), b_lo, c.r1lo); c.r1hi = fma(vec4<f32>(a_lo.y), b_hi, c.r1hi);
        c.r2lo = fma(vec4<f32>(a_lo.z), b_lo, c.r2lo); c.r2hi = fma(vec4<f32>(a_lo.z), b_hi, c.r2hi);
        c.r3lo = fma(vec4<f32>(a_lo.w), b_lo, c.r3lo); c.r3hi = fma(vec4<f32>(a_lo.w), b_hi, c.r3hi);
        c.r4lo = fma(vec4<f32>(a_hi.x), b_lo, c.r4lo); c.r4hi = fma(vec4<f32>(a_hi.x), b_hi, c.r4hi);
        c.r5lo = fma(vec4<f32>(a_hi.y), b_lo, c.r5lo); c.r5hi = fma(vec4<f32>(a_hi.y), b_hi, c.r5hi);
        c.r6lo = fma(vec4<f32>(a_hi.z), b_lo, c.r6lo); c.r6hi = fma(vec4<f32>(a_hi.z), b_hi, c.r6hi);
        c.r7lo = fma(vec4<f32>(a_hi.w), b_lo, c.r7lo); c.r7hi = fma(vec4<f32>(a_hi.w), b_hi, c.r7hi);
    }
    return c;
}

fn block_row(c: Block, i: u32) -> BlockRow {
    switch i {
        case 0u: { return BlockRow(c.r0lo, c.r0hi); }
        case 1u: { return BlockRow(c.r1lo, c.r1hi); }
        case 2u: { return BlockRow(c.r2lo, c.r2hi); }
        case 3u: { return BlockRow(c.r3lo, c.r3hi); }
        case 4u: { return BlockRow(c.r4lo, c.r4hi); }
        case 5u: { return BlockRow(c.r5lo, c.r5hi); }
        case 6u: { return BlockRow(c.r6lo, c.r6hi); }
        default: { return BlockRow(c.r7lo, c.r7hi); }
    }
}

// Value j (0..7) of a block row.
fn row_value(v: BlockRow, j: u32) -> f32 {
    if j < 4u { return v.lo[j]; }
    return v.hi[j - 4u];
}

// Position of block element (i, j) of thread (tx, ty) in the M×N output;
// .z is 1 when it lies inside the matrix.
fn out_pos(m0: u32, n0: u32, tx: u32, ty: u32, i: u32, j: u32, n_rows: u32, n_cols: u32) -> vec3<u32> {
    let m = m0 + ty * 8u + i;
    let n = n0 + tx * 8u + j;
    return vec3<u32>(m, n, select(0u, 1u, m < n_rows && n < n_cols));
}

// ---------------------------------------------------------------- forward --

// y = x̃ wᵀ: M = rows, N = d_out, K = d_in + 1.
@compute @workgroup_size(8, 8, 1)
fn dense_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    var acc = Block();
    for (var k0 = 0u; k0 < p.d_in + 1u; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = k_fast(t, j);
            put_a(a, x_aug_down(b, m0 + 4u * a.y, k0 + a.x));
            let c = k_fast(t, j);
            put_b(c, w_down(b, n0 + 4u * c.y, k0 + c.x));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let row = block_row(acc, i);
        for (var j = 0u; j < 8u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_out);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_out + o.y;
                let v = row_value(row, j);
                y[idx] = select(v, y[idx] + v, ACCUMULATE);
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
@compute @workgroup_size(8, 8, 1)
fn dense_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    var acc = Block();
    for (var k0 = 0u; k0 < p.d_out; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = k_fast(t, j);
            put_a(a, y_bar_down(b, m0 + 4u * a.y, k0 + a.x));
            let c = q_fast(t, j);
            put_b(c, w_inputs_across(b, k0 + c.x, n0 + 4u * c.y));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let row = block_row(acc, i);
        for (var j = 0u; j < 8u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_in);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_in + o.y;
                let v = row_value(row, j);
                x_bar[idx] = select(v, x_bar[idx] + v, ACCUMULATE);
            }
        }
    }
}

// w̄ = ȳᵀ x̃: M = d_out, N = d_in + 1, K = rows.
@compute @workgroup_size(8, 8, 1)
fn dense_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let b = wg.z / p.splits;
    let s = wg.z % p.splits;
    let rr = split_rows(s);
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    var acc = Block();
    for (var k0 = rr.x; k0 < rr.y; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = q_fast(t, j);
            put_a(a, y_bar_across(b, k0 + a.x, m0 + 4u * a.y));
            let c = q_fast(t, j);
            put_b(c, x_aug_across(b, k0 + c.x, n0 + 4u * c.y));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let row = block_row(acc, i);
        for (var j = 0u; j < 8u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.d_out, p.d_in + 1u);
            if o.z == 1u {
                let idx = (b * p.d_out + o.x) * (p.d_in + 1u) + o.y;
                store_w_bar(s, idx, row_value(row, j));
            }
        }
    }
}

// -------------------------------------------------------- tangent forward --

// ẏ = ẋ̃ wᵀ + x̃ ẇᵀ: M = rows, N = d_out, K = d_in + 1.
@compute @workgroup_size(8, 8, 1)
fn dense_tangent_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    var acc = Block();
    for (var k0 = 0u; k0 < p.d_in + 1u; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = k_fast(t, j);
            put_a(a, x_dot_aug_down(b, m0 + 4u * a.y, k0 + a.x));
            let c = k_fast(t, j);
            put_b(c, w_down(b, n0 + 4u * c.y, k0 + c.x));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
        for (var j = 0u; j < 4u; j++) {
            let a = k_fast(t, j);
            put_a(a, x_aug_down(b, m0 + 4u * a.y, k0 + a.x));
            let c = k_fast(t, j);
            put_b(c, w_dot_down(b, n0 + 4u * c.y, k0 + c.x));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let row = block_row(acc, i);
        for (var j = 0u; j < 8u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_out);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_out + o.y;
                let v = row_value(row, j);
                y_dot[idx] = select(v, y_dot[idx] + v, ACCUMULATE);
            }
        }
    }
}

// ------------------------------------------------------- tangent backward --

// x̄̇ = ȳ̇ w + ȳ ẇ (input columns only): M = rows, N = d_in, K = d_out.
@compute @workgroup_size(8, 8, 1)
fn dense_tangent_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let b = wg.z;
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    var acc = Block();
    for (var k0 = 0u; k0 < p.d_out; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = k_fast(t, j);
            put_a(a, y_bar_dot_down(b, m0 + 4u * a.y, k0 + a.x));
            let c = q_fast(t, j);
            put_b(c, w_inputs_across(b, k0 + c.x, n0 + 4u * c.y));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
        for (var j = 0u; j < 4u; j++) {
            let a = k_fast(t, j);
            put_a(a, y_bar_down(b, m0 + 4u * a.y, k0 + a.x));
            let c = q_fast(t, j);
            put_b(c, w_dot_inputs_across(b, k0 + c.x, n0 + 4u * c.y));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let row = block_row(acc, i);
        for (var j = 0u; j < 8u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.rows, p.d_in);
            if o.z == 1u {
                let idx = (b * p.rows + o.x) * p.d_in + o.y;
                let v = row_value(row, j);
                x_bar_dot[idx] = select(v, x_bar_dot[idx] + v, ACCUMULATE);
            }
        }
    }
}

// w̄̇ = ȳ̇ᵀ x̃ + ȳᵀ ẋ̃: M = d_out, N = d_in + 1, K = rows.
@compute @workgroup_size(8, 8, 1)
fn dense_tangent_backward_params(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let b = wg.z / p.splits;
    let s = wg.z % p.splits;
    let rr = split_rows(s);
    let m0 = wg.y * TILE;
    let n0 = wg.x * TILE;
    var acc = Block();
    for (var k0 = rr.x; k0 < rr.y; k0 += TK) {
        for (var j = 0u; j < 4u; j++) {
            let a = q_fast(t, j);
            put_a(a, y_bar_dot_across(b, k0 + a.x, m0 + 4u * a.y));
            let c = q_fast(t, j);
            put_b(c, x_aug_across(b, k0 + c.x, n0 + 4u * c.y));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
        for (var j = 0u; j < 4u; j++) {
            let a = q_fast(t, j);
            put_a(a, y_bar_across(b, k0 + a.x, m0 + 4u * a.y));
            let c = q_fast(t, j);
            put_b(c, x_dot_aug_across(b, k0 + c.x, n0 + 4u * c.y));
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid.x, lid.y);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let row = block_row(acc, i);
        for (var j = 0u; j < 8u; j++) {
            let o = out_pos(m0, n0, lid.x, lid.y, i, j, p.d_out, p.d_in + 1u);
            if o.z == 1u {
                let idx = (b * p.d_out + o.x) * (p.d_in + 1u) + o.y;
                store_w_bar_dot(s, idx, row_value(row, j));
            }
        }
    }
}

// ------------------------------------------------------- untiled variants --
// One thread per output element, operands read straight from global memory;
// the same math as the tiled passes above. The host picks them when a tiled
// grid would be mostly padding (a dimension much smaller than the 64×64 tile
// or the 16-deep slice, e.g. a layer with one output), and keeps them as the
// benchmark baseline.

// x̄_rk = Σ_o ȳ_ro w_ok.
@compute @workgroup_size(64, 1, 1)
fn dense_backward_input_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.z;
    let r = gid.x / p.d_in;
    let k = gid.x % p.d_in;
    if r >= p.rows { return; }
    var s = 0.0;
    for (var o = 0u; o < p.d_out; o++) {
        s = fma(y_bar[(b * p.rows + r) * p.d_out + o], w[(b * p.d_out + o) * (p.d_in + 1u) + k], s);
    }
    let idx = (b * p.rows + r) * p.d_in + k;
    x_bar[idx] = select(s, x_bar[idx] + s, ACCUMULATE);
}

// w̄_ok = Σ_r ȳ_ro x̃_rk.
@compute @workgroup_size(64, 1, 1)
fn dense_backward_params_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.z / p.splits;
    let part = gid.z % p.splits;
    let rr = split_rows(part);
    let o = gid.x / (p.d_in + 1u);
    let k = gid.x % (p.d_in + 1u);
    if o >= p.d_out { return; }
    var s = 0.0;
    for (var r = rr.x; r < rr.y; r++) {
        let xk = select(1.0, x[(b * p.rows + r) * p.d_in + min(k, p.d_in - 1u)], k < p.d_in);
        s = fma(y_bar[(b * p.rows + r) * p.d_out + o], xk, s);
    }
    let idx = (b * p.d_out + o) * (p.d_in + 1u) + k;
    store_w_bar(part, idx, s);
}

// w̄ = Σ_s partials[s] (s ascending) for a split parameter pass; the host
// binds w̄̇ here for the tangent pass.
@compute @workgroup_size(64, 1, 1)
fn dense_backward_params_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = p.batch * p.d_out * (p.d_in + 1u);
    let i = gid.x;
    if i >= n { return; }
    var s = 0.0;
    for (var part = 0u; part < p.splits; part++) {
        s += partials[part * n + i];
    }
    w_bar[i] = select(s, w_bar[i] + s, ACCUMULATE);
}

// ẏ_ro = Σ_k (ẋ_rk w_ok + x_rk ẇ_ok) + ẇ_o,d_in.
@compute @workgroup_size(64, 1, 1)
fn dense_tangent_forward_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.z;
    let r = gid.x / p.d_out;
    let o = gid.x % p.d_out;
    if r >= p.rows { return; }
    let wrow = (b * p.d_out + o) * (p.d_in + 1u);
    let xrow = (b * p.rows + r) * p.d_in;
    var s = w_dot[wrow + p.d_in];
    for (var k = 0u; k < p.d_in; k++) {
        s = fma(x_dot[xrow + k], w[wrow + k], s);
        s = fma(x[xrow + k], w_dot[wrow + k], s);
    }
    let idx = (b * p.rows + r) * p.d_out + o;
    y_dot[idx] = select(s, y_dot[idx] + s, ACCUMULATE);
}

// x̄̇_rk = Σ_o (ȳ̇_ro w_ok + ȳ_ro ẇ_ok).
@compute @workgroup_size(64, 1, 1)
fn dense_tangent_backward_input_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.z;
    let r = gid.x / p.d_in;
    let k = gid.x % p.d_in;
    if r >= p.rows { return; }
    var s = 0.0;
    for (var o = 0u; o < p.d_out; o++) {
        let yi = (b * p.rows + r) * p.d_out + o;
        let wi = (b * p.d_out + o) * (p.d_in + 1u) + k;
        s = fma(y_bar_dot[yi], w[wi], s);
        s = fma(y_bar[yi], w_dot[wi], s);
    }
    let idx = (b * p.rows + r) * p.d_in + k;
    x_bar_dot[idx] = select(s, x_bar_dot[idx] + s, ACCUMULATE);
}

// w̄̇_ok = Σ_r (ȳ̇_ro x̃_rk + ȳ_ro ẋ̃_rk), ẋ̃ = [ẋ, 0].
@compute @workgroup_size(64, 1, 1)
fn dense_tangent_backward_params_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.z / p.splits;
    let part = gid.z % p.splits;
    let rr = split_rows(part);
    let o = gid.x / (p.d_in + 1u);
    let k = gid.x % (p.d_in + 1u);
    if o >= p.d_out { return; }
    let kk = min(k, p.d_in - 1u);
    var s = 0.0;
    for (var r = rr.x; r < rr.y; r++) {
        let yi = (b * p.rows + r) * p.d_out + o;
        let xi = (b * p.rows + r) * p.d_in + kk;
        s = fma(y_bar_dot[yi], select(1.0, x[xi], k < p.d_in), s);
        s = fma(y_bar[yi], select(0.0, x_dot[xi], k < p.d_in), s);
    }
    let idx = (b * p.d_out + o) * (p.d_in + 1u) + k;
    store_w_bar_dot(part, idx, s);
}
