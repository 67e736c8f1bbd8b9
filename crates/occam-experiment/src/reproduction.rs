//! The reproduction report: each figure of the paper as an experiment run
//! over several seeds, its quantities read from every run's summary.json,
//! set beside the paper's values with a verdict, and written as one
//! Markdown page with seed 0's picture of each figure.
//!
//! A report file:
//!
//! ```toml
//! out = "runs/reproduction"          # the runs: OUT/<figure id>/seed<S>
//! document = "docs/reproduction.md"  # the page (its images beside it)
//! seeds = 5                          # per figure, unless it says otherwise
//! [set]                              # overrides for every run
//! [[figure]]
//! id = "ridge_disk"                  # a folder name
//! figure = "2B"                      # the paper's figure
//! title = "Linear ridge regression on the disk"
//! experiment = "ridge_disk.toml"     # relative to the report file
//! seeds = 3                          # optional
//! image = "function.png"             # seed 0's picture on the page
//! [figure.set]                       # overrides for this figure's runs
//! [[figure.quantity]]
//! name = "affine-fit R²"
//! key = "analysis.linear_fit.r2"     # a dotted path into summary.json
//! paper = "≈ 1"                      # the paper's value, as text
//! at_least = 0.98                    # the verdict: at_least / at_most
//! ```
//!
//! The runs are a sweep per figure (seeds 0 … n − 1), so finished runs are
//! skipped and interrupted ones resumed, and a shard of them can run on
//! each task of a SLURM job array; the page is written from whatever runs
//! are complete, saying for each row how many seeds it holds.

use crate::Error;
use crate::collect;
use crate::sweep::{Sweep, SweepRun, assignment, flatten};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A report file as written (its keys are documented in docs/config.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFile {
    out: String,
    document: String,
    seeds: u64,
    #[serde(default)]
    set: toml::Table,
    figure: Vec<FigureFile>,
}

/// One `[[figure]]` of a report file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureFile {
    id: String,
    figure: String,
    title: String,
    experiment: String,
    #[serde(default)]
    seeds: Option<u64>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    set: toml::Table,
    quantity: Vec<Quantity>,
}

/// One quantity of a figure: where summary.json holds it, the paper's
/// value, and the bounds Occam's mean must keep to match it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// What it is, for the page.
    pub name: String,
    /// A dotted path into summary.json (array indices as numbers).
    pub key: String,
    /// The paper's value, as the page shows it.
    pub paper: String,
    /// The mean must be at least this.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// The mean must be at most this.
    #[serde(default)]
    pub at_most: Option<f64>,
}

/// A figure: its runs (one sweep over seeds) and what the page reports.
pub struct Figure {
    /// Its folder name under the report's `out`.
    pub id: String,
    /// The paper's figure.
    pub figure: String,
    /// Its title.
    pub title: String,
    /// Its runs.
    pub sweep: Sweep,
    /// The picture of seed 0 shown on the page.
    pub image: Option<String>,
    /// Markdown shown under its table (how it is measured, why it differs).
    pub note: Option<String>,
    /// Its quantities.
    pub quantities: Vec<Quantity>,
}

/// A whole report.
pub struct Report {
    /// The page to write.
    pub document: PathBuf,
    /// Every figure, in the file's order.
    pub figures: Vec<Figure>,
}

/// One row of the page: a quantity over a figure's complete runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The mean over the runs that have the quantity (NaN when none has).
    pub mean: f64,
    /// The sample standard deviation (NaN below two runs).
    pub sd: f64,
    /// How many runs have it.
    pub n: usize,
    /// How many seeds the figure asks for.
    pub seeds: usize,
    /// "matches", "short of the paper", "reported" (no bound) or "not run".
    pub verdict: &'static str,
}

impl Quantity {
    /// The verdict on `mean` over `n` runs.
    fn verdict(&self, mean: f64, n: usize) -> &'static str {
        if n == 0 {
            return "not run";
        }
        let low = self.at_least.is_none_or(|b| mean >= b);
        let high = self.at_most.is_none_or(|b| mean <= b);
        match (
            self.at_least.is_some() || self.at_most.is_some(),
            low && high,
        ) {
            (false, _) => "reported",
            (true, true) => "matches",
            (true, false) => "short of the paper",
        }
    }
}

impl Report {
    /// Reads a report file and checks every run's configuration (errors
    /// name the figure and the key; nothing runs on a bad report).
    pub fn load(path: &Path) -> Result<Report, Error> {
        let name = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("{name}: cannot read the report file: {e}")))?;
        let file: ReportFile = serde_path_to_error::deserialize(
            toml::Deserializer::parse(&text).map_err(|e| Error::input(format!("{name}: {e}")))?,
        )
        .map_err(|e| Error::input(format!("{name}: {}: {}", e.path(), e.inner().message())))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let out = PathBuf::from(&file.out);
        let mut ids = std::collections::BTreeSet::new();
        let mut figures = Vec::new();
        for (i, f) in file.figure.into_iter().enumerate() {
            let at = format!("{name}: figure[{i}]");
            if f.id.is_empty() || f.id.contains(['/', '\\', '.']) || !ids.insert(f.id.clone()) {
                return Err(Error::input(format!(
                    "{at}.id: {:?} must be a folder name of its own (no '/', '\\\\' or '.', not used twice)",
                    f.id
                )));
            }
            let seeds = f.seeds.unwrap_or(file.seeds);
            if seeds == 0 || seeds > crate::seeds::MAX_RUNS as u64 {
                return Err(Error::input(format!(
                    "{at}.seeds: {seeds} seeds; give 1 to {}",
                    crate::seeds::MAX_RUNS
                )));
            }
            if f.quantity.is_empty() {
                return Err(Error::input(format!("{at}.quantity: list at least one")));
            }
            let mut fixed = Vec::new();
            flatten("", &file.set, &mut fixed);
            flatten("", &f.set, &mut fixed);
            if fixed.iter().any(|(k, _)| k == "seed") {
                return Err(Error::input(format!(
                    "{at}.set.seed: a figure's seeds are 0 … seeds − 1, not a setting"
                )));
            }
            let dir = out.join(&f.id);
            let sweep = Sweep {
                experiment: base.join(&f.experiment),
                fixed: fixed.iter().map(|(k, v)| assignment(k, v)).collect(),
                out: dir.clone(),
                runs: (0..seeds)
                    .map(|seed| SweepRun {
                        setting: Vec::new(),
                        seed,
                        dir: dir.join(format!("seed{seed}")),
                    })
                    .collect(),
            };
            for run in &sweep.runs {
                sweep
                    .experiment_of(run)
                    .and_then(|e| e.resolve().map(|_| ()))
                    .map_err(|e| e.context(&format!("{at} ({})", f.id)))?;
            }
            figures.push(Figure {
                id: f.id,
                figure: f.figure,
                title: f.title,
                sweep,
                image: f.image,
                note: f.note,
                quantities: f.quantity,
            });
        }
        if figures.is_empty() {
            return Err(Error::input(format!("{name}: figure: list at least one")));
        }
        Ok(Report {
            document: PathBuf::from(file.document),
            figures,
        })
    }

    /// Every run of every figure, in order: (name, folder) with the sweep
    /// and run that make its experiment.
    pub fn runs(&self) -> Vec<(&Sweep, &SweepRun, String)> {
        self.figures
            .iter()
            .flat_map(|f| {
                f.sweep
                    .runs
                    .iter()
                    .map(move |r| (&f.sweep, r, format!("{}/seed{}", f.id, r.seed)))
            })
            .collect()
    }

    /// The rows of one figure, from its complete runs.
    pub fn rows(&self, figure: &Figure) -> Vec<(Quantity, Row)> {
        let complete: Vec<collect::Row> = collect::collect(&figure.sweep.out)
            .map(|c| c.rows)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.status == "complete")
            // Only this figure's seeds (a folder left from a longer report is not counted).
            .filter(|r| {
                figure
                    .sweep
                    .runs
                    .iter()
                    .any(|x| r.run == format!("seed{}", x.seed))
            })
            .collect();
        figure
            .quantities
            .iter()
            .map(|q| {
                let values: Vec<f64> = complete
                    .iter()
                    .filter_map(|r| r.figures.get(&q.key).copied())
                    .filter(|v| v.is_finite())
                    .collect();
                let n = values.len();
                let mean = values.iter().sum::<f64>() / n as f64;
                let sd = if n > 1 {
                    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
                } else {
                    f64::NAN
                };
                let row = Row {
                    mean,
                    sd,
                    n,
                    seeds: figure.sweep.runs.len(),
                    verdict: q.verdict(mean, n),
                };
                (q.clone(), row)
            })
            .collect()
    }

    /// Writes the page and copies each figure's seed-0 picture beside it
    /// (`<document stem>/<id>.png`); returns the page's text.
    pub fn write(&self) -> Result<String, Error> {
        let io = |p: &Path, e: std::io::Error| Error::input(format!("{}: {e}", p.display()));
        let images = self.document.with_extension("");
        let image_dir_name = images
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "reproduction".into());
        let mut page = String::new();
        let _ = writeln!(
            page,
            "# Reproduction report\n\n\
             Each figure of Dorrell, Yuffa & Latham (ICML 2023) as an Occam experiment run \
             over several seeds: the paper's value, Occam's mean ± sd over the complete \
             runs (n of the seeds asked for) and the verdict. Written by `occam report`; \
             the runs are in the report file's `out`.\n\n\
             | figure | quantity | paper | Occam (mean ± sd) | n | verdict |\n\
             |---|---|---|---|---|---|"
        );
        let mut sections = String::new();
        for f in &self.figures {
            let rows = self.rows(f);
            let _ = writeln!(sections, "\n## Figure {}: {}\n", f.figure, f.title);
            let _ = writeln!(
                sections,
                "Experiment `{}`{}.\n",
                f.sweep.experiment.display(),
                if f.sweep.fixed.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", f.sweep.fixed.join(", "))
                }
            );
            let _ = writeln!(
                sections,
                "| quantity | paper | Occam (mean ± sd) | n | verdict |\n|---|---|---|---|---|"
            );
            for (q, r) in &rows {
                let value = if r.n == 0 {
                    "—".to_string()
                } else if r.n == 1 {
                    format!("{:.4}", r.mean)
                } else {
                    format!("{:.4} ± {:.4}", r.mean, r.sd)
                };
                let n = format!("{} of {}", r.n, r.seeds);
                let _ = writeln!(
                    page,
                    "| {} | {} | {} | {value} | {n} | {} |",
                    f.figure, q.name, q.paper, r.verdict
                );
                let _ = writeln!(
                    sections,
                    "| {} (`{}`) | {} | {value} | {n} | {} |",
                    q.name, q.key, q.paper, r.verdict
                );
            }
            if let Some(note) = &f.note {
                let _ = writeln!(sections, "\n{}", note.trim());
            }
            if let Some(image) = &f.image {
                let from = f.sweep.out.join("seed0").join(image);
                if from.is_file() {
                    std::fs::create_dir_all(&images).map_err(|e| io(&images, e))?;
                    let to = images.join(format!("{}.png", f.id));
                    std::fs::copy(&from, &to).map_err(|e| io(&to, e))?;
                    let _ = writeln!(
                        sections,
                        "\n![Figure {} at seed 0]({image_dir_name}/{}.png)",
                        f.figure, f.id
                    );
                }
            }
        }
        page.push_str(&sections);
        if let Some(dir) = self.document.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        crate::output::atomic(&self.document, |tmp| std::fs::write(tmp, &page))
            .map_err(|e| io(&self.document, e))?;
        Ok(page)
    }
}
