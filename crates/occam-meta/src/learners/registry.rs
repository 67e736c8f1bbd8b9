//! The learner kinds an experiment file can name. A `[learner]` (or
//! `[adversary]`) table is read in two steps: its `kind` picks a
//! configuration type from the list below, then the rest of the table is
//! read into that type — so an unknown or misplaced key is an error naming
//! it (`learner.lambda: does not apply to kind = "mlp_gd"`) — and resolved
//! into a [`Learner`].
//!
//! Adding a learner: a folder under `learners/` with a configuration type
//! implementing [`LearnerConfig`] and an example experiment of the kind, and
//! one line in `learner_kinds!`'s list.

use super::Learner;
use crate::config_error::ConfigError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Arc;

/// What a learner's configuration may depend on besides its own table.
#[derive(Clone, Copy, Debug)]
pub struct ResolveContext<'a> {
    /// The key of the learner's table (`learner` or `adversary`).
    pub key: &'a str,
    /// Shape of one input: (channels, height, width); (d, 1, 1) for vectors.
    pub input: (usize, usize, usize),
    /// Training points per task.
    pub train: usize,
    /// The run's seed (for draws fixed for the whole run).
    pub seed: u64,
    /// Which learner of the problem this is (0 for the learner, 1 for an
    /// adversary): selects its own random streams.
    pub index: u64,
    /// The experiment file's folder (data files are relative to it).
    pub base_dir: &'a Path,
    /// Warnings about legal but pointless values, for the caller to print.
    pub warnings: &'a std::cell::RefCell<Vec<String>>,
}

impl ResolveContext<'_> {
    /// Values per input.
    pub fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Records a warning about `field` of this learner's table.
    pub fn warn(&self, field: &str, message: impl std::fmt::Display) {
        self.warnings
            .borrow_mut()
            .push(format!("{}.{field}: {message}", self.key));
    }

    /// A learning rate: finite and not negative; 0 is legal (the learner
    /// then keeps its initialisation) but draws a warning.
    pub fn learning_rate(&self, field: &str, v: f64) -> Result<f64, ConfigError> {
        let v = crate::config_error::finite(&format!("{}.{field}", self.key), v)?;
        if v < 0.0 {
            return Err(self.bad(
                field,
                format!("{v} is negative (gradient ascent); use a rate > 0"),
            ));
        }
        if v == 0.0 {
            self.warn(
                field,
                "is 0: the learner never moves from its initialisation",
            );
        }
        Ok(v)
    }

    /// Refuses a learner that cannot be differentiated (`what`) anywhere but
    /// as a black box's `inner` table.
    pub fn require_inner(&self, what: &str) -> Result<(), ConfigError> {
        if self.key.ends_with(".inner") {
            return Ok(());
        }
        Err(self.bad(
            "kind",
            format!("{what} cannot be differentiated: use kind = \"blackbox\" with it as the [..inner] table"),
        ))
    }

    /// An error about `field` of this learner's table.
    pub fn bad(&self, field: &str, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(format!("{}.{field}", self.key), message)
    }
}

/// A learner kind's configuration: its keys (serde, unknown keys refused)
/// and how they resolve into a learner.
pub trait LearnerConfig: DeserializeOwned + Serialize {
    /// Checks every value and builds the learner; errors name the key.
    fn resolve(self, kind: &str, ctx: &ResolveContext<'_>)
    -> Result<Arc<dyn Learner>, ConfigError>;

    /// Every key with the value a run uses, defaults included (what
    /// `occam gradcheck --dump` records). The serialised configuration;
    /// a kind whose default depends on another key fills it in.
    fn keys(&self) -> Result<toml::Table, String> {
        toml::Table::try_from(self).map_err(|e| e.to_string())
    }
}

/// Declares the registered kinds: `"kind" => ConfigType, example "FILE"`,
/// FILE a complete experiment of that kind in the learner's folder (the
/// build fails without it; tests/learner_examples.rs checks each).
macro_rules! learner_kinds {
    ($($kind:literal => $config:ty, example $example:literal),* $(,)?) => {
        /// Every registered `kind`.
        pub const KINDS: &[&str] = &[$($kind),*];

        /// Every kind's example experiment: (kind, absolute path).
        pub const EXAMPLES: &[(&str, &str)] = &[$(
            ($kind, concat!(env!("CARGO_MANIFEST_DIR"), "/src/learners/", $example)),
        )*];

        // Each example is shipped with its kind.
        $(const _: &str = include_str!($example);)*

        fn dispatch(
            kind: &str,
            table: toml::Table,
            ctx: &ResolveContext<'_>,
        ) -> Result<Arc<dyn Learner>, ConfigError> {
            match kind {
                $($kind => read::<$config>(kind, table, ctx.key)?.resolve(kind, ctx),)*
                other => Err(unknown_kind(ctx.key, other)),
            }
        }

        fn dispatch_keys(
            kind: &str,
            table: toml::Table,
            key: &str,
        ) -> Result<toml::Table, ConfigError> {
            match kind {
                $($kind => read::<$config>(kind, table, key)?
                    .keys()
                    .map_err(|e| ConfigError::new(key, e)),)*
                other => Err(unknown_kind(key, other)),
            }
        }
    };
}

learner_kinds! {
    "mlp_gd" => super::gd::config::GdConfig, example "gd/example_mlp_gd.toml",
    "net_gd" => super::gd::config::GdConfig, example "gd/example_net_gd.toml",
    "ridge" => super::ridge::config::RidgeConfig, example "ridge/example_ridge.toml",
    "kernel_ridge" => super::ridge::config::KernelRidgeConfig, example "ridge/example_kernel_ridge.toml",
    "spiking" => super::spiking::config::SpikingConfig, example "spiking/example_spiking.toml",
    "blackbox" => super::blackbox::config::BlackBoxConfig, example "blackbox/example_blackbox.toml",
    "external" => super::external::config::ExternalConfig, example "external/example_external.toml",
    "animal" => super::animal::config::AnimalConfig, example "animal/example_animal.toml",
}

fn unknown_kind(key: &str, kind: &str) -> ConfigError {
    ConfigError::new(
        format!("{key}.kind"),
        format!("unknown learner {kind:?}; accepted: {}", KINDS.join(", ")),
    )
}

/// The table's `kind` and the rest of its keys.
fn split_kind(table: &toml::Table, key: &str) -> Result<(String, toml::Table), ConfigError> {
    let bad = |m: String| ConfigError::new(format!("{key}.kind"), m);
    let kind = match table.get("kind") {
        Some(toml::Value::String(k)) => k.clone(),
        Some(other) => return Err(bad(format!("must be a string, not {}", other.type_str()))),
        None => return Err(bad(format!("is required; accepted: {}", KINDS.join(", ")))),
    };
    let mut rest = table.clone();
    rest.remove("kind");
    Ok((kind, rest))
}

/// The learner of a `[learner]` / `[adversary]` table.
pub fn resolve(
    table: &toml::Table,
    ctx: &ResolveContext<'_>,
) -> Result<Arc<dyn Learner>, ConfigError> {
    let (kind, rest) = split_kind(table, ctx.key)?;
    dispatch(&kind, rest, ctx)
}

/// Every key of the learner table `table` (found at `key`) with the value
/// a run uses, defaults included, `kind` first.
pub fn resolved_keys(table: &toml::Table, key: &str) -> Result<toml::Table, ConfigError> {
    let (kind, rest) = split_kind(table, key)?;
    let mut keys = toml::Table::new();
    keys.insert("kind".into(), toml::Value::String(kind.clone()));
    keys.extend(dispatch_keys(&kind, rest, key)?);
    Ok(keys)
}

/// Reads `table` into kind `kind`'s configuration, naming the key on error.
fn read<C: DeserializeOwned>(kind: &str, table: toml::Table, key: &str) -> Result<C, ConfigError> {
    let bad = |field: &str, message: String| ConfigError::new(format!("{key}.{field}"), message);
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_string();
        // serde names unknown and missing fields in the message, not the path.
        let field = |prefix: &str| -> Option<String> {
            message
                .strip_prefix(prefix)
                .and_then(|m| m.split('`').next())
                .map(str::to_string)
        };
        // A field of a table inside the kind's (`connectivity`): serde's
        // path is that table's, or the field's own.
        let nested = |f: &str| -> Option<String> {
            let table = path.strip_suffix(&format!(".{f}")).unwrap_or(&path);
            (table != "." && table != f).then(|| format!("{table}.{f}"))
        };
        if let Some(f) = field("unknown field `") {
            match nested(&f) {
                Some(at) => bad(&at, message),
                None => bad(&f, format!("does not apply to kind = {kind:?}")),
            }
        } else if let Some(f) = field("missing field `") {
            match nested(&f) {
                Some(at) => bad(&at, message),
                None => bad(&f, format!("is required for kind = {kind:?}")),
            }
        } else if path == "." {
            ConfigError::new(key, message)
        } else {
            bad(&path, message)
        }
    })
}
