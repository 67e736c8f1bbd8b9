#!/usr/bin/env bash
# The GPU rows of bench/RESULTS.md in one command, on a machine with a GPU:
#   1. meta-batch scaling: mlp_gd at tasks = 1, 16, 256, 4096 (`occam bench`);
#   2. fused against per-step unrolls on mlp_gd and mushroom_random;
#   3. a Chrome trace of one mlp_gd meta-step;
#   4. Occam against the PyTorch and JAX references, all three on the GPU
#      (bench/compare.py --ref-device gpu), interleaved round by round.
# It needs a built occam and a Python with torch and jax (CUDA builds); it
# does not set up bench/.venv (that holds the CPU builds, see run.sh).
#
#   bench/gpu_rows.sh [OCCAM_BINARY] [OUT_DIR] [PYTHON]
#
# Every JSON report lands in OUT_DIR (default bench/gpu-results); a summary
# table is printed last.
set -euo pipefail
cd "$(dirname "$0")/.."
occam=$(realpath "${1:-target/release/occam}")
out=${2:-bench/gpu-results}
py=${3:-python3}
rounds=${ROUNDS:-3}
steps=${STEPS:-10}
mkdir -p "$out"

"$occam" devices | tee "$out/devices.txt"

bench() { # NAME EXPERIMENT [occam bench options...]
    local name=$1 exp=$2
    shift 2
    echo "== $name" >&2
    "$occam" bench "$exp" --steps "$steps" --warmup 3 "$@" >"$out/$name.json" \
        || { echo "FAILED: $name" >&2; rm -f "$out/$name.json"; }
}

for t in 1 16 256 4096; do
    bench "mlp_gd-tasks$t" experiments/mlp_gd.toml --set tasks=$t
done
for exp in mlp_gd mushroom_random; do
    bench "$exp-per_step" experiments/$exp.toml --set learner.fused=false
    bench "$exp-fused" experiments/$exp.toml
done
bench mlp_gd-traced experiments/mlp_gd.toml --trace "$out/mlp_gd-trace.json"

# Both fused layouts side by side: the lanes layout (one subgroup per task)
# has been measured only on llvmpipe; `auto` keeps the workgroup layout on
# hardware until these rows say otherwise.
"$py" bench/compare.py --occam "$occam" --ref-device gpu --rounds "$rounds" \
    --steps "$steps" --json "$out/compare-gpu.json" \
    --variant lanes=learner.fused_layout=lanes | tee "$out/compare-gpu.txt" \
    || echo "FAILED: bench/compare.py" >&2

"$py" - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(n):
    p = out / f"{n}.json"
    return json.loads(p.read_text()) if p.exists() else None
one = load("mlp_gd-tasks1")
print(f"\nadapter: {one['adapter']['name']} ({one['adapter']['backend']})")
print("mlp_gd meta-batch scaling (median ms per meta-step; ratio to tasks = 1):")
base = one["meta_step_s"]["median"]
for t in (1, 16, 256, 4096):
    r = load(f"mlp_gd-tasks{t}")
    if r is None:
        print(f"  tasks {t:>5}: failed (see the log)")
        continue
    m = r["meta_step_s"]["median"]
    top = r["per_kernel"]["kernels"][:3]
    print(f"  tasks {t:>5}: {1e3 * m:9.2f} ms  x{m / base:6.2f}   GPU {r['per_kernel']['gpu_ms']:8.2f} ms; "
          + ", ".join(f"{k['kernel']} {k['gpu_ms']:.2f}" for k in top))
print("fused against per-step (median ms per meta-step):")
for exp in ("mlp_gd", "mushroom_random"):
    f, p = load(f"{exp}-fused"), load(f"{exp}-per_step")
    if f is None or p is None:
        print(f"  {exp:<16} failed (see the log)")
        continue
    fm, pm = f["meta_step_s"]["median"], p["meta_step_s"]["median"]
    print(f"  {exp:<16} fused {1e3 * fm:8.2f}  per-step {1e3 * pm:8.2f}  per-step/fused {pm / fm:5.2f}")
EOF
