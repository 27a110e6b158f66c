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

Recurrent replay (R2D2, Kapturowski et al. 2019, sec. 3) adds two things, both optional:

- *stored state* (`state_shape`): each row keeps the actor's recurrent state in force when it
  read that row's observation (zeros at an episode's first row, where the actor resets), so a
  sequence starts from the state the actor had there instead of from zeros;
- *prioritized sequences* (`period`, `seq_len`): sequences of `seq_len` rows start every
  `period` rows of each stream (adjacent ones overlap by seq_len - period rows; R2D2 stores
  length-80 sequences overlapping by 40), each with its own priority in a `PrioritizedSampler`.
  A sequence becomes sampleable when its last row is written (with the largest priority so far)
  and leaves the sampler as soon as the ring starts overwriting any of its rows.

R2D2's sequences never cross an episode boundary and are zero-padded at an episode's end; here
they run on into the next episode like Dreamer's chunks, with is_first resetting the recurrent
state there: the rows a padded sequence would hold as padding hold real steps of the next
episode instead, and the learner masks out the row of each episode's final observation, the one
step without an action (`tidyrl.core.returns.sequence_n_step_returns`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.data.samplers import PrioritizedSampler
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
    states: torch.Tensor | None = None
    """The stored recurrent state at each chunk's first row [B, *state_shape] (with
    `state_shape`)."""
    index: np.ndarray | None = None
    """The sampled sequences' ids, for `update_priorities` (prioritized sequences)."""


class SequenceReplay:
    """Per-env rings of rows; `sample` draws chunks of `seq_len` consecutive rows (or, with
    `period`, `sample_sequences` draws prioritized stored sequences)."""

    def __init__(
        self,
        capacity: int,
        observation_space: gym.Space[Any],
        action_dim: int,
        n_envs: int = 1,
        device: torch.device | str = "cpu",
        *,
        state_shape: tuple[int, ...] | None = None,
        seq_len: int = 0,
        period: int = 0,
        alpha: float = 0.9,
    ) -> None:
        per_env = capacity // n_envs
        if period:
            per_env -= per_env % period  # whole sequences' start slots fill the ring
            if not 0 < period <= seq_len <= per_env:
                raise ValueError(
                    f"sequences need 0 < period ({period}) <= seq_len ({seq_len}) <= rows per "
                    f"env copy ({per_env})"
                )
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
        if state_shape is not None:
            spec["state"] = (tuple(state_shape), np.float32)
        self.state_shape = state_shape
        self.streams = [RingStorage(per_env, spec) for _ in range(n_envs)]
        self.capacity = per_env * n_envs
        self.seq_len, self.period = seq_len, period
        self.slots = per_env // period if period else 0
        """Sequence start slots per stream (sequence id = stream * slots + slot)."""
        self.sampler = PrioritizedSampler(n_envs * self.slots, alpha) if period else None
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
        for i in range(len(self.streams)):
            self._first(i, obs[i])
        self.started = True

    def _write(self, i: int, state: np.ndarray | None, **row: np.ndarray) -> None:
        """Append one row to stream i (with its stored state) and update the sequences it ends
        or breaks."""
        stream = self.streams[i]
        if self.state_shape is not None:
            row["state"] = (
                np.zeros((1, *self.state_shape), np.float32) if state is None else state[None]
            )
        (position,) = stream.add(**row)
        if self.sampler is not None:
            # the slots whose sequence holds this row: complete if it is their last row, else
            # broken (they hold rows from before and after this write) until rewritten
            # (a sequence ending here is whole once the stream holds seq_len rows: they are
            # then the last seq_len writes)
            for d in range(self.seq_len):
                if (position - d) % self.period == 0:
                    slot = (position - d) % stream.capacity // self.period
                    seq = np.array([i * self.slots + slot])
                    if d == self.seq_len - 1 and len(stream) >= self.seq_len:
                        self.sampler.add(seq)
                    else:
                        self.sampler.clear(seq)

    def _first(self, i: int, obs: np.ndarray) -> None:
        self._write(
            i,
            None,  # the actor resets its state before reading an episode's first observation
            obs=obs[None],
            actions=np.zeros((1, self.action_dim), np.float32),
            rewards=np.zeros(1, np.float32),
            is_first=np.ones(1, np.float32),
            is_terminal=np.zeros(1, np.float32),
        )

    def add(self, actions: np.ndarray, step: Step, states: np.ndarray | None = None) -> None:
        """Store one vector step taken with `actions` [n_envs, action_dim] (float codes: one-hot
        for Discrete): each env's successor row and, where its episode ended, the next
        episode's first row. `states` [n_envs, *state_shape] (with `state_shape`): the actor's
        state after reading the observations it acted on, the one in force when it reads
        the successors."""
        for i in range(len(self.streams)):
            self._write(
                i,
                None if states is None else states[i],
                obs=np.asarray(step.next_obs)[i : i + 1],
                actions=actions[i : i + 1],
                rewards=step.rewards[i : i + 1],
                is_first=np.zeros(1, np.float32),
                is_terminal=step.terminated[i : i + 1].astype(np.float32),
            )
            if step.terminated[i] or step.truncated[i]:
                self._first(i, np.asarray(step.obs)[i])

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
        starts = []
        for i in which:
            stream = self.streams[i]
            # rows in write order start at `oldest`; a chunk starts at most size - seq_len later
            oldest = stream.cursor if len(stream) == stream.capacity else 0
            start = oldest + int(rng.integers(0, len(stream) - seq_len + 1))
            starts.append(start)
        return self._gather(which, np.array(starts), seq_len)

    def _gather(
        self, which: np.ndarray, starts: np.ndarray, seq_len: int, index: np.ndarray | None = None
    ) -> SequenceBatch:
        """The chunks of `seq_len` rows from row `starts[b]` of stream `which[b]`, as tensors."""
        offsets = np.arange(seq_len)
        parts: dict[str, list[np.ndarray]] = {}
        for i, start in zip(which, starts, strict=True):
            stream = self.streams[i]
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
            states=tensor("state")[:, 0] if self.state_shape is not None else None,
            index=index,
        )

    def can_sample_sequences(self) -> bool:
        """Some stored sequence is complete (prioritized sequences)."""
        return self.sampler is not None and self.sampler.tree.total > 0

    def sample_sequences(self, batch_size: int, rng: np.random.Generator) -> SequenceBatch:
        """`batch_size` stored sequences drawn with P(i) ~ p_i^alpha (stratified; R2D2 uses no
        importance weights, sec. 2.3), with their stored states and ids."""
        if self.sampler is None:
            raise ValueError("this replay stores no prioritized sequences (period = 0)")
        index, _ = self.sampler.sample(len(self), batch_size, rng, beta=0.0)
        which, slot = np.divmod(index, self.slots)
        return self._gather(which, slot * self.period, self.seq_len, index)

    def update_priorities(self, index: np.ndarray, priorities: np.ndarray) -> None:
        """New priorities p_i of the sampled sequences (`data.samplers.sequence_priority`)."""
        if self.sampler is None:
            raise ValueError("this replay stores no prioritized sequences (period = 0)")
        self.sampler.update_priorities(index, priorities)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The rows of every stream and whether episodes were started, for a checkpoint."""
        arrays = {"started": np.asarray(self.started)}
        for i, stream in enumerate(self.streams):
            arrays.update(nest(f"stream{i}", stream.state_arrays()))
        if self.sampler is not None:
            arrays.update(nest("sampler", self.sampler.state_arrays()))
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into a replay built with the same settings)."""
        self.started = bool(arrays["started"])
        for i, stream in enumerate(self.streams):
            stream.load_state_arrays(section(arrays, f"stream{i}"))
        if self.sampler is not None:
            self.sampler.load_state_arrays(section(arrays, "sampler"))
