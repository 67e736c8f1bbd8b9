//! Shared helpers of the integration tests: seeded random data and the GPU
//! that GPU tests run on.
#![allow(dead_code)]

use occam_gpu::{AdapterSelection, Backend, Gpu};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

/// A seeded, portable random number generator.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi), rounded to f32 so that the GPU sees exactly
/// the same inputs as the f64 CPU twin.
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|_| f64::from(rng.random_range(lo..hi) as f32))
        .collect()
}

/// One random tensor per length, uniform in [−1, 1).
pub fn tensors(rng: &mut ChaCha8Rng, lens: &[usize]) -> Vec<Vec<f64>> {
    lens.iter().map(|&n| uniform(rng, n, -1.0, 1.0)).collect()
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
        || std::env::var("OCCAM_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// The GPUs that GPU tests run on. With `OCCAM_BACKEND` / `OCCAM_ADAPTER`
/// set, the one adapter they select; otherwise the preferred adapter of every
/// backend that has one (on a machine without a GPU: lavapipe on Vulkan and
/// llvmpipe on GL), so each backend's shader translation is exercised. With no
/// adapter at all the tests print that they are skipped — except in CI
/// (`CI=true`) or with `OCCAM_REQUIRE_GPU=1`, where they fail: GPU tests never
/// skip silently there.
pub fn gpus() -> &'static [Gpu] {
    static GPUS: OnceLock<Vec<Gpu>> = OnceLock::new();
    GPUS.get_or_init(|| {
        let explicit = AdapterSelection::from_env().unwrap_or_else(|e| panic!("{e}"));
        let selections: Vec<AdapterSelection> = if explicit.backend.is_some() {
            vec![explicit]
        } else {
            Backend::NAMES
                .iter()
                .map(|b| AdapterSelection {
                    backend: Some(Backend::parse(b, "test").unwrap()),
                    adapter: explicit.adapter.clone(),
                })
                .collect()
        };
        let mut errors = Vec::new();
        let gpus: Vec<Gpu> = selections
            .iter()
            .filter_map(|s| {
                Gpu::new(s, true)
                    .map_err(|e| errors.push(e.to_string()))
                    .ok()
            })
            .collect();
        if gpus.is_empty() {
            let why = errors.join("\n");
            if ci() {
                panic!("GPU tests must run in CI, but no adapter could be opened:\n{why}");
            }
            eprintln!("GPU tests SKIPPED (no adapter; CI=true makes this fail):\n{why}");
        }
        gpus
    })
}

/// The adapters of [`gpus`] that offer subgroup operations at a fixed size,
/// which the fused unroll's lanes layout needs (lavapipe on Vulkan does; GL
/// does not). Empty fails in CI, like [`gpus`]: the lanes layout is what
/// software adapters run, so it must be tested there.
pub fn lanes_gpus() -> Vec<&'static Gpu> {
    let lanes: Vec<&Gpu> = gpus()
        .iter()
        .filter(|g| g.subgroup_size().is_some())
        .collect();
    if lanes.is_empty() {
        if ci() {
            panic!("the lanes layout must be tested in CI, but no adapter offers subgroups");
        }
        eprintln!(
            "lanes-layout tests SKIPPED (no adapter offers subgroups; CI=true makes this fail)"
        );
    }
    lanes
}

pub mod meta;

/// A convolution's sizes from (batch, images, c_in, c_out, height, width,
/// kernel, padding).
pub fn conv_shape(
    (batch, images, c_in, c_out, height, width, kernel, padding): (
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
    ),
) -> occam_ops::Conv2dShape {
    occam_ops::Conv2dShape {
        batch,
        images,
        c_in,
        c_out,
        height,
        width,
        kernel,
        padding,
    }
}

/// A python3 that has numpy (CI installs python3-numpy; `.ci/run`).
pub fn python_with_numpy() -> String {
    for p in ["python3", "/usr/bin/python3"] {
        let ok = std::process::Command::new(p)
            .args(["-c", "import numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return p.to_string();
        }
    }
    panic!("no python3 with numpy found (tried python3, /usr/bin/python3): install python3-numpy");
}
