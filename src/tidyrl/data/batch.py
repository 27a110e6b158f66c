"""Typed batches: algorithms read `batch.obs`, `batch.terminated`, never string keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def flat_observations(obs: Any, n: int) -> np.ndarray:
    """A batch of n observations as float32 [n, D]: an array flattened row by row, or a Dict
    observation's keys each flattened and concatenated in sorted key order (the raw flat form of
    `Experience`; `tidyrl.rewards.base.DictView` reads it back key by key)."""
    if isinstance(obs, dict):
        parts = [np.asarray(obs[k], dtype=np.float32).reshape(n, -1) for k in sorted(obs)]
        return np.concatenate(parts, axis=1)
    return np.asarray(obs, dtype=np.float32).reshape(n, -1)


def flat_observation_tensor(obs: Any) -> torch.Tensor:
    """`flat_observations` for tensors (a replay batch: a tensor, or a dict of tensors), kept on
    their device: float32 [B, D]."""
    if isinstance(obs, dict):
        keys = sorted(obs)
        n = len(obs[keys[0]])
        return torch.cat([obs[k].float().reshape(n, -1) for k in keys], dim=1)
    return torch.as_tensor(obs).float().reshape(len(obs), -1)


@dataclass(frozen=True)
class Transition:
    """A batch of (n-step) transitions (s, a, r, s', terminated, truncated) as tensors, the one
    batch type of every off-policy algorithm.

    `terminated` and `truncated` stay separate: a target bootstraps from `next_obs` unless
    `terminated` (use `bootstrap_mask`); `truncated` only marks that the episode was cut. Rows
    from `tidyrl.data.replay.Replay` also carry `discounts` (gamma^m of the bootstrap value,
    m <= n steps ahead, so one target formula serves 1-step and n-step rows), `weights`
    (importance-sampling weights, ones under uniform sampling) and `index` (storage rows, for
    priority updates). Observations of a Dict space are dicts of tensors, one per key."""

    obs: Any
    actions: torch.Tensor
    rewards: torch.Tensor
    """The reward, or the n-step discounted reward sum R^(m)."""
    next_obs: Any
    terminated: torch.Tensor
    truncated: torch.Tensor
    discounts: torch.Tensor | None = None
    """gamma^m: the discount of the bootstrap value (None: not recorded)."""
    weights: torch.Tensor | None = None
    """Importance-sampling weights (None: not recorded)."""
    index: np.ndarray | None = None
    """Storage rows the batch came from (None: not from a replay)."""
    next_masks: torch.Tensor | None = None
    """Valid actions in `next_obs` (None: the environment gives no action mask)."""

    @property
    def bootstrap_mask(self) -> torch.Tensor:
        """1 where the target may bootstrap from `next_obs` (not terminated), else 0."""
        return 1.0 - self.terminated.float()

    def to(self, device: torch.device | str) -> Transition:
        def move(x: Any) -> Any:
            if isinstance(x, dict):
                return {k: v.to(device) for k, v in x.items()}
            return None if x is None else x.to(device)

        return Transition(
            move(self.obs),
            self.actions.to(device),
            self.rewards.to(device),
            move(self.next_obs),
            self.terminated.to(device),
            self.truncated.to(device),
            move(self.discounts),
            move(self.weights),
            self.index,
            move(self.next_masks),
        )

    def __len__(self) -> int:
        return int(self.rewards.shape[0])


@dataclass(frozen=True)
class Experience:
    """A batch of transitions (s, a, s', terminated, truncated) *without* rewards: what a reward
    plug-in (`tidyrl.rewards`) scores and learns from, so that no environment reward can reach
    a learner whose rewards a plug-in replaces.

    `obs` and `next_obs` are the environment's raw observations flattened to float32 [B, D]
    (`flat_observations`: a Dict observation's keys flattened and concatenated in sorted key
    order; `next_obs` is the true successor: the final observation where an episode ended);
    `actions` are the actions the environment received (int64 [B] for Discrete, float32
    [B, A] for Box). `terminated` and `truncated` are float [B] and stay apart. A `Transition`
    from a replay has the same fields and can be scored too."""

    obs: torch.Tensor
    actions: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor

    @classmethod
    def of_step(
        cls,
        obs: Any,
        actions: np.ndarray,
        next_obs: Any,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Experience:
        """One vector-env step (N rows) as an Experience: observations flattened to float32."""
        n = len(terminated)

        def flat(x: Any) -> torch.Tensor:
            return torch.as_tensor(flat_observations(x, n))

        return cls(
            flat(obs),
            torch.as_tensor(np.asarray(actions)),
            flat(next_obs),
            torch.as_tensor(np.asarray(terminated, dtype=np.float32)),
            torch.as_tensor(np.asarray(truncated, dtype=np.float32)),
        )

    def rows(self, index: torch.Tensor) -> Experience:
        """The transitions at `index` (a minibatch)."""
        return Experience(
            self.obs[index],
            self.actions[index],
            self.next_obs[index],
            self.terminated[index],
            self.truncated[index],
        )

    def __len__(self) -> int:
        return int(self.obs.shape[0])
