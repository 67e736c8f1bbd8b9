//! A whole model's four passes in f64 — forward, VJP, JVP and the JVP of the
//! VJP in its parameters w, at fixed inputs x: the interface an unrolled
//! gradient-descent learner trains and differentiates through
//! (docs/design.md §2). Where [`crate::Passes`] is one op's passes in all its
//! inputs, a [`Model`] is a network of them in its weights only; the
//! layer-list network (`occam_meta::net::NetSpec`) and the spiking network
//! ([`crate::snn::SnnSpec`]) are the two.

/// A differentiable model g_w(x) with one output per input row.
pub trait Model: std::fmt::Debug + Send + Sync {
    /// What the forward pass keeps for the other passes.
    type Trace;

    /// Values per input row.
    fn d_in(&self) -> usize;

    /// g_w on the rows of `x` (row-major, `d_in` values each).
    fn forward(&self, w: &[f64], x: &[f64]) -> Self::Trace;

    /// The outputs of a forward pass, one per row.
    fn output<'t>(&self, trace: &'t Self::Trace) -> &'t [f64];

    /// ∂⟨g, ḡ⟩/∂w.
    fn backward(&self, w: &[f64], trace: &Self::Trace, g_bar: &[f64]) -> Vec<f64>;

    /// ġ = (∂g/∂w) v.
    fn tangent_forward(&self, w: &[f64], trace: &Self::Trace, v: &[f64]) -> Vec<f64>;

    /// The directional derivative of [`Model::backward`] along (v, ḡ̇).
    fn tangent_backward(
        &self,
        w: &[f64],
        trace: &Self::Trace,
        g_bar: &[f64],
        v: &[f64],
        g_bar_dot: &[f64],
    ) -> Vec<f64>;
}

/// A [`Model`] at fixed inputs x as an op of its weights alone — inputs
/// `[w]`, outputs `[g]` — so that the derivative checks of [`crate::check`]
/// and the op registry apply to whole models.
pub struct AtInputs<'a, M> {
    /// The model.
    pub model: &'a M,
    /// Its inputs, row-major.
    pub x: &'a [f64],
    /// Its parameter count.
    pub n_params: usize,
    /// Its name, for messages.
    pub name: &'a str,
}

impl<M: Model> crate::Passes for AtInputs<'_, M> {
    fn name(&self) -> String {
        self.name.to_string()
    }
    fn input_lens(&self) -> Vec<usize> {
        vec![self.n_params]
    }
    fn output_lens(&self) -> Vec<usize> {
        vec![self.x.len() / self.model.d_in()]
    }
    fn forward(&self, w: &[Vec<f64>]) -> crate::Result<crate::Tensors> {
        let tr = self.model.forward(&w[0], self.x);
        Ok(vec![self.model.output(&tr).to_vec()])
    }
    fn backward(&self, w: &[Vec<f64>], g_bar: &[Vec<f64>]) -> crate::Result<crate::Tensors> {
        let tr = self.model.forward(&w[0], self.x);
        Ok(vec![self.model.backward(&w[0], &tr, &g_bar[0])])
    }
    fn tangent_forward(&self, w: &[Vec<f64>], v: &[Vec<f64>]) -> crate::Result<crate::Tensors> {
        let tr = self.model.forward(&w[0], self.x);
        Ok(vec![self.model.tangent_forward(&w[0], &tr, &v[0])])
    }
    fn tangent_backward(
        &self,
        w: &[Vec<f64>],
        g_bar: &[Vec<f64>],
        v: &[Vec<f64>],
        g_bar_dot: &[Vec<f64>],
    ) -> crate::Result<crate::Tensors> {
        let tr = self.model.forward(&w[0], self.x);
        Ok(vec![self.model.tangent_backward(
            &w[0],
            &tr,
            &g_bar[0],
            &v[0],
            &g_bar_dot[0],
        )])
    }
}
