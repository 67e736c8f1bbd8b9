#!/usr/bin/env bash
# The SLURM round trip: a small sweep submitted as a 3-task job array to the
# one-node cluster of local-cluster.sh, collected with `occam collect`, and
# compared with the same sweep run locally in one process — the runs'
# function.npy and theta.npy must be byte-identical and the collected
# tables equal apart from wall-clock times. Run from the repository root
# (root, for the cluster): scripts/slurm/roundtrip.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

# OCCAM names a built binary (the test suite passes its own); otherwise build one.
occam="${OCCAM:-}"
if [ -z "$occam" ]; then
    cargo build --release -q -p occam
    occam="$PWD/target/release/occam"
fi
scripts/slurm/local-cluster.sh >/dev/null

work=$(mktemp -d /tmp/occam-slurm-XXXX)
sweep() { # $1: out folder
    cat <<TOML
experiment = "$PWD/experiments/quickstart.toml"
seeds = [0, 1]
out = "$1"
[set]
meta_steps = 4
"meta_learner.hidden" = [16]
"learner.steps" = 5
"data.test" = 20
"data.samples" = 20
"analysis.heldout_tasks" = 2
"analysis.eval_points" = 500
[grid]
"optimizer.lr" = [0.003, 0.01, 0.03]
TOML
}
sweep "$work/cluster" > "$work/cluster.toml"
sweep "$work/local" > "$work/local.toml"

echo "roundtrip: sbatch --array=0-2 (6 runs in 3 shards)"
(cd "$work" && OCCAM="$occam" sbatch --wait --array=0-2 --parsable \
    "$OLDPWD/scripts/slurm/sweep.sbatch" "$work/cluster.toml" >/dev/null)
echo "roundtrip: the same sweep locally"
"$occam" sweep "$work/local.toml" 2>"$work/local.log"

"$occam" collect "$work/cluster" --figure final.meta_loss --against optimizer.lr
"$occam" collect "$work/local"

fail=0
count=0
while IFS= read -r f; do
    rel=${f#"$work/local/"}
    count=$((count + 1))
    if ! cmp -s "$f" "$work/cluster/$rel"; then
        echo "roundtrip: DIFFERS: $rel" >&2
        fail=1
    fi
done < <(find "$work/local" -name 'function.npy' -o -name 'theta.npy' | sort)
[ "$count" = 12 ] || { echo "roundtrip: expected 12 arrays, found $count" >&2; fail=1; }
strip() { python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
keep = [i for i, h in enumerate(rows[0]) if 'wall_s' not in h]
for r in rows:
    print(','.join(r[i] for i in keep))
PY
}
if ! diff <(strip "$work/local/collected_by_setting.csv") <(strip "$work/cluster/collected_by_setting.csv") >/dev/null; then
    echo "roundtrip: the collected tables differ" >&2
    fail=1
fi
grep -h "meta-step" "$work"/slurm-*.out | head -3
if [ "$fail" = 0 ]; then
    echo "roundtrip: PASS: 6 runs through sbatch --array equal the local sweep ($count arrays byte-identical, collected tables equal); logs and results in $work"
else
    echo "roundtrip: FAIL; see $work" >&2
    exit 1
fi
