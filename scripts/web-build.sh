#!/usr/bin/env bash
# Builds the web page into target/web: a static folder any web server can
# host (index.html, app.js and pkg/ with the wasm build of crates/occam-web).
# Serve it with:  python3 -m http.server --directory target/web 8000
# Installs what it needs when missing: the wasm32 target (rustup) and
# wasm-bindgen-cli at the version of the wasm-bindgen crate in Cargo.lock.
#
#   scripts/web-build.sh [--tools-only]   (--tools-only: install, do not build)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "web-build: installing wasm-bindgen-cli $want (found: ${have:-none})" >&2
  cargo install wasm-bindgen-cli --version "$want"
fi
if [ "${1:-}" = --tools-only ]; then
  exit 0
fi
cargo build --release --target wasm32-unknown-unknown -p occam-web
out=target/web
rm -rf "$out"
mkdir -p "$out"
cp web/index.html web/app.js "$out/"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/occam_web.wasm"
echo "web-build: $out ($(du -sh "$out" | cut -f1); the wasm module is $(stat -c %s "$out/pkg/occam_web_bg.wasm") bytes)" >&2
