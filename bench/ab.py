#!/usr/bin/env python3
"""Two builds of Occam side by side: `occam bench` of each, alternated round
by round so that machine noise hits both alike, on the same adapter.

    python3 bench/ab.py OLD_OCCAM NEW_OCCAM EXPERIMENT.toml [--rounds 3]
        [--steps 5] [--warmup 2] [--kernel NAME]... [-- occam bench args]

OLD_OCCAM and NEW_OCCAM are two `occam` binaries (e.g. one built at the
commit before a kernel change, copied aside, and one after). Prints, per
round, each build's median meta-step time and the profiled GPU time of the
kernels named with --kernel (default: the five slowest of the first run),
then the medians over rounds and the ratio old / new (above 1: the new
build is faster). Only the standard library is needed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def bench(binary, experiment, steps, warmup, extra):
    env = dict(os.environ)
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    cmd = [binary, "bench", experiment, "--steps", str(steps), "--warmup", str(warmup), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"ab.py: {' '.join(cmd)} exited {out.returncode}:\n{out.stderr}")
    report = json.loads(out.stdout)
    kernels = {k["kernel"]: k["gpu_ms"] for k in report["per_kernel"]["kernels"]}
    return report["meta_step_s"]["median"] * 1e3, kernels, report["adapter"]["name"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("experiment")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--kernel", action="append", default=[])
    ap.add_argument("extra", nargs="*", help="passed to occam bench (after --)")
    a = ap.parse_args()
    if a.rounds < 1 or a.steps < 1 or a.warmup < 0:
        sys.exit("ab.py: --rounds and --steps must be at least 1, --warmup at least 0")
    for b in (a.old, a.new):
        if not os.access(b, os.X_OK):
            sys.exit(f"ab.py: {b}: not an executable occam binary")

    steps = {"old": [], "new": []}
    kernel_ms = {"old": {}, "new": {}}
    names = list(a.kernel)
    for r in range(a.rounds):
        for which, binary in (("old", a.old), ("new", a.new)):
            ms, kernels, adapter = bench(binary, a.experiment, a.steps, a.warmup, a.extra)
            if not names:
                names = sorted(kernels, key=lambda k: -kernels[k])[:5]
            steps[which].append(ms)
            for k in names:
                kernel_ms[which].setdefault(k, []).append(kernels.get(k, 0.0))
            shown = ", ".join(f"{k} {kernels.get(k, 0.0):.2f}" for k in names)
            print(f"round {r + 1} {which}: meta-step {ms:.2f} ms; kernels (ms): {shown}", flush=True)
    print(f"adapter: {adapter}; {a.experiment}; {a.rounds} rounds of {a.steps} timed meta-steps")
    o, n = statistics.median(steps["old"]), statistics.median(steps["new"])
    print(f"meta-step median: old {o:.2f} ms, new {n:.2f} ms, old/new {o / n:.2f}")
    for k in names:
        ko, kn = statistics.median(kernel_ms["old"][k]), statistics.median(kernel_ms["new"][k])
        ratio = f"{ko / kn:.2f}" if kn > 0 else "n/a"
        print(f"  {k}: old {ko:.2f} ms, new {kn:.2f} ms, old/new {ratio}")


if __name__ == "__main__":
    main()
