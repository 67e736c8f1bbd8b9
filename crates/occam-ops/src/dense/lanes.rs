//! The dense layer's lanes kernels, written out for one shape.
//!
//! Every pass of the dense layer is a product C[M×N] = Σ_terms A[M×K] B[K×N]
//! (`shaders/dense.wgsl` states them). On a software adapter (llvmpipe) a
//! workgroup of one subgroup runs as the SIMD lanes of one CPU core, and
//! every storage or workgroup-memory load is a per-lane scalar loop, while a
//! subgroup broadcast from a literal lane is one shuffle. The tiled kernels
//! feed each staged value to 8 multiply-adds through workgroup memory; here
//! the operands never pass through memory twice:
//!
//! - one workgroup of `W` lanes owns `R` outputs along one dimension of C
//!   (the *broadcast* side) and `W·G` along the other (the *lane* side):
//!   lane j owns columns l₀ + W·g + j, g < G, of all R rows;
//! - per block of W steps along K, lane j loads the broadcast operand at
//!   depth k₀ + j for each of its R rows (R loads), then, for each depth
//!   kk < W, its G lane-operand values (G loads) and, for each row r,
//!   `subgroupBroadcast(a_r, kk)` multiplied into its G accumulators.
//!
//! So each loaded value feeds W·G (broadcast side) or R (lane side)
//! multiply-adds, and the accumulators, R·G per lane, are named scalars that
//! stay in registers. The sizes are constants and every loop but the one
//! over K is written out, so the kernel's only loop runs ⌈K / W⌉ times per
//! invocation (the parameter passes: over one chunk of rows, see
//! [`super::RowSplit`]). Each output sums its terms' products in order of
//! depth, term by term within a block of W depths, by fused multiply-adds:
//! another order than the tiled kernels', bitwise reproducible on an adapter.
//! Which side of C the lanes take, R and G are chosen per pass by
//! [`LanesPlan::choose`], from the padded work and the loads a shape needs.

use super::DenseShape;
use std::fmt::Write;

/// The six passes of a dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    Forward,
    BackwardInput,
    BackwardParams,
    TangentForward,
    TangentBackwardInput,
    TangentBackwardParams,
}

/// One operand of a product: the accessor that reads it and whether the
/// product's (row, column) of the operand are the accessor's (second,
/// first) index.
#[derive(Clone, Copy)]
struct Operand {
    read: Accessor,
    transposed: bool,
}

/// The bounds-checked readers the kernels use (each zero outside its matrix).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accessor {
    /// x̃ = [x, 1] at (row, column).
    XAug,
    /// ẋ̃ = [ẋ, 0] at (row, column).
    XDotAug,
    /// w at (output, column), bias column included.
    W,
    /// ẇ at (output, column), bias column included.
    WDot,
    /// w at (output, column), input columns only.
    WInputs,
    /// ẇ at (output, column), input columns only.
    WDotInputs,
    /// ȳ at (row, output).
    YBar,
    /// ȳ̇ at (row, output).
    YBarDot,
}

impl Accessor {
    const ALL: [Accessor; 8] = [
        Accessor::XAug,
        Accessor::XDotAug,
        Accessor::W,
        Accessor::WDot,
        Accessor::WInputs,
        Accessor::WDotInputs,
        Accessor::YBar,
        Accessor::YBarDot,
    ];

    fn function(self) -> &'static str {
        match self {
            Accessor::XAug => "x_aug",
            Accessor::XDotAug => "x_dot_aug",
            Accessor::W => "w_full",
            Accessor::WDot => "w_dot_full",
            Accessor::WInputs => "w_inputs",
            Accessor::WDotInputs => "w_dot_inputs",
            Accessor::YBar => "y_bar_at",
            Accessor::YBarDot => "y_bar_dot_at",
        }
    }

    fn buffer(self) -> &'static str {
        match self {
            Accessor::XAug => "x",
            Accessor::XDotAug => "x_dot",
            Accessor::W | Accessor::WInputs => "w",
            Accessor::WDot | Accessor::WDotInputs => "w_dot",
            Accessor::YBar => "y_bar",
            Accessor::YBarDot => "y_bar_dot",
        }
    }

    /// The accessor's WGSL function (`b` the problem, `i`, `j` its indices).
    fn write(self, o: &mut String) {
        let f = self.function();
        let buf = self.buffer();
        let body = match self {
            Accessor::XAug => format!(
                "    let v = {buf}[(b * ROWS + i) * D_IN + j];\n    \
                 return select(0.0, select(select(0.0, 1.0, j == D_IN), v, j < D_IN), i < ROWS);"
            ),
            Accessor::XDotAug => format!(
                "    let v = {buf}[(b * ROWS + i) * D_IN + j];\n    \
                 return select(0.0, v, i < ROWS && j < D_IN);"
            ),
            Accessor::W | Accessor::WDot => format!(
                "    let v = {buf}[(b * D_OUT + i) * W_COLS + j];\n    \
                 return select(0.0, v, i < D_OUT && j < W_COLS);"
            ),
            Accessor::WInputs | Accessor::WDotInputs => format!(
                "    let v = {buf}[(b * D_OUT + i) * W_COLS + j];\n    \
                 return select(0.0, v, i < D_OUT && j < D_IN);"
            ),
            Accessor::YBar | Accessor::YBarDot => format!(
                "    let v = {buf}[(b * ROWS + i) * D_OUT + j];\n    \
                 return select(0.0, v, i < ROWS && j < D_OUT);"
            ),
        };
        let _ = writeln!(o, "fn {f}(b: u32, i: u32, j: u32) -> f32 {{\n{body}\n}}\n");
    }
}

const fn op(read: Accessor, transposed: bool) -> Operand {
    Operand { read, transposed }
}

impl Pass {
    /// Every pass, in the order `DenseGpu` builds them.
    #[cfg(test)]
    pub(crate) const ALL: [Pass; 6] = [
        Pass::Forward,
        Pass::BackwardInput,
        Pass::BackwardParams,
        Pass::TangentForward,
        Pass::TangentBackwardInput,
        Pass::TangentBackwardParams,
    ];

    /// The pass's name in entry points (`dense_lanes_<name>`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::BackwardInput => "backward_input",
            Pass::BackwardParams => "backward_params",
            Pass::TangentForward => "tangent_forward",
            Pass::TangentBackwardInput => "tangent_backward_input",
            Pass::TangentBackwardParams => "tangent_backward_params",
        }
    }

    /// Whether the pass sums over the rows into the parameters' shape (and
    /// so may split its rows into chunks).
    pub(crate) fn sums_rows(self) -> bool {
        matches!(self, Pass::BackwardParams | Pass::TangentBackwardParams)
    }

    /// The (M, N, K) of the pass's product for `s`.
    pub(crate) fn dims(self, s: &DenseShape) -> (usize, usize, usize) {
        match self {
            Pass::Forward | Pass::TangentForward => (s.rows, s.d_out, s.d_in + 1),
            Pass::BackwardInput | Pass::TangentBackwardInput => (s.rows, s.d_in, s.d_out),
            Pass::BackwardParams | Pass::TangentBackwardParams => (s.d_out, s.d_in + 1, s.rows),
        }
    }

    /// The buffer the pass writes (when its rows are not split).
    pub(crate) fn output(self) -> &'static str {
        match self {
            Pass::Forward => "y",
            Pass::BackwardInput => "x_bar",
            Pass::BackwardParams => "w_bar",
            Pass::TangentForward => "y_dot",
            Pass::TangentBackwardInput => "x_bar_dot",
            Pass::TangentBackwardParams => "w_bar_dot",
        }
    }

    /// The (A, B) operand pairs summed into C, in order.
    fn terms(self) -> Vec<(Operand, Operand)> {
        use Accessor::*;
        match self {
            // y = x̃ wᵀ: A(m, k) = x̃[m, k], B(k, n) = w[n, k].
            Pass::Forward => vec![(op(XAug, false), op(W, true))],
            // x̄ = ȳ w[:, :d_in]: A(m, k) = ȳ[m, k], B(k, n) = w[k, n].
            Pass::BackwardInput => vec![(op(YBar, false), op(WInputs, false))],
            // w̄ = ȳᵀ x̃: A(m, k) = ȳ[k, m], B(k, n) = x̃[k, n].
            Pass::BackwardParams => vec![(op(YBar, true), op(XAug, false))],
            // ẏ = ẋ̃ wᵀ + x̃ ẇᵀ.
            Pass::TangentForward => vec![
                (op(XDotAug, false), op(W, true)),
                (op(XAug, false), op(WDot, true)),
            ],
            // x̄̇ = ȳ̇ w + ȳ ẇ.
            Pass::TangentBackwardInput => vec![
                (op(YBarDot, false), op(WInputs, false)),
                (op(YBar, false), op(WDotInputs, false)),
            ],
            // w̄̇ = ȳ̇ᵀ x̃ + ȳᵀ ẋ̃.
            Pass::TangentBackwardParams => vec![
                (op(YBarDot, true), op(XAug, false)),
                (op(YBar, true), op(XDotAug, false)),
            ],
        }
    }
}

/// How one pass's lanes kernel lays its output over workgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LanesPlan {
    /// Invocations per workgroup: the adapter's subgroup size W.
    pub lanes: usize,
    /// Whether the lanes run along N (columns of C) rather than M.
    pub lanes_on_n: bool,
    /// Outputs along the broadcast side per workgroup.
    pub r: usize,
    /// Lane groups: each lane owns `g` outputs along the lane side.
    pub g: usize,
}

/// Most accumulators one lane keeps (R·G): beyond this llvmpipe spills them.
const MAX_ACCUMULATORS: usize = 64;

/// Relative cost of one scalar load per lane against one vector
/// multiply-add (llvmpipe's per-lane load loop with its mask and bounds
/// checks is about five instructions a lane).
const LOAD_COST: usize = 5;

/// Workgroups a software adapter runs at once (one per core, as many as a
/// desktop CPU has): fewer leaves cores idle.
const PARALLEL_WORKGROUPS: usize = 8;

impl LanesPlan {
    /// The plan with the least modelled time for an M × N × K product on
    /// subgroups of `lanes`: per block of W depths a workgroup runs W·R·G
    /// multiply-adds, W·R broadcasts and W·(R + W·G) scalar loads, over
    /// ⌈S/R⌉·⌈L/(W·G)⌉·⌈K/W⌉ blocks shared by at most
    /// [`PARALLEL_WORKGROUPS`] cores at a time.
    pub(crate) fn choose(m: usize, n: usize, k: usize, lanes: usize) -> LanesPlan {
        let mut best: Option<(usize, LanesPlan)> = None;
        for lanes_on_n in [true, false] {
            let (bcast, lane_side) = if lanes_on_n { (m, n) } else { (n, m) };
            let mut rs = vec![4, 8, 16, 32];
            if bcast < 32 {
                rs.push(bcast.max(1));
            }
            for r in rs {
                for g in [1, 2, 4] {
                    if r * g > MAX_ACCUMULATORS {
                        continue;
                    }
                    let workgroups = bcast.div_ceil(r) * lane_side.div_ceil(lanes * g);
                    let blocks = workgroups * k.div_ceil(lanes).max(1);
                    let per_block = lanes * r * g + lanes * r + LOAD_COST * lanes * (r + lanes * g);
                    let cost = blocks * per_block / workgroups.min(PARALLEL_WORKGROUPS);
                    let plan = LanesPlan {
                        lanes,
                        lanes_on_n,
                        r,
                        g,
                    };
                    if best.is_none_or(|(c, _)| cost < c) {
                        best = Some((cost, plan));
                    }
                }
            }
        }
        best.expect("at least one candidate").1
    }

    /// Workgroups along x (lane side) and y (broadcast side) for an M × N output.
    pub(crate) fn grid(&self, m: usize, n: usize) -> [usize; 2] {
        let (bcast, lane_side) = if self.lanes_on_n { (m, n) } else { (n, m) };
        [
            lane_side.div_ceil(self.lanes * self.g),
            bcast.div_ceil(self.r),
        ]
    }
}

/// Writes the lanes kernel of `pass` for `shape`, laid out by `plan`, with
/// the parameter passes' rows cut into `splits` chunks of `chunk` rows
/// (partial sums into `partials` when `splits > 1`), adding into the output
/// when `accumulate`. Its one entry point is `dense_lanes_<pass>`.
pub(crate) fn generate(
    pass: Pass,
    shape: &DenseShape,
    plan: LanesPlan,
    (splits, chunk): (usize, usize),
    accumulate: bool,
) -> String {
    let (m, n, k) = pass.dims(shape);
    let (w, r_count, g_count) = (plan.lanes, plan.r, plan.g);
    let split = pass.sums_rows() && splits > 1;
    let mut s = String::with_capacity(32 * 1024);
    let o = &mut s;
    let _ = writeln!(
        o,
        "// dense_lanes_{name}, generated by occam_ops::dense::lanes for {shape:?},\n\
         // {w} lanes, {r_count} × {g_count}·{w} outputs per workgroup (lanes along {side});\n\
         // the math of the pass is in shaders/dense.wgsl, the layout in the\n\
         // generator's documentation.\n",
        name = pass.name(),
        side = if plan.lanes_on_n { "N" } else { "M" },
    );
    let _ = writeln!(
        o,
        "const BATCH: u32 = {}u;\nconst ROWS: u32 = {}u;\nconst D_IN: u32 = {}u;\n\
         const D_OUT: u32 = {}u;\nconst W_COLS: u32 = {}u;\nconst M: u32 = {m}u;\n\
         const N: u32 = {n}u;\nconst K: u32 = {k}u;\nconst SPLITS: u32 = {}u;\n\
         const CHUNK: u32 = {}u;\n",
        shape.batch,
        shape.rows,
        shape.d_in,
        shape.d_out,
        shape.d_in + 1,
        if pass.sums_rows() { splits } else { 1 },
        if pass.sums_rows() { chunk } else { k.max(1) },
    );
    // Bindings: the operands read, then the output.
    let mut reads: Vec<&str> = Vec::new();
    let mut used: Vec<Accessor> = Vec::new();
    for (a, b) in pass.terms() {
        for acc in [a.read, b.read] {
            if !used.contains(&acc) {
                used.push(acc);
            }
            if !reads.contains(&acc.buffer()) {
                reads.push(acc.buffer());
            }
        }
    }
    let out = if split { "partials" } else { pass.output() };
    for (i, buf) in reads.iter().enumerate() {
        let _ = writeln!(
            o,
            "@group(0) @binding({i}) var<storage, read> {buf}: array<f32>;"
        );
    }
    let _ = writeln!(
        o,
        "@group(0) @binding({}) var<storage, read_write> {out}: array<f32>;\n",
        reads.len()
    );
    for acc in Accessor::ALL {
        if used.contains(&acc) {
            acc.write(o);
        }
    }
    // The kernel.
    let _ = writeln!(
        o,
        "@compute @workgroup_size({w})\n\
         fn dense_lanes_{}(@builtin(workgroup_id) wg: vec3<u32>,\n        \
         @builtin(subgroup_invocation_id) lane: u32) {{\n    \
         let b = wg.z / SPLITS;\n    let split = wg.z % SPLITS;\n    \
         let l0 = wg.x * {}u + lane;\n    let s0 = wg.y * {r_count}u;",
        pass.name(),
        w * g_count
    );
    for r in 0..r_count {
        for g in 0..g_count {
            let _ = writeln!(o, "    var c{r}_{g} = 0.0;");
        }
    }
    let _ = writeln!(
        o,
        "    let k_end = min(K, (split + 1u) * CHUNK);\n    \
         for (var k0 = split * CHUNK; k0 < k_end; k0 += {w}u) {{\n        \
         let k = k0 + lane;"
    );
    // Element (bcast index, depth) of the broadcast operand and (depth,
    // lane index) of the lane operand, as calls of their accessors.
    let call = |operand: Operand, row: &str, col: &str| {
        let (i, j) = if operand.transposed {
            (col, row)
        } else {
            (row, col)
        };
        format!("{}(b, {i}, {j})", operand.read.function())
    };
    for (a, bop) in pass.terms() {
        // With lanes along N: A(m, k) is broadcast, B(k, n) runs on lanes.
        // With lanes along M: B(k, n) is broadcast (as Bᵀ(n, k)), A(m, k) on lanes.
        let _ = writeln!(o, "        {{");
        for r in 0..r_count {
            let s_idx = format!("s0 + {r}u");
            let load = if plan.lanes_on_n {
                call(a, &s_idx, "k")
            } else {
                call(bop, "k", &s_idx)
            };
            let _ = writeln!(o, "            let a{r} = {load};");
        }
        for kk in 0..w {
            let depth = format!("k0 + {kk}u");
            for g in 0..g_count {
                let l_idx = format!("l0 + {}u", w * g);
                let load = if plan.lanes_on_n {
                    call(bop, &depth, &l_idx)
                } else {
                    call(a, &l_idx, &depth)
                };
                let _ = writeln!(o, "            let v{kk}_{g} = {load};");
            }
            for r in 0..r_count {
                let _ = write!(o, "            {{ let s = subgroupBroadcast(a{r}, {kk}u);");
                for g in 0..g_count {
                    let _ = write!(o, " c{r}_{g} = fma(s, v{kk}_{g}, c{r}_{g});");
                }
                let _ = writeln!(o, " }}");
            }
        }
        let _ = writeln!(o, "        }}");
    }
    let _ = writeln!(o, "    }}");
    // Stores.
    for r in 0..r_count {
        for g in 0..g_count {
            let (bi, li) = (format!("s0 + {r}u"), format!("l0 + {}u", w * g));
            let (mi, ni) = if plan.lanes_on_n { (bi, li) } else { (li, bi) };
            let base = if pass.sums_rows() {
                if split {
                    "split * BATCH * M * N + b * M * N"
                } else {
                    "b * M * N"
                }
            } else {
                "b * M * N"
            };
            let value = if accumulate && !split {
                format!("{out}[idx] + c{r}_{g}")
            } else {
                format!("c{r}_{g}")
            };
            let _ = writeln!(
                o,
                "    {{ let mi = {mi}; let ni = {ni};\n      \
                 if mi < M && ni < N {{ let idx = {base} + mi * N + ni; {out}[idx] = {value}; }} }}"
            );
        }
    }
    let _ = writeln!(o, "}}");
    s
}

/// Buffers the lanes kernel of `pass` binds (operands, then its output):
/// the host passes exactly these.
pub(crate) fn bindings(pass: Pass, split: bool) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for (a, b) in pass.terms() {
        for acc in [a.read, b.read] {
            if !names.contains(&acc.buffer()) {
                names.push(acc.buffer());
            }
        }
    }
    names.push(if split && pass.sums_rows() {
        "partials"
    } else {
        pass.output()
    });
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    use occam_gpu::shaders::expand_generated;

    /// The entry point's buffers after naga validates and reflects `src`.
    fn reflected_bindings(file: &str, src: &str, entry: &str) -> Vec<String> {
        let (_, eps) = expand_generated(file, src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let ep = eps.iter().find(|e| e.name == entry).expect(entry);
        ep.bindings.iter().map(|b| b.name.clone()).collect()
    }

    #[test]
    fn every_pass_and_layout_generates_valid_wgsl() {
        let shape = DenseShape {
            batch: 2,
            rows: 37,
            d_in: 5,
            d_out: 3,
        };
        for pass in Pass::ALL {
            for lanes_on_n in [true, false] {
                for (r, g) in [(3, 1), (4, 2)] {
                    let plan = LanesPlan {
                        lanes: 8,
                        lanes_on_n,
                        r,
                        g,
                    };
                    for (splits, accumulate) in [(1, false), (3, true)] {
                        let src = generate(pass, &shape, plan, (splits, 16), accumulate);
                        let file = format!("{pass:?} {plan:?} {splits}");
                        let entry = format!("dense_lanes_{}", pass.name());
                        let mut got = reflected_bindings(&file, &src, &entry);
                        let mut want = bindings(pass, splits > 1);
                        got.sort_unstable();
                        want.sort_unstable();
                        assert_eq!(got, want, "{file}");
                    }
                }
            }
        }
    }

    #[test]
    fn plans_put_the_lanes_on_the_longer_side_and_cap_the_accumulators() {
        // One output column: the lanes run along the rows.
        let p = LanesPlan::choose(330, 1, 151, 8);
        assert!(!p.lanes_on_n, "{p:?}");
        // One output row: the lanes run along the columns.
        let p = LanesPlan::choose(1, 330, 151, 8);
        assert!(p.lanes_on_n, "{p:?}");
        for (m, n, k) in [
            (330, 150, 151),
            (150, 151, 330),
            (7, 3, 2),
            (84_480, 20, 21),
        ] {
            let p = LanesPlan::choose(m, n, k, 8);
            assert!(p.r * p.g <= MAX_ACCUMULATORS, "{p:?}");
            let [gx, gy] = p.grid(m, n);
            let (bcast, lane_side) = if p.lanes_on_n { (m, n) } else { (n, m) };
            assert!(gx * 8 * p.g >= lane_side && gy * p.r >= bcast);
        }
    }
}
