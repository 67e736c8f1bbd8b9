// conv2d.wgsl — batched 2-D convolution (stride 1, zero padding p), its four
// passes. Per problem b: x [images, c_in, H, W], w [c_out, c_in·k·k + 1]
// (bias last), y [images, c_out, H_out, W_out], H_out = H + 2p − k + 1.
// With x̃ the padded input and a bias input of 1:
//
//   forward            y[n,o,i,j] = w[o,bias] + Σ_{c,u,v} w[o,c,u,v] x̃[n,c,i+u−p,j+v−p]
//   backward (VJP)     x̄[n,c,r,q] = Σ_{o,u,v} ȳ[n,o,r−u+p,q−v+p] w[o,c,u,v]   (valid outputs only)
//                      w̄[o,c,u,v] = Σ_{n,i,j} ȳ[n,o,i,j] x̃[n,c,i+u−p,j+v−p],  w̄[o,bias] = Σ ȳ[n,o,·,·]
//   tangent forward    ẏ = conv(ẋ, w) (bias input 0) + conv(x, ẇ)
//   tangent backward   x̄̇ = convᵀ(ȳ̇, w) + convᵀ(ȳ, ẇ),   w̄̇ = corr(x, ȳ̇) + corr(ẋ, ȳ) (bias input 0 for ẋ)
// conv2d_forward is tiled: a workgroup computes 64 output pixels of one
// image for a block of 8 output channels, staging those channels' k×k
// weights of one input channel at a time in workgroup memory (k ≤ 7), so
// each input value read feeds 8 multiply-adds. The other passes (and
// conv2d_forward_naive, the baseline and the fallback for k > 7) use one
// thread per output element. Every sum runs in a fixed order (deterministic).
// On software adapters with subgroups occam_ops::conv2d::lanes generates
// kernels for the layer's shape that sum the same terms in the same order.

struct ConvParams {
    batch: u32,
    images: u32,
    c_in: u32,
    c_out: u32,
    height: u32,
    width: u32,
    kernel: u32,
    padding: u32,
    h_out: u32,
    w_out: u32,
    fan: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
// x, w, y and their cotangents and tangents (bindings 1–12).
// #import bilinear

// #import grid

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return grid_element(gid, nwg, 64u);
}

// Index of x[b, n, c, r, q], or -1 outside the image (zero padding).
fn x_index(b: u32, n: u32, c: u32, r: i32, q: i32) -> i32 {
    if r < 0 || q < 0 || r >= i32(p.height) || q >= i32(p.width) { return -1; }
    return i32((((b * p.images + n) * p.c_in + c) * p.height + u32(r)) * p.width + u32(q));
}

fn y_index(b: u32, n: u32, o: u32, i: u32, j: u32) -> u32 {
    return (((b * p.images + n) * p.c_out + o) * p.h_out + i) * p.w_out + j;
}

fn w_index(b: u32, o: u32, q: u32) -> u32 {
    return (b * p.c_out + o) * p.fan + q;
}

fn x_val(idx: i32) -> f32 {
    if idx < 0 { return 0.0; }
    return x[u32(idx)];
}

fn x_dot_val(idx: i32) -> f32 {
    if idx < 0 { return 0.0; }
    return x_dot[u32(idx)];
}

// (b, n, channel, i, j) of an element of an [batch, images, channels, rows, cols] tensor.
fn decode(e: u32, channels: u32, rows: u32, cols: u32) -> array<u32, 5> {
    let j = e % cols;
    let i = (e / cols) % rows;
    let c = (e / (cols * rows)) % channels;
    let n = (e / (cols * rows * channels)) % p.images;
    let b = e / (cols * rows * channels * p.images);
    return array<u32, 5>(b, n, c, i, j);
}

// Weights of 8 output channels (two vec4s) at each of up to 7×7 kernel taps.
var<workgroup> w_tile: array<vec4<f32>, 98>;

@compute @workgroup_size(64, 1, 1)
fn conv2d_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let plane = p.h_out * p.w_out;
    let tiles = (plane + 63u) / 64u;
    let blocks = (p.c_out + 7u) / 8u;
    let wid = wg.x + wg.y * nwg.x;
    if wid >= p.batch * p.images * blocks * tiles { return; }
    let tile = wid % tiles;
    let o0 = ((wid / tiles) % blocks) * 8u;
    let n = (wid / (tiles * blocks)) % p.images;
    let b = wid / (tiles * blocks * p.images);
    let e = tile * 64u + lane;
    let live = e < plane;
    let i = e / p.w_out;
    let j = e % p.w_out;
    let k = p.kernel;
    let kk = k * k;
    // Bias first, as in the naive kernel.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    for (var t = 0u; t < 8u; t++) {
        let o = min(o0 + t, p.c_out - 1u);
        let bias = w[w_index(b, o, p.fan - 1u)];
        if t < 4u { acc0[t] = bias; } else { acc1[t - 4u] = bias; }
    }
    for (var c = 0u; c < p.c_in; c++) {
        workgroupBarrier();
        // Stage w[o0 .. o0+8, c, ·, ·]: 2·kk vec4s, channels past c_out as 0.
        for (var q = lane; q < 2u * kk; q += 64u) {
            let half = q / kk;
            let tap = q % kk;
            var v = vec4<f32>(0.0);
            for (var t = 0u; t < 4u; t++) {
                let o = o0 + half * 4u + t;
                if o < p.c_out { v[t] = w[w_index(b, o, c * kk + tap)]; }
            }
            w_tile[half * 49u + tap] = v;
        }
        workgroupBarrier();
        if live {
            for (var u = 0u; u < k; u++) {
                for (var v = 0u; v < k; v++) {
                    let xv = x_val(x_index(b, n, c, i32(i + u) - i32(p.padding), i32(j + v) - i32(p.padding)));
                    let tap = u * k + v;
                    acc0 = fma(w_tile[tap], vec4<f32>(xv), acc0);
                    acc1 = fma(w_tile[49u + tap], vec4<f32>(xv), acc1);
                }
            }
        }
    }
    if live {
        for (var t = 0u; t < 8u; t++) {
            let o = o0 + t;
            if o < p.c_out {
                var val = 0.0;
                if t < 4u { val = acc0[t]; } else { val = acc1[t - 4u]; }
                y[y_index(b, n, o, i, j)] = val;
            }
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_forward_naive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.batch * p.images * p.c_out * p.h_out * p.w_out { return; }
    let d = decode(e, p.c_out, p.h_out, p.w_out);
    let k = p.kernel;
    var s = w[w_index(d[0], d[2], p.fan - 1u)];
    for (var c = 0u; c < p.c_in; c++) {
        for (var u = 0u; u < k; u++) {
            for (var v = 0u; v < k; v++) {
                let xi = x_index(d[0], d[1], c, i32(d[3] + u) - i32(p.padding), i32(d[4] + v) - i32(p.padding));
                s = fma(w[w_index(d[0], d[2], (c * k + u) * k + v)], x_val(xi), s);
            }
        }
    }
    y[e] = s;
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_tangent_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.batch * p.images * p.c_out * p.h_out * p.w_out { return; }
    let d = decode(e, p.c_out, p.h_out, p.w_out);
    let k = p.kernel;
    var s = w_dot[w_index(d[0], d[2], p.fan - 1u)];
    for (var c = 0u; c < p.c_in; c++) {
        for (var u = 0u; u < k; u++) {
            for (var v = 0u; v < k; v++) {
                let xi = x_index(d[0], d[1], c, i32(d[3] + u) - i32(p.padding), i32(d[4] + v) - i32(p.padding));
                let wi = w_index(d[0], d[2], (c * k + u) * k + v);
                s = fma(w[wi], x_dot_val(xi), s);
                s = fma(w_dot[wi], x_val(xi), s);
            }
        }
    }
    y_dot[e] = s;
}

// x̄ at input (c, r, q) of image n: a sum over the outputs that read it.
@compute @workgroup_size(64, 1, 1)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.batch * p.images * p.c_in * p.height * p.width { return; }
    let d = decode(e, p.c_in, p.height, p.width);
    let k = p.kernel;
    var s = 0.0;
    for (var o = 0u; o < p.c_out; o++) {
        for (var u = 0u; u < k; u++) {
            for (var v = 0u; v < k; v++) {
                let i = i32(d[3]) - i32(u) + i32(p.padding);
                let j = i32(d[4]) - i32(v) + i32(p.padding);
                if i >= 0 && j >= 0 && i < i32(p.h_out) && j < i32(p.w_out) {
                    let yi = y_index(d[0], d[1], o, u32(i), u32(j));
                    s = fma(y_bar[yi], w[w_index(d[0], o, (d[2] * k + u) * k + v)], s);
                }
            }
        }
    }
    x_bar[e] = s;
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_tangent_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.batch * p.images * p.c_in * p.height * p.width { return; }
    let d = decode(e, p.c_in, p.height, p.width);
    let k = p.kernel;
    var s = 0.0;
    for (var o = 0u; o < p.c_out; o++) {
        for (var u = 0u; u < k; u++) {
            for (var v = 0u; v < k; v++) {
                let i = i32(d[3]) - i32(u) + i32(p.padding);
                let j = i32(d[4]) - i32(v) + i32(p.padding);
                if i >= 0 && j >= 0 && i < i32(p.h_out) && j < i32(p.w_out) {
                    let yi = y_index(d[0], d[1], o, u32(i), u32(j));
                    let wi = w_index(d[0], o, (d[2] * k + u) * k + v);
                    s = fma(y_bar_dot[yi], w[wi], s);
                    s = fma(y_bar[yi], w_dot[wi], s);
                }
            }
        }
    }
    x_bar_dot[e] = s;
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.batch * p.c_out * p.fan { return; }
    let q = e % p.fan;
    let o = (e / p.fan) % p.c_out;
    let b = e / (p.fan * p.c_out);
    let k = p.kernel;
    let bias = q == p.fan - 1u;
    let c = q / (k * k);
    let u = (q / k) % k;
    let v = q % k;
    var s = 0.0;
    for (var n = 0u; n < p.images; n++) {
        for (var i = 0u; i < p.h_out; i++) {
            for (var j = 0u; j < p.w_out; j++) {
                let g = y_bar[y_index(b, n, o, i, j)];
                if bias {
                    s += g;
                } else {
                    let xi = x_index(b, n, c, i32(i + u) - i32(p.padding), i32(j + v) - i32(p.padding));
                    s = fma(g, x_val(xi), s);
                }
            }
        }
    }
    w_bar[e] = s;
}

@compute @workgroup_size(64, 1, 1)
fn conv2d_tangent_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = element(gid, nwg);
    if e >= p.batch * p.c_out * p.fan { return; }
    let q = e % p.fan;
    let o = (e / p.fan) % p.c_out;
    let b = e / (p.fan * p.c_out);
    let k = p.kernel;
    let bias = q == p.fan - 1u;
    let c = q / (k * k);
    let u = (q / k) % k;
    let v = q % k;
    var s = 0.0;
    for (var n = 0u; n < p.images; n++) {
        for (var i = 0u; i < p.h_out; i++) {
            for (var j = 0u; j < p.w_out; j++) {
                let yi = y_index(b, n, o, i, j);
                if bias {
                    s += y_bar_dot[yi];
                } else {
                    let xi = x_index(b, n, c, i32(i + u) - i32(p.padding), i32(j + v) - i32(p.padding));
                    s = fma(y_bar_dot[yi], x_val(xi), s);
                    s = fma(y_bar[yi], x_dot_val(xi), s);
                }
            }
        }
    }
    w_bar_dot[e] = s;
}
