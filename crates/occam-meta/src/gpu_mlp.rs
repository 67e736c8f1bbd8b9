//! An MLP's four passes on the GPU for a fixed number of tasks and rows,
//! composed from the op library's kernels, with the per-layer scratch buffers
//! the passes need. Weights are one tensor per layer, `[tasks, block]`.

use crate::mlp::MlpSpec;
use occam_gpu::{Encoder, Gpu, GpuTensor};
use occam_ops::{ActivationGpu, DenseGpu, Result};

/// The ops and buffers of one MLP evaluated on `rows` inputs per task.
pub struct GpuMlp {
    spec: MlpSpec,
    dense: Vec<DenseGpu>,
    act: Vec<ActivationGpu>,
    /// s_l per layer.
    s: Vec<GpuTensor>,
    /// a_1 … a_L (a_0 is the caller's input).
    a: Vec<GpuTensor>,
    s_bar: Vec<GpuTensor>,
    /// ā_1 … ā_{L−1} (ā_L is the caller's cotangent).
    a_bar: Vec<GpuTensor>,
    s_dot: Vec<GpuTensor>,
    /// ȧ_0 = 0, ȧ_1 … ȧ_L.
    a_dot: Vec<GpuTensor>,
    s_bar_dot: Vec<GpuTensor>,
    a_bar_dot: Vec<GpuTensor>,
}

impl GpuMlp {
    /// Kernels and scratch for `tasks` independent weight sets, `rows` inputs each.
    pub fn new(
        gpu: &Gpu,
        spec: &MlpSpec,
        tasks: usize,
        rows: usize,
        label: &str,
    ) -> Result<GpuMlp> {
        let depth = spec.depth();
        let width = |l: usize| tasks * rows * spec.sizes[l];
        let mut mlp = GpuMlp {
            spec: spec.clone(),
            dense: Vec::new(),
            act: Vec::new(),
            s: Vec::new(),
            a: Vec::new(),
            s_bar: Vec::new(),
            a_bar: Vec::new(),
            s_dot: Vec::new(),
            a_dot: vec![gpu.zeros(&format!("{label} a_dot 0"), width(0))?],
            s_bar_dot: Vec::new(),
            a_bar_dot: Vec::new(),
        };
        for l in 0..depth {
            let mut shape = spec.dense_shape(l, rows);
            shape.batch = tasks;
            mlp.dense.push(DenseGpu::new(gpu, shape, false)?);
            mlp.act
                .push(ActivationGpu::new(gpu, spec.activation(l), width(l + 1))?);
            let t = |name: &str| gpu.zeros(&format!("{label} {name} {l}"), width(l + 1));
            mlp.s.push(t("s")?);
            mlp.a.push(t("a")?);
            mlp.s_bar.push(t("s_bar")?);
            mlp.s_dot.push(t("s_dot")?);
            mlp.a_dot.push(t("a_dot")?);
            mlp.s_bar_dot.push(t("s_bar_dot")?);
            if l + 1 < depth {
                mlp.a_bar.push(t("a_bar")?);
                mlp.a_bar_dot.push(t("a_bar_dot")?);
            }
        }
        Ok(mlp)
    }

    /// The output a_L after [`GpuMlp::forward`].
    pub fn output(&self) -> &GpuTensor {
        self.a.last().expect("at least one layer")
    }

    /// ȧ_L = ⟨∇_w g, v⟩ after [`GpuMlp::tangent_forward`].
    pub fn output_tangent(&self) -> &GpuTensor {
        self.a_dot.last().expect("at least one layer")
    }

    fn input<'a>(&'a self, x: &'a GpuTensor, l: usize) -> &'a GpuTensor {
        if l == 0 { x } else { &self.a[l - 1] }
    }

    /// Records the forward pass on input `x`.
    pub fn forward(&self, enc: &mut Encoder<'_>, w: &[GpuTensor], x: &GpuTensor) -> Result<()> {
        for (l, w_l) in w.iter().enumerate().take(self.spec.depth()) {
            self.dense[l].forward(enc, self.input(x, l), w_l, &self.s[l])?;
            self.act[l].forward(enc, &self.s[l], &self.a[l])?;
        }
        Ok(())
    }

    /// Records the backward pass for output cotangent `g_bar`, writing ∂/∂w
    /// into `w_bar` (one tensor per layer). Needs the forward pass first.
    pub fn backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        w_bar: &[GpuTensor],
    ) -> Result<()> {
        let depth = self.spec.depth();
        for l in (0..depth).rev() {
            let out_bar = if l + 1 == depth {
                g_bar
            } else {
                &self.a_bar[l]
            };
            self.act[l].backward(enc, &self.s[l], out_bar, &self.s_bar[l])?;
            let in_bar = if l == 0 {
                None
            } else {
                Some(&self.a_bar[l - 1])
            };
            self.dense[l].backward(
                enc,
                self.input(x, l),
                &w[l],
                &self.s_bar[l],
                in_bar,
                &w_bar[l],
            )?;
        }
        Ok(())
    }

    /// Records the tangent forward pass along parameter direction `v` (input held fixed).
    pub fn tangent_forward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        v: &[GpuTensor],
    ) -> Result<()> {
        for l in 0..self.spec.depth() {
            self.dense[l].tangent_forward(
                enc,
                self.input(x, l),
                &w[l],
                &self.a_dot[l],
                &v[l],
                &self.s_dot[l],
            )?;
            self.act[l].tangent_forward(enc, &self.s[l], &self.s_dot[l], &self.a_dot[l + 1])?;
        }
        Ok(())
    }

    /// Records the tangent backward pass: the derivative of the backward
    /// pass's ∂/∂w along (v, ḡ̇), into `out`. Needs forward, backward (same
    /// `g_bar`) and tangent forward (same `v`) first.
    #[allow(clippy::too_many_arguments)]
    pub fn tangent_backward(
        &self,
        enc: &mut Encoder<'_>,
        w: &[GpuTensor],
        x: &GpuTensor,
        g_bar: &GpuTensor,
        v: &[GpuTensor],
        g_bar_dot: &GpuTensor,
        out: &[GpuTensor],
    ) -> Result<()> {
        let depth = self.spec.depth();
        for l in (0..depth).rev() {
            let (out_bar, out_bar_dot) = if l + 1 == depth {
                (g_bar, g_bar_dot)
            } else {
                (&self.a_bar[l], &self.a_bar_dot[l])
            };
            self.act[l].tangent_backward(
                enc,
                &self.s[l],
                out_bar,
                &self.s_dot[l],
                out_bar_dot,
                &self.s_bar_dot[l],
            )?;
            let in_bar_dot = if l == 0 {
                None
            } else {
                Some(&self.a_bar_dot[l - 1])
            };
            self.dense[l].tangent_backward(
                enc,
                self.input(x, l),
                &w[l],
                &self.s_bar[l],
                &self.a_dot[l],
                &v[l],
                &self.s_bar_dot[l],
                in_bar_dot,
                &out[l],
            )?;
        }
        Ok(())
    }
}
