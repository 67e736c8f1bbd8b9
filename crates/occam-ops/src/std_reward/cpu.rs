//! The f64 twin of the standard-deviation reward (`shaders/std_reward.wgsl`), the oracle its GPU kernel is held to.

/// Standard deviation of z with Bessel's correction (PyTorch's `z.std()`
/// default), and its gradient (zero when n < 2 or all values are equal).
pub fn std_dev(z: &[f64]) -> (f64, Vec<f64>) {
    let n = z.len() as f64;
    if z.len() < 2 {
        return (0.0, vec![0.0; z.len()]);
    }
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    let grad = z
        .iter()
        .map(|v| {
            if sd > 0.0 {
                (v - mean) / ((n - 1.0) * sd)
            } else {
                0.0
            }
        })
        .collect();
    (sd, grad)
}
