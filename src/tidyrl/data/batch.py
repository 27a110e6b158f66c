"""Typed batches: algorithms read `batch.obs`, `batch.terminated`, never string keys."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass(frozen=True)
class Transition:
    """A batch of one-step transitions (s, a, r, s', terminated, truncated) as tensors.

    `terminated` and `truncated` stay separate: a target bootstraps from `next_obs` unless
    `terminated` (use `bootstrap_mask`); `truncated` only marks that the episode was cut.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor

    @property
    def bootstrap_mask(self) -> torch.Tensor:
        """1 where the target may bootstrap from `next_obs` (not terminated), else 0."""
        return 1.0 - self.terminated.float()

    def to(self, device: torch.device | str) -> Transition:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.rewards.shape[0])
