"""PyTorch reference (eager autograd, create_graph=True through the unroll, as
in the paper's own code) of Occam's meta-step, written for this project.

    python bench/torch_ref.py experiments/mlp_gd.toml [--steps N] [--warmup N] [--seed S] [--device cpu|gpu]
"""


import numpy as np
import torch

import common


def mlp(params, x, hidden_act, out_act):
    for i, w in enumerate(params):
        x = x @ w[:, :-1].T + w[:, -1]
        x = hidden_act(x) if i + 1 < len(params) else out_act(x)
    return x.squeeze(-1)


def energy(z, u):
    return ((z[:, None] - u[None, :]).abs().mean()
            - 0.5 * (z[:, None] - z[None, :]).abs().mean()
            - 0.5 * (u[:, None] - u[None, :]).abs().mean())


def softmin(eps, a, b, h):
    return -eps * torch.logsumexp(h[None, :] - (a[:, None] - b[None, :]) ** 2 / (2 * eps), dim=1)


def sinkhorn(x, y, blur, scaling):
    """Debiased Sinkhorn divergence (p = 2, geomloss semantics): annealed
    symmetric updates without gradients, then one differentiable
    extrapolation from the detached potentials (the envelope gradient)."""
    la = torch.full_like(x, -np.log(len(x)))
    lb = torch.full_like(y, -np.log(len(y)))
    with torch.no_grad():
        xs, ys = x.detach(), y.detach()
        both = torch.cat([xs, ys])
        diameter = max(float(both.max() - both.min()), blur)
        eps_list = common.epsilon_schedule(diameter, blur, scaling)
        e = eps_list[0]
        g_ab, f_ba = softmin(e, ys, xs, la), softmin(e, xs, ys, lb)
        f_aa, g_bb = softmin(e, xs, xs, la), softmin(e, ys, ys, lb)
        for e in eps_list:
            ft_ba = softmin(e, xs, ys, lb + g_ab / e)
            gt_ab = softmin(e, ys, xs, la + f_ba / e)
            ft_aa = softmin(e, xs, xs, la + f_aa / e)
            gt_bb = softmin(e, ys, ys, lb + g_bb / e)
            f_ba, g_ab = 0.5 * (f_ba + ft_ba), 0.5 * (g_ab + gt_ab)
            f_aa, g_bb = 0.5 * (f_aa + ft_aa), 0.5 * (g_bb + gt_bb)
    e = eps_list[-1]
    f_ba2 = softmin(e, x, y, lb + g_ab / e)
    g_ab2 = softmin(e, y, x, la + f_ba / e)
    f_aa2 = softmin(e, x, x, la + f_aa / e)
    g_bb2 = softmin(e, y, y, lb + g_bb / e)
    return (f_ba2 - f_aa2).mean() + (g_ab2 - g_bb2).mean()


def main():
    a = common.parse_args(__doc__)
    cfg = common.load(a.experiment)
    torch.manual_seed(a.seed)
    dev = torch.device("cuda" if a.device == "gpu" else "cpu")
    theta = [torch.tensor(w, requires_grad=True, device=dev)
             for w in common.meta_init(cfg, np.random.default_rng(a.seed + 1))]
    opt = (torch.optim.Adam(theta, lr=cfg.meta_lr) if cfg.optimizer == "adam"
           else torch.optim.Adagrad(theta, lr=cfg.meta_lr))
    out_act = torch.cos if cfg.meta_output == "cos" else (lambda v: v)
    # The random features' J, drawn as jax_ref.py draws it (same numbers).
    fixed_j = torch.from_numpy(np.random.default_rng(a.seed + 2)
                               .standard_normal((cfg.dim, max(cfg.features, 1)))
                               .astype(np.float32)).to(dev)

    def step(d):
        x_tr, x_te = torch.from_numpy(d["x_tr"]).to(dev), torch.from_numpy(d["x_te"]).to(dev)
        u = torch.from_numpy(d["u"]).to(dev)
        z = mlp(theta, torch.cat([x_tr, x_te]), torch.relu, out_act)
        z_tr, z_te = z[:cfg.train], z[cfg.train:]
        if cfg.learner == "mlp_gd":
            # w_0 needs a graph for autograd.grad; it does not depend on θ.
            w = [torch.from_numpy(v).to(dev).requires_grad_() for v in d["w0"]]
            masks = [torch.from_numpy(v).to(dev) for v in d["masks"]]
            idx = torch.from_numpy(d["idx"]).to(dev)
            for t in range(cfg.steps):
                rows = idx[t]
                g = mlp(w, x_tr[rows], torch.relu, lambda v: v)
                inner = ((g - z_tr[rows]) ** 2).mean()
                grads = torch.autograd.grad(inner, w, create_graph=True)
                w = [v - cfg.lr * mk * gv for v, mk, gv in zip(w, masks, grads)]
            y_te = mlp(w, x_te, torch.relu, lambda v: v)
        else:
            phi_tr, phi_te = torch.relu(x_tr @ fixed_j), torch.relu(x_te @ fixed_j)
            a_mat = phi_tr.T @ phi_tr + cfg.lam * torch.eye(cfg.features, device=dev)
            y_te = phi_te @ torch.linalg.solve(a_mat, phi_tr.T @ z_tr)
        loss = cfg.w_gen * ((y_te - z_te) ** 2).mean()
        zs = z if cfg.dist_on == "all" else z_te
        dist = energy(zs, u) if cfg.dist_kind == "energy" else sinkhorn(zs, u, cfg.blur, cfg.scaling)
        loss = loss + cfg.w_dist * dist
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    common.time_steps(step, cfg, a.seed, a.steps, a.warmup)


if __name__ == "__main__":
    main()
