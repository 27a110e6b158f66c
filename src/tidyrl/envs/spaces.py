"""Structured observations and action masks, as the env owner (`tidyrl.envs.make`) hands them
to algorithms.

An environment's Dict or Tuple observation reaches the agents as a Dict of arrays, whatever the
environment returned:

* a Tuple observation becomes a Dict keyed "0", "1", ... (its positions);
* string parts (a Text space, MiniGrid's `mission` MissionSpace) are dropped: no network reads a
  string;
* an ``action_mask`` part is not an observation but the set of valid actions: it moves to
  ``info["action_mask"]``, where environments without a Dict observation put their mask too;
* a Dict left with one part is that part's space (``{"observation", "action_mask"}``, the
  PettingZoo classic layout, becomes its Box);
* MiniGrid's (and BabyAI's) ``image`` is a grid of symbolic (object, colour, state) indices that
  the package declares as uint8 in [0, 255]; it is declared with its true bound, the largest
  index of `minigrid.core.constants` (10), so that encoders scaling a uint8 image by its bound
  feed the indices in [0, 1] rather than in [0, 0.04] as if they were pixels. rl-starter-files
  (Willems), whose PPO settings the MiniGrid benchmarks use, feeds the raw indices.

A batch of such observations is a ``dict[str, np.ndarray]`` (one array per key, leading
dimension = rows), a plain observation batch an ``np.ndarray``; the helpers below (`stack`,
`rows`, `take`, `put`, `columns`) treat both alike, so buffers and collectors are written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import gymnasium as gym
import numpy as np

from tidyrl.errors import EnvError

MASK_KEY = "action_mask"
"""Where an environment puts its action mask: a key of its Dict observation or of `info`."""

Obs = np.ndarray | dict[str, np.ndarray]
"""A batch of observations: one array, or one array per key of a Dict space."""

KEY_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
"""The spaces a part of a Dict observation may have (`tidyrl.nets.encoders.CombinedEncoder`)."""


def is_string(space: gym.Space[Any]) -> bool:
    """A space of strings: Text, or another space (MiniGrid's MissionSpace) that samples str."""
    if isinstance(space, gym.spaces.Text):
        return True
    return not isinstance(space, KEY_SPACES) and isinstance(space.sample(), str)


def is_structured(space: gym.Space[Any]) -> bool:
    return isinstance(space, gym.spaces.Dict | gym.spaces.Tuple)


def _parts(space: gym.Space[Any]) -> dict[str, gym.Space[Any]]:
    if isinstance(space, gym.spaces.Tuple):
        return {str(i): s for i, s in enumerate(space.spaces)}
    return dict(cast(gym.spaces.Dict, space).spaces)


def agent_space(space: gym.Space[Any], env_id: str) -> gym.Space[Any]:
    """The observation space agents see for an environment's Dict or Tuple `space` (module
    docstring); an EnvError for parts no encoder reads."""
    kept: dict[str, gym.Space[Any]] = {}
    for key, part in _parts(space).items():
        if key == MASK_KEY or is_string(part):
            continue
        if not isinstance(part, KEY_SPACES):
            names = ", ".join(t.__name__ for t in KEY_SPACES)
            raise EnvError(
                f"environment '{env_id}' has an observation part '{key}' of space {part}; "
                f"the parts of a Dict or Tuple observation may be {names} (or strings, dropped)"
            )
        kept[key] = symbolic_image(part, env_id) if key == "image" else part
    if not kept:
        raise EnvError(
            f"environment '{env_id}' has no observation part besides {MASK_KEY} and strings"
        )
    if len(kept) == 1:
        return next(iter(kept.values()))
    return gym.spaces.Dict(kept)


MINIGRID_PREFIXES = ("MiniGrid-", "BabyAI-")
"""Environment ids of the `minigrid` package, whose ``image`` is symbolic (module docstring)."""


def symbolic_image(part: gym.Space[Any], env_id: str) -> gym.Space[Any]:
    """A MiniGrid ``image`` Box re-declared with the largest index of MiniGrid's encoding as its
    bound; any other part unchanged."""
    name = env_id.split(":")[-1].split("/")[-1]
    if not name.startswith(MINIGRID_PREFIXES) or not isinstance(part, gym.spaces.Box):
        return part
    from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

    bound = max(*OBJECT_TO_IDX.values(), *COLOR_TO_IDX.values(), *STATE_TO_IDX.values())
    return gym.spaces.Box(0, bound, part.shape, part.dtype)


def split_mask(space: gym.Space[Any], obs: Any) -> tuple[Any, np.ndarray | None]:
    """(observation as the agents see it, action mask or None) for a raw Dict/Tuple observation
    of one environment step or a batch (`space` is the agents' space); other observations pass
    through unchanged."""
    if isinstance(obs, tuple) and isinstance(space, gym.spaces.Dict):
        obs = {str(i): part for i, part in enumerate(obs)}
    if not isinstance(obs, Mapping):
        return obs, None
    mask = np.asarray(obs[MASK_KEY], dtype=bool) if MASK_KEY in obs else None
    if isinstance(space, gym.spaces.Dict):
        try:
            return {key: np.asarray(obs[key]) for key in space.spaces}, mask
        except KeyError as exc:
            raise EnvError(
                f"observation has no key {exc}; expected the keys {sorted(space.spaces)}"
            ) from None
    kept = [v for k, v in obs.items() if k != MASK_KEY and not isinstance(v, str)]
    if len(kept) != 1:
        raise EnvError(f"expected one observation part besides {MASK_KEY}, got {sorted(obs)}")
    return np.asarray(kept[0]), mask


class StructuredObservation(gym.Wrapper[Any, Any, Any, Any]):
    """Presents a Dict/Tuple-observation environment as the module docstring describes."""

    def __init__(self, env: gym.Env[Any, Any], env_id: str) -> None:
        super().__init__(env)
        self.observation_space = agent_space(env.observation_space, env_id)

    def _convert(self, obs: Any, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        obs, mask = split_mask(self.observation_space, obs)
        if mask is not None:
            info = {**info, MASK_KEY: mask}
        return obs, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return self._convert(*self.env.reset(**kwargs))

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs, info = self._convert(obs, info)
        return obs, reward, terminated, truncated, info


def stack(observations: Sequence[Any]) -> Obs:
    """One batch from per-env observations (arrays, or dicts of arrays)."""
    first = observations[0]
    if isinstance(first, dict):
        return {k: np.stack([o[k] for o in observations]) for k in first}
    return np.stack(observations)


def rows(obs: Obs) -> int:
    """The number of observations in a batch."""
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


def take(obs: Obs, index: Any) -> Obs:
    """Rows `index` of a batch (a copy for fancy indices, a view for an int or a slice)."""
    if isinstance(obs, dict):
        return {k: v[index] for k, v in obs.items()}
    out: np.ndarray = obs[index]
    return out


def put(dst: Obs, index: Any, src: Any) -> None:
    """dst[index] = src, per key for dicts."""
    if isinstance(dst, dict):
        for k, v in dst.items():
            v[index] = src[k]
    else:
        dst[index] = src


def copy(obs: Obs) -> Obs:
    return {k: v.copy() for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()


def columns(space: gym.Space[Any]) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """(shape, dtype) of one observation of each key of a Dict space, for preallocated storage:
    the space's own shape and dtype (uint8 images stay uint8, Discrete parts int64)."""
    parts = cast(gym.spaces.Dict, space).spaces
    return {k: (tuple(s.shape or ()), np.dtype(s.dtype)) for k, s in parts.items()}


def single_observation(space: gym.Space[Any], obs: Any) -> bool:
    """Whether `obs` (already split by `split_mask`) is one observation rather than a batch."""
    if isinstance(space, gym.spaces.Dict):
        key, part = next(iter(space.spaces.items()))
        return bool(np.shape(obs[key]) == tuple(part.shape or ()))
    return bool(np.shape(obs) == tuple(space.shape or ()))
