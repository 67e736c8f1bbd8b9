//! Checkpoints of a run in progress (`checkpoint.json` in its folder): what
//! `occam run --resume DIR` needs to continue to exactly the numbers an
//! uninterrupted run gives.
//!
//! Task data is drawn from counter-based streams keyed by (seed, purpose,
//! meta-step), so the random state is the position in the run. θ and the
//! optimiser state are kept as the bit patterns of the f32 values the GPU
//! holds; every f64 is written in its shortest exact decimal form.

use crate::Error;
use crate::output::atomic;
use occam_meta::engine::MetaState;
use occam_meta::loss::{LossTerm, TermValues};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The checkpoint's file name in a run's folder.
pub const FILE: &str = "checkpoint.json";

/// The version of the checkpoint layout this build writes and reads.
const FORMAT: u32 = 1;

/// A learned function's loss curve and held-out losses, term values in the
/// problem's term order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedCurves {
    /// The meta-loss terms on the held-out tasks at the initial θ.
    pub initial_heldout: Vec<f64>,
    /// (meta-step, term values) at every logged meta-step so far.
    pub curves: Vec<(f64, Vec<f64>)>,
    /// The term values at the last logged meta-step.
    pub last: Vec<f64>,
    /// Seconds spent meta-learning this function so far.
    pub wall_s: f64,
}

/// A function of a series learned before the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DoneFunction {
    /// Its trained θ (f32 values as f64).
    pub theta: Vec<f64>,
    /// Its curves.
    pub curves: SavedCurves,
}

/// A run stopped after `next_step` meta-steps of function `function`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    /// The checkpoint layout version.
    pub format: u32,
    /// The experiment's name and seed (checked against config.toml).
    pub experiment: String,
    /// The run seed.
    pub seed: u64,
    /// The folder the experiment file was in (paths of external programs
    /// are relative to it).
    pub base_dir: PathBuf,
    /// The function being learned (0 unless a series).
    pub function: usize,
    /// Meta-steps of that function done.
    pub next_step: usize,
    /// Bytes of metrics.jsonl written up to this point.
    pub metrics_bytes: u64,
    /// Each learner's count (an animal's trials), in problem order.
    pub usage: Vec<Option<u64>>,
    /// The same counts by what they were spent on.
    #[serde(default)]
    pub usage_by_purpose: Vec<Option<UsageByPurpose>>,
    /// What each learner remembers across meta-steps (a black box's past
    /// sessions), in problem order.
    #[serde(default)]
    pub memory: Vec<Option<serde_json::Value>>,
    /// Optimiser steps taken on θ.
    pub optimizer_steps: u64,
    /// θ, as f32 bit patterns.
    pub theta_bits: Vec<u32>,
    /// The optimiser's first-moment state, as f32 bit patterns.
    pub optimizer_m_bits: Vec<u32>,
    /// The optimiser's second-moment state, as f32 bit patterns.
    pub optimizer_v_bits: Vec<u32>,
    /// The function's curves so far.
    pub current: SavedCurves,
    /// Functions of a series finished before this one.
    pub done: Vec<DoneFunction>,
    /// The whole resolved configuration the run started with (config.toml
    /// as first written); a resume refuses a config.toml that differs.
    /// Absent in checkpoints of earlier versions, which are checked by
    /// name and seed only.
    #[serde(default)]
    pub config: Option<String>,
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn floats(v: &[u32]) -> Vec<f32> {
    v.iter().map(|&x| f32::from_bits(x)).collect()
}

impl Checkpoint {
    /// The engine state it holds.
    pub fn state(&self) -> MetaState {
        MetaState {
            theta: floats(&self.theta_bits),
            opt_m: floats(&self.optimizer_m_bits),
            opt_v: floats(&self.optimizer_v_bits),
            steps: self.optimizer_steps,
        }
    }

    /// Stores an engine state.
    pub fn set_state(&mut self, state: &MetaState) {
        self.theta_bits = bits(&state.theta);
        self.optimizer_m_bits = bits(&state.opt_m);
        self.optimizer_v_bits = bits(&state.opt_v);
        self.optimizer_steps = state.steps;
    }

    /// A checkpoint with no engine state yet, for a run of the resolved
    /// configuration `config` (its TOML).
    pub fn new(experiment: &str, seed: u64, base_dir: &Path, config: &str) -> Checkpoint {
        Checkpoint {
            config: Some(config.to_string()),
            format: FORMAT,
            experiment: experiment.to_string(),
            seed,
            base_dir: base_dir.to_path_buf(),
            function: 0,
            next_step: 0,
            metrics_bytes: 0,
            usage: Vec::new(),
            usage_by_purpose: Vec::new(),
            memory: Vec::new(),
            optimizer_steps: 0,
            theta_bits: Vec::new(),
            optimizer_m_bits: Vec::new(),
            optimizer_v_bits: Vec::new(),
            current: SavedCurves {
                initial_heldout: Vec::new(),
                curves: Vec::new(),
                last: Vec::new(),
                wall_s: 0.0,
            },
            done: Vec::new(),
        }
    }

    /// Checks what the file claims against the run it belongs to, before
    /// anything is restored from it: θ with `n_params` finite values, the
    /// optimiser's moments empty or as long and finite, its step count equal
    /// to the meta-steps done (each function starts a fresh optimiser).
    /// Errors name the file and the field: a damaged checkpoint is reported
    /// as such, never as a diverged run.
    pub fn validate(&self, dir: &Path, n_params: usize) -> Result<(), Error> {
        let path = dir.join(FILE);
        let bad = |field: &str, why: String| {
            Error::input(format!(
                "{}: {field}: {why}; the checkpoint does not fit the run in config.toml beside it (restore both from the same run, or start the run again)",
                path.display()
            ))
        };
        if self.theta_bits.len() != n_params {
            return Err(bad(
                "theta_bits",
                format!(
                    "holds {} values where the meta-learner of config.toml has {n_params} parameters",
                    self.theta_bits.len()
                ),
            ));
        }
        for (field, v) in [
            ("optimizer_m_bits", &self.optimizer_m_bits),
            ("optimizer_v_bits", &self.optimizer_v_bits),
        ] {
            if !v.is_empty() && v.len() != n_params {
                return Err(bad(
                    field,
                    format!("holds {} values where θ has {n_params}", v.len()),
                ));
            }
        }
        for (field, v) in [
            ("theta_bits", &self.theta_bits),
            ("optimizer_m_bits", &self.optimizer_m_bits),
            ("optimizer_v_bits", &self.optimizer_v_bits),
        ] {
            if let Some(i) = v.iter().position(|&b| !f32::from_bits(b).is_finite()) {
                return Err(bad(
                    field,
                    format!(
                        "value {i} is {} (the file is damaged)",
                        f32::from_bits(v[i])
                    ),
                ));
            }
        }
        if self.optimizer_steps != self.next_step as u64 {
            return Err(bad(
                "optimizer_steps",
                format!(
                    "is {} where the function has {} meta-steps done (next_step)",
                    self.optimizer_steps, self.next_step
                ),
            ));
        }
        Ok(())
    }

    /// Writes it into `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(FILE);
        let text = serde_json::to_string(self).expect("a checkpoint serialises");
        atomic(&path, |tmp| std::fs::write(tmp, text)).map_err(|e| {
            Error::internal(format!(
                "{}: cannot write the checkpoint: {e}",
                path.display()
            ))
        })
    }

    /// Reads the checkpoint of `dir`, if it has one.
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>, Error> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::input(format!("{}: {e}", path.display()))),
        };
        let c: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            Error::input(format!(
                "{}: not a checkpoint of this version of occam: {e}",
                path.display()
            ))
        })?;
        if c.format != FORMAT {
            return Err(Error::input(format!(
                "{}: checkpoint format {} (this occam reads format {FORMAT})",
                path.display(),
                c.format
            )));
        }
        Ok(Some(c))
    }

    /// Removes the checkpoint of `dir` (once the run is complete).
    pub fn remove(dir: &Path) -> Result<(), Error> {
        let path = dir.join(FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!("{}: {e}", path.display()))),
        }
    }
}

/// Term values in order.
pub fn values(t: &TermValues) -> Vec<f64> {
    t.terms.iter().map(|v| v.value).collect()
}

/// Term values back, for the problem's `terms`; errors when the counts differ.
pub fn term_values(terms: &[Arc<dyn LossTerm>], values: &[f64]) -> Result<TermValues, Error> {
    let mut t = TermValues::zeros(terms);
    if values.len() != t.terms.len() {
        return Err(Error::input(format!(
            "{FILE}: holds {} loss terms where the experiment has {}",
            values.len(),
            t.terms.len()
        )));
    }
    for (v, &x) in t.terms.iter_mut().zip(values) {
        v.value = x;
    }
    Ok(t)
}

/// The keys whose values differ between two configurations (TOML texts), as
/// `key: was A, now B` (a key only one of them has: `was absent` or `now
/// absent`), in key order; `None` when either text is not TOML.
pub fn changed_keys(before: &str, after: &str) -> Option<Vec<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let parse = |text: &str| -> Option<BTreeMap<String, String>> {
        let mut pairs = Vec::new();
        crate::sweep::flatten("", &text.parse::<toml::Table>().ok()?, &mut pairs);
        Some(pairs.into_iter().map(|(k, v)| (k, v.to_string())).collect())
    };
    let (a, b) = (parse(before)?, parse(after)?);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    Some(
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| {
                let show = |v: Option<&String>| v.map_or("absent".to_string(), |v| v.clone());
                format!("{k}: was {}, now {}", show(a.get(k)), show(b.get(k)))
            })
            .collect(),
    )
}

/// What a learner's count (an animal's trials) was spent on over a run:
/// the meta-steps, the held-out evaluations (at the initial and the final
/// θ of each function) and the analyses of the final labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageByPurpose {
    /// The meta-steps (every fit of every task, perturbations included).
    pub meta_learning: u64,
    /// The held-out meta-loss at the initial and the final θ.
    pub heldout: u64,
    /// The learner's own fits of the final labels (`analysis.learner_error`).
    pub analysis: u64,
}

impl UsageByPurpose {
    /// The sum over purposes.
    pub fn total(&self) -> u64 {
        self.meta_learning + self.heldout + self.analysis
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn changed_keys_names_every_changed_added_and_removed_key() {
        let before = "name = \"q\"\n[optimizer]\nlr = 0.01\nkind = \"adam\"\n[data]\ntrain = 30\n";
        let after = "name = \"q\"\n[optimizer]\nlr = 0.02\nkind = \"adam\"\n[data]\ntest = 5\n";
        assert_eq!(
            super::changed_keys(before, after).unwrap(),
            vec![
                "data.test: was absent, now 5",
                "data.train: was 30, now absent",
                "optimizer.lr: was 0.01, now 0.02",
            ]
        );
        assert_eq!(
            super::changed_keys(before, before).unwrap(),
            Vec::<String>::new()
        );
        assert!(super::changed_keys("not = toml = x", before).is_none());
    }
}
