"""Target-network updates: hard copies every C steps (Mnih et al. 2015) and Polyak averaging
theta' <- tau * theta + (1 - tau) * theta' (Lillicrap et al. 2016, DDPG)."""

from __future__ import annotations

import weakref

import torch
from torch import nn

_PAIRS: weakref.WeakKeyDictionary[
    nn.Module, tuple[nn.Module, list[torch.Tensor], list[torch.Tensor]]
]
_PAIRS = weakref.WeakKeyDictionary()


def _pair(online: nn.Module, target: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The (online, target) parameter lists, matched and shape-checked once per pair of modules.

    Target updates run every step (Polyak) or every few steps (DQN's hard copy), and walking a
    module tree for its parameters each time is a visible share of a small update; Parameter
    objects stay the same under `load_state_dict` and `.to()`, so the lists are read once.
    Buffers (which `.to()` replaces) are read afresh on each call."""
    cached = _PAIRS.get(target)
    if cached is not None and cached[0] is online:
        return cached[1], cached[2]
    sources: list[torch.Tensor] = list(online.parameters())
    targets: list[torch.Tensor] = list(target.parameters())
    if len(sources) != len(targets) or any(
        s.shape != t.shape for s, t in zip(sources, targets, strict=True)
    ):
        raise ValueError("online and target networks have different parameters")
    _PAIRS[target] = (online, sources, targets)
    return sources, targets


def _buffers(online: nn.Module, target: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    sources, targets = list(online.buffers()), list(target.buffers())
    if len(sources) != len(targets) or any(
        s.shape != t.shape for s, t in zip(sources, targets, strict=True)
    ):
        raise ValueError("online and target networks have different buffers")
    return sources, targets


@torch.no_grad()
def polyak_update(online: nn.Module, target: nn.Module, tau: float) -> None:
    """theta_target <- tau * theta_online + (1 - tau) * theta_target, in place (buffers copied)."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must lie in [0, 1], got {tau}")
    sources, targets = _pair(online, target)
    torch._foreach_lerp_(targets, sources, tau)
    buf_sources, buf_targets = _buffers(online, target)
    if buf_sources:
        torch._foreach_copy_(buf_targets, buf_sources)


@torch.no_grad()
def hard_update(online: nn.Module, target: nn.Module) -> None:
    """theta_target <- theta_online (the DQN target network's periodic copy), buffers too, as
    one multi-tensor copy (cheaper than `load_state_dict`; benchmarks/dqn_update_profile.py)."""
    sources, targets = _pair(online, target)
    buf_sources, buf_targets = _buffers(online, target)
    torch._foreach_copy_([*targets, *buf_targets], [*sources, *buf_sources])


def update_target(online: nn.Module, target: nn.Module, tau: float) -> None:
    """Hard copy when tau == 1 (Mnih et al. 2015), else Polyak averaging with rate tau."""
    if tau >= 1.0:
        hard_update(online, target)
    else:
        polyak_update(online, target, tau)
