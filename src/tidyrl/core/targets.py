"""Target-network updates: hard copies every C steps (Mnih et al. 2015) and Polyak averaging
theta' <- tau * theta + (1 - tau) * theta' (Lillicrap et al. 2016, DDPG)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def polyak_update(online: nn.Module, target: nn.Module, tau: float) -> None:
    """theta_target <- tau * theta_online + (1 - tau) * theta_target, in place (buffers copied)."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must lie in [0, 1], got {tau}")
    online_params: list[torch.Tensor] = list(online.parameters())
    target_params: list[torch.Tensor] = list(target.parameters())
    if len(online_params) != len(target_params):
        raise ValueError("online and target networks have different parameter lists")
    torch._foreach_lerp_(target_params, online_params, tau)
    for b_online, b_target in zip(online.buffers(), target.buffers(), strict=True):
        b_target.copy_(b_online)


@torch.no_grad()
def hard_update(online: nn.Module, target: nn.Module) -> None:
    """theta_target <- theta_online (the DQN target network's periodic copy), buffers too.

    One multi-tensor copy: `load_state_dict` takes 1.8x as long (benchmarks/dqn_update_profile.py),
    which adds up for DQN's target copied every 10 steps."""
    sources = [*online.parameters(), *online.buffers()]
    targets = [*target.parameters(), *target.buffers()]
    if len(sources) != len(targets) or any(
        s.shape != t.shape for s, t in zip(sources, targets, strict=True)
    ):
        raise ValueError("online and target networks have different parameters or buffers")
    torch._foreach_copy_(targets, sources)
