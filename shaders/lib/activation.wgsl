// lib/activation.wgsl — the activations σ and their first two derivatives,
// shared by activation.wgsl and unroll.wgsl (imported, not copied).
//
//   act  σ(s)                      σ'(s)                σ''(s)
//   0    s           (identity)    1                    0
//   1    max(s, 0)   (relu)        [s > 0]              0
//   2    tanh s                    1 − σ²               −2σσ'
//   3    cos s                     −sin s               −cos s
//   4    min(max(s, 0), 6)/6       [0 < s < 6]/6        0
// At the kinks of relu and relu6 the derivative is taken as 0 (PyTorch's choice).

fn sigma(act: u32, s: f32) -> f32 {
    switch act {
        case 1u: { return max(s, 0.0); }
        case 2u: { return tanh(s); }
        case 3u: { return cos(s); }
        case 4u: { return clamp(s, 0.0, 6.0) / 6.0; }
        default: { return s; }
    }
}

fn sigma_d1(act: u32, s: f32) -> f32 {
    switch act {
        case 1u: { return select(0.0, 1.0, s > 0.0); }
        case 2u: { let t = tanh(s); return 1.0 - t * t; }
        case 3u: { return -sin(s); }
        case 4u: { return select(0.0, 1.0 / 6.0, s > 0.0 && s < 6.0); }
        default: { return 1.0; }
    }
}

fn sigma_d2(act: u32, s: f32) -> f32 {
    switch act {
        case 2u: { let t = tanh(s); return -2.0 * t * (1.0 - t * t); }
        case 3u: { return -cos(s); }
        default: { return 0.0; }
    }
}
