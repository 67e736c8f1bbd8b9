//! The f64 twin of the debiased Sinkhorn divergence (`shaders/sinkhorn.wgsl`), with the exact 1-D W2² it approaches, the oracle its GPU kernel is held to.

/// geomloss's ε-scaling schedule for p = 2: diameter², then geometric steps of
/// scaling² from diameter² down to blur², then blur².
pub fn epsilon_schedule(diameter: f64, blur: f64, scaling: f64) -> Vec<f64> {
    let p = 2.0;
    let mut eps = vec![diameter.powf(p)];
    let (start, stop, step) = (p * diameter.ln(), p * blur.ln(), p * scaling.ln());
    let mut e = start;
    while e > stop {
        eps.push(e.exp());
        e += step;
    }
    eps.push(blur.powf(p));
    eps
}

/// softmin_i = −ε log Σ_j exp(h_j − (a_i − b_j)²/(2ε)), computed stably.
fn softmin(eps: f64, a: &[f64], b: &[f64], h: &[f64]) -> Vec<f64> {
    a.iter()
        .map(|&ai| {
            let terms: Vec<f64> = b
                .iter()
                .zip(h)
                .map(|(&bj, &hj)| hj - (ai - bj).powi(2) / (2.0 * eps))
                .collect();
            let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            -eps * (m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln())
        })
        .collect()
}

/// Debiased Sinkhorn divergence between 1-D samples x and y with uniform
/// weights, with the semantics of geomloss `SamplesLoss("sinkhorn", p=2,
/// blur, scaling)`: cost |x − y|²/2, ε = blur², symmetric log-domain
/// iterations with ε-annealing from the diameter², a final extrapolation,
/// S = ⟨α, f_ba − f_aa⟩ + ⟨β, g_ab − g_bb⟩. The gradient is the one geomloss's
/// autograd gives through the final extrapolation (the envelope gradient):
/// ∂S/∂x_i = α_i [Σ_j P_ij (x_i − y_j) − Σ_k Q_ik (x_i − x_k)], with P and Q
/// the row-normalised transport plans of (x, y) and (x, x).
pub fn sinkhorn_divergence(x: &[f64], y: &[f64], blur: f64, scaling: f64) -> (f64, Vec<f64>) {
    sinkhorn_with_extra_iterations(x, y, blur, scaling, 0)
}

/// [`sinkhorn_divergence`] with `extra` more symmetric iterations at the final
/// ε before the extrapolation (0 is geomloss's behaviour; more converges the
/// potentials fully, which makes the envelope gradient exact).
pub fn sinkhorn_with_extra_iterations(
    x: &[f64],
    y: &[f64],
    blur: f64,
    scaling: f64,
    extra: usize,
) -> (f64, Vec<f64>) {
    let (n, m) = (x.len() as f64, y.len() as f64);
    let (la, lb) = (-(n.ln()), -(m.ln()));
    let lo = x.iter().chain(y).copied().fold(f64::INFINITY, f64::min);
    let hi = x.iter().chain(y).copied().fold(f64::NEG_INFINITY, f64::max);
    let mut eps_list = epsilon_schedule((hi - lo).max(blur), blur, scaling);
    eps_list.extend(std::iter::repeat_n(blur * blur, extra));
    let logs = |len: usize, l: f64, pot: Option<&[f64]>, eps: f64| -> Vec<f64> {
        (0..len)
            .map(|i| l + pot.map_or(0.0, |p| p[i] / eps))
            .collect()
    };
    let e0 = eps_list[0];
    let mut g_ab = softmin(e0, y, x, &logs(x.len(), la, None, e0));
    let mut f_ba = softmin(e0, x, y, &logs(y.len(), lb, None, e0));
    let mut f_aa = softmin(e0, x, x, &logs(x.len(), la, None, e0));
    let mut g_bb = softmin(e0, y, y, &logs(y.len(), lb, None, e0));
    for &eps in &eps_list {
        let ft_ba = softmin(eps, x, y, &logs(y.len(), lb, Some(&g_ab), eps));
        let gt_ab = softmin(eps, y, x, &logs(x.len(), la, Some(&f_ba), eps));
        let ft_aa = softmin(eps, x, x, &logs(x.len(), la, Some(&f_aa), eps));
        let gt_bb = softmin(eps, y, y, &logs(y.len(), lb, Some(&g_bb), eps));
        let avg = |a: &mut Vec<f64>, b: Vec<f64>| {
            a.iter_mut().zip(b).for_each(|(p, q)| *p = 0.5 * (*p + q))
        };
        avg(&mut f_ba, ft_ba);
        avg(&mut g_ab, gt_ab);
        avg(&mut f_aa, ft_aa);
        avg(&mut g_bb, gt_bb);
    }
    let eps = *eps_list.last().unwrap();
    let (g_in, f_in, faa_in, gbb_in) = (g_ab.clone(), f_ba.clone(), f_aa.clone(), g_bb.clone());
    let f_ba = softmin(eps, x, y, &logs(y.len(), lb, Some(&g_in), eps));
    let g_ab = softmin(eps, y, x, &logs(x.len(), la, Some(&f_in), eps));
    let f_aa = softmin(eps, x, x, &logs(x.len(), la, Some(&faa_in), eps));
    let g_bb = softmin(eps, y, y, &logs(y.len(), lb, Some(&gbb_in), eps));
    let value = f_ba.iter().zip(&f_aa).map(|(a, b)| a - b).sum::<f64>() / n
        + g_ab.iter().zip(&g_bb).map(|(a, b)| a - b).sum::<f64>() / m;
    // Envelope gradient through the final extrapolation.
    let plan_mean = |xi: f64, pts: &[f64], pot: &[f64], l: f64| -> f64 {
        let t: Vec<f64> = pts
            .iter()
            .zip(pot)
            .map(|(&p, &g)| l + (g - (xi - p).powi(2) / 2.0) / eps)
            .collect();
        let mx = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = t.iter().map(|v| (v - mx).exp()).collect();
        let z: f64 = w.iter().sum();
        pts.iter().zip(&w).map(|(&p, &wi)| wi / z * (xi - p)).sum()
    };
    let grad = x
        .iter()
        .map(|&xi| (plan_mean(xi, y, &g_in, lb) - plan_mean(xi, x, &faa_in, la)) / n)
        .collect();
    (value, grad)
}

/// The 1-D quadratic Wasserstein distance W2² between two empirical
/// distributions with uniform weights, exactly (sorted quantile matching).
pub fn wasserstein2_squared(x: &[f64], y: &[f64]) -> f64 {
    let mut a = x.to_vec();
    let mut b = y.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    // Integrate (F⁻¹_a(t) − F⁻¹_b(t))² over t ∈ [0, 1] piecewise.
    let (n, m) = (a.len(), b.len());
    let (mut i, mut j, mut t, mut total) = (0, 0, 0.0, 0.0);
    while i < n && j < m {
        let next = (((i + 1) as f64) / n as f64).min(((j + 1) as f64) / m as f64);
        total += (next - t) * (a[i] - b[j]).powi(2);
        t = next;
        if ((i + 1) as f64) / n as f64 <= next + 1e-15 {
            i += 1;
        }
        if ((j + 1) as f64) / m as f64 <= next + 1e-15 {
            j += 1;
        }
    }
    total
}

#[cfg(test)]
mod sinkhorn_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn samples(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| r.random_range(lo..hi)).collect()
    }

    #[test]
    fn schedule_matches_geomloss() {
        // geomloss: [d^2] + exp(arange(2 ln d, 2 ln blur, 2 ln scaling)) + [blur^2].
        let e = epsilon_schedule(2.0, 0.05, 0.5);
        assert_eq!(e.len(), 1 + 6 + 1);
        assert!(
            (e[0] - 4.0).abs() < 1e-12 && (e[1] - 4.0).abs() < 1e-12 && (e[2] - 1.0).abs() < 1e-12
        );
        assert!((e[7] - 0.0025).abs() < 1e-15);
    }

    #[test]
    fn sinkhorn_approaches_half_w2_squared_at_small_blur_and_vanishes_on_equal_samples() {
        let x = samples(1, 200, -0.5, 1.0);
        let y = samples(2, 150, -1.0, 1.0);
        let (s, _) = sinkhorn_divergence(&x, &y, 0.01, 0.5);
        let w = wasserstein2_squared(&x, &y) / 2.0;
        assert!((s - w).abs() < 0.05 * w, "Sinkhorn {s} vs W2²/2 {w}");
        let (s0, g0) = sinkhorn_divergence(&x, &x, 0.05, 0.5);
        assert!(s0.abs() < 1e-9 && g0.iter().all(|g| g.abs() < 1e-9), "{s0}");
    }

    #[test]
    fn sinkhorn_gradient_matches_finite_differences_near_convergence() {
        // The envelope gradient is exact once the potentials have converged:
        // iterate on at the final ε, and finite differences agree closely.
        let x = samples(3, 30, -0.8, 0.9);
        let y = samples(4, 40, -1.0, 1.0);
        let s = |x: &[f64]| sinkhorn_with_extra_iterations(x, &y, 0.2, 0.5, 300);
        let (_, g) = s(&x);
        let h = 1e-6;
        for i in [0, 11, 29] {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += h;
            xm[i] -= h;
            let fd = (s(&xp).0 - s(&xm).0) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-3 * g.iter().fold(0.0f64, |a, v| a.max(v.abs())),
                "x[{i}]: {fd} vs {}",
                g[i]
            );
        }
    }
}
