// std_reward.wgsl — the reward for spread-out labels, per task b with n labels:
//
//   forward            μ_b = (1/n) Σ_i z_i,  σ_b = √( Σ_i (z_i − μ_b)² / (n − 1) ),
//                      loss_b = −w · σ_b     (Bessel-corrected, like PyTorch's z.std())
//   backward (VJP)     z_bar_i += −w · (z_i − μ_b) / ((n − 1) σ_b)   (0 when σ_b = 0)
// A meta-loss term, never differentiated twice: no tangent passes. Both sums
// are fixed-order tree reductions in one workgroup per task (deterministic);
// the forward pass keeps (μ_b, σ_b) in `stats` for the backward pass.

struct StdParams {
    tasks: u32,
    n: u32,
    weight: f32,
    _pad: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: StdParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;            // [tasks, n]
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;  // [tasks, 2]: μ, σ
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;   // [tasks]
@group(0) @binding(4) var<storage, read> stats_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> z_bar: array<f32>;  // [tasks, n]

var<workgroup> partial: array<f32, WG>;

// #import reduce

fn tree_sum(t: u32, v: f32) -> f32 {
    partial[t] = v;
    reduce_partial(t);
    let total = workgroupUniformLoad(&partial[0]);
    // Everyone has read the total before `partial` is reused.
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256, 1, 1)
fn std_reward_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let b = wg.x;
    var s = 0.0;
    for (var i = t; i < p.n; i += WG) { s += z[b * p.n + i]; }
    let mean = tree_sum(t, s) / f32(p.n);
    var q = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let d = z[b * p.n + i] - mean;
        q = fma(d, d, q);
    }
    let sd = sqrt(tree_sum(t, q) / max(f32(p.n) - 1.0, 1.0));
    if t == 0u {
        stats[2u * b] = mean;
        stats[2u * b + 1u] = sd;
        loss[b] = -p.weight * sd;
    }
}

@compute @workgroup_size(64, 1, 1)
fn std_reward_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if e >= p.tasks * p.n { return; }
    let b = e / p.n;
    let sd = stats_in[2u * b + 1u];
    if sd > 0.0 && p.n > 1u {
        z_bar[e] += -p.weight * (z[e] - stats_in[2u * b]) / ((f32(p.n) - 1.0) * sd);
    }
}
