#!/usr/bin/env python3
"""Writes the malformed-input corpus of tests/corpus/ (run from anywhere;
the files are committed, so tests never run this).

Every case is a small experiment file, cases/NNN-what.toml, whose first
line is `# expect: TEXT`: `occam run` on it must exit 2 with TEXT (a key or
a path) in its message, without a panic, an abort or a hang. Cases that
need data files point at data/, which holds malformed IDX image sets and
connectome CSVs written here byte by byte.
"""

import gzip
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
DATA = os.path.join(HERE, "data")

# A tiny, valid experiment (the quickstart, shrunk): every case changes one thing.
BASE = {
    "": {"name": '"corpus"', "seed": "0", "meta_steps": "2", "tasks": "1", "log_every": "1"},
    "inputs": {"domain": '"sphere"', "dim": "3"},
    "data": {"train": "10", "test": "20", "samples": "20"},
    "meta_learner": {"hidden": "[16]", "activation": '"relu"', "output": '"identity"'},
    "optimizer": {"kind": '"adam"', "lr": "0.01"},
    "learner": {"kind": '"mlp_gd"', "hidden": "[8]", "activation": '"relu"', "steps": "3", "lr": "0.05", "batch": "0"},
    "loss": {"generalisation": "1.0", "distribution": "1.0", "distribution_kind": '"energy"', "distribution_on": '"test"'},
    "analysis": {"eval_points": "100", "heldout_tasks": "2"},
}


def render(tables):
    out = []
    for section, keys in tables.items():
        if section:
            out.append(f"\n[{section}]")
        for k, v in keys.items():
            out.append(f"{k} = {v}")
    return "\n".join(out) + "\n"


def variant(changes):
    """BASE with changes: {(section, key): value or None (delete)}; a
    section value of dict replaces/adds a whole table, None removes it."""
    tables = {s: dict(k) for s, k in BASE.items()}
    for (section, key), value in changes.items():
        if key is None:
            if value is None:
                tables.pop(section, None)
            else:
                tables[section] = dict(value)
            continue
        tables.setdefault(section, {})
        if value is None:
            tables[section].pop(key, None)
        else:
            tables[section][key] = value
    return render(tables)


SINKHORN = {("loss", "distribution_kind"): '"sinkhorn"'}
IMAGES = {
    ("inputs", "dim"): None,
    ("inputs", "domain"): '"images"',
    ("meta_learner", "hidden"): "[8]",
}
SERIES = {("series", None): {"functions": "2", "orthogonality": "10.0", "points": "20"}}


def images(name, labels="ok-labels.idx"):
    c = dict(IMAGES)
    c[("inputs", "images")] = f'"../data/{name}"'
    c[("inputs", "labels")] = f'"../data/{labels}"'
    return c


def connectome(name):
    return {
        ("learner", "hidden"): "[4]",
        ("learner.connectivity", None): {"scheme": '"file"', "file": f'"../data/{name}"'},
    }


def ridge(**keys):
    t = {"kind": '"ridge"', "lambda": "0.001"}
    t.update(keys)
    return {("learner", None): t}


def kernel_ridge(**keys):
    t = {"kind": '"kernel_ridge"', "lambda": "0.001", "features": "20"}
    t.update(keys)
    return {("learner", None): t}


def spiking(**keys):
    t = {"kind": '"spiking"', "hidden": "4", "steps": "2", "lr": "0.05", "batch": "0", "sim_steps": "5"}
    t.update(keys)
    return {("learner", None): t}


def blackbox(**keys):
    t = {"kind": '"blackbox"', "population": "2", "sigma": "0.1"}
    t.update(keys)
    return {("learner", None): t, ("learner.inner", None): {"kind": '"ridge"', "lambda": "0.001"}}


def regression(stimuli="1", **keys):
    """A black box with the regression estimator on `stimuli` fixed sets."""
    t = {"kind": '"blackbox"', "estimator": '"regression"', "sigma": "0.1"}
    t.update(keys)
    c = {("learner", None): t, ("learner.inner", None): {"kind": '"ridge"', "lambda": "0.001"}}
    if stimuli is not None:
        c[("data", "stimulus_sets")] = stimuli
    return c


def inner(table):
    """A black box around the learner `table` (its `inner`)."""
    return {("learner", None): {"kind": '"blackbox"', "population": "2", "sigma": "0.1"}, ("learner.inner", None): table}


def inner_with_connectivity():
    """A black box around an animal whose table has a connectivity table."""
    c = inner(animal())
    c[("learner.inner.connectivity", None)] = {"scheme": '"random"', "inputs_per_unit": "2"}
    return c


def animal(**keys):
    """An animal's table; a key given as None is left out."""
    t = {"kind": '"animal"', "features": "10", "lambda": "0.001", "lapse": "0.0", "response_noise": "0.1"}
    t.update(keys)
    return {k: v for k, v in t.items() if v is not None}


MLP_GD = '{ kind = "mlp_gd", hidden = [4], activation = "relu", steps = 2, lr = 0.05, batch = 0 }'


def external(**keys):
    t = {"kind": '"external"', "command": '["python3", "learner.py"]'}
    t.update(keys)
    return t


def merge(*dicts):
    out = {}
    for d in dicts:
        out.update(d)
    return out


# (file stem, expected text, changes) — or raw text instead of changes.
CASES_LIST = [
    # The file itself.
    ("not-toml", "not-toml.toml", "this is [not toml\n"),
    ("duplicate-key", "duplicate", 'name = "a"\nname = "b"\n'),
    ("empty-file", "name", ""),
    ("unknown-top-level-key", "meta_step", {("", "meta_step"): "5"}),
    ("missing-name", "name", {("", "name"): None}),
    ("missing-learner", "learner", {("learner", None): None}),
    ("missing-loss", "loss", {("loss", None): None}),
    # Top-level values.
    ("name-escapes", "name", {("", "name"): '"../../x"'}),
    ("name-empty", "name", {("", "name"): '""'}),
    ("name-hidden", "name", {("", "name"): '".hidden"'}),
    ("seed-string", "seed", {("", "seed"): '"abc"'}),
    ("seed-negative", "seed", {("", "seed"): "-1"}),
    ("meta-steps-negative", "meta_steps", {("", "meta_steps"): "-1"}),
    ("meta-steps-zero", "meta_steps", {("", "meta_steps"): "0"}),
    ("meta-steps-float", "meta_steps", {("", "meta_steps"): "2.5"}),
    ("tasks-zero", "tasks", {("", "tasks"): "0"}),
    ("tasks-huge", "tasks", {("", "tasks"): "100000"}),
    ("log-every-zero", "log_every", {("", "log_every"): "0"}),
    ("checkpoint-every-negative", "checkpoint_every", {("", "checkpoint_every"): "-1"}),
    # Inputs and data.
    ("domain-unknown", "inputs.domain", {("inputs", "domain"): '"torus"'}),
    ("dim-zero", "inputs.dim", {("inputs", "dim"): "0"}),
    ("dim-huge", "inputs.dim", {("inputs", "dim"): "10000000"}),
    ("images-key-on-sphere", "inputs.images", {("inputs", "images"): '"x.idx"'}),
    ("train-zero", "data.train", {("data", "train"): "0"}),
    ("train-huge", "data.train", {("data", "train"): "100000000"}),
    ("test-negative", "data.test", {("data", "test"): "-5"}),
    ("samples-zero", "data.samples", {("data", "samples"): "0"}),
    # Meta-learner and optimiser.
    ("hidden-zero-width", "meta_learner.hidden", {("meta_learner", "hidden"): "[0]"}),
    ("hidden-huge", "meta_learner.hidden", {("meta_learner", "hidden"): "[100000, 100000]"}),
    ("activation-unknown", "meta_learner.activation", {("meta_learner", "activation"): '"swish2"'}),
    ("output-unknown", "meta_learner.output", {("meta_learner", "output"): '"bogus"'}),
    ("layers-and-hidden", "meta_learner", {("meta_learner", "layers"): '["dense 4", "relu", "dense 1"]'}),
    ("layers-bad", "meta_learner.layers", {("meta_learner", "hidden"): None, ("meta_learner", "activation"): None, ("meta_learner", "output"): None, ("meta_learner", "layers"): '["dense x"]'}),
    ("optimizer-unknown", "optimizer.kind", {("optimizer", "kind"): '"rmsprop"'}),
    ("meta-lr-negative", "optimizer.lr", {("optimizer", "lr"): "-1.0"}),
    ("meta-lr-nan", "optimizer.lr", {("optimizer", "lr"): "nan"}),
    ("meta-lr-inf", "optimizer.lr", {("optimizer", "lr"): "inf"}),
    ("meta-lr-beyond-f32", "optimizer.lr", {("optimizer", "lr"): "1e300"}),
    # Learners.
    ("learner-kind-unknown", "learner.kind", {("learner", "kind"): '"transformer"'}),
    ("learner-lr-negative", "learner.lr", {("learner", "lr"): "-1.0"}),
    ("learner-steps-zero", "learner.steps", {("learner", "steps"): "0"}),
    ("learner-steps-huge", "learner.steps", {("learner", "steps"): "10000000"}),
    ("learner-key-of-another-kind", "learner.lambda", {("learner", "lambda"): "0.1"}),
    ("learner-hidden-zero", "learner.hidden", {("learner", "hidden"): "[0]"}),
    ("learner-fused-layout-unknown", "learner.fused_layout", {("learner", "fused_layout"): '"tiles"'}),
    ("ridge-lambda-negative", "learner.lambda", ridge(**{"lambda": "-1.0"})),
    ("ridge-lambda-beyond-f32", "learner.lambda", ridge(**{"lambda": "1e300"})),
    ("ridge-unknown-key", "learner.steps", ridge(steps="3")),
    ("kernel-ridge-no-features", "learner.features", kernel_ridge(features="0")),
    ("spiking-sim-steps-zero", "learner.sim_steps", spiking(sim_steps="0")),
    ("spiking-tau-negative", "learner.tau_mem", spiking(tau_mem="-1.0")),
    ("spiking-spike-unknown", "learner.spike", spiking(spike='"boxcar"')),
    ("blackbox-population-zero", "learner.population", blackbox(population="0")),
    ("blackbox-sigma-negative", "learner.sigma", blackbox(sigma="-0.1")),
    ("animal-outside-blackbox", "learner", {("learner", None): {"kind": '"animal"', "features": "10", "lambda": "0.001"}}),
    ("adversary-unknown-key", "adversary.nonsense", merge({("loss", "adversary"): "1.0"}, {("adversary", None): {"kind": '"ridge"', "lambda": "0.001", "nonsense": "1"}})),
    ("adversary-weight-without-adversary", "loss.adversary", {("loss", "adversary"): "1.0"}),
    # Loss.
    ("generalisation-negative", "loss.generalisation", {("loss", "generalisation"): "-1.0"}),
    ("distribution-negative", "loss.distribution", {("loss", "distribution"): "-1.0"}),
    ("std-reward-negative", "loss.std_reward", {("loss", "std_reward"): "-0.5"}),
    ("distribution-kind-unknown", "loss.distribution_kind", {("loss", "distribution_kind"): '"kl"'}),
    ("distribution-on-unknown", "loss.distribution_on", {("loss", "distribution_on"): '"train"'}),
    ("blur-with-energy", "loss.blur", {("loss", "blur"): "0.05"}),
    ("scaling-with-energy", "loss.scaling", {("loss", "scaling"): "0.5"}),
    ("sinkhorn-blur-zero", "loss.blur", merge(SINKHORN, {("loss", "blur"): "0.0"})),
    ("sinkhorn-blur-negative", "loss.blur", merge(SINKHORN, {("loss", "blur"): "-1.0"})),
    ("sinkhorn-scaling-one", "loss.scaling", merge(SINKHORN, {("loss", "scaling"): "1.0"})),
    ("sinkhorn-scaling-rounds-to-one", "loss.scaling", merge(SINKHORN, {("loss", "scaling"): "0.99999999"})),
    ("sinkhorn-scaling-endless", "loss.scaling", merge(SINKHORN, {("loss", "scaling"): "0.9999"})),
    ("sinkhorn-blur-underflows", "loss.blur", merge(SINKHORN, {("loss", "blur"): "1e-50"})),
    # Series and analysis.
    ("series-orthogonality-negative", "series.orthogonality", merge(SERIES, {("series", "orthogonality"): "-1.0"})),
    ("series-no-functions", "series.functions", merge(SERIES, {("series", "functions"): "0"})),
    ("series-no-points", "series.points", merge(SERIES, {("series", "points"): "0"})),
    ("eval-points-huge", "analysis.eval_points", {("analysis", "eval_points"): "1000000000"}),
    ("eval-points-zero", "analysis.eval_points", {("analysis", "eval_points"): "0"}),
    ("heldout-zero", "analysis.heldout_tasks", {("analysis", "heldout_tasks"): "0"}),
    ("groups-out-of-range", "analysis.groups", {("analysis", "groups"): "[[5]]"}),
    # Connectivity.
    ("connectivity-scheme-unknown", "learner.connectivity.scheme", {("learner.connectivity", None): {"scheme": '"magic"'}}),
    ("connectivity-probabilities-with-random", "learner.connectivity.probabilities", {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "2", "probabilities": "[1.0, 1.0, 1.0]"}}),
    ("connectivity-k-zero", "learner.connectivity.inputs_per_unit", {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "0"}}),
    ("connectivity-on-ridge", "learner.connectivity", merge(ridge(), {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "2"}})),
    ("connectome-missing", "missing.csv", connectome("missing.csv")),
    ("connectome-opposite-signs", "opposite-signs.csv:3", connectome("opposite-signs.csv")),
    ("connectome-unit-out-of-range", "unit-out-of-range.csv:2", connectome("unit-out-of-range.csv")),
    ("connectome-bad-sign", "bad-sign.csv:2", connectome("bad-sign.csv")),
    ("connectome-empty", "empty.csv", connectome("empty.csv")),
    ("connectome-binary", "binary.csv", connectome("binary.csv")),
    # Image sets.
    ("images-zero-size", "zero-size.idx", images("zero-size.idx", "one-label.idx")),
    ("images-truncated", "truncated.idx", images("truncated.idx")),
    ("images-not-idx", "not-idx.idx", images("not-idx.idx")),
    ("images-wrong-type", "float-type.idx", images("float-type.idx")),
    ("images-label-count", "three-labels.idx", images("ok-images.idx", "three-labels.idx")),
    ("images-missing", "missing.idx", images("missing.idx")),
    ("images-bad-gzip", "bad.idx.gz", images("bad.idx.gz")),
    ("images-no-labels-key", "inputs.labels", merge(IMAGES, {("inputs", "images"): '"../data/ok-images.idx"'})),
    ("images-too-few", "data.train", merge(images("ok-images.idx"), {("data", "train"): "3"})),
    # Sizes that drive an allocation or a loop, and probabilities (issue 25).
    ("external-timeout-beyond-duration", "learner.inner.timeout_s", inner({"kind": '"external"', "command": '["python3", "learner.py"]', "timeout_s": "1e20"})),
    ("animal-features-huge", "learner.inner.features", inner({"kind": '"animal"', "features": "1000000000", "lambda": "0.001", "lapse": "0.0", "response_noise": "0.1"})),
    ("animal-repeats-endless", "learner.inner.repeats", inner({"kind": '"animal"', "features": "10", "lambda": "0.001", "lapse": "0.0", "response_noise": "0.1", "repeats": "1000000000000000"})),
    ("group-probabilities-not-summing-to-one", "learner.connectivity.group_probabilities[1]", {("learner.connectivity", None): {"scheme": '"grouped"', "groups": "[[0], [1, 2]]", "group_probabilities": "[[0.5, 0.5], [0.2, 0.2]]"}}),
    ("weighted-probabilities-not-summing-to-one", "learner.connectivity.probabilities", {("learner.connectivity", None): {"scheme": '"weighted"', "inputs_per_unit": "1", "probabilities": "[0.5, 0.5, 0.5]"}}),
    # Every learner kind's keys, one bad value each.
    ("spiking-dt-zero", "learner.dt", spiking(dt="0.0")),
    ("spiking-dt-nan", "learner.dt", spiking(dt="nan")),
    ("spiking-tau-syn-zero", "learner.tau_syn", spiking(tau_syn="0.0")),
    ("spiking-tau-out-negative", "learner.tau_out", spiking(tau_out="-2.0")),
    ("spiking-threshold-zero", "learner.threshold", spiking(threshold="0.0")),
    ("spiking-readout-window-zero", "learner.readout_window", spiking(readout_window="0")),
    ("spiking-readout-window-beyond-simulation", "learner.readout_window", spiking(readout_window="10")),
    ("spiking-slope-negative", "learner.slope", spiking(slope="-1.0")),
    ("spiking-reset-gradient-unknown", "learner.reset_gradient", spiking(reset_gradient='"sometimes"')),
    ("spiking-encoding-unknown", "learner.encoding", spiking(encoding='"rate"')),
    ("spiking-init-gain-negative", "learner.init_gain", spiking(init_gain="-5.0")),
    ("spiking-hidden-zero", "learner.hidden", spiking(hidden="0")),
    ("spiking-sim-steps-huge", "learner.sim_steps", spiking(sim_steps="1000000000")),
    ("blackbox-population-huge", "learner.population", blackbox(population="1000000000")),
    ("blackbox-sigma-nan", "learner.sigma", blackbox(sigma="nan")),
    ("blackbox-unknown-key", "learner.nonsense", blackbox(nonsense="1")),
    ("blackbox-without-inner", "learner.inner", {("learner", None): {"kind": '"blackbox"', "population": "2", "sigma": "0.1"}}),
    ("blackbox-inside-blackbox", "learner.inner", inner({"kind": '"blackbox"', "population": "2", "sigma": "0.1"})),
    ("blackbox-inner-kind-unknown", "learner.inner.kind", inner({"kind": '"oracle"'})),
    ("animal-lapse-one", "learner.inner.lapse", inner(animal(lapse="1.0"))),
    ("animal-noise-zero", "learner.inner.response_noise", inner(animal(response_noise="0.0"))),
    ("animal-lambda-negative", "learner.inner.lambda", inner(animal(**{"lambda": "-0.1"}))),
    ("animal-features-zero", "learner.inner.features", inner(animal(features="0"))),
    ("animal-repeats-zero", "learner.inner.repeats", inner(animal(repeats="0"))),
    ("animal-unknown-key", "learner.inner.nonsense", inner(animal(nonsense="1"))),
    ("external-command-empty", "learner.inner.command", inner(external(command="[]"))),
    ("external-command-not-a-list", "learner.inner.command", inner(external(command='"python3 learner.py"'))),
    ("external-timeout-negative", "learner.inner.timeout_s", inner(external(timeout_s="-1.0"))),
    ("external-timeout-nan", "learner.inner.timeout_s", inner(external(timeout_s="nan"))),
    ("external-dir-missing", "learner.inner.dir", inner(external(dir='"no-such-folder"'))),
    ("external-unknown-key", "learner.inner.nonsense", inner(external(nonsense="1"))),
    ("kernel-ridge-lambda-negative", "learner.lambda", kernel_ridge(**{"lambda": "-1.0"})),
    ("kernel-ridge-features-huge", "learner.features", kernel_ridge(features="1000000000")),
    ("kernel-ridge-resample-not-bool", "learner.resample_features", kernel_ridge(resample_features='"yes"')),
    ("ridge-bias-not-bool", "learner.bias", ridge(bias='"yes"')),
    ("learner-batch-negative", "learner.batch", {("learner", "batch"): "-1"}),
    ("learner-batch-beyond-train-without-replacement", "learner.batch", {("learner", "batch"): "1000", ("learner", "replacement"): "false"}),
    ("learner-activation-unknown", "learner.activation", {("learner", "activation"): '"swish"'}),
    ("learner-lr-nan", "learner.lr", {("learner", "lr"): "nan"}),
    ("learner-checkpoint-every-zero", "learner.checkpoint_every", {("learner", "checkpoint_every"): "0"}),
    ("learner-replacement-not-bool", "learner.replacement", {("learner", "replacement"): '"often"'}),
    # Loss, series, analysis, connectivity, other tables.
    ("generalisation-nan", "loss.generalisation", {("loss", "generalisation"): "nan"}),
    ("distribution-inf", "loss.distribution", {("loss", "distribution"): "inf"}),
    ("loss-unknown-key", "loss.nonsense", {("loss", "nonsense"): "1.0"}),
    ("series-functions-huge", "series.functions", merge(SERIES, {("series", "functions"): "1000000000"})),
    ("series-points-huge", "series.points", merge(SERIES, {("series", "points"): "1000000000"})),
    ("analysis-unknown-key", "analysis.nonsense", {("analysis", "nonsense"): "1"}),
    ("groups-empty-group", "analysis.groups", {("analysis", "groups"): "[[]]"}),
    ("connectivity-signs-unknown", "learner.connectivity.signs", {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "2", "signs": '"mixed"'}}),
    ("connectivity-k-beyond-inputs", "learner.connectivity.inputs_per_unit", {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "5"}}),
    ("connectivity-fixed-not-bool", "learner.connectivity.fixed", {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "2", "fixed": '"always"'}}),
    ("grouped-groups-overlap", "learner.connectivity.groups", {("learner.connectivity", None): {"scheme": '"grouped"', "groups": "[[0, 1], [1, 2]]", "group_probabilities": "[[0.5, 0.5], [0.5, 0.5]]"}}),
    ("connectivity-unknown-key", "learner.connectivity.nonsense", {("learner.connectivity", None): {"scheme": '"random"', "inputs_per_unit": "2", "nonsense": "1"}}),
    ("optimizer-unknown-key", "optimizer.nonsense", {("optimizer", "nonsense"): "1"}),
    ("inputs-unknown-key", "inputs.nonsense", {("inputs", "nonsense"): "1"}),
    ("data-unknown-key", "data.nonsense", {("data", "nonsense"): "1"}),
    ("series-functions-beyond-points", "series.functions", merge(SERIES, {("series", "functions"): "30"})),
    ("adversary-kind-unknown", "adversary.kind", merge({("loss", "adversary"): "1.0"}, {("adversary", None): {"kind": '"oracle"'}})),
    ("connectivity-top-level", "[learner.connectivity]", {("connectivity", None): {"scheme": '"random"', "inputs_per_unit": "2"}}),
    ("connectivity-on-animal", "learner.inner.connectivity", inner_with_connectivity()),
    ("regression-without-stimuli", "data.stimulus_sets", regression(stimuli=None)),
    ("regression-with-population", "learner.population", regression(population="4")),
    ("regression-window-zero", "learner.window", regression(window="0")),
    ("regression-ridge-negative", "learner.ridge", regression(ridge="-1.0")),
    ("antithetic-with-refresh", "learner.refresh", blackbox(refresh="2")),
    ("blackbox-estimator-unknown", "learner.estimator", blackbox(estimator='"guess"')),
    ("data-stimulus-sets-huge", "data.stimulus_sets", {("data", "stimulus_sets"): "100000"}),
    ("animal-input-scale-short", "learner.inner.input_scale", inner(animal(input_scale="[1.0]"))),
    ("animal-input-scale-negative", "learner.inner.input_scale[1]", inner(animal(input_scale="[1.0, -1.0, 1.0]"))),
    ("animal-learns-and-features", "learner.inner.features", inner(animal(learns=MLP_GD))),
    ("animal-learns-like-an-animal", "learner.inner.learns.kind", inner(animal(features=None, **{"lambda": None}, learns='{ kind = "animal" }'))),
    ("animal-learns-bad-key", "learner.inner.learns.steps", inner(animal(features=None, **{"lambda": None}, learns='{ kind = "mlp_gd", hidden = [4], activation = "relu", steps = 0, lr = 0.05, batch = 0 }'))),
    ("animal-without-features", "learner.inner.features", inner(animal(features=None))),
]


def idx(dims, data, type_code=0x08):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def write_data():
    os.makedirs(DATA, exist_ok=True)
    files = {
        "ok-images.idx": idx([4, 2, 2], range(16)),
        "ok-labels.idx": idx([4], [0, 1, 0, 1]),
        "three-labels.idx": idx([3], [0, 1, 0]),
        "one-label.idx": idx([1], [0]),
        "zero-size.idx": idx([1, 0, 0], []),
        "truncated.idx": idx([4, 2, 2], range(16))[:-5],
        "not-idx.idx": b"P5 2 2 255\n\x00\x01\x02\x03",
        "float-type.idx": idx([4, 2, 2], range(64), type_code=0x0D),
        "bad.idx.gz": gzip.compress(idx([4, 2, 2], range(16)), mtime=0)[:20],
        "opposite-signs.csv": b"unit,input,sign\n0,1,+\n0,1,-\n",
        "unit-out-of-range.csv": b"0,1\n9,0\n",
        "bad-sign.csv": b"0,1,+\n1,2,maybe\n",
        "empty.csv": b"# no synapses\n",
        "binary.csv": bytes(range(256)),
    }
    for name, content in files.items():
        with open(os.path.join(DATA, name), "wb") as f:
            f.write(content)


def main():
    shutil.rmtree(CASES, ignore_errors=True)
    os.makedirs(CASES)
    write_data()
    for i, (stem, expect, changes) in enumerate(CASES_LIST):
        text = changes if isinstance(changes, str) else variant(changes)
        with open(os.path.join(CASES, f"{i:03d}-{stem}.toml"), "w") as f:
            f.write(f"# expect: {expect}\n{text}")
    print(f"{len(CASES_LIST)} cases in {CASES}")


if __name__ == "__main__":
    main()
