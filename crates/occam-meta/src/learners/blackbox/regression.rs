//! The least-squares estimator of a black box's Jacobian (docs/design.md §10):
//! every session ever run on a fixed stimulus set — the labels u_i it was
//! shown and its answers y_i — is kept, and the learner's map from labels to
//! answers is fitted as an affine model by ridge least squares on the last
//! `window` sessions of that set:
//!
//! ```text
//! ū, ȳ = means over the sessions,   U = [u_i − ū],   Y = [y_i − ȳ]
//! Ĵ = Yᵀ U (Uᵀ U + μ I)⁻¹,          μ = ridge · tr(UᵀU) / m
//! ŷ(z) = ȳ + Ĵ (z − ū),             z̄ = Ĵᵀ ŷ̄
//! ```
//!
//! A learner linear in its labels (ridge, kernel ridge) answers exactly
//! y = J u + c, so once the window holds m + 1 sessions whose labels are
//! affinely independent, Ĵ = J and ŷ(z) is its fit, up to the O(μ) of the
//! ridge term. Sessions show z + σ ε (ε ~ N(0, I)), so that consecutive
//! sessions, whose z barely move between meta-steps, still span every
//! direction; the model is refreshed by a session only every `refresh`
//! meta-steps, and in between the meta-step costs no trials.

use crate::error::Result;
use crate::learners::invalid;
use occam_ops::ridge::{cholesky, cholesky_solve};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How the regression estimator runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionSettings {
    /// The most recent sessions of a stimulus set the model is fitted on.
    pub window: usize,
    /// A session every `refresh` meta-steps (1: every meta-step).
    pub refresh: usize,
    /// μ relative to the mean of UᵀU's diagonal.
    pub ridge: f64,
}

/// One session: the labels shown and the answers given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The training labels shown, m values.
    pub labels: Vec<f64>,
    /// The answers to the test queries, M values.
    pub answers: Vec<f64>,
}

/// The sessions of one stimulus set, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StimulusHistory {
    /// The set's inputs as the GPU holds them (f32 bits of x_tr then x_te):
    /// a task on the same set finds its history by them.
    pub key: Vec<u32>,
    /// Its sessions, at most `window`.
    pub sessions: VecDeque<Session>,
}

/// Everything the estimator remembers across meta-steps (saved in a run's
/// checkpoint, so that a resumed run estimates the same).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionMemory {
    /// Meta-steps taken (sessions are run on every `refresh`-th).
    pub steps: u64,
    /// One history per stimulus set met so far.
    pub sets: Vec<StimulusHistory>,
}

/// The most stimulus sets a run may meet (fresh inputs for every task would
/// otherwise grow the memory without end; configurations refuse them).
pub const MAX_SETS: usize = 4096;

impl SessionMemory {
    /// The history of the set with `key`, made when new.
    pub fn set(&mut self, key: Vec<u32>) -> Result<&mut StimulusHistory> {
        if let Some(i) = self.sets.iter().position(|s| s.key == key) {
            return Ok(&mut self.sets[i]);
        }
        if self.sets.len() >= MAX_SETS {
            return Err(invalid(format!(
                "the regression estimator met more than {MAX_SETS} stimulus sets; \
                 it needs a fixed set of stimuli (data.stimulus_sets)"
            )));
        }
        self.sets.push(StimulusHistory {
            key,
            sessions: VecDeque::new(),
        });
        Ok(self.sets.last_mut().expect("just pushed"))
    }

    /// The sessions on record for the set with `key` (none for a set never met).
    fn sessions_of(&self, key: &[u32]) -> Option<&VecDeque<Session>> {
        self.sets.iter().find(|s| s.key == key).map(|s| &s.sessions)
    }

    /// Whether the set with `key` has a session on record.
    pub fn has_sessions(&self, key: &[u32]) -> bool {
        self.sessions_of(key).is_some_and(|s| !s.is_empty())
    }

    /// The model of the set with `key`, fitted on its record plus `extra`
    /// as [`StimulusHistory::record`] would leave it (the newest `window`),
    /// without recording `extra`: what a check and the f64 twin fit on.
    pub fn model(
        &self,
        key: &[u32],
        extra: Option<&Session>,
        settings: &RegressionSettings,
    ) -> Result<AffineModel> {
        let kept = self.sessions_of(key).into_iter().flatten();
        let count = kept.clone().count() + usize::from(extra.is_some());
        let skip = count.saturating_sub(settings.window.max(1));
        AffineModel::fit(kept.chain(extra).skip(skip), settings.ridge)
    }
}

impl StimulusHistory {
    /// Adds a session, dropping the oldest beyond `window`.
    pub fn record(&mut self, session: Session, window: usize) {
        self.sessions.push_back(session);
        while self.sessions.len() > window.max(1) {
            self.sessions.pop_front();
        }
    }
}

/// The key of a stimulus set: its inputs' f32 bits.
pub fn stimulus_key(x_tr: &[f32], x_te: &[f32]) -> Vec<u32> {
    x_tr.iter().chain(x_te).map(|v| v.to_bits()).collect()
}

/// The affine model ŷ(z) = ȳ + Ĵ (z − ū) fitted on some sessions.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineModel {
    /// ū, m values.
    pub mean_labels: Vec<f64>,
    /// ȳ, M values.
    pub mean_answers: Vec<f64>,
    /// Ĵ, M × m, row-major.
    pub jacobian: Vec<f64>,
}

impl AffineModel {
    /// The ridge least-squares fit on `sessions` (at least one).
    pub fn fit<'a>(
        sessions: impl Iterator<Item = &'a Session> + Clone,
        ridge: f64,
    ) -> Result<AffineModel> {
        let n = sessions.clone().count();
        let first = sessions
            .clone()
            .next()
            .ok_or_else(|| invalid("no session to fit a model on".into()))?;
        let (m, big_m) = (first.labels.len(), first.answers.len());
        let mut mean_labels = vec![0.0; m];
        let mut mean_answers = vec![0.0; big_m];
        for s in sessions.clone() {
            add(&mut mean_labels, &s.labels, 1.0 / n as f64);
            add(&mut mean_answers, &s.answers, 1.0 / n as f64);
        }
        // UᵀU (m × m) and UᵀY (m × M) of the centred sessions.
        let mut utu = vec![0.0; m * m];
        let mut uty = vec![0.0; m * big_m];
        for s in sessions {
            let (u, y) = (
                less(&s.labels, &mean_labels),
                less(&s.answers, &mean_answers),
            );
            for a in 0..m {
                for b in 0..m {
                    utu[a * m + b] += u[a] * u[b];
                }
                for j in 0..big_m {
                    uty[a * big_m + j] += u[a] * y[j];
                }
            }
        }
        let trace: f64 = (0..m).map(|a| utu[a * m + a]).sum();
        // A floor far below any label's scale keeps a window of fewer than
        // m + 1 sessions solvable (the directions it has not seen get Ĵ = 0).
        let mu = ridge.max(1e-10) * (trace / m.max(1) as f64) + 1e-300;
        for a in 0..m {
            utu[a * m + a] += mu;
        }
        cholesky(&mut utu, m).map_err(|row| {
            invalid(format!(
                "the regression estimator's normal equations are singular at row {row}"
            ))
        })?;
        // Column j of Ĵᵀ solves (UᵀU + μI) b = (UᵀY)_{:, j}.
        let mut jacobian = vec![0.0; big_m * m];
        let mut col = vec![0.0; m];
        for j in 0..big_m {
            for a in 0..m {
                col[a] = uty[a * big_m + j];
            }
            cholesky_solve(&utu, m, &mut col);
            jacobian[j * m..(j + 1) * m].copy_from_slice(&col);
        }
        Ok(AffineModel {
            mean_labels,
            mean_answers,
            jacobian,
        })
    }

    /// ŷ(z) = ȳ + Ĵ (z − ū).
    pub fn predict(&self, z: &[f64]) -> Vec<f64> {
        let m = self.mean_labels.len();
        let dz = less(z, &self.mean_labels);
        self.mean_answers
            .iter()
            .enumerate()
            .map(|(j, y)| {
                y + self.jacobian[j * m..(j + 1) * m]
                    .iter()
                    .zip(&dz)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .collect()
    }

    /// z̄ = Ĵᵀ ŷ̄.
    pub fn pullback(&self, y_bar: &[f64]) -> Vec<f64> {
        let m = self.mean_labels.len();
        let mut z_bar = vec![0.0; m];
        for (j, yb) in y_bar.iter().enumerate() {
            add(&mut z_bar, &self.jacobian[j * m..(j + 1) * m], *yb);
        }
        z_bar
    }
}

/// a − b, element by element.
fn less(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn add(to: &mut [f64], from: &[f64], scale: f64) {
    for (a, b) in to.iter_mut().zip(from) {
        *a += scale * b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| StandardNormal.sample(rng)).collect()
    }

    /// An affine map is recovered exactly from m + 1 sessions, and not from m.
    #[test]
    fn an_affine_map_is_recovered_from_m_plus_one_sessions() {
        let (m, big_m) = (5, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let j = normal(&mut rng, big_m * m);
        let c = normal(&mut rng, big_m);
        let answer = |u: &[f64]| -> Vec<f64> {
            (0..big_m)
                .map(|r| c[r] + (0..m).map(|a| j[r * m + a] * u[a]).sum::<f64>())
                .collect()
        };
        let sessions: Vec<Session> = (0..m + 1)
            .map(|_| {
                let labels = normal(&mut rng, m);
                Session {
                    answers: answer(&labels),
                    labels,
                }
            })
            .collect();
        let model = AffineModel::fit(sessions.iter(), 0.0).unwrap();
        let worst = model
            .jacobian
            .iter()
            .zip(&j)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-7, "Ĵ off by {worst}");
        let z = normal(&mut rng, m);
        for (a, b) in model.predict(&z).iter().zip(answer(&z)) {
            assert!((a - b).abs() < 1e-7, "ŷ(z) {a} against {b}");
        }
        let short = AffineModel::fit(sessions[..m].iter(), 0.0).unwrap();
        let worst = short
            .jacobian
            .iter()
            .zip(&j)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst > 1e-3, "m sessions cannot pin an affine map down");
    }

    /// The window keeps the newest sessions.
    #[test]
    fn the_window_drops_the_oldest_sessions() {
        let mut h = StimulusHistory::default();
        for i in 0..5 {
            let s = Session {
                labels: vec![i as f64],
                answers: vec![0.0],
            };
            h.record(s, 3);
        }
        let kept: Vec<f64> = h.sessions.iter().map(|s| s.labels[0]).collect();
        assert_eq!(kept, [2.0, 3.0, 4.0]);
    }
}
