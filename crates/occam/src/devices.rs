//! `occam devices`: every adapter, and the one that would be used.

use crate::cli::{DevicesArgs, Failure};
use occam_gpu::{AdapterList, AdapterSelection, GpuError};

/// Lists the adapters of every backend and marks the one `selection` picks.
/// Fails (exit 2) when there is no adapter at all, or none matches the filters.
pub fn run(selection: &AdapterSelection, args: &DevicesArgs) -> Result<(), Failure> {
    // List every backend's adapters, so the user sees what the filters exclude.
    let unfiltered = AdapterSelection::default();
    let all = AdapterList::enumerate(&unfiltered);
    if all.adapters.is_empty() {
        return Err(GpuError::NoAdapter {
            backends: "vulkan, gl, metal, dx12".into(),
        }
        .into());
    }
    let selected = all.pick(selection).map(|i| &all.adapters[i]);
    if args.json {
        let adapters: Vec<_> = all
            .adapters
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name,
                    "backend": a.backend.to_string(),
                    "device_type": a.device_type,
                    "driver": a.driver,
                    "software": a.is_software,
                    "selected": Some(a) == selected,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&adapters).expect("JSON"));
    } else {
        println!("Adapters (* marks the one Occam would use):");
        for (i, a) in all.adapters.iter().enumerate() {
            let mark = if Some(a) == selected { '*' } else { ' ' };
            println!(
                "{mark} [{i}] {}\n        backend: {:<7} type: {:<13} driver: {}",
                a.name,
                a.backend.to_string(),
                a.device_type,
                a.driver
            );
        }
    }
    match selected {
        Some(a) if a.is_software => {
            let why = if all.adapters.iter().any(|a| !a.is_software) {
                "selected by --backend/--adapter"
            } else {
                "no hardware GPU found"
            };
            eprintln!(
                "occam: {why}; Occam would use the software adapter {} ({}).",
                a.name, a.backend
            );
            Ok(())
        }
        Some(_) => Ok(()),
        None => Err(no_match(selection, &all)),
    }
}

fn no_match(selection: &AdapterSelection, all: &AdapterList) -> Failure {
    let mut filter = Vec::new();
    if let Some(b) = selection.backend {
        filter.push(format!("--backend {b}"));
    }
    if let Some(a) = &selection.adapter {
        filter.push(format!("--adapter {a:?}"));
    }
    GpuError::NoMatchingAdapter {
        filter: filter.join(" "),
        available: all
            .adapters
            .iter()
            .map(|a| format!("  {a}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
    .into()
}
