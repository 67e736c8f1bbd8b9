//! The f64 twin of the constrained step: masks and sign projections.

/// Structural constraints on a learner's parameters (flat, one entry per
/// parameter, or empty for none): docs/design.md §2's masks and projections.
/// A step is w_{t+1} = P(w_t − η M ⊙ ∇L_t) with P(w)_i = s_i |w_i| where
/// s_i ≠ 0 and w_i where s_i = 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Constraints {
    /// M: 1 where a parameter is trained, 0 where it stays at zero.
    pub mask: Vec<f64>,
    /// s: +1 / −1 where a parameter's sign is fixed, 0 where it is free.
    pub signs: Vec<f64>,
}

impl Constraints {
    /// The mask over `p` parameters: all ones (every parameter trained) when
    /// none is given.
    pub fn mask_or_ones(&self, p: usize) -> std::borrow::Cow<'_, [f64]> {
        Self::or_default(&self.mask, p, 1.0)
    }

    /// The signs over `p` parameters: all 0 (free) when none are given.
    pub fn signs_or_free(&self, p: usize) -> std::borrow::Cow<'_, [f64]> {
        Self::or_default(&self.signs, p, 0.0)
    }

    fn or_default(v: &[f64], p: usize, default: f64) -> std::borrow::Cow<'_, [f64]> {
        if v.is_empty() {
            std::borrow::Cow::Owned(vec![default; p])
        } else {
            std::borrow::Cow::Borrowed(v)
        }
    }

    /// True when there is neither a mask nor a sign constraint.
    pub fn is_empty(&self) -> bool {
        self.mask.is_empty() && self.signs.is_empty()
    }

    /// M ⊙ v.
    pub fn masked(&self, v: &[f64]) -> Vec<f64> {
        if self.mask.is_empty() {
            return v.to_vec();
        }
        v.iter().zip(&self.mask).map(|(a, m)| a * m).collect()
    }

    /// P(w).
    pub fn project(&self, w: &[f64]) -> Vec<f64> {
        if self.signs.is_empty() {
            return w.to_vec();
        }
        w.iter()
            .zip(&self.signs)
            .map(|(&a, &s)| if s == 0.0 { a } else { s * a.abs() })
            .collect()
    }

    /// P'(w) ⊙ v: the projection's derivative (s_i · sign(w_i) where constrained).
    pub fn project_adjoint(&self, w: &[f64], v: &[f64]) -> Vec<f64> {
        if self.signs.is_empty() {
            return v.to_vec();
        }
        w.iter()
            .zip(&self.signs)
            .zip(v)
            .map(|((&a, &s), &b)| if s == 0.0 { b } else { s * a.signum() * b })
            .collect()
    }

    /// A valid starting point: P(M ⊙ w0).
    pub fn apply(&self, w0: &[f64]) -> Vec<f64> {
        self.project(&self.masked(w0))
    }
}
