//! Results collected across runs (`occam collect DIR`): one row per run
//! folder below DIR (its status, seed, the configuration values that differ
//! between runs, and every numeric figure of its summary.json), and the
//! mean ± sd of each figure over the seeds of each setting.

use crate::Error;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arrays longer than this (eigenvalue lists, …) are left out of the table.
const LONGEST_ARRAY: usize = 8;

/// One run's row.
#[derive(Clone, Debug)]
pub struct Row {
    /// The run folder, relative to the collected folder.
    pub run: String,
    /// Its summary's status.
    pub status: String,
    /// Its seed.
    pub seed: u64,
    /// Every configuration value (dotted keys; arrays as TOML text).
    pub config: BTreeMap<String, String>,
    /// Every numeric figure of summary.json (dotted keys, array indices as numbers).
    pub figures: BTreeMap<String, f64>,
}

/// Every run below a folder, and the keys that vary between them.
#[derive(Clone, Debug)]
pub struct Collection {
    /// The rows, in folder order.
    pub rows: Vec<Row>,
    /// Configuration keys whose values differ between runs (seed excluded).
    pub varying: Vec<String>,
    /// Every figure some run has.
    pub figures: Vec<String>,
}

fn flatten_json(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        Value::Object(o) => {
            for (k, v) in o {
                flatten_json(&key(k), v, out);
            }
        }
        Value::Array(a) if a.len() <= LONGEST_ARRAY => {
            for (i, v) in a.iter().enumerate() {
                flatten_json(&key(&i.to_string()), v, out);
            }
        }
        _ => {}
    }
}

fn run_folders(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    if dir.join("summary.json").is_file() && dir.join("config.toml").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::input(format!("{}: {e}", dir.display())))?;
    // Real folders only: a symlinked folder is not followed (a link to a
    // parent would loop for ever, and a run is counted once).
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for d in subdirs {
        run_folders(&d, out)?;
    }
    Ok(())
}

/// Reads every run folder (one holding config.toml and summary.json) below
/// `dir`, without following symlinked folders.
pub fn collect(dir: &Path) -> Result<Collection, Error> {
    let mut folders = Vec::new();
    run_folders(dir, &mut folders)?;
    if folders.is_empty() {
        return Err(Error::input(format!(
            "{}: no run folders (config.toml with summary.json) below it",
            dir.display()
        )));
    }
    let mut rows = Vec::new();
    for f in &folders {
        let read = |name: &str| {
            std::fs::read_to_string(f.join(name))
                .map_err(|e| Error::input(format!("{}: {e}", f.join(name).display())))
        };
        let summary: Value = serde_json::from_str(&read("summary.json")?)
            .map_err(|e| Error::input(format!("{}: {e}", f.join("summary.json").display())))?;
        let config: toml::Table = toml::from_str(&read("config.toml")?)
            .map_err(|e| Error::input(format!("{}: {e}", f.join("config.toml").display())))?;
        let mut pairs = Vec::new();
        crate::sweep::flatten("", &config, &mut pairs);
        let flat_config: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.clone(), crate::sweep::value_text(v)))
            .collect();
        let mut figures = BTreeMap::new();
        for part in ["final", "analysis", "wall_s", "learner_usage"] {
            if let Some(v) = summary.get(part) {
                flatten_json(part, v, &mut figures);
            }
        }
        let run = f.strip_prefix(dir).unwrap_or(f).display().to_string();
        rows.push(Row {
            run: if run.is_empty() { ".".into() } else { run },
            status: summary["status"].as_str().unwrap_or("unknown").to_string(),
            seed: config.get("seed").and_then(|s| s.as_integer()).unwrap_or(0) as u64,
            config: flat_config,
            figures,
        });
    }
    let keys: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|r| r.config.keys()).collect();
    let varying: Vec<String> = keys
        .into_iter()
        .filter(|k| k.as_str() != "seed")
        .filter(|k| {
            let first = rows[0].config.get(*k);
            rows.iter().any(|r| r.config.get(*k) != first)
        })
        .cloned()
        .collect();
    let figures: Vec<String> = rows
        .iter()
        .flat_map(|r| r.figures.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Collection {
        rows,
        varying,
        figures,
    })
}

/// A CSV field, quoted when it needs to be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn number(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

/// One setting's statistics.
#[derive(Clone, Debug)]
pub struct Setting {
    /// The varying keys' values.
    pub values: Vec<String>,
    /// Runs (seeds) in it.
    pub n: usize,
    /// Per figure: (mean, sample sd; NaN for a single run), over the runs that have it.
    pub stats: BTreeMap<String, (f64, f64)>,
}

impl Collection {
    /// The table, one row per run.
    pub fn csv(&self) -> String {
        let mut head = vec!["run".to_string(), "status".into(), "seed".into()];
        head.extend(self.varying.iter().cloned());
        head.extend(self.figures.iter().cloned());
        let mut out = head.iter().map(|h| field(h)).collect::<Vec<_>>().join(",") + "\n";
        for r in &self.rows {
            let mut cells = vec![field(&r.run), field(&r.status), r.seed.to_string()];
            cells.extend(
                self.varying
                    .iter()
                    .map(|k| field(r.config.get(k).map_or("", String::as_str))),
            );
            cells.extend(
                self.figures
                    .iter()
                    .map(|f| number(r.figures.get(f).copied())),
            );
            out += &(cells.join(",") + "\n");
        }
        out
    }

    /// The mean ± sd of every figure over each setting's complete runs.
    pub fn settings(&self) -> Vec<Setting> {
        let mut groups: BTreeMap<Vec<String>, Vec<&Row>> = BTreeMap::new();
        for r in self.rows.iter().filter(|r| r.status == "complete") {
            let key: Vec<String> = self
                .varying
                .iter()
                .map(|k| r.config.get(k).cloned().unwrap_or_default())
                .collect();
            groups.entry(key).or_default().push(r);
        }
        // Settings in order of their values, numbers as numbers.
        let mut groups: Vec<(Vec<String>, Vec<&Row>)> = groups.into_iter().collect();
        groups.sort_by(|(a, _), (b, _)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(p), Ok(q)) => p.total_cmp(&q),
                    _ => x.cmp(y),
                })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        groups
            .into_iter()
            .map(|(values, runs)| {
                let stats = self
                    .figures
                    .iter()
                    .filter_map(|f| {
                        let xs: Vec<f64> = runs
                            .iter()
                            .filter_map(|r| r.figures.get(f).copied())
                            .collect();
                        if xs.is_empty() {
                            return None;
                        }
                        let n = xs.len() as f64;
                        let mean = xs.iter().sum::<f64>() / n;
                        let sd = if xs.len() > 1 {
                            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                        } else {
                            f64::NAN
                        };
                        Some((f.clone(), (mean, sd)))
                    })
                    .collect();
                Setting {
                    values,
                    n: runs.len(),
                    stats,
                }
            })
            .collect()
    }

    /// The per-setting table: the varying keys, n, then mean and sd of each figure.
    pub fn settings_csv(&self) -> String {
        let mut head: Vec<String> = self.varying.clone();
        head.push("n".into());
        for f in &self.figures {
            head.push(format!("{f}.mean"));
            head.push(format!("{f}.sd"));
        }
        let mut out = head.iter().map(|h| field(h)).collect::<Vec<_>>().join(",") + "\n";
        for s in self.settings() {
            let mut cells: Vec<String> = s.values.iter().map(|v| field(v)).collect();
            cells.push(s.n.to_string());
            for f in &self.figures {
                let (m, sd) = s.stats.get(f).copied().map_or((None, None), |(m, sd)| {
                    (Some(m), sd.is_finite().then_some(sd))
                });
                cells.push(number(m));
                cells.push(number(sd));
            }
            out += &(cells.join(",") + "\n");
        }
        out
    }

    /// Everything as JSON: the runs and the settings.
    pub fn json(&self) -> Value {
        json!({
            "varying": self.varying,
            "runs": self.rows.iter().map(|r| json!({
                "run": r.run,
                "status": r.status,
                "seed": r.seed,
                "setting": self.varying.iter().map(|k| (k.clone(), json!(r.config.get(k)))).collect::<serde_json::Map<_, _>>(),
                "config": r.config,
                "figures": r.figures,
            })).collect::<Vec<_>>(),
            "settings": self.settings().iter().map(|s| json!({
                "setting": self.varying.iter().cloned().zip(s.values.iter().cloned()).collect::<BTreeMap<_, _>>(),
                "n": s.n,
                "figures": s.stats.iter().map(|(f, (m, sd))| (f.clone(), json!({ "mean": m, "sd": if sd.is_finite() { json!(sd) } else { json!(null) } }))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn run_folders_are_found_without_following_symlinked_folders() {
        let base = std::env::temp_dir().join(format!("occam-collect-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let run = base.join("a/seed0");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.toml"), "").unwrap();
        std::fs::write(run.join("summary.json"), "{}").unwrap();
        // A loop back to the top, and a second path to the same run.
        std::os::unix::fs::symlink(&base, base.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(&run, base.join("again")).unwrap();
        let mut found = Vec::new();
        super::run_folders(&base, &mut found).unwrap();
        assert_eq!(found, vec![run]);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
