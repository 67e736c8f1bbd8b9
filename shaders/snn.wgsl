// snn.wgsl — a layer of K current-based leaky integrate-and-fire neurons
// driven by constant input currents, with a leaky non-spiking readout
// (docs/design.md §9), and its four passes. Per task b and input row r
// (x: d values), W₁ = [K, d + 1] and W₂ = [K + 1] (bias last):
//
//   c = W₁[x, 1] (or, with latency encoding, c_t = W₁[e_t, 1] where input i
//   spikes once, at t_i = ⌊(1 − (x_i + 1)/2)(T − 1) + ½⌋);
//   I_t = α I_{t−1} + (1−α) c;  R_t = s(U_{t−1} − θ);
//   U_t = β U_{t−1} + (1−β) I_t − θ R_t;  S_t = s(U_t − θ);
//   O_t = γ O_{t−1} + (1−γ) W₂[S_t, 1];  g = (1/L) Σ_{t ≥ T−L} O_t
//
//   forward            g, keeping U_t for every t
//   backward (VJP)     BPTT:  Ō_t = ḡ/L·[t ≥ T−L] + γ Ō_{t+1},  D_t = (1−γ) Ō_t,
//                      Ū_t = D_t W₂ s′(U_t − θ) + β Ū_{t+1} − [through] θ Ū_{t+1} s′(U_t − θ),
//                      Ī_t = (1−β) Ū_t + α Ī_{t+1},  c̄ = (1−α) Σ_t Ī_t,
//                      W̄₂ = Σ_t D_t [S_t, 1],  W̄₁ = c̄ [x, 1]ᵀ (summed over rows)
//   tangent forward    the forward on (value, tangent) pairs along V = (V₁, V₂):
//                      ċ = V₁[x, 1], U̇_t, Ṡ_t = s′(U_t − θ) U̇_t, ġ (keeping U̇_t)
//   tangent backward   BPTT on pairs, seeded with V and ḡ̇; s′ contributes s″ U̇
//                      (the JVP of the VJP: H V and the rest of the step's tangent)
//
// s is the Heaviside step with the surrogate slope s′ (fast sigmoid
// 1/(1 + k|u|)², or arctan (a/2)/(1 + (πau/2)²)), or the smooth σ(ku) with
// its exact slope; every pass treats s as a function with slope s′ and
// curvature s″. A detached reset (the default) has no tangent and no adjoint.
// One thread per (task, row) simulates and back-propagates that row; the
// parameter gradients are then summed over rows in a fixed order, one thread
// per (task, parameter), so results are bitwise reproducible.

struct SnnParams {
    tasks: u32,
    rows: u32,
    d: u32,
    k: u32,
    steps: u32,
    window: u32,
    spike: u32,      // 0 fast sigmoid, 1 arctan, 2 smooth sigmoid
    through: u32,    // 1: the reset carries gradient
    alpha: f32,
    beta: f32,
    gamma: f32,
    threshold: f32,
    slope: f32,
    encoding: u32,   // 0 constant currents, 1 latency (one spike per input)
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: SnnParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // [tasks, rows, d]
@group(0) @binding(2) var<storage, read> w1: array<f32>;           // [tasks, k, d + 1]
@group(0) @binding(3) var<storage, read> w2: array<f32>;           // [tasks, k + 1]
@group(0) @binding(4) var<storage, read_write> g: array<f32>;      // [tasks, rows]
@group(0) @binding(5) var<storage, read_write> u_trace: array<f32>;     // [tasks, rows, steps, k]
@group(0) @binding(6) var<storage, read_write> state: array<f32>;       // [tasks, rows, 5k]
@group(0) @binding(7) var<storage, read> g_bar: array<f32>;        // [tasks, rows]
@group(0) @binding(8) var<storage, read_write> row_c: array<f32>;   // [tasks, rows, k]
@group(0) @binding(9) var<storage, read_write> row_w2: array<f32>;  // [tasks, rows, k + 1]
@group(0) @binding(10) var<storage, read_write> w1_bar: array<f32>; // [tasks, k, d + 1]
@group(0) @binding(11) var<storage, read_write> w2_bar: array<f32>; // [tasks, k + 1]
@group(0) @binding(12) var<storage, read> v1: array<f32>;           // [tasks, k, d + 1]
@group(0) @binding(13) var<storage, read> v2: array<f32>;           // [tasks, k + 1]
@group(0) @binding(14) var<storage, read_write> g_dot: array<f32>;  // [tasks, rows]
@group(0) @binding(15) var<storage, read_write> u_dot_trace: array<f32>; // [tasks, rows, steps, k]
@group(0) @binding(16) var<storage, read> g_bar_dot: array<f32>;    // [tasks, rows]
@group(0) @binding(17) var<storage, read_write> row_lat: array<f32>; // [tasks, rows, k, d] (latency)

const PI_2: f32 = 1.5707963267948966;

fn spike(u: f32) -> f32 {
    if p.spike == 2u { return 1.0 / (1.0 + exp(-p.slope * u)); }
    return select(0.0, 1.0, u > 0.0);
}

fn spike_d1(u: f32) -> f32 {
    switch p.spike {
        case 0u: { let q = 1.0 + p.slope * abs(u); return 1.0 / (q * q); }
        case 1u: { let q = PI_2 * p.slope * u; return p.slope / 2.0 / (1.0 + q * q); }
        default: { let s = spike(u); return p.slope * s * (1.0 - s); }
    }
}

fn spike_d2(u: f32) -> f32 {
    switch p.spike {
        case 0u: { let q = 1.0 + p.slope * abs(u); return -2.0 * p.slope * sign(u) / (q * q * q); }
        case 1u: {
            let a = PI_2 * p.slope;
            let q = a * u;
            let r = 1.0 + q * q;
            return -p.slope * a * q / (r * r);
        }
        default: { let s = spike(u); return p.slope * p.slope * s * (1.0 - s) * (1.0 - 2.0 * s); }
    }
}

fn row_of(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// c_j of row (b, r): W₁[j] · [x, 1].
fn current(b: u32, r: u32, j: u32) -> f32 {
    let row = (b * p.k + j) * (p.d + 1u);
    var c = w1[row + p.d];
    for (var i = 0u; i < p.d; i++) {
        c = fma(w1[row + i], x[(b * p.rows + r) * p.d + i], c);
    }
    return c;
}

// The step at which input i of row (b, r) spikes under latency encoding:
// ⌊(1 − (x + 1)/2)(T − 1) + ½⌋, x clamped to [−1, 1].
fn latency_step(b: u32, r: u32, i: u32) -> u32 {
    let level = clamp((x[(b * p.rows + r) * p.d + i] + 1.0) / 2.0, 0.0, 1.0);
    return u32(floor((1.0 - level) * f32(p.steps - 1u) + 0.5));
}

// c_j of row (b, r) at step t under latency encoding: W₁[j] · [e_t, 1].
fn latency_current(b: u32, r: u32, j: u32, t: u32) -> f32 {
    let row = (b * p.k + j) * (p.d + 1u);
    var c = w1[row + p.d];
    for (var i = 0u; i < p.d; i++) {
        if latency_step(b, r, i) == t { c += w1[row + i]; }
    }
    return c;
}

// ċ_j of row (b, r) at step t under latency encoding: V₁[j] · [e_t, 1].
fn latency_current_dot(b: u32, r: u32, j: u32, t: u32) -> f32 {
    let row = (b * p.k + j) * (p.d + 1u);
    var c = v1[row + p.d];
    for (var i = 0u; i < p.d; i++) {
        if latency_step(b, r, i) == t { c += v1[row + i]; }
    }
    return c;
}

// ċ_j of row (b, r) along the direction: V₁[j] · [x, 1].
fn current_dot(b: u32, r: u32, j: u32) -> f32 {
    let row = (b * p.k + j) * (p.d + 1u);
    var c = v1[row + p.d];
    for (var i = 0u; i < p.d; i++) {
        c = fma(v1[row + i], x[(b * p.rows + r) * p.d + i], c);
    }
    return c;
}

@compute @workgroup_size(64, 1, 1)
fn snn_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = row_of(gid, nwg);
    if e >= p.tasks * p.rows { return; }
    let b = e / p.rows;
    let r = e % p.rows;
    let k = p.k;
    let st = e * 5u * k;     // I, U of each neuron, then c
    for (var j = 0u; j < k; j++) {
        state[st + j] = 0.0;
        state[st + k + j] = 0.0;
        state[st + 4u * k + j] = current(b, r, j);
    }
    var o = 0.0;
    var acc = 0.0;
    let first = p.steps - min(p.window, p.steps);
    for (var t = 0u; t < p.steps; t++) {
        var drive = w2[b * (k + 1u) + k];
        for (var j = 0u; j < k; j++) {
            let u_prev = state[st + k + j];
            let reset = spike(u_prev - p.threshold);
            var c = state[st + 4u * k + j];
            if p.encoding == 1u { c = latency_current(b, r, j, t); }
            let i_syn = p.alpha * state[st + j] + (1.0 - p.alpha) * c;
            let u = p.beta * u_prev + (1.0 - p.beta) * i_syn - p.threshold * reset;
            state[st + j] = i_syn;
            state[st + k + j] = u;
            u_trace[(e * p.steps + t) * k + j] = u;
            drive = drive + w2[b * (k + 1u) + j] * spike(u - p.threshold);
        }
        o = p.gamma * o + (1.0 - p.gamma) * drive;
        if t >= first { acc = acc + o; }
    }
    g[e] = acc / f32(min(p.window, p.steps));
}

@compute @workgroup_size(64, 1, 1)
fn snn_tangent_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = row_of(gid, nwg);
    if e >= p.tasks * p.rows { return; }
    let b = e / p.rows;
    let r = e % p.rows;
    let k = p.k;
    let st = e * 5u * k;     // İ, U̇ of each neuron (after I, U), then ċ
    for (var j = 0u; j < k; j++) {
        state[st + 2u * k + j] = 0.0;
        state[st + 3u * k + j] = 0.0;
        state[st + 4u * k + j] = current_dot(b, r, j);
    }
    var o_dot = 0.0;
    var acc = 0.0;
    let first = p.steps - min(p.window, p.steps);
    for (var t = 0u; t < p.steps; t++) {
        var drive = v2[b * (k + 1u) + k];
        for (var j = 0u; j < k; j++) {
            let u_dot_prev = state[st + 3u * k + j];
            var reset_dot = 0.0;
            if p.through == 1u && t > 0u {
                let u_prev = u_trace[(e * p.steps + t - 1u) * k + j];
                reset_dot = spike_d1(u_prev - p.threshold) * u_dot_prev;
            }
            var c_dot = state[st + 4u * k + j];
            if p.encoding == 1u { c_dot = latency_current_dot(b, r, j, t); }
            let i_dot = p.alpha * state[st + 2u * k + j] + (1.0 - p.alpha) * c_dot;
            let u_dot = p.beta * u_dot_prev + (1.0 - p.beta) * i_dot - p.threshold * reset_dot;
            state[st + 2u * k + j] = i_dot;
            state[st + 3u * k + j] = u_dot;
            u_dot_trace[(e * p.steps + t) * k + j] = u_dot;
            let u = u_trace[(e * p.steps + t) * k + j] - p.threshold;
            drive = drive + v2[b * (k + 1u) + j] * spike(u)
                + w2[b * (k + 1u) + j] * spike_d1(u) * u_dot;
        }
        o_dot = p.gamma * o_dot + (1.0 - p.gamma) * drive;
        if t >= first { acc = acc + o_dot; }
    }
    g_dot[e] = acc / f32(min(p.window, p.steps));
}

// Clears row e's BPTT state (4k values) and its gradient shares.
fn clear_row(e: u32) {
    let k = p.k;
    for (var j = 0u; j < 4u * k; j++) { state[e * 5u * k + j] = 0.0; }
    for (var j = 0u; j < k; j++) { row_c[e * k + j] = 0.0; }
    for (var j = 0u; j <= k; j++) { row_w2[e * (k + 1u) + j] = 0.0; }
    if p.encoding == 1u {
        for (var j = 0u; j < k * p.d; j++) { row_lat[e * k * p.d + j] = 0.0; }
    }
}

// Latency encoding: W₁[j, i]'s share is (1 − α) Ī_t at the step t when input
// i spikes.
fn add_latency_shares(e: u32, j: u32, t: u32, share: f32) {
    if p.encoding != 1u { return; }
    let b = e / p.rows;
    let r = e % p.rows;
    for (var i = 0u; i < p.d; i++) {
        if latency_step(b, r, i) == t { row_lat[(e * p.k + j) * p.d + i] += share; }
    }
}

// Ō_t from Ō_{t+1}: the readout's adjoint, with `seed` = ḡ (or ḡ̇) of the row.
fn readout_adjoint(t: u32, seed: f32, next: f32) -> f32 {
    let window = min(p.window, p.steps);
    let own = select(0.0, seed / f32(window), t + window >= p.steps);
    return own + p.gamma * next;
}

// BPTT of row e: its shares of W̄₁ (c̄, in row_c) and of W̄₂ (in row_w2).
fn bptt(e: u32) {
    let b = e / p.rows;
    let k = p.k;
    let st = e * 5u * k;     // Ū, Ī of each neuron at t + 1
    clear_row(e);
    var o_bar = 0.0;
    for (var ti = 0u; ti < p.steps; ti++) {
        let t = p.steps - 1u - ti;
        o_bar = readout_adjoint(t, g_bar[e], o_bar);
        let d_bar = (1.0 - p.gamma) * o_bar;
        row_w2[e * (k + 1u) + k] += d_bar;
        for (var j = 0u; j < k; j++) {
            let u = u_trace[(e * p.steps + t) * k + j] - p.threshold;
            let slope = spike_d1(u);
            let u_next = state[st + j];
            var u_bar = d_bar * w2[b * (k + 1u) + j] * slope + p.beta * u_next;
            if p.through == 1u && t + 1u < p.steps {
                u_bar = u_bar - p.threshold * u_next * slope;
            }
            let i_bar = (1.0 - p.beta) * u_bar + p.alpha * state[st + k + j];
            row_w2[e * (k + 1u) + j] += d_bar * spike(u);
            row_c[e * k + j] += (1.0 - p.alpha) * i_bar;
            add_latency_shares(e, j, t, (1.0 - p.alpha) * i_bar);
            state[st + j] = u_bar;
            state[st + k + j] = i_bar;
        }
    }
}

// BPTT of row e on (value, tangent) pairs: the tangents of its shares.
fn bptt_tangent(e: u32) {
    let b = e / p.rows;
    let k = p.k;
    let st = e * 5u * k;     // Ū, Ī, Ū̇, Ī̇ of each neuron at t + 1
    clear_row(e);
    var o_bar = 0.0;
    var o_bar_dot = 0.0;
    for (var ti = 0u; ti < p.steps; ti++) {
        let t = p.steps - 1u - ti;
        o_bar = readout_adjoint(t, g_bar[e], o_bar);
        o_bar_dot = readout_adjoint(t, g_bar_dot[e], o_bar_dot);
        let d_bar = (1.0 - p.gamma) * o_bar;
        let d_bar_dot = (1.0 - p.gamma) * o_bar_dot;
        row_w2[e * (k + 1u) + k] += d_bar_dot;
        for (var j = 0u; j < k; j++) {
            let u = u_trace[(e * p.steps + t) * k + j] - p.threshold;
            let u_dot = u_dot_trace[(e * p.steps + t) * k + j];
            let slope = spike_d1(u);
            let slope_dot = spike_d2(u) * u_dot;
            let w2j = w2[b * (k + 1u) + j];
            let v2j = v2[b * (k + 1u) + j];
            let u_next = state[st + j];
            let u_next_dot = state[st + 2u * k + j];
            var u_bar = d_bar * w2j * slope + p.beta * u_next;
            var u_bar_dot = d_bar_dot * w2j * slope + d_bar * v2j * slope
                + d_bar * w2j * slope_dot + p.beta * u_next_dot;
            if p.through == 1u && t + 1u < p.steps {
                u_bar = u_bar - p.threshold * u_next * slope;
                u_bar_dot = u_bar_dot - p.threshold * (u_next_dot * slope + u_next * slope_dot);
            }
            let i_bar = (1.0 - p.beta) * u_bar + p.alpha * state[st + k + j];
            let i_bar_dot = (1.0 - p.beta) * u_bar_dot + p.alpha * state[st + 3u * k + j];
            row_w2[e * (k + 1u) + j] += d_bar_dot * spike(u) + d_bar * slope * u_dot;
            row_c[e * k + j] += (1.0 - p.alpha) * i_bar_dot;
            add_latency_shares(e, j, t, (1.0 - p.alpha) * i_bar_dot);
            state[st + j] = u_bar;
            state[st + k + j] = i_bar;
            state[st + 2u * k + j] = u_bar_dot;
            state[st + 3u * k + j] = i_bar_dot;
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn snn_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = row_of(gid, nwg);
    if e >= p.tasks * p.rows { return; }
    bptt(e);
}

@compute @workgroup_size(64, 1, 1)
fn snn_tangent_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = row_of(gid, nwg);
    if e >= p.tasks * p.rows { return; }
    bptt_tangent(e);
}

// W̄₁[j, i] = Σ_r c̄_r[j] [x_r, 1]_i (latency: Σ_r of the row's share of
// W₁[j, i], and c̄ for the bias) and W̄₂ = Σ_r (row share), rows in order;
// one thread per (task, parameter). After snn_backward it is the gradient;
// after snn_tangent_backward (whose row shares are tangents) it is H V.
@compute @workgroup_size(64, 1, 1)
fn snn_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = row_of(gid, nwg);
    let n1 = p.k * (p.d + 1u);
    let per_task = n1 + p.k + 1u;
    if e >= p.tasks * per_task { return; }
    let b = e / per_task;
    let q = e % per_task;
    var acc = 0.0;
    if q < n1 {
        let j = q / (p.d + 1u);
        let i = q % (p.d + 1u);
        for (var r = 0u; r < p.rows; r++) {
            let e = b * p.rows + r;
            if p.encoding == 1u && i < p.d {
                acc += row_lat[(e * p.k + j) * p.d + i];
            } else {
                let xi = select(1.0, x[e * p.d + i], i < p.d);
                acc = fma(row_c[e * p.k + j], xi, acc);
            }
        }
        w1_bar[b * n1 + q] = acc;
    } else {
        let j = q - n1;
        for (var r = 0u; r < p.rows; r++) {
            acc += row_w2[(b * p.rows + r) * (p.k + 1u) + j];
        }
        w2_bar[b * (p.k + 1u) + j] = acc;
    }
}
