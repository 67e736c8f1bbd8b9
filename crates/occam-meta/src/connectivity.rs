//! Connectivity of a learner's first layer as data: which inputs each hidden
//! unit samples (a mask) and, optionally, the signs of those synapses —
//! drawn from a scheme (uniform k-of-d, weighted, the paper's two-stage
//! grouped scheme) or read from a connectome table (CSV).

use occam_ops::constraint::Constraints;
use occam_ops::net::NetSpec;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// How hidden units choose their inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Scheme {
    /// Each unit samples `k` distinct inputs uniformly.
    Random {
        /// Inputs per unit.
        k: usize,
    },
    /// Each unit samples `k` distinct inputs, one after another, input i with
    /// probability ∝ p_i among those not yet taken.
    Weighted {
        /// Inputs per unit.
        k: usize,
        /// Unnormalised sampling weight of each input.
        probabilities: Vec<f64>,
    },
    /// The paper's two-stage scheme: the first input uniformly; the second
    /// from the other inputs (in index order) with the probabilities of the
    /// first input's group.
    Grouped {
        /// Groups of inputs (a partition of 0..d).
        groups: Vec<Vec<usize>>,
        /// For each group, probabilities over the d − 1 other inputs.
        probabilities: Vec<Vec<f64>>,
    },
    /// Explicit connections (unit, input, sign) from a connectome table; the
    /// same for every task.
    File {
        /// (hidden unit, input, optional sign ±1).
        connections: Vec<(usize, usize, Option<f64>)>,
    },
}

/// Sign constraint on the first layer's input weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignRule {
    /// Unconstrained.
    Free,
    /// Kept ≥ 0 (projected with |w| after every step).
    Positive,
    /// Kept ≤ 0.
    Negative,
}

/// A learner's connectivity: scheme, sign rule, and whether one mask serves
/// the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Connectivity {
    /// How units choose inputs.
    pub scheme: Scheme,
    /// Signs of the first layer's input weights (a file's per-synapse signs take precedence).
    pub signs: SignRule,
    /// Draw one mask for the run instead of a fresh one per task and meta-step.
    pub fixed: bool,
}

/// Draws `k` distinct indices of `0..weights.len()` one after another, each
/// with probability ∝ its weight among those not yet taken.
fn draw_weighted(rng: &mut ChaCha8Rng, weights: &[f64], k: usize) -> Vec<usize> {
    let mut w = weights.to_vec();
    let mut out = Vec::with_capacity(k);
    for _ in 0..k {
        let total: f64 = w.iter().sum();
        let mut r = rng.random::<f64>() * total;
        let mut pick = w.iter().rposition(|&x| x > 0.0).unwrap_or(0);
        for (i, &x) in w.iter().enumerate() {
            if x > 0.0 && r < x {
                pick = i;
                break;
            }
            r -= x;
        }
        out.push(pick);
        w[pick] = 0.0;
    }
    out
}

impl Connectivity {
    /// Which inputs each of `units` hidden units connects to (and signs from a file).
    pub fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        units: usize,
        d: usize,
    ) -> Vec<Vec<(usize, Option<f64>)>> {
        match &self.scheme {
            Scheme::Random { k } => (0..units)
                .map(|_| {
                    rand::seq::index::sample(rng, d, *k)
                        .into_iter()
                        .map(|i| (i, None))
                        .collect()
                })
                .collect(),
            Scheme::Weighted { k, probabilities } => (0..units)
                .map(|_| {
                    draw_weighted(rng, probabilities, *k)
                        .into_iter()
                        .map(|i| (i, None))
                        .collect()
                })
                .collect(),
            Scheme::Grouped {
                groups,
                probabilities,
            } => (0..units)
                .map(|_| {
                    let first = rng.random_range(0..d);
                    let g = groups
                        .iter()
                        .position(|g| g.contains(&first))
                        .expect("groups partition the inputs");
                    let others: Vec<usize> = (0..d).filter(|&i| i != first).collect();
                    let second = others[draw_weighted(rng, &probabilities[g], 1)[0]];
                    vec![(first, None), (second, None)]
                })
                .collect(),
            Scheme::File { connections } => {
                let mut units_inputs = vec![Vec::new(); units];
                for &(u, i, s) in connections {
                    units_inputs[u].push((i, s));
                }
                units_inputs
            }
        }
    }

    /// The constraints of a learner with this connectivity (mask and signs on
    /// the first layer; bias and later layers free), flat over its parameters.
    /// The first layer must be dense on vector inputs (the caller checks,
    /// see [`NetSpec::first_dense`]).
    pub fn constraints(&self, rng: &mut ChaCha8Rng, spec: &NetSpec) -> Constraints {
        let (d, h) = spec
            .first_dense()
            .expect("connectivity needs a dense first layer on vector inputs");
        let p = spec.n_params();
        let mut mask = vec![1.0; p];
        let mut signs = vec![0.0; p];
        let rule = match self.signs {
            SignRule::Free => 0.0,
            SignRule::Positive => 1.0,
            SignRule::Negative => -1.0,
        };
        let mut any_sign = rule != 0.0;
        for (u, inputs) in self.draw(rng, h, d).into_iter().enumerate() {
            for i in 0..d {
                mask[u * (d + 1) + i] = 0.0;
            }
            for (i, s) in inputs {
                mask[u * (d + 1) + i] = 1.0;
                let sign = s.unwrap_or(rule);
                any_sign |= sign != 0.0;
                signs[u * (d + 1) + i] = sign;
            }
        }
        Constraints {
            mask,
            signs: if any_sign { signs } else { Vec::new() },
        }
    }
}

/// Reads a connectome table: one `unit,input[,sign]` row per synapse (a
/// header line and `#` comments are skipped; sign is +, -, +1, -1,
/// positive or negative). Errors name the file and line.
pub fn read_connections(
    path: &Path,
    units: usize,
    inputs: usize,
) -> Result<Vec<(usize, usize, Option<f64>)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut out = Vec::new();
    let mut seen: std::collections::HashMap<(usize, usize), (Option<f64>, usize)> =
        std::collections::HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |msg: String| format!("{}:{}: {msg}", path.display(), n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if n == 0 && fields.first().is_some_and(|f| f.parse::<usize>().is_err()) {
            continue; // header
        }
        if fields.len() < 2 || fields.len() > 3 {
            return Err(at(format!("expected `unit,input[,sign]`, found {line:?}")));
        }
        let unit: usize = fields[0].parse().map_err(|_| {
            at(format!(
                "hidden unit {:?} is not a non-negative integer",
                fields[0]
            ))
        })?;
        let input: usize = fields[1].parse().map_err(|_| {
            at(format!(
                "input index {:?} is not a non-negative integer",
                fields[1]
            ))
        })?;
        if unit >= units {
            return Err(at(format!(
                "hidden unit {unit} is out of range (the learner has {units} hidden units)"
            )));
        }
        if input >= inputs {
            return Err(at(format!(
                "input index {input} is out of range (the learner has {inputs} inputs)"
            )));
        }
        let sign = match fields.get(2) {
            None | Some(&"") => None,
            Some(&("+" | "+1" | "1" | "positive")) => Some(1.0),
            Some(&("-" | "-1" | "negative")) => Some(-1.0),
            Some(other) => {
                return Err(at(format!(
                    "sign {other:?} is not one of +, -, +1, -1, positive, negative"
                )));
            }
        };
        // A synapse listed again must agree with itself (a repeat is harmless,
        // a contradiction is a broken file).
        if let Some(&(earlier, line)) = seen.get(&(unit, input)) {
            if earlier != sign {
                return Err(at(format!(
                    "the synapse from input {input} to hidden unit {unit} is listed on line {line} with another sign"
                )));
            }
            continue;
        }
        seen.insert((unit, input), (sign, n + 1));
        out.push((unit, input, sign));
    }
    if out.is_empty() {
        return Err(format!("{}: no connections", path.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{Purpose, stream};
    use occam_ops::Activation;

    fn spec() -> NetSpec {
        NetSpec::mlp(&[5, 100, 1], Activation::Relu, Activation::Identity)
    }

    #[test]
    fn random_scheme_connects_each_unit_to_exactly_k_inputs_and_keeps_the_bias() {
        let c = Connectivity {
            scheme: Scheme::Random { k: 2 },
            signs: SignRule::Positive,
            fixed: false,
        };
        let cons = c.constraints(&mut stream(1, Purpose::Step, 0), &spec());
        for u in 0..100 {
            let row = &cons.mask[u * 6..(u + 1) * 6];
            assert_eq!(row[..5].iter().sum::<f64>(), 2.0);
            assert_eq!(row[5], 1.0);
            assert!(
                cons.signs[u * 6..u * 6 + 5]
                    .iter()
                    .zip(&row[..5])
                    .all(|(s, m)| (*s == 1.0) == (*m == 1.0))
            );
        }
    }

    #[test]
    fn weighted_and_grouped_schemes_follow_their_probabilities() {
        let w = Connectivity {
            scheme: Scheme::Weighted {
                k: 2,
                probabilities: vec![0.6, 0.1, 0.1, 0.1, 0.1],
            },
            signs: SignRule::Free,
            fixed: false,
        };
        let mut rng = stream(2, Purpose::Step, 0);
        let draws = w.draw(&mut rng, 20_000, 5);
        let share0 = draws
            .iter()
            .filter(|u| u.iter().any(|(i, _)| *i == 0))
            .count() as f64
            / 20_000.0;
        // P(input 0 among two draws without replacement) = 0.6 + 0.4·(0.6 / 0.9)·… ≈ 0.87.
        assert!(share0 > 0.8 && share0 < 0.95, "{share0}");
        let g = Connectivity {
            scheme: Scheme::Grouped {
                groups: vec![vec![0, 1], vec![2, 3, 4]],
                probabilities: vec![vec![0.85, 0.05, 0.05, 0.05], vec![0.1, 0.1, 0.4, 0.4]],
            },
            signs: SignRule::Free,
            fixed: false,
        };
        let draws = g.draw(&mut rng, 20_000, 5);
        let within = draws
            .iter()
            .filter(|u| {
                let (a, b) = (u[0].0, u[1].0);
                (a < 2) == (b < 2)
            })
            .count() as f64
            / 20_000.0;
        // Within-group pairs: 2/5·0.85 + 3/5·0.8 = 0.82.
        assert!((within - 0.82).abs() < 0.02, "{within}");
    }

    #[test]
    fn connectome_files_are_parsed_and_bad_rows_are_named_by_line() {
        let dir = std::env::temp_dir().join(format!("occam-conn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "unit,input,sign\n0,1,+\n0,3\n# a comment\n1,4,-1\n").unwrap();
        assert_eq!(
            read_connections(&good, 2, 5).unwrap(),
            vec![(0, 1, Some(1.0)), (0, 3, None), (1, 4, Some(-1.0))]
        );
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "0,1\n1,9\n").unwrap();
        let err = read_connections(&bad, 2, 5).unwrap_err();
        assert!(
            err.contains("bad.csv:2") && err.contains("input index 9 is out of range"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
