//! PNG plots of a run: the meta-loss curves and the learned function over its
//! input domain (S²: a longitude–latitude map; disk and square: a 2-D map;
//! other domains: value against the first two coordinates).

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is embedded and known to parse; a failure only loses labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Draws a PNG into a temporary file beside `path` (its name keeps the
/// `.png` ending the encoder goes by) and renames it into place, so a
/// killed run never leaves a truncated image.
fn atomic_png(path: &Path, draw: impl FnOnce(&Path) -> PlotResult) -> PlotResult {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".tmp-{name}"));
    draw(&tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Loss curves on a log scale (non-positive and non-finite values are
/// skipped), written atomically.
pub fn loss_curves(path: &Path, title: &str, curves: &[Curve]) -> PlotResult {
    atomic_png(path, |tmp| loss_curves_into(tmp, title, curves))
}

/// Draws one or more [`GridMap`]s as panels (up to three per row), written
/// atomically.
pub fn grid_maps(path: &Path, maps: &[GridMap<'_>]) -> PlotResult {
    atomic_png(path, |tmp| grid_maps_into(tmp, maps))
}

/// Image tiles in titled sections (grey levels from `lo` to `hi`), written
/// atomically.
pub fn image_grid(
    path: &Path,
    sections: &[(String, Vec<Tile>)],
    size: (usize, usize),
    range: (f64, f64),
    columns: usize,
) -> PlotResult {
    atomic_png(path, |tmp| {
        image_grid_into(tmp, sections, size, range, columns)
    })
}

/// One named loss curve: (meta-step, value) points.
pub struct Curve {
    /// Legend label.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// Loss curves on a log scale (non-positive values are skipped).
fn loss_curves_into(path: &Path, title: &str, curves: &[Curve]) -> PlotResult {
    register_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let pos: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .filter(|p| p.1 > 0.0 && p.1.is_finite() && p.0.is_finite())
        .collect();
    let (x_max, y_min, y_max) = pos
        .iter()
        .fold((1.0f64, f64::MAX, f64::MIN), |(x, lo, hi), p| {
            (x.max(p.0), lo.min(p.1), hi.max(p.1))
        });
    let (y_min, y_max) = if pos.is_empty() {
        (1e-3, 1.0)
    } else {
        (y_min * 0.8, y_max * 1.25)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("meta-step")
        .y_desc("value (log scale)")
        .draw()?;
    for (i, c) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied().filter(|p| p.1 > 0.0),
                color.stroke_width(2),
            ))?
            .label(c.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A function sampled on a regular grid, drawn as a coloured map with a colour bar.
pub struct GridMap<'a> {
    /// Title.
    pub title: &'a str,
    /// Horizontal axis label and range.
    pub x: (&'a str, f64, f64),
    /// Vertical axis label and range.
    pub y: (&'a str, f64, f64),
    /// Values, row-major, `ny` rows of `nx` values, row 0 at the bottom;
    /// NaN marks cells outside the domain.
    pub values: &'a [f64],
    /// Cells across.
    pub nx: usize,
    /// Cells up.
    pub ny: usize,
    /// Scattered points (x, y, value) drawn instead of grid cells when not
    /// empty (pairwise projections of higher-dimensional domains).
    pub points: Vec<(f64, f64, f64)>,
}

/// Draws one or more [`GridMap`]s as panels (up to three per row).
fn grid_maps_into(path: &Path, maps: &[GridMap<'_>]) -> PlotResult {
    register_font();
    let cols = maps.len().clamp(1, 3);
    let rows = maps.len().div_ceil(cols).max(1);
    // Equal axis ranges (disk, square, projections) get a square plot area.
    let square = maps
        .first()
        .is_some_and(|m| ((m.x.2 - m.x.1) - (m.y.2 - m.y.1)).abs() < 1e-9);
    let width = if square { 680 } else { 900 };
    let root =
        BitMapBackend::new(path, (width * cols as u32, 560 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, map) in root.split_evenly((rows, cols)).iter().zip(maps) {
        grid_map(area, map)?;
    }
    root.present()?;
    Ok(())
}

fn grid_map(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    map: &GridMap<'_>,
) -> PlotResult {
    let (width, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(width.saturating_sub(140));
    let finite: Vec<f64> = map
        .values
        .iter()
        .copied()
        .chain(map.points.iter().map(|p| p.2))
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite.iter().copied().fold(f64::MAX, f64::min);
    let hi = finite.iter().copied().fold(f64::MIN, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let colour = |v: f64| -> RGBColor {
        let t = ((v - lo) / span).clamp(0.0, 1.0);
        ViridisRGB::get_color(t)
    };
    let mut chart = ChartBuilder::on(&main)
        .caption(map.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(map.x.1..map.x.2, map.y.1..map.y.2)?;
    chart
        .configure_mesh()
        .x_desc(map.x.0)
        .y_desc(map.y.0)
        .disable_mesh()
        .draw()?;
    chart.draw_series(
        map.points
            .iter()
            .map(|&(x, y, v)| Circle::new((x, y), 2, colour(v).filled())),
    )?;
    let dx = (map.x.2 - map.x.1) / map.nx as f64;
    let dy = (map.y.2 - map.y.1) / map.ny as f64;
    chart.draw_series(
        (0..map.ny)
            .flat_map(|j| (0..map.nx).map(move |i| (i, j)))
            .filter_map(|(i, j)| {
                let v = map.values[j * map.nx + i];
                v.is_finite().then(|| {
                    let x0 = map.x.1 + i as f64 * dx;
                    let y0 = map.y.1 + j as f64 * dy;
                    Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], colour(v).filled())
                })
            }),
    )?;
    let mut legend = ChartBuilder::on(&bar)
        .margin_top(50)
        .margin_bottom(50)
        .margin_right(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, lo..lo + span)?;
    legend
        .configure_mesh()
        .disable_x_axis()
        .disable_mesh()
        .y_labels(6)
        .y_label_style(("sans-serif", 14))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()?;
    let steps = 100;
    legend.draw_series((0..steps).map(|k| {
        let a = lo + span * k as f64 / steps as f64;
        let b = lo + span * (k + 1) as f64 / steps as f64;
        Rectangle::new([(0.0, a), (1.0, b)], colour(0.5 * (a + b)).filled())
    }))?;
    Ok(())
}

/// One tile of [`image_grid`]: a grey-scale image and its caption.
pub struct Tile {
    /// Pixels, row-major, `height` rows of `width` values in [lo, hi].
    pub pixels: Vec<f64>,
    /// Caption under the image.
    pub caption: String,
}

/// Grey-scale images in rows of `columns`, each with its caption, under a
/// heading per section (e.g. "examples" and "largest disagreements").
fn image_grid_into(
    path: &Path,
    sections: &[(String, Vec<Tile>)],
    (height, width): (usize, usize),
    (lo, hi): (f64, f64),
    columns: usize,
) -> PlotResult {
    register_font();
    const SCALE: usize = 4;
    let (cell_w, cell_h) = (width * SCALE + 16, height * SCALE + 30);
    let heading = 34;
    let rows: Vec<usize> = sections
        .iter()
        .map(|(_, t)| t.len().div_ceil(columns))
        .collect();
    let total_h = sections.len() * heading + rows.iter().sum::<usize>() * cell_h + 10;
    let root = BitMapBackend::new(path, ((columns * cell_w + 10) as u32, total_h as u32))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let mut y0 = 0i32;
    for ((title, tiles), nrows) in sections.iter().zip(&rows) {
        root.draw(&Text::new(
            title.clone(),
            (10, y0 + 8),
            ("sans-serif", 20).into_font(),
        ))?;
        y0 += heading as i32;
        for (i, tile) in tiles.iter().enumerate() {
            let x = 10 + (i % columns * cell_w) as i32;
            let y = y0 + (i / columns * cell_h) as i32;
            for (p, v) in tile.pixels.iter().enumerate() {
                let g = (255.0 * ((v - lo) / (hi - lo)).clamp(0.0, 1.0)) as u8;
                let (px, py) = (
                    x + (p % width * SCALE) as i32,
                    y + (p / width * SCALE) as i32,
                );
                root.draw(&Rectangle::new(
                    [(px, py), (px + SCALE as i32, py + SCALE as i32)],
                    RGBColor(g, g, g).filled(),
                ))?;
            }
            root.draw(&Text::new(
                tile.caption.clone(),
                (x, y + (height * SCALE) as i32 + 4),
                ("sans-serif", 15).into_font(),
            ))?;
        }
        y0 += (nrows * cell_h) as i32;
    }
    root.present()?;
    Ok(())
}

/// One line of [`error_lines`]: (x, mean, sd) points and a legend label.
pub struct ErrorSeries {
    /// Legend label.
    pub label: String,
    /// (x, mean, sd) points, by x; sd NaN for a single run.
    pub points: Vec<(f64, f64, f64)>,
}

/// Means with ±sd error bars against x, one line per series, written atomically.
pub fn error_lines(
    path: &Path,
    title: &str,
    x_name: &str,
    y_name: &str,
    series: &[ErrorSeries],
) -> PlotResult {
    atomic_png(path, |tmp| {
        error_lines_into(tmp, title, x_name, y_name, series)
    })
}

fn error_lines_into(
    path: &Path,
    title: &str,
    x_name: &str,
    y_name: &str,
    series: &[ErrorSeries],
) -> PlotResult {
    register_font();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, m, sd) in pts {
        let sd = if sd.is_finite() { sd } else { 0.0 };
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(m - sd);
        y1 = y1.max(m + sd);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| {
        if b > a {
            (b - a) * 0.05
        } else {
            a.abs().max(1.0) * 0.05
        }
    };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))?;
    chart
        .configure_mesh()
        .x_desc(x_name)
        .y_desc(y_name)
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|p| (p.0, p.1)),
                colour.stroke_width(2),
            ))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(
            s.points
                .iter()
                .filter(|p| p.2.is_finite())
                .map(|&(x, m, sd)| {
                    ErrorBar::new_vertical(x, m - sd, m, m + sd, colour.filled(), 8)
                }),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
