//! Ridge regression in closed form on features, per task (see
//! `shaders/ridge.wgsl` for the math): the learner of the paper's ridge and
//! kernel experiments. A = Φ_trᵀΦ_tr + λI is factorised by Cholesky, never
//! inverted; a failed factorisation is reported, not turned into NaN.

mod cpu;
pub(crate) mod gpu;

pub use cpu::{RidgeCpu, RidgeSolution, cholesky, cholesky_solve};
pub use gpu::RidgeGpu;

/// Sizes of a batched ridge problem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RidgeShape {
    /// Independent tasks.
    pub tasks: usize,
    /// Training rows per task.
    pub train: usize,
    /// Test rows per task.
    pub test: usize,
    /// Features.
    pub features: usize,
    /// Ridge λ.
    pub lambda: f64,
}

impl RidgeShape {
    /// Checks the lengths of Φ_tr, z and Φ_te (CPU and GPU alike).
    pub(crate) fn check_inputs(&self, phi_tr: usize, z: usize, phi_te: usize) -> crate::Result<()> {
        let s = self;
        crate::error::check_len("ridge", "phi_tr", phi_tr, s.tasks * s.train * s.features)?;
        crate::error::check_len("ridge", "z", z, s.tasks * s.train)?;
        crate::error::check_len("ridge", "phi_te", phi_te, s.tasks * s.test * s.features)
    }
}

/// The closed-form ridge op in the registry: the solution and its adjoint
/// against the twin, and the twin's adjoint against central differences of
/// its solution.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "ridge",
    entry_points: &["ridge_forward", "ridge_backward"],
    params: &[crate::registry::params::<gpu::RidgeParams>],
    twin: "occam_ops::ridge::RidgeCpu",
    check: |gpu| {
        use crate::registry::{self, Checks, FD_TOL, H};
        let mut c = Checks::new(0x41);
        let s = RidgeShape {
            tasks: 3,
            train: 30,
            test: 24,
            features: 7,
            lambda: 0.1,
        };
        let phi_tr = c.uniform(s.tasks * s.train * s.features, -1.0, 1.0);
        let z = c.uniform(s.tasks * s.train, -1.0, 1.0);
        let phi_te = c.uniform(s.tasks * s.test * s.features, -1.0, 1.0);
        let y_bar = c.uniform(s.tasks * s.test, -1.0, 1.0);
        let op = RidgeGpu::new(gpu, s)?;
        let t = registry::upload(gpu, "ridge", &[&phi_tr, &z, &phi_te, &y_bar])?;
        let y = gpu.zeros("ridge y", s.tasks * s.test)?;
        let z_bar = gpu.zeros("ridge z_bar", s.tasks * s.train)?;
        let got = registry::run(gpu, &[&y, &z_bar], |enc| {
            op.forward(enc, &t[0], &t[1], &t[2], &y)?;
            op.backward(enc, &t[0], &t[2], &t[3], &z_bar)
        })?;
        op.check_status(gpu)?;
        let twin = RidgeCpu { shape: s };
        let sol = twin.forward(&phi_tr, &z, &phi_te)?;
        let y_want: Vec<f64> = sol.iter().flat_map(|s| s.y.iter().copied()).collect();
        let z_bar_want = twin.backward(&phi_tr, &phi_te, &sol, &y_bar);
        c.compare("ridge forward: GPU vs twin", &got[..1], &[y_want], 1e-4);
        c.compare("ridge backward: GPU vs twin", &got[1..], std::slice::from_ref(&z_bar_want), 1e-4);
        // The twin's adjoint: ⟨ȳ, ŷ(z)⟩ is linear in z, its gradient z̄.
        c.gradient(
            "ridge",
            |z| {
                let y: f64 = twin
                    .forward(&phi_tr, z, &phi_te)
                    .map(|sol| sol.iter().flat_map(|s| s.y.iter()).zip(&y_bar).map(|(a, b)| a * b).sum())
                    .unwrap_or(f64::NAN);
                (y, z_bar_want.clone())
            },
            &z,
            H,
            FD_TOL,
        );
        Ok(c.finish())
    },
};
