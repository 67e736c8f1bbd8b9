//! Gradient-descent steps under a connectivity mask and sign constraints, and
//! their adjoint (`shaders/constraint.wgsl`). CPU twin:
//! `occam_meta::learner::Constraints` with `train` / `adjoint`.

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
