#!/usr/bin/env python3
"""An example external learner for Occam's JSON-lines protocol (docs/design.md §10).

Kernel ridge regression with the arc-cosine kernel of degree 1 (the kernel of
an infinitely wide ReLU layer):

    k(x, y) = |x| |y| / pi * (sin t + (pi - t) cos t),   t = angle(x, y),
    f(x*) = k(x*, X) (K + lam I)^-1 z.

Occam writes one request per line on stdin and reads one reply per line on
stdout:

    -> {"protocol": 1, "id": 7, "seed": 123, "x_train": [[...]], "z_train": [...], "x_test": [[...]]}
    <- {"id": 7, "predictions": [...]}      or      {"id": 7, "error": "..."}

Usage: ridge_learner.py [lambda]   (default 1e-3). Needs numpy.
"""
import json
import sys

import numpy as np


def arccos_kernel(a, b):
    na = np.linalg.norm(a, axis=1)[:, None]
    nb = np.linalg.norm(b, axis=1)[None, :]
    cos = np.clip(a @ b.T / np.maximum(na * nb, 1e-12), -1.0, 1.0)
    t = np.arccos(cos)
    return na * nb / np.pi * (np.sin(t) + (np.pi - t) * cos)


def fit_predict(request, lam):
    x = np.asarray(request["x_train"], dtype=float)
    z = np.asarray(request["z_train"], dtype=float)
    xs = np.asarray(request["x_test"], dtype=float)
    k = arccos_kernel(x, x) + lam * np.eye(len(x))
    alpha = np.linalg.solve(k, z)
    return arccos_kernel(xs, x) @ alpha


def main():
    lam = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-3
    for line in sys.stdin:
        request = json.loads(line)
        reply = {"id": request["id"]}
        if request.get("protocol") != 1:
            reply["error"] = f"unsupported protocol {request.get('protocol')}"
        else:
            try:
                reply["predictions"] = fit_predict(request, lam).tolist()
            except Exception as e:  # reported to Occam, which stops the run
                reply["error"] = f"{type(e).__name__}: {e}"
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
