//! Sweeps: one base experiment run over grids or lists of settings of any
//! keys and over seeds, as a deterministic list of runs with stable folder
//! names, cut into shards (a SLURM job array's tasks) that skip finished
//! runs and resume interrupted ones.
//!
//! A sweep file:
//!
//! ```toml
//! experiment = "quickstart.toml"     # relative to the sweep file
//! seeds = "0..2"                     # or [0, 1, 2]; default: the file's seed
//! out = "runs/lr-sweep"              # default: runs/<sweep file name>
//! [set]                              # fixed for every run
//! meta_steps = 20
//! [grid]                             # every combination
//! "optimizer.lr" = [0.003, 0.01]
//! [[points]]                         # and/or a list of settings
//! "learner.steps" = 50
//! ```
//!
//! The runs are every grid combination × every point × every seed, in that
//! order (keys sorted by name); run k of n shards goes to shard k mod n.

use crate::Error;
use crate::config::Experiment;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A sweep file as written (its keys are documented in docs/config.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    experiment: String,
    #[serde(default)]
    seeds: Option<toml::Value>,
    #[serde(default)]
    out: Option<String>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    points: Vec<toml::Table>,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRun {
    /// Its setting: the swept keys and their values, as `key=value` overrides.
    pub setting: Vec<(String, toml::Value)>,
    /// Its seed.
    pub seed: u64,
    /// Its folder: `OUT/<setting label>/seed<S>`.
    pub dir: PathBuf,
}

impl SweepRun {
    /// The setting as a folder name: `key=value,key=value` (`base` with no
    /// swept keys).
    pub fn label(&self) -> String {
        label(&self.setting)
    }

    /// The run's stable name, `<label>/seed<S>`.
    pub fn name(&self) -> String {
        format!("{}/seed{}", self.label(), self.seed)
    }
}

/// A whole sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The base experiment file.
    pub experiment: PathBuf,
    /// Overrides every run gets, before its setting.
    pub fixed: Vec<String>,
    /// The folder holding every run.
    pub out: PathBuf,
    /// Every run, in order.
    pub runs: Vec<SweepRun>,
}

/// A value as text: strings bare, everything else as TOML.
pub(crate) fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn label(setting: &[(String, toml::Value)]) -> String {
    if setting.is_empty() {
        return "base".into();
    }
    setting
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(",")
        .chars()
        .map(|c| match c {
            '/' | '\\' | ' ' | '"' | '\'' | ':' | '*' | '?' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect()
}

/// The seed is the sweep's own dimension (`seeds`): as a key of `[set]`,
/// `[grid]` or `[[points]]` it would be overridden by the run's seed, so
/// several folders would run one seed. Refused, naming the table.
fn refuse_seed_key(
    name: &impl std::fmt::Display,
    table: &str,
    keys: &[(String, toml::Value)],
) -> Result<(), Error> {
    if keys.iter().any(|(k, _)| k == "seed") {
        return Err(Error::input(format!(
            "{name}: {table}.seed: the seeds of a sweep are its `seeds` key (\"A..B\" or a list), not a setting"
        )));
    }
    Ok(())
}

/// A setting value in a form where the same setting has one text: numbers
/// by value (1 and 1.0 alike), arrays element by element, anything else as
/// written.
fn canonical(v: &toml::Value) -> String {
    match v {
        // Exactly: integers beyond 2^53 keep their own text.
        toml::Value::Integer(x) if x.unsigned_abs() <= 1 << 53 => format!("{}", *x as f64),
        toml::Value::Integer(x) => format!("{x}"),
        toml::Value::Float(x) => format!("{x}"),
        toml::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The `key=value` override of one setting entry.
pub fn assignment(key: &str, value: &toml::Value) -> String {
    format!("{key}={value}")
}

/// Flattens `[set]`-style tables: `a.b = 1` and `[a] b = 1` both give `a.b`.
pub(crate) fn flatten(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

impl Sweep {
    /// Reads a sweep file and checks every run's configuration (errors name
    /// the run and the key; no run starts on a bad sweep).
    pub fn load(path: &Path) -> Result<Sweep, Error> {
        let name = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("{name}: cannot read the sweep file: {e}")))?;
        let file: SweepFile = serde_path_to_error::deserialize(
            toml::Deserializer::parse(&text).map_err(|e| Error::input(format!("{name}: {e}")))?,
        )
        .map_err(|e| Error::input(format!("{name}: {}: {}", e.path(), e.inner().message())))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let experiment = base.join(&file.experiment);
        let mut fixed = Vec::new();
        flatten("", &file.set, &mut fixed);
        refuse_seed_key(&name, "set", &fixed)?;
        let fixed: Vec<String> = fixed.iter().map(|(k, v)| assignment(k, v)).collect();
        let mut grid = Vec::new();
        flatten("", &file.grid, &mut grid);
        refuse_seed_key(&name, "grid", &grid)?;
        // Every grid key lists its values, no two of them equal (1 and 1.0
        // are one setting, which would run twice in two folders).
        let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
        for (k, v) in grid {
            match v {
                toml::Value::Array(values) if !values.is_empty() => {
                    let mut seen = std::collections::HashMap::new();
                    for v in &values {
                        if let Some(first) = seen.insert(canonical(v), v) {
                            return Err(Error::input(format!(
                                "{name}: grid.{k}: lists one value twice ({first} and {v})"
                            )));
                        }
                    }
                    axes.push((k, values))
                }
                _ => {
                    return Err(Error::input(format!(
                        "{name}: grid.{k}: must list at least one value"
                    )));
                }
            }
        }
        // The number of settings, before any is listed.
        let settings = axes
            .iter()
            .map(|(_, v)| v.len() as u128)
            .chain([file.points.len().max(1) as u128])
            .product::<u128>();
        let too_many = |runs: u128| {
            Error::input(format!(
                "{name}: {runs} runs (grid × points × seeds), more than the {} one sweep may hold",
                crate::seeds::MAX_RUNS
            ))
        };
        if settings > crate::seeds::MAX_RUNS as u128 {
            return Err(too_many(settings));
        }
        let mut combos: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (k, values) in &axes {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((k.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        let points: Vec<Vec<(String, toml::Value)>> = if file.points.is_empty() {
            vec![Vec::new()]
        } else {
            file.points
                .iter()
                .map(|p| {
                    let mut v = Vec::new();
                    flatten("", p, &mut v);
                    refuse_seed_key(&name, "points", &v)?;
                    Ok(v)
                })
                .collect::<Result<_, Error>>()?
        };
        let default_out = format!(
            "runs/{}",
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into())
        );
        let out = PathBuf::from(file.out.unwrap_or(default_out));
        // The seeds: the sweep's, or the base experiment's own.
        let seeds: Vec<u64> = match &file.seeds {
            None => vec![Experiment::load(&experiment, &fixed)?.seed],
            Some(toml::Value::String(spec)) => crate::seeds::parse(spec)
                .map_err(|e| Error::input(format!("{name}: seeds: {}", e.message())))?,
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_integer()
                        .and_then(|i| u64::try_from(i).ok())
                        .ok_or_else(|| Error::input(format!("{name}: seeds: {v} is not a seed")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(Error::input(format!(
                    "{name}: seeds: expected \"A..B\" or a list, found {other}"
                )));
            }
        };
        if seeds.is_empty() {
            return Err(Error::input(format!(
                "{name}: seeds: lists no seed, so the sweep would run nothing"
            )));
        }
        if crate::seeds::repeats_a_seed(&seeds) {
            return Err(Error::input(format!("{name}: seeds: a seed is repeated")));
        }
        if settings * seeds.len() as u128 > crate::seeds::MAX_RUNS as u128 {
            return Err(too_many(settings * seeds.len() as u128));
        }
        let mut runs = Vec::new();
        for combo in &combos {
            for point in &points {
                let mut setting = combo.clone();
                for (k, v) in point {
                    if setting.iter().any(|(s, _)| s == k) {
                        return Err(Error::input(format!(
                            "{name}: {k} is both a grid key and a point key"
                        )));
                    }
                    setting.push((k.clone(), v.clone()));
                }
                setting.sort_by(|a, b| a.0.cmp(&b.0));
                for &seed in &seeds {
                    let run = SweepRun {
                        setting: setting.clone(),
                        seed,
                        dir: PathBuf::new(),
                    };
                    let dir = out.join(run.label()).join(format!("seed{seed}"));
                    runs.push(SweepRun { dir, ..run });
                }
            }
        }
        // Two points (or a point and a grid combination) that give the same
        // setting, up to 1 = 1.0, would be one run in two folders.
        let mut seen = std::collections::HashMap::new();
        for run in &runs {
            let key: Vec<String> = run
                .setting
                .iter()
                .map(|(k, v)| format!("{k}={}", canonical(v)))
                .chain([format!("seed={}", run.seed)])
                .collect();
            if let Some(first) = seen.insert(key, run) {
                return Err(Error::input(format!(
                    "{name}: runs {} and {} are the same setting",
                    first.name(),
                    run.name()
                )));
            }
        }
        let mut names: Vec<String> = runs.iter().map(SweepRun::name).collect();
        names.sort();
        names.dedup();
        if names.len() != runs.len() {
            return Err(Error::input(format!(
                "{name}: two runs would share a folder (a setting or seed is repeated)"
            )));
        }
        let sweep = Sweep {
            experiment,
            fixed,
            out,
            runs,
        };
        for run in &sweep.runs {
            sweep
                .experiment_of(run)?
                .resolve()
                .map_err(|e| e.context(&format!("{name}: run {}", run.name())))?;
        }
        Ok(sweep)
    }

    /// The experiment of one run: the base file with the fixed overrides,
    /// the run's setting and its seed.
    pub fn experiment_of(&self, run: &SweepRun) -> Result<Experiment, Error> {
        let mut overrides = self.fixed.clone();
        overrides.extend(run.setting.iter().map(|(k, v)| assignment(k, v)));
        overrides.push(format!("seed={}", run.seed));
        Experiment::load(&self.experiment, &overrides)
            .map_err(|e| e.context(&format!("run {}", run.name())))
    }

    /// The runs of shard `index` of `count` (run k goes to shard k mod count).
    pub fn shard(&self, index: usize, count: usize) -> Vec<&SweepRun> {
        self.runs
            .iter()
            .enumerate()
            .filter(|(k, _)| k % count == index)
            .map(|(_, r)| r)
            .collect()
    }
}

/// Parses `--shard i/n` (0 ≤ i < n).
pub fn parse_shard(spec: &str) -> Result<(usize, usize), Error> {
    let bad = || Error::input(format!("--shard {spec:?}: expected i/n with 0 <= i < n"));
    let (i, n) = spec.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The shard of a SLURM job-array task, from the environment:
/// SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT
/// (`None` outside a job array).
pub fn shard_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<(usize, usize)>, Error> {
    let num = |k: &str| -> Result<Option<usize>, Error> {
        match get(k) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::input(format!("{k}={v:?} is not a number"))),
        }
    };
    let (Some(id), Some(count)) = (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
    else {
        return Ok(None);
    };
    let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
    let index = id.checked_sub(min).filter(|&i| i < count).ok_or_else(|| {
        Error::input(format!(
            "SLURM_ARRAY_TASK_ID {id} is not within SLURM_ARRAY_TASK_MIN {min} + SLURM_ARRAY_TASK_COUNT {count}; use a contiguous --array"
        ))
    })?;
    Ok(Some((index, count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_runs_and_follow_slurm() {
        assert_eq!(parse_shard("1/3").unwrap(), (1, 3));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert_eq!(parse_shard(bad).unwrap_err().exit_code(), 2, "{bad}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(shard_from_env(env(&[])).unwrap(), None);
        assert_eq!(
            shard_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ]))
            .unwrap(),
            Some((2, 4))
        );
        // --array=1-4: ids 1..4, min 1.
        assert_eq!(
            shard_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "4"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ]))
            .unwrap(),
            Some((3, 4))
        );
        assert!(
            shard_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "9"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ]))
            .is_err()
        );
    }
}
