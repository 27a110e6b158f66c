"""The one experience replay of every off-policy algorithm, composed from kernel parts
(Dopamine's split): `RingStorage` rows + a sampler (`UniformSampler` or `PrioritizedSampler`) +
an `NStepAccumulator` (n = 1 passes through) + for pixel observations a `FrameStore`, so each
frame is stored once (`frame_store_layout`).

The frame store needs to know whether the observations are a stack of frames: a uint8
(3, 64, 64) array may as well be one RGB frame, channels first, whose planes do not shift from
step to step. Stacks are stored frame by frame only when the caller says so (`frame_stack=True`:
the agents pass `VecEnv.frame_stacked`, true for an env built with Gymnasium's
`FrameStackObservation`, as `tidyrl.envs.atari` builds Atari). Any other uint8 image from 36x36
is a stack of one: each observation is stored once, not as both a row's `obs` and the previous
row's `next_obs` (half the memory of storing both; a 64x64 RGB frame is 12 KB).

Each row is a transition (s, a, R^(m), s', terminated, truncated, gamma^m) as the environment
owner (`tidyrl.envs.make.VecEnv`) produced it: `next_obs` is the true final observation when an
episode ended, so a truncated transition bootstraps from it. Rows always carry the bootstrap
discount gamma^m, so one target formula serves 1-step and n-step replay. Actions are stored as
int64 for Discrete spaces and float32 arrays otherwise (the unit-box actions of DDPG, SAC, ...).

A Dict observation is stored as one preallocated column per key and side ("obs.image",
"next_obs.image", ...) in the key's own dtype (uint8 images stay uint8, Discrete parts int64,
floats float32): a row's observation is copied once, into its columns. Environments with action
masks add a "next_masks" column (the valid actions in `next_obs`, which the target maximises
over).

With `hindsight` (`tidyrl.data.hindsight`, goal-conditioned Dict observations, one-step rows,
uniform sampling) each row also records its step in its episode and the episode's length, and
`sample` gives a share of the drawn rows a goal their episode achieved later.
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
from tidyrl.data.hindsight import Hindsight
from tidyrl.data.samplers import PrioritizedSampler, UniformSampler
from tidyrl.data.storage import RingStorage, nest, section
from tidyrl.envs.make import Step
from tidyrl.envs.spaces import columns
from tidyrl.errors import ConfigError


def frame_store_layout(space: gym.Space[Any], frame_stack: bool) -> tuple[int, ...] | None:
    """An observation of `space` as a `FrameStore` holds it, (k, *frame), or None where the
    replay stores observations as they are. Stacks (uint8 (k, H, W) with H, W >= 36, from an
    env that stacks frames): (k, H, W), each frame stored once. Any other uint8 image whose two
    longer sides are >= 36 (an RGB frame, channels first or last): (1, *shape), each observation
    stored once."""
    shape = tuple(space.shape or ())
    if space.dtype != np.uint8 or len(shape) != 3:
        return None
    if frame_stack and min(shape[1:]) >= 36:
        return shape
    return (1, *shape) if sorted(shape)[1] >= 36 else None


def uses_frame_store(space: gym.Space[Any], frame_stack: bool) -> bool:
    """Whether the replay keeps `space`'s observations in a `FrameStore`."""
    return frame_store_layout(space, frame_stack) is not None


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
        mask_width: int | None = None,
        frame_stack: bool = False,
        hindsight: Hindsight | None = None,
    ) -> None:
        if hindsight is not None and (n_step != 1 or prioritized):
            clash = f"n_step={n_step}" if n_step != 1 else "prioritized=true"
            valid = "n_step=1" if n_step != 1 else "prioritized=false"
            raise ConfigError(
                f"her_future_goals relabels one-step rows drawn uniformly, not with {clash}; "
                f"set {valid} (or her_future_goals=0)"
            )
        self.hindsight = hindsight
        shape = tuple(observation_space.shape or ())
        self.obs_shape = shape
        self.frames: FrameStore | None = None
        self.keys: list[str] | None = None
        """The keys of a Dict observation (None: one array per observation)."""
        obs_specs: dict[str, tuple[tuple[int, ...], Any]] = {}
        if isinstance(observation_space, gym.spaces.Dict):
            self.keys = list(observation_space.spaces)
            for key, (key_shape, dtype) in columns(observation_space).items():
                stored = np.float32 if dtype.kind == "f" else dtype
                obs_specs[f"obs.{key}"] = obs_specs[f"next_obs.{key}"] = (key_shape, stored)
        elif (layout := frame_store_layout(observation_space, frame_stack)) is not None:
            self.stack_shape = layout
            """An observation as the frame store sees it: k frames (k = 1: the whole image)."""
            k = layout[0]
            slack = capacity // 50 + (k + n_step + 2) * n_envs + 1000
            self.frames = FrameStore(capacity + slack, self.stack_shape[1:], k, n_envs)
            obs_spec: tuple[tuple[int, ...], Any] = ((k,), np.int64)
        else:
            small_ints = observation_space.dtype in (np.uint8, np.bool_)
            obs_spec = (shape, np.uint8 if small_ints else np.float32)
        if self.keys is None:
            obs_specs = {"obs": obs_spec, "next_obs": obs_spec}
        spec = {
            **obs_specs,
            "actions": action_spec(action_space),
            "rewards": ((), np.float32),
            "terminated": ((), np.bool_),
            "truncated": ((), np.bool_),
            "discounts": ((), np.float32),
        }
        if mask_width is not None:
            spec["next_masks"] = ((mask_width,), np.bool_)
        if hindsight is not None:
            spec |= Hindsight.FIELDS
        self.masked = mask_width is not None
        self.capacity = capacity
        self.storage = RingStorage(capacity, spec)
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

    def add(self, obs: Any, actions: np.ndarray, step: Step) -> None:
        """Store the env step taken from `obs` with `actions` (n-step rows once complete)."""
        next_obs: Any
        if self.frames is not None:
            if not self._started:
                self.frames.reset(self._stacks(obs))
            frames = self._stacks(step.next_obs), self._stacks(step.obs)
            obs, next_obs = self.frames.step(*frames, step.dones)
        else:
            next_obs = step.next_obs
        self._started = True
        next_masks = step.next_masks if self.masked else None
        rows = self.accumulator.push(
            obs, actions, step.rewards, next_obs, step.terminated, step.truncated, next_masks
        )
        if rows is not None:
            index = self._store(rows, None)
            if self.hindsight is not None:  # one row per env copy: this step's
                self.hindsight.stored(self.storage.columns, index, step.dones)

    def _stacks(self, obs: Any) -> np.ndarray:
        """Observations [n, ...] as the frame store's [n, k, *frame]."""
        array = np.asarray(obs)
        return array.reshape(len(array), *self.stack_shape)

    def add_rows(self, rows: dict[str, Any], priorities: np.ndarray | None = None) -> np.ndarray:
        """Store completed rows (the `NStepAccumulator.push` layout: built where they were
        collected, e.g. on an Ape-X actor), with their initial priorities |delta| when given
        (a uniform sampler ignores them); return their storage indices."""
        if self.frames is not None or self.hindsight is not None:
            what = "stacked frames" if self.frames is not None else "hindsight replay"
            raise ValueError(f"rows of {what} go through add (it follows the episodes)")
        return self._store(dict(rows), priorities)

    def _store(self, rows: dict[str, Any], priorities: np.ndarray | None) -> np.ndarray:
        if self.keys is not None:  # one column per key and side
            for side in ("obs", "next_obs"):
                rows.update({f"{side}.{k}": v for k, v in rows.pop(side).items()})
        if not self.masked:
            rows.pop("next_masks", None)
        if self.hindsight is not None:
            rows |= self.hindsight.row_fields()
        index: np.ndarray = self.storage.add(**rows)
        self.sampler.add(index, priorities)
        return index

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.4) -> Transition:
        """`batch_size` rows from the sampler, as tensors (pixels rebuilt from frames)."""
        index, weights = self.sampler.sample(len(self.storage), batch_size, rng, beta)
        cols = self.storage.columns
        obs: Any
        next_obs: Any
        if self.keys is not None:
            obs = {k: cols[f"obs.{k}"][index] for k in self.keys}
            next_obs = {k: cols[f"next_obs.{k}"][index] for k in self.keys}
        else:
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
            shape = (len(index), *self.obs_shape)
            obs, next_obs = (
                self.frames.get(obs).reshape(shape),
                self.frames.get(next_obs).reshape(shape),
            )
        rewards, terminated = cols["rewards"][index], cols["terminated"][index]
        if self.hindsight is not None:
            stored = (self.storage.cursor, self.storage.size)
            self.hindsight.relabel(cols, stored, index, obs, next_obs, rewards, terminated, rng)

        def tensor(array: Any) -> Any:
            if isinstance(array, dict):
                return {k: tensor(v) for k, v in array.items()}
            return torch.from_numpy(array).to(self.device)

        return Transition(
            obs=tensor(obs),
            actions=tensor(cols["actions"][index]),
            rewards=tensor(rewards),
            next_obs=tensor(next_obs),
            next_masks=tensor(cols["next_masks"][index]) if self.masked else None,
            terminated=tensor(terminated),
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
        if self.hindsight is not None:
            parts["hindsight"] = self.hindsight
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


class JointReplay:
    """Replay of joint multi-agent steps (centralised training, MADDPG): one storage row per
    environment copy and step holds every agent's (o_i, a_i, r_i, o'_i, terminated_i,
    truncated_i), so a sampled row gives each agent's critic the observations and actions of all
    agents at the same moment.

    Actions are float vectors (unit-box actions, or one-hot codes of Discrete ones). An agent
    that did not act in a row (it had left its episode; `MultiStep.acted` False) has zero
    actions there (as its observations are) and weight 0 in that row: `sample` returns its rows
    with ``weights`` = acted (1.0 or 0.0), so a loss averaged with those weights ignores
    transitions the agent never made."""

    def __init__(
        self,
        capacity: int,
        observation_spaces: dict[str, gym.Space[Any]],
        action_dims: dict[str, int],
        device: torch.device | str = "cpu",
    ) -> None:
        self.agents = list(observation_spaces)
        spec: dict[str, tuple[tuple[int, ...], Any]] = {}
        for agent in self.agents:
            shape = tuple(observation_spaces[agent].shape or ())
            spec |= {
                f"{agent}/obs": (shape, np.float32),
                f"{agent}/actions": ((action_dims[agent],), np.float32),
                f"{agent}/rewards": ((), np.float32),
                f"{agent}/next_obs": (shape, np.float32),
                f"{agent}/terminated": ((), np.bool_),
                f"{agent}/truncated": ((), np.bool_),
                f"{agent}/acted": ((), np.float32),
            }
        self.capacity = capacity
        self.storage = RingStorage(capacity, spec)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.storage)

    @property
    def nbytes(self) -> int:
        return self.storage.nbytes

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The rows written so far and the write position, for a training checkpoint."""
        return self.storage.state_arrays()

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into a replay of the same capacity and agents)."""
        self.storage.load_state_arrays(arrays)

    def add(self, obs: dict[str, np.ndarray], actions: dict[str, np.ndarray], step: Any) -> None:
        """Store the joint step (a `tidyrl.envs.multiagent.MultiStep`) taken from `obs`."""
        rows: dict[str, np.ndarray] = {}
        for agent in self.agents:
            rows |= {
                f"{agent}/obs": obs[agent],
                f"{agent}/actions": actions[agent] * step.acted[agent][:, None],
                f"{agent}/rewards": step.rewards[agent],
                f"{agent}/next_obs": step.next_obs[agent],
                f"{agent}/terminated": step.terminated[agent],
                f"{agent}/truncated": step.truncated[agent],
                f"{agent}/acted": step.acted[agent],
            }
        self.storage.add(**rows)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, Transition]:
        """`batch_size` joint rows drawn uniformly: one `Transition` per agent, same rows."""
        index = self.storage.sample_uniform(batch_size, rng)
        cols = self.storage.columns

        def tensor(name: str) -> torch.Tensor:
            return torch.from_numpy(cols[name][index]).to(self.device)

        return {
            agent: Transition(
                obs=tensor(f"{agent}/obs"),
                actions=tensor(f"{agent}/actions"),
                rewards=tensor(f"{agent}/rewards"),
                next_obs=tensor(f"{agent}/next_obs"),
                terminated=tensor(f"{agent}/terminated"),
                truncated=tensor(f"{agent}/truncated"),
                weights=tensor(f"{agent}/acted"),
                index=index,
            )
            for agent in self.agents
        }
