"""Categorical (C51) distributional Bellman projection.

Bellemare, Dabney & Munos (2017), "A Distributional Perspective on Reinforcement Learning",
Algorithm 1. The return distribution is a categorical p_j on a fixed support z_j = v_min + j dz,
dz = (v_max - v_min) / (N - 1). The target T z_j = r + gamma_n * mask * z_j (clipped to
[v_min, v_max]) falls between two atoms; its mass p_j is split between them in proportion to
closeness:

    b_j = (T z_j - v_min) / dz,  l = floor(b_j),  u = ceil(b_j)
    m_l += p_j (u - b_j),        m_u += p_j (b_j - l)          (all of p_j to l when l == u)

`gamma_n` may be one discount for the batch or one per row (gamma^m of an n-step transition), and
`bootstrap_mask` is 0 where the episode terminated, which collapses the target onto r.
D4PG (Barth-Maron et al. 2018) uses the same projection.
"""

from __future__ import annotations

import torch


def make_support(v_min: float, v_max: float, n_atoms: int) -> torch.Tensor:
    """z_j = v_min + j (v_max - v_min) / (N - 1), j = 0..N-1."""
    if n_atoms < 2 or not v_max > v_min:
        raise ValueError(f"need n_atoms >= 2 and v_max > v_min, got {n_atoms}, {v_min}, {v_max}")
    return torch.linspace(v_min, v_max, n_atoms)


def categorical_projection(
    next_probs: torch.Tensor,
    rewards: torch.Tensor,
    discounts: torch.Tensor | float,
    bootstrap_mask: torch.Tensor,
    support: torch.Tensor,
) -> torch.Tensor:
    """Project r + discounts * mask * z onto `support`.

    next_probs (B, N) target probabilities p_j(s', a*); rewards, bootstrap_mask (B,); discounts a
    float or (B,); support (N,), evenly spaced. Returns m (B, N), each row summing to 1.
    """
    n_atoms = support.shape[0]
    v_min, v_max = float(support[0]), float(support[-1])
    dz = (v_max - v_min) / (n_atoms - 1)
    discounts = torch.as_tensor(discounts, dtype=next_probs.dtype, device=next_probs.device)
    scale = (
        (discounts * bootstrap_mask).reshape(-1, 1)
        if discounts.ndim
        else (discounts * bootstrap_mask).reshape(-1, 1)
    )
    tz = (rewards.reshape(-1, 1) + scale * support.reshape(1, -1)).clamp(v_min, v_max)
    b = (tz - v_min) / dz
    lower, upper = b.floor(), b.ceil()
    # when b lands exactly on an atom (l == u) all of the mass goes to it
    w_lower = upper - b + (lower == upper).to(b.dtype)
    w_upper = b - lower
    batch = next_probs.shape[0]
    offset = (torch.arange(batch, device=next_probs.device) * n_atoms).reshape(-1, 1)
    m = torch.zeros(batch * n_atoms, dtype=next_probs.dtype, device=next_probs.device)
    m.index_add_(0, (lower.long() + offset).reshape(-1), (next_probs * w_lower).reshape(-1))
    m.index_add_(0, (upper.long() + offset).reshape(-1), (next_probs * w_upper).reshape(-1))
    return m.view(batch, n_atoms)
