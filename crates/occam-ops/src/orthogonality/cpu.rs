//! The f64 twin of the orthogonality penalty (`shaders/orthogonality.wgsl`), the oracle its GPU kernel is held to.

/// Orthogonality penalty Σ_k (Σ_i z_i h_k,i)² against earlier functions h_k
/// (each evaluated on the same fixed points as z), and its gradient.
pub fn orthogonality(z: &[f64], earlier: &[Vec<f64>]) -> (f64, Vec<f64>) {
    let mut value = 0.0;
    let mut grad = vec![0.0; z.len()];
    for h in earlier {
        let d: f64 = z.iter().zip(h).map(|(a, b)| a * b).sum();
        value += d * d;
        for (g, hi) in grad.iter_mut().zip(h) {
            *g += 2.0 * d * hi;
        }
    }
    (value, grad)
}
