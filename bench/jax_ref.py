"""JAX reference (the whole meta-step under jit, the unroll as lax.scan) of
Occam's meta-step, written for this project.

    python bench/jax_ref.py experiments/mlp_gd.toml [--steps N] [--warmup N] [--seed S] [--device cpu|gpu]

Spiking learners: the LIF layer is bench/spiking_ref.py's model (the value
check of Occam's spiking meta-gradient), its simulation steps a Python loop
that jit unrolls; the learner's GD steps are a lax.scan. spiking_ref.py
keeps the GD steps a Python loop too, because JAX 0.10 drops the spike
rule's tangent when the *simulation* steps are a scan under nested
differentiation; with the simulation unrolled, a scan over the GD steps
gives the same meta-gradient as the Python loop (`--check-scan` compares
the two on a short unroll and prints the difference).
"""

import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

import common
from spiking_ref import snn_model


def mlp(params, x, out_act):
    for i, w in enumerate(params):
        x = x @ w[:, :-1].T + w[:, -1]
        x = jax.nn.relu(x) if i + 1 < len(params) else out_act(x)
    return x[:, 0]


def energy(z, u):
    return (jnp.abs(z[:, None] - u[None, :]).mean()
            - 0.5 * jnp.abs(z[:, None] - z[None, :]).mean()
            - 0.5 * jnp.abs(u[:, None] - u[None, :]).mean())


def softmin(eps, a, b, h):
    return -eps * jax.nn.logsumexp(h[None, :] - (a[:, None] - b[None, :]) ** 2 / (2 * eps), axis=1)


def sinkhorn(x, y, blur, scaling):
    """Debiased Sinkhorn divergence (p = 2, geomloss semantics): the annealed
    symmetric updates in a while loop on detached values, then one
    differentiable extrapolation (the envelope gradient)."""
    la = jnp.full(x.shape, -np.log(x.shape[0]), x.dtype)
    lb = jnp.full(y.shape, -np.log(y.shape[0]), y.dtype)
    xs, ys = jax.lax.stop_gradient(x), jax.lax.stop_gradient(y)
    both = jnp.concatenate([xs, ys])
    diameter = jnp.maximum(both.max() - both.min(), blur)
    e0 = diameter ** 2
    pots = (softmin(e0, ys, xs, la), softmin(e0, xs, ys, lb),
            softmin(e0, xs, xs, la), softmin(e0, ys, ys, lb))
    stop, step = 2 * np.log(blur), 2 * np.log(scaling)

    def update(eps, pots):
        g_ab, f_ba, f_aa, g_bb = pots
        ft_ba = softmin(eps, xs, ys, lb + g_ab / eps)
        gt_ab = softmin(eps, ys, xs, la + f_ba / eps)
        ft_aa = softmin(eps, xs, xs, la + f_aa / eps)
        gt_bb = softmin(eps, ys, ys, lb + g_bb / eps)
        return (0.5 * (g_ab + gt_ab), 0.5 * (f_ba + ft_ba),
                0.5 * (f_aa + ft_aa), 0.5 * (g_bb + gt_bb))

    # Schedule: d², exp(2 ln d + k·2 ln s) while above 2 ln blur, blur².
    pots = update(e0, pots)
    def cond(c):
        return c[0] > stop
    def body(c):
        e, pots = c
        return e + step, update(jnp.exp(e), pots)
    _, pots = jax.lax.while_loop(cond, body, (2 * jnp.log(diameter), pots))
    eps = blur ** 2
    pots = update(eps, pots)
    g_ab, f_ba, f_aa, g_bb = pots
    f_ba2 = softmin(eps, x, y, lb + g_ab / eps)
    g_ab2 = softmin(eps, y, x, la + f_ba / eps)
    f_aa2 = softmin(eps, x, x, la + f_aa / eps)
    g_bb2 = softmin(eps, y, y, lb + g_bb / eps)
    return (f_ba2 - f_aa2).mean() + (g_ab2 - g_bb2).mean()


def meta_loss(theta, d, cfg, fixed_j, scan=True):
    out_act = jnp.cos if cfg.meta_output == "cos" else (lambda v: v)
    z = mlp(theta, jnp.concatenate([d["x_tr"], d["x_te"]]), out_act)
    z_tr, z_te = z[:cfg.train], z[cfg.train:]
    if cfg.learner == "mlp_gd":
        def inner(w, rows):
            g = mlp(w, d["x_tr"][rows], lambda v: v)
            return ((g - z_tr[rows]) ** 2).mean()

        def step(w, rows):
            grads = jax.grad(inner)(w, rows)
            return [v - cfg.lr * mk * g for v, mk, g in zip(w, d["masks"], grads)], None

        w, _ = jax.lax.scan(step, d["w0"], d["idx"])
        y_te = mlp(w, d["x_te"], lambda v: v)
    elif cfg.learner == "spiking":
        model = snn_model(cfg.spiking, cfg.dim)

        def inner(w, rows):
            return ((model(w, d["x_tr"][rows]) - z_tr[rows]) ** 2).mean()

        def step(w, rows):
            return w - cfg.lr * jax.grad(inner)(w, rows), None

        if scan:
            w, _ = jax.lax.scan(step, d["w0"], d["idx"])
        else:
            w = d["w0"]
            for rows in d["idx"]:
                w, _ = step(w, rows)
        y_te = model(w, d["x_te"])
    else:
        phi_tr, phi_te = jax.nn.relu(d["x_tr"] @ fixed_j), jax.nn.relu(d["x_te"] @ fixed_j)
        a_mat = phi_tr.T @ phi_tr + cfg.lam * jnp.eye(cfg.features)
        y_te = phi_te @ jnp.linalg.solve(a_mat, phi_tr.T @ z_tr)
    loss = cfg.w_gen * ((y_te - z_te) ** 2).mean()
    zs = z if cfg.dist_on == "all" else z_te
    dist = energy(zs, d["u"]) if cfg.dist_kind == "energy" else sinkhorn(zs, d["u"], cfg.blur, cfg.scaling)
    return loss + cfg.w_dist * dist


def optimiser_step(cfg, theta, state, grads):
    """PyTorch's Adam (β 0.9/0.999, ε 1e-8, bias-corrected) or Adagrad (ε 1e-10)."""
    t = state["t"] + 1
    if cfg.optimizer == "adam":
        m = [0.9 * a + 0.1 * g for a, g in zip(state["m"], grads)]
        v = [0.999 * a + 0.001 * g * g for a, g in zip(state["v"], grads)]
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        theta = [p - cfg.meta_lr * (mi / c1) / (jnp.sqrt(vi / c2) + 1e-8)
                 for p, mi, vi in zip(theta, m, v)]
        return theta, {"t": t, "m": m, "v": v}
    acc = [a + g * g for a, g in zip(state["v"], grads)]
    theta = [p - cfg.meta_lr * g / (jnp.sqrt(a) + 1e-10) for p, g, a in zip(theta, grads, acc)]
    return theta, {"t": t, "m": state["m"], "v": acc}


def check_scan(cfg, seed):
    """The meta-gradient of one meta-step with the learner's GD steps as a
    lax.scan and as a Python loop, on a 3-step unroll; 0 when they agree."""
    cfg = dataclasses.replace(cfg, steps=3)
    d = jax.tree.map(jnp.asarray, common.meta_step_data(cfg, np.random.default_rng(seed)))
    theta = [jnp.asarray(w) for w in common.meta_init(cfg, np.random.default_rng(seed + 1))]
    fixed_j = jnp.zeros((cfg.dim, 1), jnp.float32)
    grads = [jax.jit(jax.grad(functools.partial(meta_loss, d=d, cfg=cfg, fixed_j=fixed_j, scan=s)))(theta)
             for s in (True, False)]
    flat = [np.concatenate([np.ravel(g) for g in gs]) for gs in grads]
    rel = float(np.max(np.abs(flat[0] - flat[1])) / np.max(np.abs(flat[1])))
    print(f"{cfg.name}: meta-gradient, GD steps as lax.scan against a Python loop "
          f"(3 steps): max |difference| / max |loop| = {rel:.2e}")
    return 0 if rel <= 1e-5 else 1


def main():
    a = common.parse_args(__doc__, lambda ap: ap.add_argument(
        "--check-scan", action="store_true",
        help="spiking: compare the meta-gradient with the GD steps as a lax.scan "
             "and as a Python loop (3 steps), print the difference, exit 1 over 1e-5"))
    # Before the first array: the backend is fixed once JAX initialises it.
    jax.config.update("jax_platforms", "cuda" if a.device == "gpu" else "cpu")
    cfg = common.load(a.experiment, learners=("mlp_gd", "kernel_ridge", "spiking"))
    if a.check_scan:
        sys.exit(check_scan(cfg, a.seed))
    theta = [jnp.asarray(w) for w in common.meta_init(cfg, np.random.default_rng(a.seed + 1))]
    state = {"t": 0, "m": [jnp.zeros_like(w) for w in theta],
             "v": [jnp.zeros_like(w) for w in theta]}
    fixed_j = jnp.asarray(np.random.default_rng(a.seed + 2)
                          .standard_normal((cfg.dim, max(cfg.features, 1))).astype(np.float32))

    @functools.partial(jax.jit, static_argnums=())
    def meta_step(theta, state, d):
        loss, grads = jax.value_and_grad(meta_loss)(theta, d, cfg, fixed_j)
        theta, state = optimiser_step(cfg, theta, state, grads)
        return loss, theta, state

    def step(d):
        nonlocal theta, state
        loss, theta, state = meta_step(theta, state, d)
        return float(loss)

    common.time_steps(step, cfg, a.seed, a.steps, a.warmup)


if __name__ == "__main__":
    main()
