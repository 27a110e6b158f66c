"""Sequence replay for recurrent world models (Dreamer): fixed-length chunks of consecutive
steps, drawn across episode boundaries, with the flag that resets the recurrent state.

Each row is one *observation* with what led to it, in the order the world model reads them:

    (x_t, a_{t-1}, r_t, is_first_t, is_terminal_t)

An episode contributes its first observation (is_first = 1, a zero action, r = 0), then one row
per step: the successor observation (the true final one where the episode ended, from
`Step.next_obs`), the action taken, the reward received, and is_terminal = `terminated` (a
truncated episode's last row keeps is_terminal = 0: its state is not terminal, the world model's
continue target stays 1). The next episode starts with its own is_first row. A chunk that
crosses an episode boundary is valid training data: the model resets its state where
is_first = 1 (Hafner et al. 2023, DreamerV3's replay samples chunks the same way).

Every observation is stored once, in its own dtype (uint8 pixels stay uint8), in one ring per
env copy of capacity // n_envs rows, so a chunk is contiguous in its env's stream and the memory
is fixed at construction: `nbytes` never grows once the rings are allocated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.data.storage import RingStorage, nest, section
from tidyrl.envs.make import Step


@dataclass(frozen=True)
class SequenceBatch:
    """Chunks [B, T, ...] of consecutive rows (see the module docstring)."""

    obs: torch.Tensor
    actions: torch.Tensor
    """a_{t-1}, the action that led to obs_t (zeros at an episode's first row)."""
    rewards: torch.Tensor
    is_first: torch.Tensor
    is_terminal: torch.Tensor


class SequenceReplay:
    """Per-env rings of rows; `sample` draws chunks of `seq_len` consecutive rows."""

    def __init__(
        self,
        capacity: int,
        observation_space: gym.Space[Any],
        action_dim: int,
        n_envs: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        per_env = capacity // n_envs
        if per_env < 2:
            raise ValueError(f"capacity {capacity} leaves fewer than 2 rows per env copy")
        obs_dtype = np.uint8 if observation_space.dtype == np.uint8 else np.float32
        spec = {
            "obs": (tuple(observation_space.shape or ()), obs_dtype),
            "actions": ((action_dim,), np.float32),
            "rewards": ((), np.float32),
            "is_first": ((), np.float32),
            "is_terminal": ((), np.float32),
        }
        self.streams = [RingStorage(per_env, spec) for _ in range(n_envs)]
        self.action_dim = action_dim
        self.device = torch.device(device)
        self.started = False
        """The first observations of the envs' current episodes are stored."""

    def __len__(self) -> int:
        return sum(len(s) for s in self.streams)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.streams)

    def start(self, obs: np.ndarray) -> None:
        """Store the first observation of every env's episode (once per run)."""
        for i, stream in enumerate(self.streams):
            self._first(stream, obs[i])
        self.started = True

    def _first(self, stream: RingStorage, obs: np.ndarray) -> None:
        stream.add(
            obs=obs[None],
            actions=np.zeros((1, self.action_dim), np.float32),
            rewards=np.zeros(1, np.float32),
            is_first=np.ones(1, np.float32),
            is_terminal=np.zeros(1, np.float32),
        )

    def add(self, actions: np.ndarray, step: Step) -> None:
        """Store one vector step taken with `actions` [n_envs, action_dim] (float codes: one-hot
        for Discrete): each env's successor row and, where its episode ended, the next
        episode's first row."""
        for i, stream in enumerate(self.streams):
            stream.add(
                obs=np.asarray(step.next_obs)[i : i + 1],
                actions=actions[i : i + 1],
                rewards=step.rewards[i : i + 1],
                is_first=np.zeros(1, np.float32),
                is_terminal=step.terminated[i : i + 1].astype(np.float32),
            )
            if step.terminated[i] or step.truncated[i]:
                self._first(stream, np.asarray(step.obs)[i])

    def can_sample(self, seq_len: int) -> bool:
        return any(len(s) >= seq_len for s in self.streams)

    def sample(self, batch_size: int, seq_len: int, rng: np.random.Generator) -> SequenceBatch:
        """`batch_size` chunks of `seq_len` consecutive rows, uniformly over start rows (and env
        streams holding at least `seq_len` rows); a chunk never crosses the ring's write
        position, so its rows are in the order they were written."""
        ready = [i for i, s in enumerate(self.streams) if len(s) >= seq_len]
        if not ready:
            raise ValueError(f"no env stream holds {seq_len} rows yet")
        which = rng.choice(ready, size=batch_size)
        offsets = np.arange(seq_len)
        parts: dict[str, list[np.ndarray]] = {}
        for i in which:
            stream = self.streams[i]
            # rows in write order start at `oldest`; a chunk starts at most size - seq_len later
            oldest = stream.cursor if len(stream) == stream.capacity else 0
            start = oldest + int(rng.integers(0, len(stream) - seq_len + 1))
            rows = stream.get((start + offsets) % stream.capacity)
            for name, value in rows.items():
                parts.setdefault(name, []).append(value)

        def tensor(name: str) -> torch.Tensor:
            return torch.from_numpy(np.stack(parts[name])).to(self.device)

        return SequenceBatch(
            obs=tensor("obs"),
            actions=tensor("actions"),
            rewards=tensor("rewards"),
            is_first=tensor("is_first"),
            is_terminal=tensor("is_terminal"),
        )

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The rows of every stream and whether episodes were started, for a checkpoint."""
        arrays = {"started": np.asarray(self.started)}
        for i, stream in enumerate(self.streams):
            arrays.update(nest(f"stream{i}", stream.state_arrays()))
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into a replay built with the same settings)."""
        self.started = bool(arrays["started"])
        for i, stream in enumerate(self.streams):
            stream.load_state_arrays(section(arrays, f"stream{i}"))
