//! Derivative checks on any op's [`Passes`]: the dot-product test between
//! its VJP and JVP, and central finite differences of its forward and VJP.
//! Each returns a relative error, so callers choose the tolerance.

use crate::error::Result;
use crate::passes::{Passes, Tensors};

/// ⟨a, b⟩ summed over every tensor of two lists of equal shapes.
pub fn dot(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| p.iter().zip(q).map(|(x, y)| x * y))
        .sum()
}

/// x + h·u, tensor by tensor.
pub fn axpy(x: &[Vec<f64>], h: f64, u: &[Vec<f64>]) -> Tensors {
    x.iter()
        .zip(u)
        .map(|(p, q)| p.iter().zip(q).map(|(a, b)| a + h * b).collect())
        .collect()
}

/// The largest, over tensors, of ‖a − b‖∞ / max(‖a‖∞, ‖b‖∞) (0 when both are zero).
pub fn rel_error(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len(), "rel_error: different numbers of tensors");
    a.iter()
        .zip(b)
        .map(|(p, q)| {
            assert_eq!(p.len(), q.len(), "rel_error: tensors of different lengths");
            let diff = p
                .iter()
                .zip(q)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            let scale = p.iter().chain(q).map(|x| x.abs()).fold(0.0, f64::max);
            if scale == 0.0 { 0.0 } else { diff / scale }
        })
        .fold(0.0, f64::max)
}

/// |⟨u, VJP(x; v)⟩ − ⟨JVP(x; u), v⟩| relative to the larger magnitude:
/// zero up to rounding exactly when the VJP is the adjoint of the JVP.
pub fn dot_product_test(
    op: &dyn Passes,
    x: &[Vec<f64>],
    u: &[Vec<f64>],
    v: &[Vec<f64>],
) -> Result<f64> {
    let lhs = dot(u, &op.backward(x, v)?);
    let rhs = dot(&op.tangent_forward(x, u)?, v);
    let scale = lhs.abs().max(rhs.abs());
    Ok(if scale == 0.0 {
        0.0
    } else {
        (lhs - rhs).abs() / scale
    })
}

/// JVP(x; u) against the central difference (f(x + hu) − f(x − hu)) / 2h.
pub fn jvp_vs_central_difference(
    op: &dyn Passes,
    x: &[Vec<f64>],
    u: &[Vec<f64>],
    h: f64,
) -> Result<f64> {
    let plus = op.forward(&axpy(x, h, u))?;
    let minus = op.forward(&axpy(x, -h, u))?;
    let fd: Tensors = plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| p.iter().zip(m).map(|(a, b)| (a - b) / (2.0 * h)).collect())
        .collect();
    Ok(rel_error(&op.tangent_forward(x, u)?, &fd))
}

/// The tangent-backward pass against the central difference of the VJP along
/// (u, v̇): (VJP(x + hu; v + hv̇) − VJP(x − hu; v − hv̇)) / 2h.
pub fn tangent_backward_vs_central_difference(
    op: &dyn Passes,
    x: &[Vec<f64>],
    v: &[Vec<f64>],
    u: &[Vec<f64>],
    v_dot: &[Vec<f64>],
    h: f64,
) -> Result<f64> {
    let plus = op.backward(&axpy(x, h, u), &axpy(v, h, v_dot))?;
    let minus = op.backward(&axpy(x, -h, u), &axpy(v, -h, v_dot))?;
    let fd: Tensors = plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| p.iter().zip(m).map(|(a, b)| (a - b) / (2.0 * h)).collect())
        .collect();
    Ok(rel_error(&op.tangent_backward(x, v, u, v_dot)?, &fd))
}
