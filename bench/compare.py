"""Runs Occam (`occam bench`), the PyTorch reference and the JAX reference on
the same experiment files, interleaved round by round so that machine noise
hits all three alike, and prints each one's per-meta-step time (median over
rounds of each round's median) and the ratios.

    python bench/compare.py [EXPERIMENT.toml ...] [--steps N] [--rounds R] [--ref-device cpu|gpu]
                            [--variant NAME=KEY=VALUE ...]

Each --variant adds an Occam run with `--set KEY=VALUE` as another column in
the same rounds (e.g. `--variant workgroup=learner.fused_layout=workgroup`),
so two Occam settings are timed side by side with the references. A
reference that does not implement an experiment (exit status 3: PyTorch has
no spiking learner) gets "—" in its columns.
"""

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["experiments/mlp_gd.toml", "experiments/kernel_sphere.toml",
           "experiments/mushroom_random.toml"]


NOT_COVERED = 3  # a reference's exit status for an experiment it does not implement


def run_json(cmd):
    """The JSON a command prints, or None where it exits NOT_COVERED."""
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode == NOT_COVERED:
        return None
    if out.returncode != 0:
        sys.exit(f"compare.py: {' '.join(cmd)} exited {out.returncode}:\n{out.stderr}")
    # occam bench prints one pretty JSON object; the references print one line.
    return json.loads(out.stdout[out.stdout.index("{"):])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("experiments", nargs="*", default=DEFAULT)
    ap.add_argument("--steps", type=int, default=10, help="timed meta-steps per round")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--occam", default=str(ROOT / "target/release/occam"))
    ap.add_argument("--ref-device", choices=["cpu", "gpu"], default="cpu",
                    help="where PyTorch and JAX run (gpu: CUDA, beside Occam on the GPU)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=KEY=VALUE: also time Occam with --set KEY=VALUE")
    a = ap.parse_args()
    variants = []
    for v in a.variant:
        name, _, setting = v.partition("=")
        if not setting or "=" not in setting:
            ap.error(f"--variant {v!r}: expected NAME=KEY=VALUE")
        variants.append((name, setting))
    py = sys.executable
    rows, adapter = [], None
    for exp in a.experiments:
        times = {"occam": [], "pytorch": [], "jax": [], **{n: [] for n, _ in variants}}
        layouts, missing = {}, set()
        for _ in range(a.rounds):
            for name, extra in [("occam", [])] + [(n, ["--set", s]) for n, s in variants]:
                o = run_json([a.occam, "bench", exp, "--steps", str(a.steps),
                              "--warmup", str(a.warmup), *extra])
                adapter = f"{o['adapter']['name']} ({o['adapter']['backend']})"
                times[name].append(o["meta_step_s"]["median"])
                layouts[name] = o.get("fused_layout")
            for impl, script in (("pytorch", "torch_ref.py"), ("jax", "jax_ref.py")):
                if impl in missing:
                    continue
                r = run_json([py, str(ROOT / "bench" / script), exp, "--steps",
                              str(a.steps), "--warmup", str(a.warmup),
                              "--device", a.ref_device])
                if r is None:
                    missing.add(impl)
                    continue
                times[impl].append(r["meta_step_s"]["median"])
        med = {k: (statistics.median(v) if v else None) for k, v in times.items()}
        ratio = lambda k: None if med[k] is None else med[k] / med["occam"]  # noqa: E731
        rows.append({"experiment": Path(exp).stem, "fused": o["fused"], "layouts": layouts, **{
            f"{k}_ms": None if v is None else 1e3 * v for k, v in med.items()},
            **{f"{n}_over_occam": ratio(n) for n, _ in variants},
            "pytorch_over_occam": ratio("pytorch"),
            "jax_over_occam": ratio("jax"), "rounds": times})
    print(f"adapter: {adapter}; machine: {platform.machine()}, "
          f"{len(__import__('os').sched_getaffinity(0))} cores; "
          f"{datetime.date.today()}; {a.rounds} rounds x {a.steps} meta-steps; "
          f"references on the {a.ref_device}")
    print(f"{'experiment':<18}{'occam ms':>10}{'pytorch ms':>12}{'jax ms':>10}"
          f"{'pytorch/occam':>15}{'jax/occam':>11}")
    def cell(v, width):
        return f"{'—':>{width}}" if v is None else f"{v:>{width}.2f}"

    for r in rows:
        print(f"{r['experiment']:<18}{r['occam_ms']:>10.2f}{cell(r['pytorch_ms'], 12)}"
              f"{cell(r['jax_ms'], 10)}{cell(r['pytorch_over_occam'], 15)}"
              f"{cell(r['jax_over_occam'], 11)}"
              f"  (occam: {r['layouts'].get('occam')} layout)")
        # Each round's median, so that a noisy machine shows in the output.
        spread = "; ".join(f"{k} " + ", ".join(f"{1e3 * t:.1f}" for t in v)
                           for k, v in r["rounds"].items() if v)
        print(f"{'':<18}rounds (ms): {spread}")
        for n, s in variants:
            print(f"  variant {n} ({s}, {r['layouts'].get(n)} layout): {r[n + '_ms']:.2f} ms, "
                  f"{r[n + '_over_occam']:.2f}x the default's time")
    if a.json:
        Path(a.json).write_text(json.dumps(
            {"adapter": adapter, "ref_device": a.ref_device, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
