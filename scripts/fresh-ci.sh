#!/usr/bin/env bash
# Runs CI as a fresh machine would, as far as one can be shown on a used one.
#
#   scripts/fresh-ci.sh [REF]        (root; REF defaults to HEAD)
#
# It first removes what .ci/run installs and what earlier runs leave behind:
#   - the SLURM and munge daemons (stopped), the packages slurm-wlm and munge
#     with everything installed for them, and their configuration and state
#     (/etc/slurm, /etc/slurm-llnl, /etc/munge, /var/spool/slurm*,
#     /var/lib/munge, /var/log/slurm, /var/log/munge, /run/munge);
#   - Mesa's Vulkan driver and loader (mesa-vulkan-drivers, libvulkan1) and
#     python3-numpy, and numpy pip-installed into the python3 on PATH — the
#     packages .ci/run installs that a new machine of this kind lacks (its
#     image has the GL/EGL driver and python3, which stay);
#   - Chromium and chromedriver (chromium, chromium-driver), the wasm32
#     target and wasm-bindgen-cli, which the web page's test needs;
#   - Mesa's on-disk shader cache, and the folders the tests leave in /tmp;
# then clones the committed repository (REF; uncommitted changes are not
# tested, and it says so) into a new folder under /tmp, so there is no
# target/ and no run folder, and runs `bash .ci/run` there with CI=true and
# an empty CARGO_HOME (every crate is fetched again), as CI does. It prints
# .ci/run's closing line and the time it took, keeps the log beside the
# clone, and exits with .ci/run's status.
set -euo pipefail

ref=${1:-HEAD}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "fresh-ci.sh: needs root and apt-get (it removes system packages)" >&2
    exit 2
fi
commit=$(git -C "$repo" rev-parse --verify "$ref^{commit}") || {
    echo "fresh-ci.sh: $ref is not a commit of $repo" >&2
    exit 2
}
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "fresh-ci.sh: warning: $repo has uncommitted changes; they are not tested (only $commit is)" >&2
fi

say() { echo "fresh-ci: $*"; }

say "stopping the SLURM and munge daemons"
for d in slurmd slurmctld munged; do pkill -x "$d" || true; done
for _ in $(seq 50); do
    pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || break
    sleep 0.1
done

installed=()
for p in slurm-wlm slurmctld slurmd slurm-client munge libmunge2 mesa-vulkan-drivers libvulkan1 python3-numpy chromium chromium-driver; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        installed+=("$p")
    fi
done
if ((${#installed[@]})); then
    say "purging ${installed[*]} and what was installed for them"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${installed[@]}" >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -qq >/dev/null
fi
if command -v python3 >/dev/null && python3 -m pip show numpy >/dev/null 2>&1; then
    say "uninstalling numpy from $(command -v python3) (pip)"
    python3 -m pip uninstall -y -q numpy >/dev/null 2>&1 || true
fi

say "removing the web build's tools (the wasm32 target, wasm-bindgen-cli)"
rustup target remove wasm32-unknown-unknown >/dev/null 2>&1 || true
rm -f "$HOME"/.cargo/bin/wasm-bindgen "$HOME"/.cargo/bin/wasm-bindgen-test-runner "$HOME"/.cargo/bin/wasm2es6js

say "removing SLURM and munge configuration and state"
rm -rf /etc/slurm /etc/slurm-llnl /etc/munge /var/spool/slurmctld /var/spool/slurmd \
    /var/lib/munge /var/log/slurm /var/log/munge /run/munge /run/slurmctld.pid /run/slurmd.pid

cache=${XDG_CACHE_HOME:-$HOME/.cache}
say "removing Mesa's shader cache and the tests' folders in /tmp"
rm -rf "$cache/mesa_shader_cache" "$cache/mesa_shader_cache_db" ${MESA_SHADER_CACHE_DIR:+"$MESA_SHADER_CACHE_DIR"}
rm -rf /tmp/occam-* /tmp/never-written

work=$(mktemp -d /tmp/fresh-ci-XXXX)
say "cloning $commit into $work/repo"
git clone -q --no-local "$repo" "$work/repo"
git -C "$work/repo" checkout -q --detach "$commit"

say "running .ci/run (log: $work/ci.log)"
start=$SECONDS
set +e
(cd "$work/repo" &&
    env -u CARGO_TARGET_DIR -u OCCAM_BACKEND -u OCCAM_ADAPTER -u OCCAM_REQUIRE_GPU \
        CI=true CARGO_HOME="$work/cargo-home" PATH="$HOME/.cargo/bin:$PATH" \
        bash .ci/run </dev/null) 2>&1 | tee "$work/ci.log"
status=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - start))
closing=$(grep -E '^ci: [0-9]+ passed, [0-9]+ failed' "$work/ci.log" | tail -1 || true)
say "commit $commit: .ci/run exited $status in $((elapsed / 60)) min $((elapsed % 60)) s; ${closing:-no closing line}"
say "the clone and the log stay in $work"
exit "$status"
