//! docs/config.md documents every key: each field every configuration type
//! reads (the experiment's tables, every learner kind's, connectivity, sweep
//! files, report files) has a row in its section, every row names a real field, and every
//! registered learner kind has a section. Field names come from serde
//! itself (the list a derived `Deserialize` hands its deserializer), so a
//! new field without a row fails here.

use occam_experiment::config::{
    Analysis, Data, Experiment, Inputs, Loss, MetaLearner, Optimizer, Series,
};
use occam_experiment::reproduction::{FigureFile, Quantity, ReportFile};
use occam_experiment::sweep::SweepFile;
use occam_meta::learners::animal::config::AnimalConfig;
use occam_meta::learners::blackbox::config::BlackBoxConfig;
use occam_meta::learners::external::config::ExternalConfig;
use occam_meta::learners::gd::config::{ConnectivityConfig, GdConfig};
use occam_meta::learners::registry::KINDS;
use occam_meta::learners::ridge::config::{KernelRidgeConfig, RidgeConfig};
use occam_meta::learners::spiking::config::SpikingConfig;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A deserializer that only records the field list of the struct asked for.
struct Fields(std::cell::RefCell<Option<&'static [&'static str]>>);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field list recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Stop {
        Stop
    }
}

impl<'de> Deserializer<'de> for &Fields {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0.borrow_mut() = Some(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The keys a derived `Deserialize` reads.
fn fields<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
    let d = Fields(std::cell::RefCell::new(None));
    let _ = T::deserialize(&d);
    d.0.into_inner().expect("a struct").to_vec()
}

/// The keys in the table rows of the section under `heading`, up to the
/// next heading (a subsection's rows are its own).
fn documented(doc: &str, heading: &str) -> Vec<String> {
    let mut lines = doc.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "docs/config.md has no `{heading}`");
    lines
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_configuration_key_has_a_row_in_docs_config_md() {
    let doc = include_str!("../docs/config.md");
    let sections: Vec<(&str, Vec<&'static str>)> = vec![
        ("## Top level", fields::<Experiment>()),
        ("## inputs", fields::<Inputs>()),
        ("## data", fields::<Data>()),
        ("## meta_learner", fields::<MetaLearner>()),
        ("## optimizer", fields::<Optimizer>()),
        ("## loss", fields::<Loss>()),
        ("## series", fields::<Series>()),
        ("### learner.connectivity", fields::<ConnectivityConfig>()),
        ("## analysis", fields::<Analysis>()),
        ("## Sweep files", fields::<SweepFile>()),
        ("## Report files", fields::<ReportFile>()),
        ("### figure", fields::<FigureFile>()),
        ("### figure.quantity", fields::<Quantity>()),
        ("### kind = \"mlp_gd\" or \"net_gd\"", fields::<GdConfig>()),
        ("### kind = \"ridge\"", fields::<RidgeConfig>()),
        ("### kind = \"kernel_ridge\"", fields::<KernelRidgeConfig>()),
        ("### kind = \"spiking\"", fields::<SpikingConfig>()),
        ("### kind = \"blackbox\"", fields::<BlackBoxConfig>()),
        ("### kind = \"external\"", fields::<ExternalConfig>()),
        ("### kind = \"animal\"", fields::<AnimalConfig>()),
    ];
    for (heading, keys) in &sections {
        assert!(!keys.is_empty(), "{heading}: no fields read");
        let rows = documented(doc, heading);
        for key in keys {
            assert!(
                rows.iter().any(|r| r == key),
                "docs/config.md `{heading}` has no row for `{key}` (rows: {rows:?})"
            );
        }
        for row in &rows {
            assert!(
                keys.contains(&row.as_str()),
                "docs/config.md `{heading}` documents `{row}`, which no configuration reads"
            );
        }
    }
    for kind in KINDS {
        assert!(
            doc.lines()
                .any(|l| l.starts_with("### kind = ") && l.contains(&format!("\"{kind}\""))),
            "docs/config.md has no section for learner kind {kind:?}"
        );
    }
    // The learner table's own key.
    assert_eq!(documented(doc, "## learner"), ["kind"]);
}

/// The check above can fail: a field list the docs lack is reported.
#[test]
fn a_missing_row_is_reported() {
    let doc = include_str!("../docs/config.md").replace("| `tau_out` |", "| tau_out |");
    let rows = documented(&doc, "### kind = \"spiking\"");
    assert!(!rows.iter().any(|r| r == "tau_out"));
    assert!(fields::<SpikingConfig>().contains(&"tau_out"));
}
