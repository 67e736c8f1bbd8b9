//! The plots of a finished run: `loss.png` (every term of the meta-loss
//! over meta-steps), `function.png` (the learned function as a map of its
//! domain), `function_inputs.png` (against each input and input group) and,
//! on image sets, `images.png`.

use crate::plots;
use occam_experiment::Error;
use occam_experiment::config::Experiment;
use occam_experiment::run::Outcome;
use occam_experiment::summary::Learned;
use occam_gpu::Gpu;
use occam_meta::analysis::digit_agreement;
use occam_meta::engine::GpuMetaEngine;
use occam_meta::loss::TermValues;
use occam_meta::sampling::{InputDomain, Purpose, stream};
use std::path::Path;

/// Draws every plot of `outcome` into its folder.
pub fn draw(gpu: &Gpu, exp: &Experiment, outcome: &Outcome) -> Result<(), Error> {
    let r = &outcome.resolved;
    let domain = r.sampler.domain;
    let out = &outcome.dir;
    let learned = &outcome.functions;
    let count = learned.len();
    let mut curves = Vec::new();
    for (j, f) in learned.iter().enumerate() {
        let tag = if count > 1 {
            format!(" f{j}")
        } else {
            String::new()
        };
        let mut push = |name: String, get: &dyn Fn(&TermValues) -> f64| {
            curves.push(plots::Curve {
                name: format!("{name}{tag}"),
                points: f.curves.iter().map(|(s, t)| (*s, get(t))).collect(),
            })
        };
        push("meta-loss".into(), &|t| t.total());
        if count == 1 {
            // Every term; those with a negative coefficient as |value| (log scale).
            for (i, term) in r.problem.terms.iter().enumerate() {
                if term.weight() < 0.0 {
                    push(format!("|{}|", term.label()), &|t| -t.terms[i].value);
                } else {
                    push(term.label(), &|t| t.terms[i].value);
                }
            }
        }
    }
    let loss_png = out.join("loss.png");
    plots::loss_curves(
        &loss_png,
        &format!("{} — meta-loss (seed {})", exp.name, exp.seed),
        &curves,
    )
    .map_err(|e| Error::internal(format!("{}: {e}", loss_png.display())))?;
    let points = &outcome.eval_points;
    if let Some(classes) = &r.image_labels {
        images_plot(exp, domain, points, classes, &learned[0].values, out)
    } else {
        function_plot(gpu, &outcome.engines, exp, domain, out)?;
        inputs_plot(exp, points, domain.dim(), learned, out)
    }
}

/// images.png: example images of each class with their learned labels, and
/// the images whose labels are furthest from their class identity.
fn images_plot(
    exp: &Experiment,
    domain: InputDomain,
    images: &[f64],
    classes: &[u8],
    values: &[f64],
    out: &Path,
) -> Result<(), Error> {
    let InputDomain::Images { height, width, .. } = domain else {
        return Ok(());
    };
    let d = domain.dim();
    let range = exp.inputs.pixel_range.unwrap_or([-1.0, 1.0]);
    let tile = |i: usize| plots::Tile {
        pixels: images[i * d..(i + 1) * d].to_vec(),
        caption: format!("{}: f = {:.3}", classes[i], values[i]),
    };
    let mut distinct = classes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let per_class = (16 / distinct.len().max(1)).max(1);
    let examples: Vec<plots::Tile> = distinct
        .iter()
        .flat_map(|&c| {
            (0..classes.len())
                .filter(move |&i| classes[i] == c)
                .take(per_class)
        })
        .map(tile)
        .collect();
    let mut sections = vec![(
        format!("{} — learned labels of example images (label: f)", exp.name),
        examples,
    )];
    if let Some(a) = digit_agreement(values, classes) {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&i, &j| a.distance[j].total_cmp(&a.distance[i]));
        sections.push((
            format!(
                "largest disagreements with {} (orientation chosen by agreement)",
                if a.flipped {
                    "1 − identity"
                } else {
                    "identity"
                }
            ),
            order.into_iter().take(16).map(tile).collect(),
        ));
    }
    let path = out.join("images.png");
    plots::image_grid(&path, &sections, (height, width), (range[0], range[1]), 8)
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))
}

/// A panel of function_inputs.png: title, (x, f, f) points, x range.
type ScatterPanel = (String, Vec<(f64, f64, f64)>, (f64, f64));

/// An axis of a map: label, low end, high end.
type Axis = (&'static str, f64, f64);

/// One panel of function.png: grid values, or scattered (x, y, value) points, and its axes.
type Panel = (Vec<f64>, Vec<(f64, f64, f64)>, Axis, Axis);

/// function_inputs.png: the (last) learned function against each input and
/// against the sum of each named input group.
fn inputs_plot(
    exp: &Experiment,
    points: &[f64],
    d: usize,
    learned: &[Learned],
    out: &Path,
) -> Result<(), Error> {
    let values = &learned.last().expect("at least one function").values;
    let lo = values.iter().copied().fold(f64::MAX, f64::min);
    let hi = values.iter().copied().fold(f64::MIN, f64::max);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    const NAMES: [&str; 8] = ["x₀", "x₁", "x₂", "x₃", "x₄", "x₅", "x₆", "x₇"];
    let mut panels: Vec<ScatterPanel> = Vec::new();
    for i in 0..d.min(8) {
        let pts = points
            .chunks(d)
            .zip(values)
            .map(|(p, v)| (p[i], *v, *v))
            .collect();
        let lim = points
            .chunks(d)
            .fold(0.0f64, |m, p| m.max(p[i].abs()))
            .max(1e-9);
        panels.push((format!("f against {}", NAMES[i]), pts, (-lim, lim)));
    }
    for group in exp.analysis.groups.iter().flatten() {
        let pts: Vec<(f64, f64, f64)> = points
            .chunks(d)
            .zip(values)
            .map(|(p, v)| (group.iter().map(|&i| p[i]).sum(), *v, *v))
            .collect();
        let lim = pts.iter().fold(0.0f64, |m, p| m.max(p.0.abs())).max(1e-9);
        let name = group
            .iter()
            .map(|&i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join("+");
        panels.push((format!("f against {name}"), pts, (-lim, lim)));
    }
    let maps: Vec<plots::GridMap<'_>> = panels
        .iter()
        .map(|(title, pts, (a, b))| plots::GridMap {
            title,
            x: ("input", *a, *b),
            y: ("f", lo, hi),
            values: &[],
            nx: 0,
            ny: 0,
            points: pts.clone(),
        })
        .collect();
    let path = out.join("function_inputs.png");
    plots::grid_maps(&path, &maps).map_err(|e| Error::internal(format!("{}: {e}", path.display())))
}

/// Points of a regular grid over the domain's map, which lie inside the
/// domain, and the map's axes.
fn map_grid(domain: InputDomain, nx: usize, ny: usize) -> (Vec<f64>, Vec<bool>, Axis, Axis) {
    let mut pts = Vec::with_capacity(nx * ny * domain.dim());
    let mut inside = Vec::with_capacity(nx * ny);
    if domain == (InputDomain::Sphere { dim: 3 }) {
        for j in 0..ny {
            for i in 0..nx {
                let lon = (-180.0 + (i as f64 + 0.5) * 360.0 / nx as f64).to_radians();
                let lat = (-90.0 + (j as f64 + 0.5) * 180.0 / ny as f64).to_radians();
                pts.extend([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]);
                inside.push(true);
            }
        }
        return (
            pts,
            inside,
            ("longitude (°)", -180.0, 180.0),
            ("latitude (°)", -90.0, 90.0),
        );
    }
    let d = domain.dim();
    // Gaussian inputs: ±3 standard deviations; the others live in [−1, 1]².
    let lim = if matches!(domain, InputDomain::Gaussian { .. }) {
        3.0
    } else {
        1.0
    };
    for j in 0..ny {
        for i in 0..nx {
            let x = lim * (-1.0 + (i as f64 + 0.5) * 2.0 / nx as f64);
            let y = lim * (-1.0 + (j as f64 + 0.5) * 2.0 / ny as f64);
            let mut p = vec![0.0; d];
            p[0] = x;
            p[1] = y;
            let r2 = x * x + y * y;
            let ok = match domain {
                InputDomain::Disk => r2 <= 1.0,
                // Other spheres: the slice x₂ = √(1 − x₀² − x₁²), x₃… = 0.
                InputDomain::Sphere { .. } => {
                    if r2 <= 1.0 && d > 2 {
                        p[2] = (1.0 - r2).sqrt();
                    }
                    r2 <= 1.0
                }
                _ => true,
            };
            inside.push(ok);
            pts.extend(p);
        }
    }
    (pts, inside, ("x₀", -lim, lim), ("x₁", -lim, lim))
}

fn function_plot(
    gpu: &Gpu,
    engines: &[GpuMetaEngine],
    exp: &Experiment,
    domain: InputDomain,
    out: &Path,
) -> Result<(), Error> {
    let d = domain.dim();
    let planar = matches!(domain, InputDomain::Disk | InputDomain::Square)
        || domain == (InputDomain::Sphere { dim: 3 })
        || domain == (InputDomain::Gaussian { dim: 2 });
    let (nx, ny) = if domain == (InputDomain::Sphere { dim: 3 }) {
        (180, 90)
    } else {
        (120, 120)
    };
    let mut titles = Vec::new();
    let mut panels: Vec<Panel> = Vec::new();
    let name = |j: usize| {
        if engines.len() == 1 {
            format!("{} — learned function f_θ (seed {})", exp.name, exp.seed)
        } else {
            format!("{} — function {j} (seed {})", exp.name, exp.seed)
        }
    };
    if planar {
        let (pts, inside, xl, yl) = map_grid(domain, nx, ny);
        for (j, engine) in engines.iter().enumerate() {
            let values = engine.evaluate(gpu, &pts)?;
            let values = values
                .iter()
                .zip(&inside)
                .map(|(v, &ok)| if ok { *v } else { f64::NAN })
                .collect();
            panels.push((values, Vec::new(), xl, yl));
            titles.push(name(j));
        }
    } else {
        // Higher dimensions: the evaluation points projected on pairs of
        // coordinates, coloured by the function (the first two functions of a
        // series, up to six pairs each).
        let points = domain.sample(&mut stream(exp.seed, Purpose::Evaluation, 1), 3000);
        let pairs: Vec<(usize, usize)> = (0..d)
            .flat_map(|i| ((i + 1)..d).map(move |j| (i, j)))
            .take(6)
            .collect();
        let lim = if matches!(domain, InputDomain::Gaussian { .. }) {
            3.0
        } else {
            1.0
        };
        const AXES: [&str; 8] = ["x₀", "x₁", "x₂", "x₃", "x₄", "x₅", "x₆", "x₇"];
        for (j, engine) in engines.iter().enumerate().take(2) {
            let values = engine.evaluate(gpu, &points)?;
            for &(a, b) in &pairs {
                let scatter = points
                    .chunks(d)
                    .zip(&values)
                    .map(|(p, v)| (p[a], p[b], *v))
                    .collect();
                let label = |i: usize| AXES.get(i).copied().unwrap_or("x");
                panels.push((
                    Vec::new(),
                    scatter,
                    (label(a), -lim, lim),
                    (label(b), -lim, lim),
                ));
                titles.push(format!("{} — (x{a}, x{b})", name(j)));
            }
        }
    }
    let maps: Vec<plots::GridMap<'_>> = panels
        .iter()
        .zip(&titles)
        .map(|((v, pts, x, y), t)| plots::GridMap {
            title: t,
            x: *x,
            y: *y,
            values: v,
            nx: if v.is_empty() { 0 } else { nx },
            ny: if v.is_empty() { 0 } else { ny },
            points: pts.clone(),
        })
        .collect();
    let path = out.join("function.png");
    plots::grid_maps(&path, &maps)
        .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// `occam collect --figure F --against K`: F's mean ± sd over seeds against
/// the swept key K, one line per setting of the other varying keys; or,
/// when K is a figure, against K's mean over seeds, one line per setting of
/// the varying keys other than `meta_steps` (which moves a run along such
/// an axis: trials used, say). Written to `plot` or DIR/F_vs_K.png.
pub fn collected(
    dir: &Path,
    c: &occam_experiment::collect::Collection,
    figure: &str,
    against: &str,
    plot: Option<&Path>,
) -> Result<std::path::PathBuf, Error> {
    let has = |f: &str| c.figures.iter().any(|g| g == f);
    let x_key = c.varying.iter().position(|k| k == against);
    if x_key.is_none() && !has(against) {
        return Err(Error::input(format!(
            "--against {against}: neither a key that varies between the runs (they vary: {}) nor a figure of their summary.json",
            if c.varying.is_empty() {
                "nothing".into()
            } else {
                c.varying.join(", ")
            }
        )));
    }
    if !has(figure) {
        return Err(Error::input(format!(
            "--figure {figure}: no run's summary.json has it (e.g. analysis.heldout.meta_loss_reduction, final.meta_loss)"
        )));
    }
    let mut lines: std::collections::BTreeMap<String, Vec<(f64, f64, f64)>> = Default::default();
    for s in c.settings() {
        let x = match x_key {
            Some(at) => s.values[at].parse::<f64>().map_err(|_| {
                Error::input(format!(
                    "--against {against}: value {:?} is not a number",
                    s.values[at]
                ))
            })?,
            None => match s.stats.get(against) {
                Some(&(mean, _)) => mean,
                None => continue,
            },
        };
        let Some(&(mean, sd)) = s.stats.get(figure) else {
            continue;
        };
        let others: Vec<String> = c
            .varying
            .iter()
            .zip(&s.values)
            .filter(|(k, v)| {
                // A key a setting leaves at its default says nothing.
                !v.is_empty()
                    && match x_key {
                        Some(_) => *k != against,
                        None => *k != "meta_steps",
                    }
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let label = if others.is_empty() {
            figure.to_string()
        } else {
            others.join(", ")
        };
        lines.entry(label).or_default().push((x, mean, sd));
    }
    let path = match plot {
        Some(p) => p.to_path_buf(),
        None => dir.join(format!("{figure}_vs_{against}.png").replace('/', "_")),
    };
    let series: Vec<plots::ErrorSeries> = lines
        .into_iter()
        .map(|(label, mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            plots::ErrorSeries { label, points }
        })
        .collect();
    plots::error_lines(
        &path,
        &format!("{figure} (mean ± sd over seeds)"),
        against,
        figure,
        &series,
    )
    .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    Ok(path)
}
