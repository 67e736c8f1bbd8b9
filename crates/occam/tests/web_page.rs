//! The web page in a real browser: builds it (scripts/web-build.sh: the
//! wasm32 build of crates/occam-web and wasm-bindgen), serves it on
//! 127.0.0.1 and drives headless Chromium on its SwiftShader WebGPU
//! (scripts/web-test.py): a short quickstart in the page must give the
//! native CLI's held-out figures within f32 tolerance, a bad key must be
//! refused in the page with the CLI's message, a small mnist01 must run from
//! the image set the page holds in memory, and screenshots of the page are
//! kept in target/web-test/page.png and page-images.png.
//!
//! Needs Debian's chromium and chromium-driver, the wasm32 target and
//! wasm-bindgen-cli (.ci/run installs them). Without them the test says it
//! is skipped — except in CI (`CI=true`), where it fails.

use std::path::Path;
use std::process::Command;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

#[test]
fn the_page_meta_learns_in_headless_chromium_like_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let missing: Vec<&str> = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        assert!(
            !in_ci(),
            "the web page must be tested in CI, but {missing:?} are missing (.ci/run installs chromium and chromium-driver)"
        );
        eprintln!("web page test SKIPPED: {missing:?} missing (CI=true makes this fail)");
        return;
    }
    // Its own target folder: the wasm build must not wait on the lock of
    // the cargo command running this test.
    let build = Command::new("bash")
        .arg(root.join("scripts/web-build.sh"))
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", root.join("target/wasm"))
        .status()
        .expect("bash runs");
    assert!(build.success(), "scripts/web-build.sh failed");
    let test = Command::new("python3")
        .arg(root.join("scripts/web-test.py"))
        .args(["--occam", env!("CARGO_BIN_EXE_occam")])
        .args([
            "--web",
            "target/web",
            "--screenshot",
            "target/web-test/page.png",
            "--images",
            "target/web-test/page-images.png",
        ])
        .current_dir(&root)
        .env(
            "XDG_RUNTIME_DIR",
            std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()),
        )
        .output()
        .expect("python3 runs");
    let out = String::from_utf8_lossy(&test.stdout);
    println!("{out}{}", String::from_utf8_lossy(&test.stderr));
    assert!(test.status.success(), "scripts/web-test.py failed");
    assert!(out.contains("web-test: ok"));
    assert!(root.join("target/web-test/page.png").is_file());
    assert!(root.join("target/web-test/page-images.png").is_file());
}
