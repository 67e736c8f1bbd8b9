"""What the reference implementations share: the experiment's configuration,
read from Occam's own TOML file so that every implementation runs the same
sizes, and the per-meta-step random data drawn with NumPy.

Supported: the three benchmarked configurations of issue 7 -- mlp_gd
(ReLU-MLP learner unrolled by full-batch GD), kernel_sphere (random-ReLU-
feature kernel ridge) and mushroom_random (masked 5-100-1 learner unrolled
by minibatch SGD with replacement) -- and, in the JAX reference only,
spiking_sphere (a LIF layer trained by GD with BPTT and a surrogate
gradient, current encoding).
"""

import argparse
import json
import statistics
import sys
import time
import tomllib
from dataclasses import dataclass

import numpy as np


@dataclass
class Config:
    name: str
    dim: int
    train: int
    test: int
    samples: int
    meta_hidden: list
    meta_output: str          # "identity" or "cos"
    optimizer: str            # "adam" or "adagrad"
    meta_lr: float
    learner: str              # "mlp_gd" or "kernel_ridge"
    hidden: list              # mlp_gd
    steps: int
    lr: float
    batch: int                # 0 = full batch
    features: int             # kernel_ridge
    lam: float
    w_gen: float
    w_dist: float
    dist_kind: str            # "energy" or "sinkhorn"
    dist_on: str              # "test" or "all"
    blur: float
    scaling: float
    inputs_per_unit: int      # 0 = dense first layer
    spiking: dict             # the [learner] table of a spiking learner


def load(path, learners=("mlp_gd", "kernel_ridge")):
    """The experiment at `path`; exits (status 3, "not covered") where its
    learner kind is not among `learners` or a setting is not covered."""
    with open(path, "rb") as f:
        t = tomllib.load(f)
    l, m, loss = t["learner"], t["meta_learner"], t["loss"]
    if t["inputs"]["domain"] != "sphere" or t.get("tasks", 1) != 1:
        sys.exit(f"{path}: the references cover one task per meta-step on the sphere")
    if l["kind"] not in learners or m["activation"] != "relu":
        print(f"{path}: learner kind {l['kind']} is not covered by this reference", file=sys.stderr)
        sys.exit(3)
    if l["kind"] == "spiking" and (l.get("encoding", "current") != "current" or l.get("batch", 0)):
        sys.exit(f"{path}: only current encoding and full-batch steps are covered")
    conn = t.get("connectivity", {})
    if conn and conn.get("scheme") != "random":
        sys.exit(f"{path}: only the random connectivity scheme is covered")
    return Config(
        name=t["name"], dim=t["inputs"]["dim"], train=t["data"]["train"],
        test=t["data"]["test"], samples=t["data"]["samples"],
        meta_hidden=m["hidden"], meta_output=m.get("output", "identity"),
        optimizer=t["optimizer"]["kind"], meta_lr=t["optimizer"]["lr"],
        learner=l["kind"], hidden=l.get("hidden", []), steps=l.get("steps", 0),
        lr=l.get("lr", 0.0), batch=l.get("batch", 0), features=l.get("features", 0),
        lam=l.get("lambda", 0.0), w_gen=loss["generalisation"],
        w_dist=loss["distribution"], dist_kind=loss["distribution_kind"],
        dist_on=loss["distribution_on"], blur=loss.get("blur", 0.05),
        scaling=loss.get("scaling", 0.5),
        inputs_per_unit=conn.get("inputs_per_unit", 0),
        spiking=l if l["kind"] == "spiking" else {},
    )


def sphere(rng, n, d):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def meta_step_data(cfg, rng):
    """One meta-step's draws: inputs, target samples U, the learner's own
    randomness (PyTorch-default init and mask, or minibatch rows)."""
    d = {
        "x_tr": sphere(rng, cfg.train, cfg.dim),
        "x_te": sphere(rng, cfg.test, cfg.dim),
        "u": rng.uniform(-1.0, 1.0, cfg.samples).astype(np.float32),
    }
    if cfg.learner == "spiking":
        # PyTorch-default layers [k, d + 1] and [k + 1], W1 times the gain,
        # flattened as bench/spiking_ref.py's model reads them.
        k, gain = cfg.spiking["hidden"], cfg.spiking.get("init_gain", 5.0)
        w1 = rng.uniform(-1, 1, (k, cfg.dim + 1)) / np.sqrt(cfg.dim) * gain
        w2 = rng.uniform(-1, 1, k + 1) / np.sqrt(k)
        d["w0"] = np.concatenate([w1.ravel(), w2]).astype(np.float32)
        d["idx"] = np.tile(np.arange(cfg.train), (cfg.steps, 1)).astype(np.int64)
    if cfg.learner == "mlp_gd":
        sizes = [cfg.dim] + cfg.hidden + [1]
        d["w0"] = [(rng.uniform(-1, 1, (o, i + 1)) / np.sqrt(i)).astype(np.float32)
                   for i, o in zip(sizes[:-1], sizes[1:])]
        masks = [np.ones_like(w) for w in d["w0"]]
        if cfg.inputs_per_unit:
            m0 = np.zeros_like(masks[0])
            for unit in range(m0.shape[0]):
                m0[unit, rng.choice(cfg.dim, cfg.inputs_per_unit, replace=False)] = 1.0
            m0[:, -1] = 1.0  # biases are trained
            masks[0] = m0
        d["masks"] = masks
        d["w0"] = [w * mk for w, mk in zip(d["w0"], masks)]
        n = cfg.batch or cfg.train
        d["idx"] = (rng.integers(0, cfg.train, (cfg.steps, n)) if cfg.batch
                    else np.tile(np.arange(cfg.train), (cfg.steps, 1))).astype(np.int64)
    return d


def meta_init(cfg, rng):
    sizes = [cfg.dim] + cfg.meta_hidden + [1]
    return [(rng.uniform(-1, 1, (o, i + 1)) / np.sqrt(i)).astype(np.float32)
            for i, o in zip(sizes[:-1], sizes[1:])]


def epsilon_schedule(diameter, blur, scaling):
    """geomloss's ε-scaling schedule for p = 2."""
    eps = [diameter ** 2]
    e, stop, step = 2 * np.log(diameter), 2 * np.log(blur), 2 * np.log(scaling)
    while e > stop:
        eps.append(float(np.exp(e)))
        e += step
    eps.append(blur ** 2)
    return eps


def time_steps(step, cfg, seed, steps, warmup):
    """Runs warm-up + timed meta-steps of `step(data)` (data drawn inside the
    timed region, as a real run does) and prints a JSON line."""
    rng = np.random.default_rng(seed)
    times, loss = [], None
    for i in range(warmup + steps):
        start = time.perf_counter()
        loss = step(meta_step_data(cfg, rng))
        if i >= warmup:
            times.append(time.perf_counter() - start)
    print(json.dumps({
        "experiment": cfg.name, "meta_step_s": {
            "median": statistics.median(times), "min": min(times), "max": max(times)},
        "timed_meta_steps": steps, "last_meta_loss": float(loss)}))


def parse_args(doc, extra=None):
    """The references' shared command line: EXPERIMENT [--steps] [--warmup]
    [--seed] [--device], and what `extra(parser)` adds."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if extra:
        extra(ap)
    ap.add_argument("experiment")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                    help="where the reference runs: the CPU (the default, as in "
                         "the CPU-adapter comparison) or the machine's CUDA GPU")
    return ap.parse_args()
