// orthogonality.wgsl — the orthogonality penalty of a series of functions:
// labels z on a fixed point set (K points) against earlier functions h_k on
// the same points,
//
//   forward            d_k = Σ_i z_i h_k,i,   loss_k = w · d_k²   (the term is Σ_k loss_k)
//   backward (VJP)     z_bar_i += 2w Σ_k d_k h_k,i                (accumulates; needs d from forward)
// A meta-loss term, never differentiated twice: no tangent passes. The dot
// products are fixed-order tree reductions (one workgroup per earlier
// function), so they are deterministic.

struct OrthParams {
    points: u32,
    functions: u32,
    weight: f32,
    _pad: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: OrthParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;            // [points]
@group(0) @binding(2) var<storage, read> h: array<f32>;            // [functions, points]
@group(0) @binding(3) var<storage, read_write> dots: array<f32>;   // [functions]
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;   // [functions]
@group(0) @binding(5) var<storage, read> dots_in: array<f32>;      // [functions]
@group(0) @binding(6) var<storage, read_write> z_bar: array<f32>;  // [points]

var<workgroup> partial: array<f32, WG>;

// #import reduce

@compute @workgroup_size(256, 1, 1)
fn orthogonality_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let k = wg.x;
    var sum = 0.0;
    for (var i = t; i < p.points; i += WG) {
        sum = fma(z[i], h[k * p.points + i], sum);
    }
    partial[t] = sum;
    reduce_partial(t);
    if t == 0u {
        let d = partial[0];
        dots[k] = d;
        loss[k] = p.weight * d * d;
    }
}

@compute @workgroup_size(64, 1, 1)
fn orthogonality_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.points { return; }
    var s = 0.0;
    for (var k = 0u; k < p.functions; k++) {
        s = fma(dots_in[k], h[k * p.points + i], s);
    }
    z_bar[i] += 2.0 * p.weight * s;
}
