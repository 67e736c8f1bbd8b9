//! Analyses of a learned function: its decomposition into real spherical
//! harmonics on S², and least-squares helpers.

use faer::linalg::solvers::SolveLstsq;
use faer::{Mat, Side};

/// Real spherical harmonics of degrees 0..=lmax at the unit vector (x, y, z),
/// orthonormal for the uniform probability measure on S² (mean of Y² is 1),
/// ordered by degree, then order m = −l..l.
#[allow(clippy::needless_range_loop)] // recurrences read neighbouring entries by index
pub fn real_spherical_harmonics(x: f64, y: f64, z: f64, lmax: usize) -> Vec<f64> {
    let z = z.clamp(-1.0, 1.0);
    let phi = y.atan2(x);
    let s = (1.0 - z * z).max(0.0).sqrt();
    // Associated Legendre P_l^m(z) (no Condon–Shortley phase), by recurrence.
    let mut p = vec![vec![0.0; lmax + 1]; lmax + 1];
    p[0][0] = 1.0;
    for m in 1..=lmax {
        p[m][m] = p[m - 1][m - 1] * (2 * m - 1) as f64 * s;
    }
    for m in 0..lmax {
        p[m + 1][m] = (2 * m + 1) as f64 * z * p[m][m];
    }
    for m in 0..=lmax {
        for l in (m + 2)..=lmax {
            p[l][m] = ((2 * l - 1) as f64 * z * p[l - 1][m] - (l + m - 1) as f64 * p[l - 2][m])
                / (l - m) as f64;
        }
    }
    let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    let mut out = Vec::with_capacity((lmax + 1) * (lmax + 1));
    for l in 0..=lmax {
        for mm in -(l as i64)..=(l as i64) {
            let m = mm.unsigned_abs() as usize;
            let norm = ((2 * l + 1) as f64 * fact(l - m) / fact(l + m)).sqrt();
            let v = match mm.signum() {
                0 => norm * p[l][0],
                1 => std::f64::consts::SQRT_2 * norm * p[l][m] * (m as f64 * phi).cos(),
                _ => std::f64::consts::SQRT_2 * norm * p[l][m] * (m as f64 * phi).sin(),
            };
            out.push(v);
        }
    }
    out
}

/// Solves the least-squares problem min ‖A c − b‖ (A is rows × cols,
/// row-major) by Householder QR (faer). Returns `None` when A is
/// numerically rank-deficient: fewer rows than columns, or a diagonal entry
/// of R at most 1e-12 of the largest (the fit would not be unique).
pub fn least_squares(a: &[f64], b: &[f64], cols: usize) -> Option<Vec<f64>> {
    let rows = b.len();
    if rows < cols || cols == 0 || a.len() != rows * cols {
        return None;
    }
    let qr = Mat::from_fn(rows, cols, |i, j| a[i * cols + j]).qr();
    let r = qr.thin_R();
    let diagonal: Vec<f64> = (0..cols).map(|i| r[(i, i)].abs()).collect();
    let largest = diagonal.iter().copied().fold(0.0, f64::max);
    if !largest.is_finite() || diagonal.iter().any(|&d| d <= 1e-12 * largest) {
        return None;
    }
    let c = qr.solve_lstsq(Mat::from_fn(rows, 1, |i, _| b[i]));
    Some((0..cols).map(|i| c[(i, 0)]).collect())
}

/// Share of the squared norm (mean of f² over the points) of a function on S²
/// in each real spherical-harmonic degree 0..=lmax, from a least-squares fit
/// on `points` (n × 3, unit vectors). The shares sum to at most 1; the rest
/// lies in higher degrees.
pub fn harmonic_degree_fractions(points: &[f64], values: &[f64], lmax: usize) -> Option<Vec<f64>> {
    let n = values.len();
    let cols = (lmax + 1) * (lmax + 1);
    let basis: Vec<f64> = (0..n)
        .flat_map(|i| {
            real_spherical_harmonics(points[3 * i], points[3 * i + 1], points[3 * i + 2], lmax)
        })
        .collect();
    let c = least_squares(&basis, values, cols)?;
    let norm = values.iter().map(|v| v * v).sum::<f64>() / n as f64;
    if norm == 0.0 {
        return None;
    }
    Some(
        (0..=lmax)
            .map(|l| {
                c[l * l..(l + 1) * (l + 1)]
                    .iter()
                    .map(|v| v * v)
                    .sum::<f64>()
                    / norm
            })
            .collect(),
    )
}

/// The best affine fit f ≈ c·x + c₀ on `points` (n × d): its R² (share of
/// the variance of f it explains) and coefficients [c_1 … c_d, c₀].
pub fn linear_fit(points: &[f64], values: &[f64], d: usize) -> Option<(f64, Vec<f64>)> {
    let design: Vec<f64> = points
        .chunks(d)
        .flat_map(|p| p.iter().copied().chain([1.0]))
        .collect();
    let c = least_squares(&design, values, d + 1)?;
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let total: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    let residual: f64 = design
        .chunks(d + 1)
        .zip(values)
        .map(|(row, v)| (v - row.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>()).powi(2))
        .sum();
    let r2 = if total > 0.0 {
        1.0 - residual / total
    } else {
        1.0
    };
    Some((r2, c))
}

/// Eigenvalues (descending) and eigenvectors (columns, row-major n × n) of a
/// symmetric matrix (faer's self-adjoint eigendecomposition, from the lower
/// triangle). `None` when the decomposition does not converge or the matrix
/// holds a non-finite value.
pub fn symmetric_eigen(a: &[f64], n: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    if a.len() != n * n || a.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let evd = Mat::from_fn(n, n, |i, j| a[i * n + j])
        .self_adjoint_eigen(Side::Lower)
        .ok()?;
    let (s, u) = (evd.S(), evd.U());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| s[j].total_cmp(&s[i]));
    let values = order.iter().map(|&i| s[i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (col, &i) in order.iter().enumerate() {
        for k in 0..n {
            vectors[k * n + col] = u[(k, i)];
        }
    }
    Some((values, vectors))
}

/// The leading eigenfunctions of the kernel k(x, y) = φ(x)·φ(y) / K of a
/// feature map, from its features Φ (n × K) on n points drawn from the input
/// distribution: eigenvalues of the integral operator (descending) and the
/// eigenfunctions' values on the points, orthonormal in the points'
/// empirical L² (mean of u_i u_j is δ_ij). At most `count` of them, and
/// only those with eigenvalue above 1e-12 of the largest; `None` when the
/// eigendecomposition fails (a non-finite feature).
pub fn kernel_eigenfunctions(
    phi: &[f64],
    k: usize,
    count: usize,
) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let n = phi.len() / k;
    // C = ΦᵀΦ / (n K): its eigenvalues are the operator's.
    let mut c = vec![0.0; k * k];
    for row in phi.chunks(k) {
        for i in 0..k {
            for j in 0..k {
                c[i * k + j] += row[i] * row[j] / (n * k) as f64;
            }
        }
    }
    let (values, vectors) = symmetric_eigen(&c, k)?;
    let top = values[0].max(1e-300);
    let mut out_values = Vec::new();
    let mut functions = Vec::new();
    for (i, &lambda) in values.iter().enumerate().take(count) {
        if lambda <= 1e-12 * top {
            break;
        }
        // u_i = Φ v_i / √(K λ_i): mean of u_i² = v_iᵀ C v_i / λ_i = 1.
        let norm = (k as f64 * lambda).sqrt();
        functions.push(
            phi.chunks(k)
                .map(|row| (0..k).map(|q| row[q] * vectors[q * k + i]).sum::<f64>() / norm)
                .collect(),
        );
        out_values.push(lambda);
    }
    Some((out_values, functions))
}

/// Share of f's squared norm (empirical, on the same points) in the span of
/// the first `count` orthonormal functions.
pub fn span_share(f: &[f64], basis: &[Vec<f64>], count: usize) -> f64 {
    let n = f.len() as f64;
    let norm = f.iter().map(|v| v * v).sum::<f64>() / n;
    if norm == 0.0 {
        return 0.0;
    }
    basis
        .iter()
        .take(count)
        .map(|u| (u.iter().zip(f).map(|(a, b)| a * b).sum::<f64>() / n).powi(2))
        .sum::<f64>()
        / norm
}

/// How well learned labels split a two-class image set by class: the
/// fraction of images whose label lies within 0.1 and within 0.5 of the class
/// identity (0 for the smaller class label, 1 for the larger), taking
/// whichever orientation — identity or 1 − identity — agrees more.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitAgreement {
    /// True when the labels follow 1 − identity.
    pub flipped: bool,
    /// Fraction within 0.1.
    pub within_0_1: f64,
    /// Fraction within 0.5.
    pub within_0_5: f64,
    /// The two class labels, smaller first, and the mean learned label of each.
    pub class_means: [(u8, f64); 2],
    /// |label − target| per image, in the orientation chosen.
    pub distance: Vec<f64>,
}

/// [`DigitAgreement`] of `values` (one per image) against `classes`; None
/// unless there are exactly two distinct classes.
pub fn digit_agreement(values: &[f64], classes: &[u8]) -> Option<DigitAgreement> {
    let mut distinct: Vec<u8> = classes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != 2 || values.len() != classes.len() {
        return None;
    }
    let identity = |c: u8| if c == distinct[1] { 1.0 } else { 0.0 };
    let score = |flipped: bool| {
        let distance: Vec<f64> = values
            .iter()
            .zip(classes)
            .map(|(v, &c)| {
                let t = identity(c);
                (v - if flipped { 1.0 - t } else { t }).abs()
            })
            .collect();
        let frac = |tol: f64| {
            distance.iter().filter(|&&d| d <= tol).count() as f64 / distance.len() as f64
        };
        (frac(0.5), frac(0.1), distance)
    };
    let (straight, flipped) = (score(false), score(true));
    let (flip, (within_0_5, within_0_1, distance)) =
        if flipped.0 > straight.0 || (flipped.0 == straight.0 && flipped.1 > straight.1) {
            (true, flipped)
        } else {
            (false, straight)
        };
    let mean = |c: u8| {
        let picked: Vec<f64> = values
            .iter()
            .zip(classes)
            .filter(|(_, k)| **k == c)
            .map(|(v, _)| *v)
            .collect();
        picked.iter().sum::<f64>() / picked.len() as f64
    };
    Some(DigitAgreement {
        flipped: flip,
        within_0_1,
        within_0_5,
        class_means: [
            (distinct[0], mean(distinct[0])),
            (distinct[1], mean(distinct[1])),
        ],
        distance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{InputDomain, Purpose, stream};

    #[test]
    fn linear_fit_recovers_an_affine_function_and_scores_a_nonlinear_one_lower() {
        let pts = InputDomain::Disk.sample(&mut stream(3, Purpose::Evaluation, 0), 2000);
        let f: Vec<f64> = pts
            .chunks(2)
            .map(|p| 0.3 * p[0] - 0.7 * p[1] + 0.1)
            .collect();
        let (r2, c) = linear_fit(&pts, &f, 2).unwrap();
        assert!(
            (r2 - 1.0).abs() < 1e-12
                && (c[0] - 0.3).abs() < 1e-9
                && (c[1] + 0.7).abs() < 1e-9
                && (c[2] - 0.1).abs() < 1e-9
        );
        let g: Vec<f64> = pts.chunks(2).map(|p| p[0] * p[1]).collect();
        assert!(linear_fit(&pts, &g, 2).unwrap().0 < 0.05);
    }

    #[test]
    fn symmetric_eigen_diagonalises_a_symmetric_matrix_and_refuses_nan() {
        let a = [4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];
        let (values, vectors) = symmetric_eigen(&a, 3).unwrap();
        for (col, &lambda) in values.iter().enumerate() {
            for row in 0..3 {
                let av: f64 = (0..3).map(|k| a[row * 3 + k] * vectors[k * 3 + col]).sum();
                assert!((av - lambda * vectors[row * 3 + col]).abs() < 1e-10);
            }
        }
        assert!(values[0] >= values[1] && values[1] >= values[2]);
        assert!((values.iter().sum::<f64>() - 12.0).abs() < 1e-10);
        assert!(symmetric_eigen(&[1.0, f64::NAN, f64::NAN, 1.0], 2).is_none());
    }

    #[test]
    fn least_squares_refuses_a_rank_deficient_design() {
        // Two equal columns: no unique fit.
        let a = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        assert!(least_squares(&a, &[1.0, 2.0, 3.0], 2).is_none());
        // Fewer rows than columns.
        assert!(least_squares(&[1.0, 2.0], &[1.0], 2).is_none());
        let a = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let c = least_squares(&a, &[1.0, 2.0, 3.0], 2).unwrap();
        assert!(
            (c[0] - 1.0).abs() < 1e-12 && (c[1] - 2.0).abs() < 1e-12,
            "{c:?}"
        );
    }

    #[test]
    fn linear_kernel_eigenfunctions_on_the_sphere_are_the_coordinates() {
        // φ(x) = x: k(x, y) = x·y / 3, eigenvalue 1/9 (three times) on S².
        let pts =
            InputDomain::Sphere { dim: 3 }.sample(&mut stream(4, Purpose::Evaluation, 0), 20_000);
        let (values, functions) = kernel_eigenfunctions(&pts, 3, 10).unwrap();
        assert_eq!(values.len(), 3);
        for v in &values {
            assert!((v - 1.0 / 9.0).abs() < 0.01, "{values:?}");
        }
        let x0: Vec<f64> = pts.chunks(3).map(|p| p[0]).collect();
        assert!((span_share(&x0, &functions, 3) - 1.0).abs() < 1e-9);
        let x0x1: Vec<f64> = pts.chunks(3).map(|p| p[0] * p[1]).collect();
        assert!(span_share(&x0x1, &functions, 3) < 0.01);
    }

    #[test]
    fn harmonics_are_orthonormal_under_the_uniform_measure() {
        let pts =
            InputDomain::Sphere { dim: 3 }.sample(&mut stream(1, Purpose::Evaluation, 0), 200_000);
        let n = pts.len() / 3;
        let mut gram = vec![0.0; 25 * 25];
        for i in 0..n {
            let y = real_spherical_harmonics(pts[3 * i], pts[3 * i + 1], pts[3 * i + 2], 4);
            for a in 0..25 {
                for b in 0..25 {
                    gram[a * 25 + b] += y[a] * y[b] / n as f64;
                }
            }
        }
        for a in 0..25 {
            for b in 0..25 {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!(
                    (gram[a * 25 + b] - want).abs() < 0.03,
                    "gram[{a}][{b}] = {}",
                    gram[a * 25 + b]
                );
            }
        }
    }

    #[test]
    fn degree_fractions_recover_known_functions() {
        let pts =
            InputDomain::Sphere { dim: 3 }.sample(&mut stream(2, Purpose::Evaluation, 0), 5000);
        let n = pts.len() / 3;
        // f = 0.5 + 2x (degree 0 and 1) + xy (degree 2).
        let f: Vec<f64> = (0..n)
            .map(|i| 0.5 + 2.0 * pts[3 * i] + pts[3 * i] * pts[3 * i + 1])
            .collect();
        let frac = harmonic_degree_fractions(&pts, &f, 4).unwrap();
        // Exact shares: 0.25 : 4/3 : 1/15 of the total 0.25 + 4/3 + 1/15.
        let total = 0.25 + 4.0 / 3.0 + 1.0 / 15.0;
        for (got, want) in frac.iter().zip([
            0.25 / total,
            (4.0 / 3.0) / total,
            (1.0 / 15.0) / total,
            0.0,
            0.0,
        ]) {
            assert!((got - want).abs() < 0.02, "{frac:?}");
        }
    }

    #[test]
    fn digit_agreement_picks_the_orientation_that_agrees_more() {
        let classes = [0u8, 0, 1, 1, 1];
        // Labels near 1 − digit, one of them off by 0.3.
        let a = digit_agreement(&[0.95, 1.0, 0.0, 0.3, 0.05], &classes).unwrap();
        assert!(a.flipped);
        assert_eq!((a.within_0_5, a.within_0_1), (1.0, 0.8));
        assert_eq!(a.class_means[0].0, 0);
        assert!((a.class_means[1].1 - 0.35 / 3.0).abs() < 1e-12);
        let b = digit_agreement(&[0.0, 0.2, 0.9, 1.0, 0.4], &classes).unwrap();
        assert!(!b.flipped);
        assert_eq!((b.within_0_5, b.within_0_1), (0.8, 0.6));
        assert!(digit_agreement(&[0.0, 1.0, 2.0], &[0, 1, 2]).is_none());
    }
}
