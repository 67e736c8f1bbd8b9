//! Layer lists in experiment files: `layers = ["conv 16 5x5 pad 2", "relu",
//! "pool", "dense 1", "relu6/6"]` for a learner or meta-learner network.
//! Each entry is one layer; an error names the entry's key path.

use crate::config_error::ConfigError;
use occam_ops::Activation;
use occam_ops::net::{Layer, NetSpec};

/// The accepted forms, for error messages.
const FORMS: &str = "\"conv C KxK\" or \"conv C KxK pad P\", \"pool\" (2×2), \"dense N\", \
                     or an activation (identity, relu, tanh, cos, relu6/6)";

/// Parses one layer entry.
fn parse_layer(key: &str, text: &str) -> Result<Layer, ConfigError> {
    let bad = |why: &str| ConfigError::new(key, format!("{text:?}: {why}; accepted: {FORMS}"));
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |w: Option<&&str>, what: &str| -> Result<usize, ConfigError> {
        match w.and_then(|w| w.parse::<usize>().ok()) {
            Some(v) if v > 0 || what == "padding" => Ok(v),
            _ => Err(bad(&format!("needs a positive whole {what}"))),
        }
    };
    match words.first().copied() {
        Some("conv") => {
            let c_out = number(words.get(1), "channel count")?;
            let kernel = match words.get(2).map(|w| w.split('x').collect::<Vec<_>>()) {
                Some(parts) if parts.len() == 2 && parts[0] == parts[1] => {
                    number(parts.first(), "kernel size")?
                }
                _ => return Err(bad("needs a square kernel KxK")),
            };
            let padding = match (words.get(3).copied(), words.len()) {
                (None, _) => 0,
                (Some("pad"), 5) => number(words.get(4), "padding")?,
                _ => return Err(bad("only \"pad P\" may follow the kernel")),
            };
            Ok(Layer::Conv {
                c_out,
                kernel,
                padding,
            })
        }
        Some("pool") if words.len() == 1 || (words.len() == 2 && words[1] == "2x2") => {
            Ok(Layer::Pool)
        }
        Some("pool") => Err(bad("only 2×2 max-pooling is available")),
        Some("dense") if words.len() == 2 => Ok(Layer::Dense {
            d_out: number(words.get(1), "width")?,
        }),
        Some(name) if words.len() == 1 => name
            .parse::<Activation>()
            .map(Layer::Act)
            .map_err(|_| bad("unknown layer")),
        _ => Err(bad("unknown layer")),
    }
}

/// The network of `layers` (at `key`) on inputs of shape (channels, height,
/// width); it must end in one value.
pub fn parse_net(
    key: &str,
    input: (usize, usize, usize),
    layers: &[String],
) -> Result<NetSpec, ConfigError> {
    let spec = NetSpec {
        input,
        layers: layers
            .iter()
            .enumerate()
            .map(|(i, t)| parse_layer(&format!("{key}[{i}]"), t))
            .collect::<Result<_, _>>()?,
    };
    spec.validate().map_err(|e| ConfigError::new(key, e))?;
    if spec.d_out() != 1 {
        return Err(ConfigError::new(
            key,
            format!(
                "the network must end in one value per input, it ends in {:?}",
                spec.shapes().last().expect("an output shape")
            ),
        ));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_papers_cnn_parses_to_its_shapes() {
        let net = parse_net(
            "meta_learner.layers",
            (1, 28, 28),
            &strings(&[
                "conv 16 5x5 pad 2",
                "relu",
                "pool",
                "conv 32 5x5 pad 2",
                "relu",
                "pool 2x2",
                "dense 1",
                "relu6/6",
            ]),
        )
        .unwrap();
        assert_eq!(net.shapes()[6], (32, 7, 7)); // linear 1568 → 1
        assert_eq!(net.n_params(), 16 * 26 + 32 * (16 * 25 + 1) + 1569);
    }

    #[test]
    fn bad_entries_name_their_index() {
        for (layers, needle) in [
            (vec!["conv 16 5x4", "dense 1"], "[0]"),
            (vec!["relu", "dense 0"], "[1]"),
            (vec!["pool 3x3", "dense 1"], "[0]"),
            (vec!["dense 1", "sigmoid"], "[1]"),
            (vec!["dense 2"], "one value"),
            (vec!["conv 1 9x9", "dense 1"], "layer 0"),
        ] {
            let e = parse_net("learner.layers", (1, 4, 4), &strings(&layers)).unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
