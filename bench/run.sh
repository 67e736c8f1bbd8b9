#!/usr/bin/env bash
# Occam against its PyTorch and JAX references, side by side in one command:
# sets up bench/.venv from the pinned requirements (first run: a few GB, the
# PyPI torch wheel is the CUDA build), builds occam in release mode, then runs
# bench/compare.py (arguments pass through, e.g. --rounds 5 --steps 20).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install -q -r bench/requirements.txt
cargo build --release -p occam
exec bench/.venv/bin/python bench/compare.py "$@"
