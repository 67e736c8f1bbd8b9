//! Gradient-descent steps under a connectivity mask and sign constraints, and
//! their adjoint (`shaders/constraint.wgsl`). CPU twin:
//! [`Constraints`] (`cpu.rs`), as the unroll's twin (`unroll::train` /
//! `unroll::adjoint`) steps with it.

mod cpu;

pub use cpu::Constraints;

use crate::error::{Result, check_len};
use occam_gpu::{Encoder, Gpu, GpuTensor, Kernel, kernels, wgpu, workgroups_for};
use std::sync::Arc;

occam_gpu::uniform_params! {
    /// The uniform parameters of `shaders/constraint.wgsl` (its `ConstraintParams`).
    pub(crate) struct ConstraintParams in "constraint" {
        len: u32,
        lr: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// A constrained step over a parameter tensor of `len` values.
pub struct ConstraintGpu {
    len: usize,
    params: wgpu::Buffer,
    forward: Arc<Kernel>,
    backward: Arc<Kernel>,
}

impl ConstraintGpu {
    /// Kernels for steps of size `lr` on `len` parameters.
    pub fn new(gpu: &Gpu, len: usize, lr: f64) -> Result<ConstraintGpu> {
        let len32 = crate::error::to_u32("constraint", "parameters", len)?;
        Ok(ConstraintGpu {
            len,
            params: gpu.params(
                "constraint params",
                &ConstraintParams {
                    len: len32,
                    lr: lr as f32,
                    _pad0: 0,
                    _pad1: 0,
                },
            )?,
            forward: gpu.kernel(kernels::CONSTRAINT_FORWARD, &[])?,
            backward: gpu.kernel(kernels::CONSTRAINT_BACKWARD, &[])?,
        })
    }

    fn check(&self, tensors: &[(&str, &GpuTensor)]) -> Result<()> {
        tensors
            .iter()
            .try_for_each(|(n, t)| check_len("constraint", n, t.len(), self.len))
    }

    /// w ← P(w − η M ⊙ g).
    pub fn step(
        &self,
        enc: &mut Encoder<'_>,
        mask: &GpuTensor,
        signs: &GpuTensor,
        g: &GpuTensor,
        w: &GpuTensor,
    ) -> Result<()> {
        self.check(&[("mask", mask), ("signs", signs), ("g", g), ("w", w)])?;
        enc.dispatch(
            &self.forward,
            &[
                ("p", &self.params),
                ("mask", mask.buffer()),
                ("signs", signs.buffer()),
                ("g", g.buffer()),
                ("w", w.buffer()),
            ],
            [workgroups_for(self.len, 64), 1, 1],
        )?;
        Ok(())
    }

    /// v ← P'(w − η M ⊙ g) ⊙ v and v_m = M ⊙ v, for the step from w = w_t with gradient g.
    #[allow(clippy::too_many_arguments)]
    pub fn adjoint(
        &self,
        enc: &mut Encoder<'_>,
        mask: &GpuTensor,
        signs: &GpuTensor,
        g: &GpuTensor,
        w: &GpuTensor,
        v: &GpuTensor,
        v_m: &GpuTensor,
    ) -> Result<()> {
        self.check(&[
            ("mask", mask),
            ("signs", signs),
            ("g", g),
            ("w", w),
            ("v", v),
            ("v_m", v_m),
        ])?;
        enc.dispatch(
            &self.backward,
            &[
                ("p", &self.params),
                ("mask", mask.buffer()),
                ("signs", signs.buffer()),
                ("g", g.buffer()),
                ("w_in", w.buffer()),
                ("v", v.buffer()),
                ("v_m", v_m.buffer()),
            ],
            [workgroups_for(self.len, 64), 1, 1],
        )?;
        Ok(())
    }
}

/// The constrained step in the registry: the step and its adjoint against
/// the twin, with some parameters masked and some signs fixed.
pub const OP: crate::registry::Op = crate::registry::Op {
    name: "constraint",
    entry_points: &["constraint_forward", "constraint_backward"],
    params: &[crate::registry::params::<ConstraintParams>],
    twin: "occam_ops::constraint::Constraints",
    check: |gpu| {
        use crate::registry::{self, Checks, ELEMENTWISE_TOL};
        let mut c = Checks::new(0xC5);
        let (len, lr) = (133, 0.3);
        let mask: Vec<f64> = (0..len).map(|i| f64::from(i % 5 != 0)).collect();
        let signs: Vec<f64> = (0..len).map(|i| [0.0, 1.0, -1.0][i % 3]).collect();
        let w = c.uniform(len, -1.0, 1.0);
        let g = c.uniform(len, -1.0, 1.0);
        let v = c.uniform(len, -1.0, 1.0);
        let op = ConstraintGpu::new(gpu, len, lr)?;
        let t = registry::upload(gpu, "constraint", &[&mask, &signs, &g, &w, &w, &v])?;
        let v_m = gpu.zeros("constraint v_m", len)?;
        let got = registry::run(gpu, &[&t[4], &t[5], &v_m], |enc| {
            op.step(enc, &t[0], &t[1], &t[2], &t[4])?;
            op.adjoint(enc, &t[0], &t[1], &t[2], &t[3], &t[5], &v_m)
        })?;
        let twin = Constraints { mask, signs };
        let pre: Vec<f64> = w
            .iter()
            .zip(twin.masked(&g))
            .map(|(w, g)| w - lr * g)
            .collect();
        let v_new = twin.project_adjoint(&pre, &v);
        c.compare("constraint step: GPU vs twin", &got[..1], &[twin.project(&pre)], ELEMENTWISE_TOL);
        c.compare(
            "constraint adjoint: GPU vs twin",
            &got[1..],
            &[v_new.clone(), twin.masked(&v_new)],
            ELEMENTWISE_TOL,
        );
        Ok(c.finish())
    },
};
