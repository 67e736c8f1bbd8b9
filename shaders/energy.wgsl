// energy.wgsl — energy distance between label samples z and target samples u,
// per task, with geomloss "energy" semantics (uniform weights):
//
//   forward            loss_b = w · [ (1/NM) Σ_ij |z_i − u_j| − (1/2N²) Σ_ij |z_i − z_j|
//                                     − (1/2M²) Σ_ij |u_i − u_j| ]
//   backward (VJP)     z_bar_i += w · [ (1/NM) Σ_j sign(z_i − u_j) − (1/N²) Σ_j sign(z_i − z_j) ]
//                      (accumulates into z_bar; sign(0) = 0)
// The energy distance is a meta-loss term, never differentiated twice, so it
// has no tangent passes. The forward reduction runs one workgroup per task
// with a fixed-order tree, so it is deterministic.

struct EnergyParams {
    tasks: u32,
    n: u32,      // labels per task
    n_u: u32,    // target samples per task
    weight: f32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: EnergyParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;          // [tasks, n]
@group(0) @binding(2) var<storage, read> u: array<f32>;          // [tasks, n_u]
@group(0) @binding(3) var<storage, read_write> loss: array<f32>; // [tasks]
@group(0) @binding(4) var<storage, read_write> z_bar: array<f32>;

var<workgroup> partial: array<f32, WG>;

// #import reduce

@compute @workgroup_size(256, 1, 1)
fn energy_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    let nf = f32(p.n);
    let mf = f32(p.n_u);
    var cross = 0.0;
    var self_z = 0.0;
    var self_u = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let zi = z[b * p.n + i];
        for (var j = 0u; j < p.n_u; j++) { cross += abs(zi - u[b * p.n_u + j]); }
        for (var j = 0u; j < p.n; j++) { self_z += abs(zi - z[b * p.n + j]); }
    }
    for (var i = t; i < p.n_u; i += WG) {
        let ui = u[b * p.n_u + i];
        for (var j = 0u; j < p.n_u; j++) { self_u += abs(ui - u[b * p.n_u + j]); }
    }
    partial[t] = cross / (nf * mf) - self_z / (2.0 * nf * nf) - self_u / (2.0 * mf * mf);
    reduce_partial(t);
    if t == 0u { loss[b] = p.weight * partial[0]; }
}

@compute @workgroup_size(64, 1, 1)
fn energy_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if e >= p.tasks * p.n { return; }
    let b = e / p.n;
    let zi = z[e];
    var s_u = 0.0;
    for (var j = 0u; j < p.n_u; j++) { s_u += sign(zi - u[b * p.n_u + j]); }
    var s_z = 0.0;
    for (var j = 0u; j < p.n; j++) { s_z += sign(zi - z[b * p.n + j]); }
    let nf = f32(p.n);
    z_bar[e] += p.weight * (s_u / (nf * f32(p.n_u)) - s_z / (nf * nf));
}
