"""The one experience replay of every off-policy algorithm, composed from kernel parts
(Dopamine's split): `RingStorage` rows + a sampler (`UniformSampler` or `PrioritizedSampler`) +
an `NStepAccumulator` (n = 1 passes through) + for stacked pixel frames a `FrameStore`, so each
frame is stored once.

Each row is a transition (s, a, R^(m), s', terminated, truncated, gamma^m) as the environment
owner (`tidyrl.envs.make.VecEnv`) produced it: `next_obs` is the true final observation when an
episode ended, so a truncated transition bootstraps from it. Rows always carry the bootstrap
discount gamma^m, so one target formula serves 1-step and n-step replay. Actions are stored as
int64 for Discrete spaces and float32 arrays otherwise (the unit-box actions of DDPG, SAC, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.data.accumulators import NStepAccumulator
from tidyrl.data.batch import Transition
from tidyrl.data.frame_replay import FrameStore
from tidyrl.data.samplers import PrioritizedSampler, UniformSampler
from tidyrl.data.storage import RingStorage, nest, section
from tidyrl.envs.make import Step


def uses_frame_store(space: gym.Space[Any]) -> bool:
    """Stacked Atari frames (uint8 (k, H, W) with H, W >= 36) are stored once per frame."""
    shape = tuple(space.shape or ())
    return space.dtype == np.uint8 and len(shape) == 3 and min(shape[1:]) >= 36


def action_spec(space: gym.Space[Any]) -> tuple[tuple[int, ...], Any]:
    """Column shape and dtype of an action: int64 scalars for Discrete, float32 arrays else."""
    if isinstance(space, gym.spaces.Discrete):
        return (), np.int64
    return tuple(space.shape or ()), np.float32


class Replay:
    """Storage + sampler + n-step accumulator (+ frame store for stacked pixels)."""

    def __init__(
        self,
        capacity: int,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
        n_envs: int = 1,
        *,
        gamma: float = 0.99,
        n_step: int = 1,
        prioritized: bool = False,
        alpha: float = 0.6,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = tuple(observation_space.shape or ())
        self.frames: FrameStore | None = None
        if uses_frame_store(observation_space):
            k = shape[0]
            slack = capacity // 50 + (k + n_step + 2) * n_envs + 1000
            self.frames = FrameStore(capacity + slack, shape[1:], k, n_envs)
            obs_spec: tuple[tuple[int, ...], Any] = ((k,), np.int64)
        else:
            small_ints = observation_space.dtype in (np.uint8, np.bool_)
            obs_spec = (shape, np.uint8 if small_ints else np.float32)
        self.storage = RingStorage(
            capacity,
            {
                "obs": obs_spec,
                "actions": action_spec(action_space),
                "rewards": ((), np.float32),
                "next_obs": obs_spec,
                "terminated": ((), np.bool_),
                "truncated": ((), np.bool_),
                "discounts": ((), np.float32),
            },
        )
        self.sampler: UniformSampler | PrioritizedSampler = (
            PrioritizedSampler(capacity, alpha) if prioritized else UniformSampler()
        )
        self.accumulator = NStepAccumulator(n_step, gamma, n_envs)
        self.device = torch.device(device)
        self._started = False

    def __len__(self) -> int:
        return len(self.storage)

    @property
    def nbytes(self) -> int:
        return self.storage.nbytes + (self.frames.nbytes if self.frames is not None else 0)

    def add(self, obs: np.ndarray, actions: np.ndarray, step: Step) -> None:
        """Store the env step taken from `obs` with `actions` (n-step rows once complete)."""
        if self.frames is not None:
            if not self._started:
                self.frames.reset(obs)
            obs, next_obs = self.frames.step(step.next_obs, step.obs, step.dones)
        else:
            next_obs = step.next_obs
        self._started = True
        rows = self.accumulator.push(
            obs, actions, step.rewards, next_obs, step.terminated, step.truncated
        )
        if rows is not None:
            self.sampler.add(self.storage.add(**rows))

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.4) -> Transition:
        """`batch_size` rows from the sampler, as tensors (pixels rebuilt from frames)."""
        index, weights = self.sampler.sample(len(self.storage), batch_size, rng, beta)
        cols = self.storage.columns
        obs, next_obs = cols["obs"][index], cols["next_obs"][index]
        if self.frames is not None:
            # rows whose oldest frames were overwritten (rare: the frame ring has slack) are
            # replaced by uniformly drawn valid rows
            for _ in range(100):
                bad = ~self.frames.valid(obs)
                if not bad.any():
                    break
                index[bad] = rng.integers(0, len(self.storage), int(bad.sum()))
                obs, next_obs = cols["obs"][index], cols["next_obs"][index]
            obs, next_obs = self.frames.get(obs), self.frames.get(next_obs)

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(self.device)

        return Transition(
            obs=tensor(obs),
            actions=tensor(cols["actions"][index]),
            rewards=tensor(cols["rewards"][index]),
            next_obs=tensor(next_obs),
            terminated=tensor(cols["terminated"][index]),
            truncated=tensor(cols["truncated"][index]),
            discounts=tensor(cols["discounts"][index]),
            weights=tensor(weights),
            index=index,
        )

    def _parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {
            "storage": self.storage,
            "sampler": self.sampler,
            "accumulator": self.accumulator,
        }
        if self.frames is not None:
            parts["frames"] = self.frames
        return parts

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs (rows, write position, priorities, pending n-step
        steps, frames), as arrays for a safetensors file: `Replay.nbytes` at most."""
        arrays = {"started": np.asarray(self._started)}
        for name, part in self._parts().items():
            arrays.update(nest(name, part.state_arrays()))
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into a replay built with the same settings)."""
        self._started = bool(arrays["started"])
        for name, part in self._parts().items():
            part.load_state_arrays(section(arrays, name))

    def update_priorities(self, index: np.ndarray | None, td_errors: torch.Tensor) -> None:
        """Feed |TD errors| (or losses) back to a prioritized sampler (no-op when uniform)."""
        if isinstance(self.sampler, PrioritizedSampler) and index is not None:
            self.sampler.update_priorities(index, td_errors.detach().cpu().numpy())
