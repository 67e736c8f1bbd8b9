// lib/unroll_common.wgsl — what both layouts of the fused unroll (unroll.wgsl,
// unroll_lanes.wgsl) declare alike: their parameters, the inputs and weights
// at bindings 0–7, the per-dispatch range, and where a parameter lives in a
// layer-major buffer. The host fills one UnrollParams for either layout
// (occam_ops::unroll); `vals_per_task` and the value offsets in `layers`
// count a block of n rows in the workgroup layout and one row in the lanes
// layout.

struct UnrollParams {
    tasks: u32,
    n: u32,             // rows per minibatch
    m: u32,             // training rows per task
    d: u32,             // input width
    steps: u32,         // T
    every: u32,         // checkpoint interval k
    n_layers: u32,
    n_params: u32,      // P, per task
    lr: f32,
    constrained: u32,
    vals_per_task: u32, // values of n rows (workgroup layout) or of one row (lanes)
    seg_len: u32,       // k × P when k > 1, else 0
    // Per layer l: layers[2l] = (kind 0 dense / 1 activation, act, d_in, d_out),
    // layers[2l+1] = (param offset, param count, input offset, output offset).
    layers: array<vec4<u32>, 32>,
}

@group(0) @binding(0) var<uniform> p: UnrollParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [tasks, m, d]
@group(0) @binding(2) var<storage, read> z: array<f32>;          // [tasks, m]
@group(0) @binding(3) var<storage, read> idx: array<u32>;        // [T, tasks, n]
@group(0) @binding(4) var<storage, read> mask: array<f32>;       // layer-major, as w
@group(0) @binding(5) var<storage, read> signs: array<f32>;      // layer-major, as w
// Parameters, layer-major: layer l's block of task b at tasks·off_l + b·len_l.
@group(0) @binding(6) var<storage, read_write> w: array<f32>;
@group(0) @binding(7) var<storage, read_write> hist: array<f32>; // [checkpoints, tasks · P]

// The part of the unroll one dispatch runs: steps t0 ≤ t < t1 (forward) or
// checkpoint segments c0 ≤ c < c1, last first (backward). w and v carry the
// state from one dispatch to the next. One dispatch covers everything on
// hardware; software adapters split the work because llvmpipe stops every
// loop of an invocation after 65535 loop iterations in all.
struct Range {
    t0: u32,
    t1: u32,
    c0: u32,
    c1: u32,
}

// Layer l of the packed list `p.layers`, its fields named.
struct Layer {
    kind: u32,    // 0 dense, 1 activation
    act: u32,     // the activation (lib/activation.wgsl's codes)
    d_in: u32,
    d_out: u32,
    w_off: u32,   // offset of its parameters in one task's P
    w_len: u32,   // its parameter count
    in_off: u32,  // offset of its input in a task's values
    out_off: u32, // offset of its output
}

fn layer(l: u32) -> Layer {
    let a = p.layers[2u * l];
    let q = p.layers[2u * l + 1u];
    return Layer(a.x, a.y, a.z, a.w, q.x, q.y, q.z, q.w);
}

// Index of parameter j of layer l's block for task b in a layer-major buffer.
fn global_param(l: u32, b: u32, j: u32) -> u32 {
    let q = layer(l);
    return p.tasks * q.w_off + b * q.w_len + j;
}
