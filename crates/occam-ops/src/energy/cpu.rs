//! The f64 twin of the energy distance term (`shaders/energy.wgsl`), the oracle its GPU kernel is held to.

/// Energy distance (geomloss "energy", uniform weights):
/// E = (1/NM) Σ_ij |x_i − y_j| − (1/2N²) Σ_ij |x_i − x_j| − (1/2M²) Σ_ij |y_i − y_j|.
/// Returns E and ∂E/∂x_i = (1/NM) Σ_j sign(x_i − y_j) − (1/N²) Σ_j sign(x_i − x_j).
pub fn energy_distance(x: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    let (n, m) = (x.len() as f64, y.len() as f64);
    let cross: f64 = x
        .iter()
        .map(|a| y.iter().map(|b| (a - b).abs()).sum::<f64>())
        .sum();
    let self_x: f64 = x
        .iter()
        .map(|a| x.iter().map(|b| (a - b).abs()).sum::<f64>())
        .sum();
    let self_y: f64 = y
        .iter()
        .map(|a| y.iter().map(|b| (a - b).abs()).sum::<f64>())
        .sum();
    let value = cross / (n * m) - self_x / (2.0 * n * n) - self_y / (2.0 * m * m);
    let sign = |d: f64| {
        if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let grad = x
        .iter()
        .map(|a| {
            y.iter().map(|b| sign(a - b)).sum::<f64>() / (n * m)
                - x.iter().map(|b| sign(a - b)).sum::<f64>() / (n * n)
        })
        .collect();
    (value, grad)
}
