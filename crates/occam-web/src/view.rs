//! The points a page draws the learned function on, by input domain: S² as
//! a longitude–latitude map, the disk and the square as heat maps (a grid
//! over [−1, 1]², the disk's corners masked), an image set as a grid of its
//! first images each with its label (the points are the session's, see
//! `Session::picture`), any other domain as a scatter of the function
//! against its first input.

/// Images an image set's grid shows.
pub const GRID_IMAGES: usize = 64;

use occam_meta::sampling::InputDomain;

/// How to draw the function.
#[derive(Clone, Debug, PartialEq)]
pub enum Picture {
    /// A `width × height` image, row by row from the top; `inside[i]` says
    /// whether pixel i lies in the domain (outside pixels are not
    /// evaluated and stay blank).
    Grid {
        /// Pixels per row.
        width: usize,
        /// Rows.
        height: usize,
        /// Whether each pixel is in the domain.
        inside: Vec<bool>,
        /// `"map"` (longitude across, latitude up) or `"heat"` (x across, y up).
        kind: &'static str,
    },
    /// The function against input 0 at the run's evaluation points.
    Scatter,
    /// The first `count` images of an image set (channel 0 drawn), each
    /// with its label.
    Images {
        /// Images shown.
        count: usize,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
    },
}

/// The picture for `domain` and the points (d values each, in pixel order,
/// inside pixels only) to evaluate the function at for it.
pub fn picture(domain: InputDomain) -> (Picture, Vec<f64>) {
    match domain {
        InputDomain::Sphere { dim: 3 } => {
            let (width, height) = (96, 48);
            let mut points = Vec::with_capacity(width * height * 3);
            for row in 0..height {
                // Latitude from +π/2 (top) to −π/2, at pixel centres.
                let lat = std::f64::consts::FRAC_PI_2
                    - (row as f64 + 0.5) / height as f64 * std::f64::consts::PI;
                for col in 0..width {
                    let lon = -std::f64::consts::PI
                        + (col as f64 + 0.5) / width as f64 * std::f64::consts::TAU;
                    points.extend([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]);
                }
            }
            let inside = vec![true; width * height];
            (
                Picture::Grid {
                    width,
                    height,
                    inside,
                    kind: "map",
                },
                points,
            )
        }
        InputDomain::Disk | InputDomain::Square => {
            let n = 64;
            let mut points = Vec::new();
            let mut inside = Vec::with_capacity(n * n);
            for row in 0..n {
                let y = 1.0 - (row as f64 + 0.5) / n as f64 * 2.0;
                for col in 0..n {
                    let x = -1.0 + (col as f64 + 0.5) / n as f64 * 2.0;
                    let keep = domain == InputDomain::Square || x * x + y * y <= 1.0;
                    inside.push(keep);
                    if keep {
                        points.extend([x, y]);
                    }
                }
            }
            (
                Picture::Grid {
                    width: n,
                    height: n,
                    inside,
                    kind: "heat",
                },
                points,
            )
        }
        _ => (Picture::Scatter, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_hold_one_point_per_inside_pixel_and_stay_in_their_domain() {
        for domain in [
            InputDomain::Sphere { dim: 3 },
            InputDomain::Disk,
            InputDomain::Square,
        ] {
            let (Picture::Grid { inside, .. }, points) = picture(domain) else {
                panic!("{domain:?} has a grid")
            };
            let d = domain.dim();
            assert_eq!(points.len(), inside.iter().filter(|&&i| i).count() * d);
            for p in points.chunks(d) {
                let r2: f64 = p.iter().map(|v| v * v).sum();
                match domain {
                    InputDomain::Sphere { .. } => assert!((r2 - 1.0).abs() < 1e-12),
                    InputDomain::Disk => assert!(r2 <= 1.0),
                    _ => assert!(p.iter().all(|v| v.abs() <= 1.0)),
                }
            }
        }
        // The disk's corners are masked; the square keeps every pixel.
        let (Picture::Grid { inside, .. }, _) = picture(InputDomain::Disk) else {
            unreachable!()
        };
        assert!(!inside[0] && inside.iter().any(|&i| i));
        assert_eq!(
            picture(InputDomain::Gaussian { dim: 4 }).0,
            Picture::Scatter
        );
    }
}
