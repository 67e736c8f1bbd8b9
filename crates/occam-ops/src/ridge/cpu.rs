//! CPU f64 twin of the ridge op.

use super::RidgeShape;
use crate::error::{OpError, Result};

/// Ridge regression in f64.
#[derive(Clone, Copy, Debug)]
pub struct RidgeCpu {
    /// Sizes and λ.
    pub shape: RidgeShape,
}

/// One task's fitted ridge model.
#[derive(Clone, Debug)]
pub struct RidgeSolution {
    /// Cholesky factor L of A (row-major, lower triangle).
    pub chol: Vec<f64>,
    /// Weights w.
    pub w: Vec<f64>,
    /// Test predictions ŷ.
    pub y: Vec<f64>,
}

/// Cholesky factorisation A = L Lᵀ of a symmetric k × k matrix in place (row-major;
/// only the lower triangle is read; the upper triangle is zeroed). `Err(j)`
/// names the 1-based column whose pivot is not positive.
pub fn cholesky(a: &mut [f64], k: usize) -> std::result::Result<(), usize> {
    for j in 0..k {
        let mut d = a[j * k + j];
        for q in 0..j {
            d -= a[j * k + q] * a[j * k + q];
        }
        if d.is_nan() || d <= 0.0 {
            return Err(j + 1);
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in (j + 1)..k {
            let mut s = a[i * k + j];
            for q in 0..j {
                s -= a[i * k + q] * a[j * k + q];
            }
            a[i * k + j] = s / d;
        }
        for i in 0..j {
            a[i * k + j] = 0.0;
        }
    }
    Ok(())
}

/// Solves (L Lᵀ) x = b in place, with L from [`cholesky`].
pub fn cholesky_solve(l: &[f64], k: usize, x: &mut [f64]) {
    for i in 0..k {
        let s: f64 = (0..i).map(|q| l[i * k + q] * x[q]).sum();
        x[i] = (x[i] - s) / l[i * k + i];
    }
    for i in (0..k).rev() {
        let s: f64 = ((i + 1)..k).map(|q| l[q * k + i] * x[q]).sum();
        x[i] = (x[i] - s) / l[i * k + i];
    }
}

impl RidgeCpu {
    fn check(&self, phi_tr: &[f64], z: &[f64], phi_te: &[f64]) -> Result<()> {
        self.shape.check_inputs(phi_tr.len(), z.len(), phi_te.len())
    }

    /// Fits every task; an error names the task and column where A is not
    /// numerically positive definite.
    pub fn forward(&self, phi_tr: &[f64], z: &[f64], phi_te: &[f64]) -> Result<Vec<RidgeSolution>> {
        self.check(phi_tr, z, phi_te)?;
        let RidgeShape {
            tasks,
            train: m,
            test: big_m,
            features: k,
            lambda,
        } = self.shape;
        (0..tasks)
            .map(|b| {
                let row = |r: usize| &phi_tr[(b * m + r) * k..(b * m + r + 1) * k];
                let mut a = vec![0.0; k * k];
                for i in 0..k {
                    for j in 0..=i {
                        let s: f64 = (0..m).map(|r| row(r)[i] * row(r)[j]).sum::<f64>() + if i == j { lambda } else { 0.0 };
                        a[i * k + j] = s;
                    }
                }
                cholesky(&mut a, k).map_err(|col| OpError::Numerical {
                    op: "ridge",
                    message: format!(
                        "task {b}: A = ΦᵀΦ + λI is not numerically positive definite (Cholesky failed at column {col}); increase λ"
                    ),
                })?;
                let mut w: Vec<f64> = (0..k).map(|i| (0..m).map(|r| row(r)[i] * z[b * m + r]).sum()).collect();
                cholesky_solve(&a, k, &mut w);
                let y = (0..big_m)
                    .map(|j| (0..k).map(|q| phi_te[(b * big_m + j) * k + q] * w[q]).sum())
                    .collect();
                Ok(RidgeSolution { chol: a, w, y })
            })
            .collect()
    }

    /// z̄ = Φ_tr A⁻¹ Φ_teᵀ ŷ̄ for every task, from the forward solutions.
    pub fn backward(
        &self,
        phi_tr: &[f64],
        phi_te: &[f64],
        solutions: &[RidgeSolution],
        y_bar: &[f64],
    ) -> Vec<f64> {
        let RidgeShape {
            tasks,
            train: m,
            test: big_m,
            features: k,
            ..
        } = self.shape;
        let mut z_bar = vec![0.0; tasks * m];
        for (b, sol) in solutions.iter().enumerate() {
            let mut u: Vec<f64> = (0..k)
                .map(|i| {
                    (0..big_m)
                        .map(|j| phi_te[(b * big_m + j) * k + i] * y_bar[b * big_m + j])
                        .sum()
                })
                .collect();
            cholesky_solve(&sol.chol, k, &mut u);
            for r in 0..m {
                z_bar[b * m + r] = (0..k).map(|q| phi_tr[(b * m + r) * k + q] * u[q]).sum();
            }
        }
        z_bar
    }
}
