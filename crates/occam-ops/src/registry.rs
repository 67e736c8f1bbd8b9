//! The op registry: every op of this crate described once, as an [`Op`] —
//! the shader its kernels live in, their entry points, the uniform structs
//! its host side declares, and the check that holds its GPU passes to its
//! f64 twin on a running adapter.
//!
//! Adding an op is one folder under `crates/occam-ops/src/` (its GPU side,
//! its twin, its `pub const OP: Op`), its shader `shaders/<op>.wgsl` (entry
//! points `<op>_<pass>`), and one name in the `ops!` list of `lib.rs`.
//! `tests/op_registry.rs` then holds it to the rules every op keeps: its
//! entry points are exactly its shader's, every uniform struct of its shader
//! has a checked host twin, every top-level shader belongs to one op, and its
//! check passes — its GPU passes against its twin, and its twin's
//! derivatives against the dot-product identity and central differences.

use crate::check::{
    dot_product_test, jvp_vs_central_difference, rel_error, tangent_backward_vs_central_difference,
};
use crate::error::Result;
use crate::passes::{Passes, Tensors};
use occam_gpu::shaders::ShaderRegistry;
use occam_gpu::{Encoder, Gpu, GpuTensor, UniformParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The check of one host parameter struct against its shader's struct:
/// (shader, struct, verdict).
pub type ParamsCheck = fn(&ShaderRegistry) -> (&'static str, &'static str, occam_gpu::Result<()>);

/// The [`ParamsCheck`] of `P`, for an op's `params` list.
pub fn params<P: UniformParams>(
    r: &ShaderRegistry,
) -> (&'static str, &'static str, occam_gpu::Result<()>) {
    (P::SHADER, P::STRUCT, r.check_params::<P>())
}

/// One op of the library.
pub struct Op {
    /// Its name: the folder `src/<name>/` and the shader `shaders/<name>.wgsl`.
    pub name: &'static str,
    /// The entry points of its kernels in that shader, `<name>_<pass>`.
    pub entry_points: &'static [&'static str],
    /// Its host parameter structs, each checked against the shader's.
    pub params: &'static [ParamsCheck],
    /// Where its f64 twin is, for readers (the check is what ties them).
    pub twin: &'static str,
    /// Runs its GPU passes on `gpu` against its twin, and its twin's
    /// derivatives against the identities they must meet.
    pub check: fn(&Gpu) -> Result<Vec<Agreement>>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "op {} (twin {})", self.name, self.twin)
    }
}

/// One comparison an op's check made.
#[derive(Clone, Debug)]
pub struct Agreement {
    /// What was compared, e.g. `dense 2×7→3 backward: GPU vs twin`.
    pub what: String,
    /// The measured relative error.
    pub error: f64,
    /// The largest error accepted.
    pub tolerance: f64,
}

impl Agreement {
    /// Whether the error is within the tolerance (a NaN never is).
    pub fn holds(&self) -> bool {
        self.error <= self.tolerance
    }
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.holds() { "ok" } else { "FAILS" };
        write!(
            f,
            "{}: {:.2e} (≤ {:.0e}) {verdict}",
            self.what, self.error, self.tolerance
        )
    }
}

/// Rounding-level agreement expected of the exact adjoint identity in f64.
pub const DOT_TOL: f64 = 1e-12;
/// Central differences with [`H`] on smooth maps: O(h²) truncation plus
/// O(ε/h) rounding.
pub const FD_TOL: f64 = 1e-7;
/// The central-difference step.
pub const H: f64 = 1e-5;
/// Elementwise GPU results against the twin: f32 rounding of one operation.
pub const ELEMENTWISE_TOL: f64 = 2e-6;
/// Sums of up to a few hundred f32 products or squares against the twin.
pub const REDUCTION_TOL: f64 = 1e-5;

/// The comparisons of one op's check, with the seeded random inputs they use
/// (rounded to f32, so that GPU and twin see the same numbers).
pub struct Checks {
    rng: ChaCha8Rng,
    rows: Vec<Agreement>,
}

impl Checks {
    /// An empty list whose inputs are drawn from `seed`.
    pub fn new(seed: u64) -> Checks {
        Checks {
            rng: ChaCha8Rng::seed_from_u64(seed),
            rows: Vec::new(),
        }
    }

    /// `n` values uniform in [lo, hi), rounded to f32.
    pub fn uniform(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|_| f64::from(self.rng.random_range(lo..hi) as f32))
            .collect()
    }

    /// One tensor per length, uniform in [−1, 1).
    pub fn tensors(&mut self, lens: &[usize]) -> Tensors {
        lens.iter().map(|&n| self.uniform(n, -1.0, 1.0)).collect()
    }

    /// Records `got` against `want` (relative error, tensor by tensor).
    pub fn compare(
        &mut self,
        what: impl Into<String>,
        got: &[Vec<f64>],
        want: &[Vec<f64>],
        tolerance: f64,
    ) {
        self.record(what, rel_error(got, want), tolerance);
    }

    /// Records a measured error.
    pub fn record(&mut self, what: impl Into<String>, error: f64, tolerance: f64) {
        self.rows.push(Agreement {
            what: what.into(),
            error,
            tolerance,
        });
    }

    /// The four passes of `gpu_op` against `twin` at one random point, within
    /// `tol`; `label` names the variant (a kernel set) where there are several.
    pub fn four_passes(
        &mut self,
        label: &str,
        gpu_op: &dyn Passes,
        twin: &dyn Passes,
        tol: f64,
    ) -> Result<()> {
        let name = match label {
            "" => twin.name(),
            _ => format!("{} ({label})", twin.name()),
        };
        let x = self.tensors(&twin.input_lens());
        let x_dot = self.tensors(&twin.input_lens());
        let y_bar = self.tensors(&twin.output_lens());
        let y_bar_dot = self.tensors(&twin.output_lens());
        let pairs = [
            ("forward", gpu_op.forward(&x)?, twin.forward(&x)?),
            (
                "backward",
                gpu_op.backward(&x, &y_bar)?,
                twin.backward(&x, &y_bar)?,
            ),
            (
                "tangent forward",
                gpu_op.tangent_forward(&x, &x_dot)?,
                twin.tangent_forward(&x, &x_dot)?,
            ),
            (
                "tangent backward",
                gpu_op.tangent_backward(&x, &y_bar, &x_dot, &y_bar_dot)?,
                twin.tangent_backward(&x, &y_bar, &x_dot, &y_bar_dot)?,
            ),
        ];
        for (pass, got, want) in pairs {
            self.compare(format!("{name} {pass}: GPU vs twin"), &got, &want, tol);
        }
        Ok(())
    }

    /// The twin's derivative identities ([`Checks::twin_derivatives`]) at a
    /// random point.
    pub fn twin_identities(&mut self, twin: &dyn Passes) -> Result<()> {
        let x = self.tensors(&twin.input_lens());
        let u = self.tensors(&twin.input_lens());
        let v = self.tensors(&twin.output_lens());
        let v_dot = self.tensors(&twin.output_lens());
        self.twin_derivatives(twin, &x, &u, &v, &v_dot)
    }

    /// The twin's VJP against its JVP (dot-product test) and both tangent
    /// passes against central differences, at x along (u, v̇) with cotangent v.
    pub fn twin_derivatives(
        &mut self,
        twin: &dyn Passes,
        x: &[Vec<f64>],
        u: &[Vec<f64>],
        v: &[Vec<f64>],
        v_dot: &[Vec<f64>],
    ) -> Result<()> {
        let name = twin.name();
        let dp = dot_product_test(twin, x, u, v)?;
        self.record(format!("{name} twin: ⟨u, VJP v⟩ = ⟨JVP u, v⟩"), dp, DOT_TOL);
        let jvp = jvp_vs_central_difference(twin, x, u, H)?;
        self.record(
            format!("{name} twin: JVP vs central differences"),
            jvp,
            FD_TOL,
        );
        let tb = tangent_backward_vs_central_difference(twin, x, v, u, v_dot, H)?;
        self.record(
            format!("{name} twin: tangent backward vs central differences"),
            tb,
            FD_TOL,
        );
        Ok(())
    }

    /// A scalar function's gradient against the central difference along a
    /// random direction u: ⟨∇f(x), u⟩ vs (f(x + hu) − f(x − hu)) / 2h.
    pub fn gradient(
        &mut self,
        what: impl Into<String>,
        f: impl Fn(&[f64]) -> (f64, Vec<f64>),
        x: &[f64],
        h: f64,
        tolerance: f64,
    ) {
        let u = self.uniform(x.len(), -1.0, 1.0);
        let shifted = |s: f64| -> Vec<f64> { x.iter().zip(&u).map(|(a, b)| a + s * b).collect() };
        let fd = (f(&shifted(h)).0 - f(&shifted(-h)).0) / (2.0 * h);
        let exact: f64 = f(x).1.iter().zip(&u).map(|(g, b)| g * b).sum();
        let scale = fd.abs().max(exact.abs());
        let error = if scale == 0.0 {
            0.0
        } else {
            (fd - exact).abs() / scale
        };
        self.record(
            format!("{} twin: gradient vs central differences", what.into()),
            error,
            tolerance,
        );
    }

    /// The comparisons made.
    pub fn finish(self) -> Vec<Agreement> {
        self.rows
    }
}

/// Host values as f32 GPU tensors, one per slice.
pub fn upload(gpu: &Gpu, what: &str, values: &[&[f64]]) -> Result<Vec<GpuTensor>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
            Ok(gpu.upload(&format!("{what} {i}"), &f)?)
        })
        .collect()
}

/// Records `work` in one submission and reads `outputs` back as f64.
pub fn run(
    gpu: &Gpu,
    outputs: &[&GpuTensor],
    work: impl FnOnce(&mut Encoder<'_>) -> Result<()>,
) -> Result<Tensors> {
    let mut enc = gpu.encoder();
    work(&mut enc)?;
    enc.submit()?;
    outputs
        .iter()
        .map(|t| Ok(gpu.read(t)?.into_iter().map(f64::from).collect()))
        .collect()
}
