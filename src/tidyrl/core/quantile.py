"""Quantile regression of return distributions (Dabney et al. 2018, QR-DQN).

A critic that outputs N values theta_1..theta_N represents the distribution Z as N Diracs at the
quantile midpoints tau_hat_i = (2i + 1) / (2N), i = 0..N-1. Minimising the quantile Huber loss

    rho_tau^kappa(u) = |tau - 1{u < 0}| * L_kappa(u) / kappa,    u = z_j - theta_i,
    L_kappa(u) = u^2 / 2 if |u| <= kappa else kappa (|u| - kappa / 2),

summed over i and averaged over target samples z_j, moves theta_i to the tau_hat_i quantiles of
the target distribution, which minimises the 1-Wasserstein distance between the two (Dabney et al.
2018, Lemma 2). With kappa = 0 it is the plain quantile (pinball) loss |tau - 1{u<0}| |u|.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def quantile_midpoints(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """tau_hat_i = (2i + 1) / (2n) for i = 0..n-1."""
    if n < 1:
        raise ValueError(f"need at least one quantile, got {n}")
    return (torch.arange(n, dtype=torch.float32, device=device) + 0.5) / n


def quantile_huber_loss(
    quantiles: torch.Tensor,
    targets: torch.Tensor,
    taus: torch.Tensor,
    kappa: float = 1.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Quantile Huber loss between predicted `quantiles` (B, N) and target samples (B, M).

    Sum over the N predicted quantiles, mean over the M targets, then a (weighted) mean over the
    batch. `targets` must not carry gradients the caller does not want (detach them).

    The (B, N, M) pairs are the costly part (QR-DQN's 170 quantiles on LunarLander: 3.7M pairs
    per batch of 128), so each factor is one fused op: L_kappa(u) is `F.huber_loss` with delta
    kappa, |tau - 1{u < 0}| one `torch.where` on the sign of u = z_j - theta_i.
    """
    theta = quantiles.unsqueeze(-1).expand(*quantiles.shape, targets.shape[-1])  # (B, N, M)
    z = targets.unsqueeze(-2).expand_as(theta)  # u_ij = z_j - theta_i
    if kappa > 0:
        huber = F.huber_loss(theta, z, reduction="none", delta=kappa)  # L_kappa(u)
        if kappa != 1.0:
            huber = huber / kappa
    else:
        huber = (z - theta).abs()
    tau = taus.unsqueeze(-1)
    weight = torch.where(z < theta.detach(), 1.0 - tau, tau)  # |tau - 1{u < 0}|
    per_sample = (weight * huber).mean(-1).sum(-1)  # (B,)
    if weights is not None:
        return (weights * per_sample).mean()
    return per_sample.mean()
