"""Uniform experience replay for vector observations: ring storage + a uniform sampler.

Each row is one transition (s, a, r, s', terminated, truncated) as the environment owner
(`tidyrl.envs.make.VecEnv`) produced it: `next_obs` is the true final observation when an episode
ended, so a truncated transition can bootstrap from it. Samplers other than uniform (prioritized)
and accumulators (n-step) compose with the same storage; see `tidyrl.data.storage`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.data.batch import Transition
from tidyrl.data.storage import RingStorage


def transition_spec(
    observation_space: gym.Space[Any], action_space: gym.Space[Any]
) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Column shapes and dtypes of a transition for these spaces (float32 obs unless uint8)."""
    obs_shape = tuple(observation_space.shape or ())
    obs_dtype = np.uint8 if observation_space.dtype == np.uint8 else np.float32
    if isinstance(action_space, gym.spaces.Discrete):
        action_shape: tuple[int, ...] = ()
        action_dtype: Any = np.int64
    else:
        action_shape, action_dtype = tuple(action_space.shape or ()), np.float32
    return {
        "obs": (obs_shape, obs_dtype),
        "actions": (action_shape, action_dtype),
        "rewards": ((), np.float32),
        "next_obs": (obs_shape, obs_dtype),
        "terminated": ((), np.bool_),
        "truncated": ((), np.bool_),
    }


class ReplayBuffer:
    """Fixed-capacity transition replay with uniform sampling, returning `Transition` tensors."""

    def __init__(
        self,
        capacity: int,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
        device: torch.device | str = "cpu",
    ) -> None:
        self.storage = RingStorage(capacity, transition_spec(observation_space, action_space))
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.storage)

    @property
    def nbytes(self) -> int:
        return self.storage.nbytes

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> np.ndarray:
        """Store a batch of transitions (one per env); return their row indices."""
        return self.storage.add(
            obs=obs,
            actions=actions,
            rewards=rewards,
            next_obs=next_obs,
            terminated=terminated,
            truncated=truncated,
        )

    def batch(self, index: np.ndarray) -> Transition:
        """The rows at `index` as a `Transition` of tensors on the buffer's device."""
        rows = self.storage.get(index)
        return Transition(
            **{name: torch.as_tensor(v, device=self.device) for name, v in rows.items()}
        )

    def sample(self, batch_size: int, rng: np.random.Generator) -> Transition:
        """`batch_size` transitions drawn uniformly with replacement."""
        return self.batch(self.storage.sample_uniform(batch_size, rng))
