//! The f64 twin of the gather: a plain row gather (the scatter-add is its
//! transpose).

/// Rows `idx` of a row-major matrix with `width` columns.
pub fn gather_rows(x: &[f64], width: usize, idx: &[usize]) -> Vec<f64> {
    idx.iter()
        .flat_map(|&i| x[i * width..(i + 1) * width].iter().copied())
        .collect()
}

/// The transpose of [`gather_rows`] scaled by `alpha`: row `idx[i]` of the
/// `rows × width` result gets `alpha · dst_bar[i]` added, for every i.
pub fn scatter_rows(dst_bar: &[f64], width: usize, idx: &[usize], rows: usize, alpha: f64) -> Vec<f64> {
    let mut out = vec![0.0; rows * width];
    for (i, &r) in idx.iter().enumerate() {
        for c in 0..width {
            out[r * width + c] += alpha * dst_bar[i * width + c];
        }
    }
    out
}
