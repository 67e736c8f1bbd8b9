//! The convolution's lanes kernels, written out for one shape.
//!
//! On a software adapter (llvmpipe) a workgroup of one subgroup runs as the
//! SIMD lanes of one CPU core; every storage or workgroup-memory load inside
//! a loop is a per-lane scalar loop, while a subgroup broadcast from a
//! literal lane is one shuffle. The tiled forward feeds each staged weight
//! quad to four multiply-adds per load and reads x once per tap; here lanes
//! own channels and the image's rows are shared by broadcasts:
//!
//! - **Pixel passes** (forward, x̄ and their tangents: correlations
//!   out[a, i, j] = init + Σ_{b,u,v} W(a, b, u, v) X[b, i ± u ∓ p, j ± v ∓ p]):
//!   a workgroup owns one image, `W` output channels a (one per lane) and a
//!   segment of J ≤ 16 outputs of one row. Per input channel b and kernel row
//!   u, the lanes load the J + k − 1 input values the segment reads, one per
//!   lane per run of W, and hand each to every lane by `subgroupBroadcast`;
//!   each lane loads its own k weights of that row. So a weight feeds J
//!   multiply-adds and an input value J·k/(J + k − 1)·W.
//! - **Parameter passes** (w̄ and its tangent: w̄[o, c, u, v] = Σ_{n,i,j}
//!   ȳ[n, o, i, j] x̃[n, c, i + u − p, j + v − p]): a workgroup owns `W`
//!   output channels and one input channel c, all k² taps as named
//!   accumulators (and the bias where c = 0); it walks images, rows and
//!   segments, each lane loading its channel's J cotangents and the lanes
//!   sharing the k rows of x by broadcasts. llvmpipe ends an invocation's
//!   loops after 65535 iterations in all (`crate::loop_budget`), so the
//!   images are cut into chunks that stay under the budget, each chunk's
//!   sums written to a partials buffer that `conv2d_lanes_reduce` adds in
//!   order of chunk ([`params_split`]).
//!
//! Every output sums exactly the terms of `shaders/conv2d.wgsl`'s kernels in
//! their order (bias or zero first, then input channel, kernel row and
//! column; for the parameters image, row and column) with the same fused
//! multiply-adds, and reads zero where those kernels read or skip padding
//! (an accumulator that starts at +0 never becomes −0, so adding a zero
//! product changes no bit): the lanes kernels give the tiled and untiled
//! kernels' numbers bit for bit, which the tests check — except that the
//! parameter passes over more images than one chunk add the chunks' sums.

use super::Conv2dShape;
use std::fmt::Write;

/// Kernels larger than this take `shaders/conv2d.wgsl`'s kernels (the
/// parameter passes keep k² named accumulators per lane).
pub(crate) const MAX_KERNEL: usize = 7;

/// Longest row segment a pixel-pass workgroup owns (named accumulators).
const MAX_SEGMENT: usize = 16;

/// Row segment of the parameter passes (k² accumulators live beside it).
const PARAMS_SEGMENT: usize = 8;

/// The subgroup widths the kernels support.
pub(crate) fn supported(width: u32) -> bool {
    width.is_power_of_two() && (4..=64).contains(&width)
}

/// The six passes of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    Forward,
    TangentForward,
    BackwardInput,
    TangentBackwardInput,
    BackwardParams,
    TangentBackwardParams,
}

impl Pass {
    /// Every pass, in the order the host keeps their kernels.
    pub(crate) const ALL: [Pass; 6] = [
        Pass::Forward,
        Pass::TangentForward,
        Pass::BackwardInput,
        Pass::TangentBackwardInput,
        Pass::BackwardParams,
        Pass::TangentBackwardParams,
    ];

    /// The pass's name in entry points (`conv2d_lanes_<name>`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::TangentForward => "tangent_forward",
            Pass::BackwardInput => "backward_input",
            Pass::TangentBackwardInput => "tangent_backward_input",
            Pass::BackwardParams => "backward_params",
            Pass::TangentBackwardParams => "tangent_backward_params",
        }
    }

    /// The (lane-side, broadcast-side) operand pairs, in the order each
    /// output adds their products.
    fn terms(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Pass::Forward => &[("w", "x")],
            Pass::TangentForward => &[("w", "x_dot"), ("w_dot", "x")],
            Pass::BackwardInput => &[("w", "y_bar")],
            Pass::TangentBackwardInput => &[("w", "y_bar_dot"), ("w_dot", "y_bar")],
            Pass::BackwardParams => &[("y_bar", "x")],
            Pass::TangentBackwardParams => &[("y_bar_dot", "x"), ("y_bar", "x_dot")],
        }
    }

    /// The buffer the pass writes.
    fn output(self) -> &'static str {
        match self {
            Pass::Forward => "y",
            Pass::TangentForward => "y_dot",
            Pass::BackwardInput => "x_bar",
            Pass::TangentBackwardInput => "x_bar_dot",
            Pass::BackwardParams => "w_bar",
            Pass::TangentBackwardParams => "w_bar_dot",
        }
    }

    /// Whether the pass sums over images (w̄ and its tangent).
    pub(crate) fn is_params(self) -> bool {
        matches!(self, Pass::BackwardParams | Pass::TangentBackwardParams)
    }
}

/// The buffers the kernel of `pass` binds, reads first, then its output
/// (`partials` for a parameter pass cut into several chunks): the host
/// passes exactly these.
pub(crate) fn bindings(pass: Pass, split: bool) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for (a, b) in pass.terms() {
        for n in [*a, *b] {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.push(if split && pass.is_params() {
        "partials"
    } else {
        pass.output()
    });
    names
}

/// The kernel that adds a parameter pass's `splits` partial sums, in order
/// of chunk, into `out` (`len` values per chunk): entry `conv2d_lanes_reduce`.
pub(crate) fn reduce(len: usize, splits: usize) -> String {
    format!(
        "// conv2d_lanes_reduce, generated by occam_ops::conv2d::lanes: out[e] = Σ_s partials[s·{len} + e],\n\
         // s = 0 .. {splits} in order (the parameter passes' chunks of images).\n\n\
         @group(0) @binding(0) var<storage, read> partials: array<f32>;\n\
         @group(0) @binding(1) var<storage, read_write> out: array<f32>;\n\n\
         @compute @workgroup_size(64)\n\
         fn conv2d_lanes_reduce(@builtin(global_invocation_id) gid: vec3<u32>,\n        \
         @builtin(num_workgroups) nwg: vec3<u32>) {{\n    \
         let e = gid.x + gid.y * nwg.x * 64u;\n    \
         if e >= {len}u {{ return; }}\n    \
         var s = partials[e];\n    \
         for (var k = 1u; k < {splits}u; k++) {{ s += partials[k * {len}u + e]; }}\n    \
         out[e] = s;\n}}\n"
    )
}

/// The geometry of a pixel pass: lanes over `lanes` channels of the output
/// plane, reading `reads` channels of the input plane.
struct PixelGeometry {
    lanes: usize,
    reads: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    /// +1: input row i + u − p (forward); −1: i − u + p (x̄).
    dir: i64,
    segment: usize,
}

fn pixel_geometry(pass: Pass, s: &Conv2dShape) -> PixelGeometry {
    let forward = matches!(pass, Pass::Forward | Pass::TangentForward);
    let (lanes, reads, in_h, in_w, out_h, out_w) = if forward {
        (s.c_out, s.c_in, s.height, s.width, s.h_out(), s.w_out())
    } else {
        (s.c_in, s.c_out, s.h_out(), s.w_out(), s.height, s.width)
    };
    let segs = out_w.div_ceil(MAX_SEGMENT);
    PixelGeometry {
        lanes,
        reads,
        in_h,
        in_w,
        out_h,
        out_w,
        dir: if forward { 1 } else { -1 },
        segment: out_w.div_ceil(segs),
    }
}

/// Row segments of the parameter passes: (segments per row, their length).
fn params_segments(s: &Conv2dShape) -> (usize, usize) {
    let segs = s.w_out().div_ceil(PARAMS_SEGMENT);
    (segs, s.w_out().div_ceil(segs))
}

/// How far under the loop budget a parameter pass's chunk stays (see
/// [`params_split`]).
const CHUNK_MARGIN: usize = 8;

/// How `pass` cuts the images: (chunks, images per chunk); one chunk for
/// the pixel passes and without a budget (hardware). A parameter pass's
/// invocation loops over its chunk's images, their rows and the rows'
/// segments, `1 + h_out·(1 + segments)` iterations an image by the
/// shader's loops. llvmpipe was measured to end such invocations well
/// before that count reached its cap: chunks of 1162 images of 14 × 14
/// (43 iterations an image, 49 966 in all) came out whole in the plain
/// pass of a 3 × 3 kernel but cut short in its tangent pass and in the plain
/// pass of mnist01's 5 × 5, 16 → 32 layer. So the chunks keep the count
/// [`CHUNK_MARGIN`] times under `budget` per term: more, smaller chunks,
/// which also spread one layer's sums over more workgroups.
pub(crate) fn params_split(pass: Pass, s: &Conv2dShape, budget: Option<usize>) -> (usize, usize) {
    let per_image = (1 + s.h_out() * (1 + params_segments(s).0)) * pass.terms().len();
    let chunk = match budget {
        Some(b) if pass.is_params() => (b / (per_image * CHUNK_MARGIN)).clamp(1, s.images),
        _ => s.images,
    };
    (s.images.div_ceil(chunk), chunk)
}

/// Workgroups the kernel of `pass` runs on for `shape` with `width` lanes
/// (the parameter passes: per chunk of images, `splits` of them).
pub(crate) fn workgroups(pass: Pass, s: &Conv2dShape, width: usize, splits: usize) -> usize {
    if pass.is_params() {
        s.batch * s.c_out.div_ceil(width) * s.c_in * splits
    } else {
        let g = pixel_geometry(pass, s);
        s.batch * s.images * g.lanes.div_ceil(width) * g.out_h * g.out_w.div_ceil(g.segment)
    }
}

/// `subgroupBroadcast` of the value a run of `width` lanes loaded at
/// position `m` of the row it covers.
fn broadcast(run: &str, m: usize, width: usize) -> String {
    format!("subgroupBroadcast({run}{}, {}u)", m / width, m % width)
}

/// Opens the entry point of `pass`: its workgroup index `wid`, past the last
/// workgroup nothing to do.
fn open_entry(o: &mut String, pass: Pass, width: usize) {
    let _ = writeln!(
        o,
        "@compute @workgroup_size({width})\n\
         fn conv2d_lanes_{name}(@builtin(workgroup_id) wg: vec3<u32>,\n        \
         @builtin(num_workgroups) nwg: vec3<u32>,\n        \
         @builtin(subgroup_invocation_id) lane: u32) {{\n    \
         let wid = wg.x + wg.y * nwg.x;\n    \
         if wid >= GROUPS {{ return; }}",
        name = pass.name(),
    );
}

/// Writes the loads of term `t`'s row segment of `x`: the `span` values from
/// column `col` − lane on of row `xr` (zero outside the `row_len`-wide row
/// or where `row_ok` is false) of the plane starting at `plane`, one per
/// lane per run of `width`, and their broadcasts `x{t}_{m}`, m < span.
#[allow(clippy::too_many_arguments)]
fn row_segment(
    o: &mut String,
    indent: &str,
    t: usize,
    x: &str,
    plane: &str,
    row_len: &str,
    span: usize,
    width: usize,
) {
    for q in 0..span.div_ceil(width) {
        let _ = writeln!(
            o,
            "{indent}var r{t}_{q} = 0.0;\n{indent}\
             {{ let cc = col + {}; if row_ok && cc >= 0 && cc < {row_len} {{ r{t}_{q} = {x}[{plane} + u32(xr * {row_len} + cc)]; }} }}",
            q * width
        );
    }
    for m in 0..span {
        let _ = writeln!(
            o,
            "{indent}let x{t}_{m} = {};",
            broadcast(&format!("r{t}_"), m, width)
        );
    }
}

/// Writes the kernel of `pass` for `shape` and subgroups of `width` lanes,
/// the parameter passes over `(splits, chunk)` chunks of images (partial
/// sums into `partials` when there are several); its one entry point is
/// `conv2d_lanes_<pass>`.
pub(crate) fn generate(
    pass: Pass,
    shape: &Conv2dShape,
    width: usize,
    (splits, chunk): (usize, usize),
) -> String {
    assert!(supported(width as u32) && shape.kernel <= MAX_KERNEL);
    let mut s = String::with_capacity(32 * 1024);
    let o = &mut s;
    let _ = writeln!(
        o,
        "// conv2d_lanes_{name}, generated by occam_ops::conv2d::lanes for {shape:?}\n\
         // and subgroups of {width} lanes: the math of the pass is in shaders/conv2d.wgsl,\n\
         // the layout in the generator's documentation.\n",
        name = pass.name(),
    );
    let splits = if pass.is_params() { splits } else { 1 };
    for (i, buf) in bindings(pass, splits > 1).iter().enumerate() {
        let access = if i + 1 == bindings(pass, splits > 1).len() {
            "read_write"
        } else {
            "read"
        };
        let _ = writeln!(
            o,
            "@group(0) @binding({i}) var<storage, {access}> {buf}: array<f32>;"
        );
    }
    let _ = writeln!(
        o,
        "\nconst IMAGES: u32 = {}u;\nconst C_IN: u32 = {}u;\nconst C_OUT: u32 = {}u;\n\
         const K: u32 = {}u;\nconst PAD: i32 = {};\nconst FAN: u32 = {}u;\n\
         const GROUPS: u32 = {}u;\nconst BATCH: u32 = {}u;\nconst SPLITS: u32 = {splits}u;\n\
         const CHUNK: u32 = {chunk}u;\n",
        shape.images,
        shape.c_in,
        shape.c_out,
        shape.kernel,
        shape.padding,
        shape.fan(),
        workgroups(pass, shape, width, splits),
        shape.batch,
    );
    if pass.is_params() {
        params_pass(o, pass, shape, width, splits);
    } else {
        pixel_pass(o, pass, shape, width);
    }
    s
}

/// Forward, x̄ and their tangents.
fn pixel_pass(o: &mut String, pass: Pass, shape: &Conv2dShape, width: usize) {
    let g = pixel_geometry(pass, shape);
    let (k, j_len) = (shape.kernel, g.segment);
    let span = j_len + k - 1;
    let forward = g.dir > 0;
    let _ = writeln!(
        o,
        "const LANES_C: u32 = {}u;\nconst READS_C: u32 = {}u;\nconst IN_H: i32 = {};\n\
         const IN_W: i32 = {};\nconst OUT_H: u32 = {}u;\nconst OUT_W: u32 = {}u;\n\
         const SEG: u32 = {j_len}u;\nconst SEGS: u32 = {}u;\nconst BLOCKS: u32 = {}u;\n",
        g.lanes,
        g.reads,
        g.in_h,
        g.in_w,
        g.out_h,
        g.out_w,
        g.out_w.div_ceil(j_len),
        g.lanes.div_ceil(width),
    );
    // Weight (lane channel a, read channel b, u, v) of one weight buffer.
    let (w_row, init) = match pass {
        Pass::Forward => (
            "(bt * C_OUT + a) * FAN + (b * K + u) * K",
            "w[(bt * C_OUT + a) * FAN + FAN - 1u]",
        ),
        Pass::TangentForward => (
            "(bt * C_OUT + a) * FAN + (b * K + u) * K",
            "w_dot[(bt * C_OUT + a) * FAN + FAN - 1u]",
        ),
        _ => ("(bt * C_OUT + b) * FAN + (a * K + u) * K", "0.0"),
    };
    open_entry(o, pass, width);
    let _ = writeln!(
        o,
        "    let seg = wid % SEGS;\n    let row = (wid / SEGS) % OUT_H;\n    \
         let blk = (wid / (SEGS * OUT_H)) % BLOCKS;\n    let img = wid / (SEGS * OUT_H * BLOCKS);\n    \
         let bt = img / IMAGES;\n    let a_lane = blk * {width}u + lane;\n    \
         let a = min(a_lane, LANES_C - 1u);\n    let j0 = seg * SEG;"
    );
    for jj in 0..j_len {
        let _ = writeln!(o, "    var acc{jj} = {init};");
    }
    // Input row of output row `row` and kernel row u; first input column
    // the segment reads (its position 0).
    let (in_row, col0) = if forward {
        ("i32(row) + i32(u) - PAD", "i32(j0) - PAD")
    } else {
        ("i32(row) - i32(u) + PAD", "i32(j0) + PAD - i32(K) + 1")
    };
    let _ = writeln!(
        o,
        "    for (var b = 0u; b < READS_C; b++) {{\n        \
         let plane = (img * READS_C + b) * u32(IN_H * IN_W);\n        \
         for (var u = 0u; u < K; u++) {{\n            \
         let xr = {in_row};\n            \
         let row_ok = xr >= 0 && xr < IN_H;\n            \
         let col = {col0} + i32(lane);"
    );
    let terms = pass.terms();
    for (t, (_, x)) in terms.iter().enumerate() {
        row_segment(o, "            ", t, x, "plane", "IN_W", span, width);
    }
    let _ = writeln!(o, "            let wr = {w_row};");
    for (t, (w, _)) in terms.iter().enumerate() {
        for v in 0..k {
            let _ = writeln!(o, "            let w{t}_{v} = {w}[wr + {v}u];");
        }
    }
    // Tap v of output jj reads position jj + v (forward) or jj + k − 1 − v.
    for v in 0..k {
        for jj in 0..j_len {
            let m = if forward { jj + v } else { jj + k - 1 - v };
            let mut line = String::from("            ");
            for (t, _) in terms.iter().enumerate() {
                let _ = write!(line, "acc{jj} = fma(w{t}_{v}, x{t}_{m}, acc{jj}); ");
            }
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    let _ = writeln!(o, "        }}\n    }}\n    if a_lane < LANES_C {{");
    let out = pass.output();
    let _ = writeln!(
        o,
        "        let base = ((img * LANES_C + a_lane) * OUT_H + row) * OUT_W + j0;"
    );
    for jj in 0..j_len {
        let _ = writeln!(
            o,
            "        if j0 + {jj}u < OUT_W {{ {out}[base + {jj}u] = acc{jj}; }}"
        );
    }
    let _ = writeln!(o, "    }}\n}}");
}

/// w̄ and its tangent.
fn params_pass(o: &mut String, pass: Pass, shape: &Conv2dShape, width: usize, splits: usize) {
    let k = shape.kernel;
    let (h_out, w_out) = (shape.h_out(), shape.w_out());
    let (segs, j_len) = params_segments(shape);
    let span = j_len + k - 1;
    let _ = writeln!(
        o,
        "const H: i32 = {};\nconst W: i32 = {};\nconst OUT_H: u32 = {h_out}u;\n\
         const OUT_W: u32 = {w_out}u;\nconst SEG: u32 = {j_len}u;\nconst SEGS: u32 = {segs}u;\n\
         const BLOCKS: u32 = {}u;\n",
        shape.height,
        shape.width,
        shape.c_out.div_ceil(width),
    );
    open_entry(o, pass, width);
    let _ = writeln!(
        o,
        "    let c = wid % C_IN;\n    let blk = (wid / C_IN) % BLOCKS;\n    \
         let bt = (wid / (C_IN * BLOCKS)) % BATCH;\n    let split = wid / (C_IN * BLOCKS * BATCH);\n    \
         let o_lane = blk * {width}u + lane;\n    \
         let o = min(o_lane, C_OUT - 1u);\n    var bias = 0.0;"
    );
    for u in 0..k {
        for v in 0..k {
            let _ = writeln!(o, "    var acc{u}_{v} = 0.0;");
        }
    }
    let terms = pass.terms();
    let _ = writeln!(
        o,
        "    let n_end = min(IMAGES, (split + 1u) * CHUNK);\n    \
         for (var n = split * CHUNK; n < n_end; n++) {{\n        \
         let img = bt * IMAGES + n;\n        \
         let gplane = (img * C_OUT + o) * OUT_H * OUT_W;\n        \
         let xplane = (img * C_IN + c) * u32(H * W);\n        \
         for (var i = 0u; i < OUT_H; i++) {{\n            \
         for (var j0 = 0u; j0 < OUT_W; j0 += SEG) {{\n                \
         let col = i32(j0) - PAD + i32(lane);"
    );
    // The lanes' own cotangents, zero past the row's end.
    for (t, (g, _)) in terms.iter().enumerate() {
        for jj in 0..j_len {
            let _ = writeln!(
                o,
                "                var g{t}_{jj} = 0.0; if j0 + {jj}u < OUT_W {{ g{t}_{jj} = {g}[gplane + i * OUT_W + j0 + {jj}u]; }}"
            );
        }
    }
    // The bias sums the first term's cotangent, in the same order.
    let _ = write!(o, "                if c == 0u {{");
    for jj in 0..j_len {
        let _ = write!(o, " bias += g0_{jj};");
    }
    let _ = writeln!(o, " }}");
    for u in 0..k {
        let _ = writeln!(
            o,
            "                {{\n                \
             let xr = i32(i) + {u} - PAD;\n                \
             let row_ok = xr >= 0 && xr < H;"
        );
        for (t, (_, x)) in terms.iter().enumerate() {
            row_segment(o, "                ", t, x, "xplane", "W", span, width);
        }
        // Each accumulator takes its terms in order of column.
        for jj in 0..j_len {
            let mut line = String::from("                ");
            for v in 0..k {
                for (t, _) in terms.iter().enumerate() {
                    let _ = write!(
                        line,
                        "acc{u}_{v} = fma(g{t}_{jj}, x{t}_{}, acc{u}_{v}); ",
                        jj + v
                    );
                }
            }
            let _ = writeln!(o, "{}", line.trim_end());
        }
        let _ = writeln!(o, "                }}");
    }
    let (out, offset) = if splits > 1 {
        ("partials", "split * BATCH * C_OUT * FAN + ")
    } else {
        (pass.output(), "")
    };
    let _ = writeln!(
        o,
        "            }}\n        }}\n    }}\n    if o_lane < C_OUT {{\n        \
         let base = {offset}(bt * C_OUT + o_lane) * FAN + c * K * K;\n        \
         if c == 0u {{ {out}[{offset}(bt * C_OUT + o_lane) * FAN + FAN - 1u] = bias; }}"
    );
    for u in 0..k {
        for v in 0..k {
            let _ = writeln!(o, "        {out}[base + {}u] = acc{u}_{v};", u * k + v);
        }
    }
    let _ = writeln!(o, "    }}\n}}");
}

#[cfg(test)]
mod tests {
    use super::{
        CHUNK_MARGIN, Conv2dShape, Pass, bindings, generate, params_segments, params_split, reduce,
        supported, workgroups,
    };
    use occam_gpu::shaders::expand_generated;

    fn mnist_layer() -> Conv2dShape {
        Conv2dShape {
            batch: 1,
            images: 20,
            c_in: 16,
            c_out: 32,
            height: 14,
            width: 14,
            kernel: 5,
            padding: 2,
        }
    }

    #[test]
    fn every_pass_is_written_with_its_bindings_and_entry_point() {
        assert!(supported(8) && supported(16) && !supported(6) && !supported(2));
        let s = mnist_layer();
        for pass in Pass::ALL {
            let src = generate(pass, &s, 8, (1, s.images));
            assert!(src.contains(&format!("fn conv2d_lanes_{}(", pass.name())));
            for (i, b) in bindings(pass, false).iter().enumerate() {
                assert!(
                    src.contains(&format!("@binding({i}) var<storage")),
                    "{pass:?} {b}"
                );
                assert!(src.contains(&format!("> {b}: array<f32>")), "{pass:?} {b}");
            }
            // Every lane of a run is broadcast; no lane past the width.
            assert!(src.contains(", 7u)") && !src.contains(", 8u)"), "{pass:?}");
        }
        // One output per lane and row segment: 14 columns in one segment.
        assert_eq!(workgroups(Pass::Forward, &s, 8, 1), 20 * 4 * 14);
        assert_eq!(workgroups(Pass::BackwardInput, &s, 8, 1), 20 * 2 * 14);
        assert_eq!(workgroups(Pass::BackwardParams, &s, 8, 3), 4 * 16 * 3);
    }

    #[test]
    fn parameter_passes_cut_the_images_under_the_loop_budget() {
        // mnist01's meta-learner layers: 2000 images.
        for (c_in, c_out, size) in [(1, 16, 28), (16, 32, 14)] {
            let s = Conv2dShape {
                images: 2000,
                c_in,
                c_out,
                height: size,
                width: size,
                ..mnist_layer()
            };
            for (pass, terms) in [(Pass::BackwardParams, 1), (Pass::TangentBackwardParams, 2)] {
                let per_image = (1 + s.h_out() * (1 + params_segments(&s).0)) * terms;
                let (splits, chunk) = params_split(pass, &s, Some(50_000));
                assert!(
                    splits > 1 && chunk * per_image * CHUNK_MARGIN <= 50_000,
                    "{s:?}"
                );
                assert!(splits * chunk >= 2000 && (splits - 1) * chunk < 2000);
                assert_eq!(params_split(pass, &s, None), (1, 2000));
            }
            assert_eq!(params_split(Pass::Forward, &s, Some(50_000)), (1, 2000));
        }
        // One image over the budget still runs, one image a chunk.
        let s = Conv2dShape {
            images: 3,
            ..mnist_layer()
        };
        assert_eq!(params_split(Pass::BackwardParams, &s, Some(1)), (3, 1));
    }

    #[test]
    fn every_pass_generates_wgsl_that_naga_validates_with_the_declared_bindings() {
        let shapes = [
            mnist_layer(),
            Conv2dShape {
                batch: 2,
                images: 3,
                c_in: 1,
                c_out: 17,
                height: 9,
                width: 37,
                kernel: 7,
                padding: 3,
            },
            Conv2dShape {
                batch: 1,
                images: 1,
                c_in: 2,
                c_out: 1,
                height: 1,
                width: 1,
                kernel: 1,
                padding: 0,
            },
        ];
        for s in shapes {
            for width in [4, 8, 16] {
                for (pass, split) in Pass::ALL
                    .into_iter()
                    .flat_map(|p| [(p, (1, s.images)), (p, (3, 1))])
                {
                    let src = generate(pass, &s, width, split);
                    let file = format!("{pass:?} {s:?} {width} {split:?}");
                    let (_, eps) =
                        expand_generated(&file, &src).unwrap_or_else(|e| panic!("{e}\n{src}"));
                    let entry = format!("conv2d_lanes_{}", pass.name());
                    let ep = eps.iter().find(|e| e.name == entry).expect("entry point");
                    let mut got: Vec<&str> = ep.bindings.iter().map(|b| b.name.as_str()).collect();
                    let mut want = bindings(pass, split.0 > 1);
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "{file}");
                }
            }
        }
        let src = reduce(1234, 3);
        let (_, eps) = expand_generated("reduce", &src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        assert_eq!(eps[0].name, "conv2d_lanes_reduce");
    }

    #[test]
    fn the_forward_takes_each_tap_in_order_of_channel_row_and_column() {
        let s = mnist_layer();
        let src = generate(Pass::Forward, &s, 8, (1, 1));
        // Output 0's taps v = 0..5 read positions 0..5 in order.
        let fmas: Vec<usize> = (0..5)
            .map(|v| {
                src.find(&format!("acc0 = fma(w0_{v}, x0_{v}, acc0);"))
                    .unwrap()
            })
            .collect();
        assert!(fmas.windows(2).all(|p| p[0] < p[1]));
        // x̄ flips the kernel: output 0's tap v reads position k − 1 − v.
        let back = generate(Pass::BackwardInput, &s, 8, (1, 1));
        assert!(back.contains("acc0 = fma(w0_0, x0_4, acc0);"));
    }
}
