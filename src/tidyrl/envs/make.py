"""The one owner of environment semantics.

Everything about Gymnasium's episode boundaries lives here and nowhere else:

* vector envs run in `AutoresetMode.SAME_STEP`: when an episode ends, `step` already returns the
  first observation of the next episode, and the true last observation arrives in
  ``infos["final_obs"]``. `VecEnv.step` unpacks that into a typed `Step` with two arrays:
  ``next_obs`` (the real successor of the previous observation, used for bootstrapping) and
  ``obs`` (what the agent acts on next).
* ``terminated`` (the MDP reached a terminal state: no bootstrap) and ``truncated`` (a time limit
  or similar cut the episode: bootstrap from ``next_obs``) stay separate all the way to the
  algorithms, which never read ``infos``.
* episode returns and lengths are counted here, so every algorithm logs them the same way.
* observations and rewards are checked for NaN/inf; a non-finite value is an `EnvError`.
* environments without any time limit get a 10,000-step cap (reported as truncation), so that an
  ε-greedy walk on CliffWalking cannot loop forever.
* Dict and Tuple observations reach agents as dicts of arrays, and action masks (an
  ``action_mask`` key of a Dict observation, or ``info["action_mask"]``) as ``Step.masks``:
  `tidyrl.envs.spaces` says how.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from tidyrl.config import EnvConfig
from tidyrl.envs import spaces
from tidyrl.envs.spaces import MASK_KEY, Obs
from tidyrl.envs.trace import EpisodeTrace, env_state, restore_env
from tidyrl.errors import EnvError, did_you_mean

DEFAULT_STEP_CAP = 10_000


_REGISTERED_ON_IMPORT: dict[str, set[str]] = {}
"""Ids that appeared in Gymnasium's registry while tidyrl imported a `module:EnvId` module."""


def _import_env_module(env_id: str) -> str:
    """Handle Gymnasium's `module:EnvId` convention with a clear error when the import fails.

    Like ``python -m``, and unlike the `tidyrl` console script on its own, the current
    directory is searched for `module` (after sys.path, so it cannot hide an installed one)."""
    if ":" not in env_id:
        return env_id
    module, name = env_id.split(":", 1)
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.append(cwd)
    before = set(gym.registry)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise EnvError(
            f"cannot import module '{module}' for environment '{env_id}': {exc} (looked in "
            "the current directory and on sys.path)"
        ) from exc
    except Exception as exc:  # the module's own code failed
        raise EnvError(
            f"importing module '{module}' for environment '{env_id}' raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    _REGISTERED_ON_IMPORT.setdefault(module, set()).update(set(gym.registry) - before)
    return name


def registered_by(module: str) -> list[str]:
    """Environment ids `module` registered: those added while importing it, and those whose
    entry point lies in it or in one of its submodules."""
    ids = set(_REGISTERED_ON_IMPORT.get(module, ()))
    for env_id, spec in gym.registry.items():
        entry = spec.entry_point
        where = entry.split(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
        if where == module or where.startswith(module + "."):
            ids.add(env_id)
    return sorted(ids)


def _unknown_env(cfg_id: str, env_id: str) -> EnvError:
    """The error for an id that is not registered (after its module, if any, was imported)."""
    if ":" in cfg_id:
        from tidyrl.envs.multiagent import is_pettingzoo

        if is_pettingzoo(cfg_id):
            return EnvError(
                f"'{cfg_id}' is a multi-agent (PettingZoo) environment; this algorithm is "
                f"single-agent: use a multi-agent one ({', '.join(multiagent_algorithms())})"
            )
        module = cfg_id.split(":", 1)[0]
        ids = registered_by(module)
        hint = did_you_mean(env_id, ids)
        listed = (
            f"It registers: {', '.join(ids)}"
            if ids
            else "It registers none: call gymnasium.register(id=..., entry_point=...) in it"
        )
        return EnvError(f"module '{module}' registers no environment '{env_id}'.{hint} {listed}")
    hint = did_you_mean(env_id, list(gym.registry))
    return EnvError(
        f"unknown environment '{cfg_id}'.{hint} Use any registered Gymnasium id "
        "(e.g. CartPole-v1, FrozenLake-v1, tidyrl/GridWorld-v0) or the module:EnvId form"
    )


def multiagent_algorithms() -> list[str]:
    """Registered algorithm ids of the multi-agent family (for error messages)."""
    from tidyrl import registry

    return [n for n in registry.names() if registry.entry(n).family == "multi-agent"]


def _ensure_registered(env_id: str) -> None:
    import tidyrl.envs  # noqa: F401  (registers tidyrl/GridWorld-v0)

    if env_id in gym.registry:
        return
    name = env_id.split("/")[-1]
    try:  # optional families register themselves on import
        if name.startswith("MinAtar") or env_id.startswith("MinAtar/"):
            import minatar.gym

            minatar.gym.register_envs()
        elif name.startswith(("MiniGrid-", "BabyAI-")):  # registered on import
            import minigrid  # noqa: F401
        elif env_id.startswith("ALE/"):
            import ale_py

            gym.register_envs(ale_py)
        elif env_id.startswith("Atari/"):  # the preprocessed pipeline of tidyrl.envs.atari
            from tidyrl.envs.atari import register_atari

            register_atari(env_id)
        elif env_id.startswith("dmc/"):  # DeepMind Control Suite tasks (tidyrl.envs.dmc)
            from tidyrl.envs.dmc import register_dmc

            register_dmc(env_id)
        elif env_id.startswith("dm_control/"):  # shimmy's own ids, dict observations
            import shimmy

            gym.register_envs(shimmy)
    except ImportError:
        pass


def make_env(cfg: EnvConfig, seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """Build one environment from `cfg` (the same function backs vector envs and evaluation)."""
    env_id = _import_env_module(cfg.id)
    _ensure_registered(env_id)
    kwargs = dict(cfg.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    try:
        if env_id in gym.registry:
            env = gym.make(env_id, **kwargs)
        else:  # gym.make will raise; our one-line error names the fix, so keep its warning quiet
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                env = gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        if env_id not in gym.registry and not isinstance(exc, gym.error.DeprecatedEnv):
            raise _unknown_env(cfg.id, env_id) from exc
        raise EnvError(f"cannot make environment '{cfg.id}': {exc}") from exc
    except TypeError as exc:
        raise EnvError(f"cannot make environment '{cfg.id}' with kwargs {kwargs}: {exc}") from exc
    except Exception as exc:  # the environment's own constructor failed
        raise env_failure(cfg.id, "its constructor", exc) from exc
    if env_id.startswith("MinAtar/"):  # bool HxWxC grids -> uint8 CxHxW
        from tidyrl.envs.atari import adapt_pixels

        env = adapt_pixels(env_id, env)
    if spaces.is_structured(env.observation_space):
        env = spaces.StructuredObservation(env, cfg.id)
    no_limit = env.spec is not None and env.spec.max_episode_steps is None
    if no_limit and cfg.max_episode_steps is None:
        env = gym.wrappers.TimeLimit(env, DEFAULT_STEP_CAP)
    if seed is not None:
        env.action_space.seed(seed)
    return env


def stacks_frames(env: gym.Env[Any, Any]) -> bool:
    """Whether `env`'s observations are a stack of its frames, newest last, the first of an
    episode the reset frame repeated: the last wrapper that changes the observation space is
    Gymnasium's `FrameStackObservation` with ``padding_type="reset"`` (as `tidyrl.envs.atari`
    builds Atari). The replay stores such observations one frame at a time
    (`tidyrl.data.frame_replay`); any other image, e.g. one RGB frame channels first, whole."""
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        if layer.observation_space != layer.env.observation_space:
            if isinstance(layer, gym.wrappers.FrameStackObservation):
                return bool(layer.padding_type == "reset")
            return False
        layer = layer.env
    return False


def episode_cap(env: gym.Env[Any, Any]) -> int | None:
    """The most steps an episode of `env` can last: the tightest of its `TimeLimit` wrappers
    (None without one)."""
    caps = []
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            caps.append(int(layer._max_episode_steps))
        layer = layer.env
    return min(caps) if caps else None


def space_to_dict(space: gym.Space[Any]) -> dict[str, Any]:
    """JSON description of a space, stored in checkpoints and compared on load."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist()}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, gym.spaces.Dict):  # Dict observations; multi-agent: one per agent
        return {"type": "Dict", "spaces": {k: space_to_dict(v) for k, v in space.spaces.items()}}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _json_bounds(space.low),
            "high": _json_bounds(space.high),
        }
    return {"type": type(space).__name__, "repr": repr(space)}


def _json_bounds(bounds: np.ndarray) -> list[Any]:
    """Bounds as strict JSON numbers: infinities become +-1e300 (in float64, where they fit)."""
    values = np.asarray(bounds, dtype=np.float64)
    return cast(list[Any], np.where(np.isfinite(values), values, np.sign(values) * 1e300).tolist())


def require_space(space: gym.Space[Any], allowed: tuple[type, ...], role: str, who: str) -> None:
    """Raise EnvError when `space` (the observation or action space) is not one `who` handles."""
    if not isinstance(space, allowed):
        names = ", ".join(t.__name__ for t in allowed)
        raise EnvError(f"{who} needs a {names} {role} space, but the environment has {space}")


def mask_width(space: gym.Space[Any]) -> int:
    """Entries of an action mask over `space`: n (Discrete), sum(nvec) (MultiDiscrete: the
    masks of the sub-actions one after the other); an EnvError for other action spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    raise EnvError(
        f"the environment gives an action mask, which needs a Discrete or MultiDiscrete action "
        f"space, but its action space is {space}"
    )


SUCCESS_KEYS = ("is_success", "success")
"""Info keys of an episode's success: Stable-Baselines3's convention (and Gymnasium-Robotics'
Fetch and Hand tasks), and Gymnasium-Robotics' mazes."""


def episode_success(info: dict[str, Any]) -> bool | None:
    """Whether the episode whose last step gave `info` succeeded (None: no success key)."""
    for key in SUCCESS_KEYS:
        if key in info:
            return bool(np.asarray(info[key]).any())
    return None


@dataclass
class Step:
    """What one vectorized step returns, with episode boundaries already resolved."""

    obs: Obs
    """Observation to act on next (the reset observation where an episode just ended)."""
    next_obs: Obs
    """True successor of the previous observation (the final observation where an episode ended):
    the one to store and bootstrap from."""
    rewards: np.ndarray
    terminated: npt.NDArray[np.bool_]
    """The MDP reached a terminal state: targets must not bootstrap."""
    truncated: npt.NDArray[np.bool_]
    """The episode was cut (time limit): targets bootstrap from ``next_obs``."""
    episode_returns: list[float] = field(default_factory=list)
    """Returns of the episodes that ended in this step."""
    episode_lengths: list[int] = field(default_factory=list)
    masks: npt.NDArray[np.bool_] | None = None
    """Valid actions in `obs` (None: the environment gives no mask)."""
    next_masks: npt.NDArray[np.bool_] | None = None
    """Valid actions in `next_obs` (the final observation's where an episode ended): the ones
    a target may maximise over."""
    episode_successes: list[bool] = field(default_factory=list)
    """Of the episodes that ended in this step, the successes of those whose env reports one
    (`episode_success`)."""

    @property
    def dones(self) -> npt.NDArray[np.bool_]:
        """An episode ended in this env (either way): the next `obs` starts a new one."""
        return self.terminated | self.truncated


@dataclass
class Ended:
    """The episodes that ended over some steps: the three lists of a `Step` that `Agent.tick`
    counts, gathered where the steps are taken (A3C's worker processes, Ray's actors) and sent
    to the learner, which ticks with it in place of the steps."""

    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_successes: list[bool] = field(default_factory=list)
    """The successes of those whose env reports one (`episode_success`)."""

    def add(self, step: Step | Ended) -> None:
        """Append the episodes that ended in `step`."""
        self.episode_returns += step.episode_returns
        self.episode_lengths += step.episode_lengths
        self.episode_successes += step.episode_successes

    @classmethod
    def of(cls, steps: Iterable[Step | Ended]) -> Ended:
        """The episodes that ended in all of `steps`, in order."""
        out = cls()
        for step in steps:
            out.add(step)
        return out


def env_failure(env_id: str, call: str, exc: Exception) -> EnvError:
    """EnvError for an exception the environment's own `reset()` or `step()` raised: one line
    naming the environment, the call and the original error (an EnvError passes unchanged)."""
    if isinstance(exc, EnvError):
        return exc
    detail = " ".join(str(exc).split()) or "(no message)"
    return EnvError(f"environment '{env_id}' raised {type(exc).__name__} in {call}: {detail}")


def check_finite(name: str, array: Any, env_id: str) -> None:
    """EnvError where `array` (an array, or a dict of them) holds NaN or inf."""
    if isinstance(array, dict):
        for part in array.values():
            check_finite(name, part, env_id)
        return
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if array.dtype.kind == "f" and not np.isfinite(array).all():  # kind: cheaper than issubdtype
        raise EnvError(
            f"environment '{env_id}' returned a non-finite {name} (NaN or inf); "
            "fix the environment or wrap it to clip or replace such values"
        )


class VecEnv:
    """`n` copies of one environment stepped in lock-step, with typed episode boundaries.

    `first` is the run-wide index of copy 0: a vector env holding copies first..first+n-1 of a
    larger run (one worker's share, `tidyrl.distributed`) seeds and resets each of them exactly
    as the one vector env of all the run's copies would."""

    def __init__(self, cfg: EnvConfig, n_envs: int = 1, seed: int = 0, first: int = 0) -> None:
        if n_envs < 1:
            raise EnvError(f"n_envs must be at least 1, got {n_envs}")
        self.cfg = cfg
        self.n_envs = n_envs
        self.seed = seed
        self.first = first
        fns = [self._factory(i) for i in range(n_envs)]
        self.envs: SyncVectorEnv[Any, np.ndarray] = SyncVectorEnv(
            fns, autoreset_mode=AutoresetMode.SAME_STEP
        )
        self.single_observation_space = self.envs.single_observation_space
        self.single_action_space = self.envs.single_action_space
        self.single_action_space.seed(seed)
        self.frame_stacked = stacks_frames(self.envs.envs[0])
        """Observations are stacks of frames (`stacks_frames`): the replay stores each frame
        once."""
        self.episode_cap = episode_cap(self.envs.envs[0])
        """The most steps an episode can last (`episode_cap`)."""
        self._int_actions = isinstance(self.single_action_space, gym.spaces.Discrete)
        self._returns = np.zeros(n_envs, dtype=np.float64)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self.trace = EpisodeTrace(n_envs, seed, self.single_action_space, first)
        """Reset seeds and the actions of the current episodes (`tidyrl.envs.trace`): every
        reset is seeded, so a checkpoint can rebuild the copies by replay."""
        self.masks: npt.NDArray[np.bool_] | None = None
        """Valid actions in `obs`, one row per copy (None: the environment gives no mask)."""
        self.obs = self.reset(seed)

    def _factory(self, index: int) -> Callable[[], gym.Env[Any, Any]]:
        def thunk() -> gym.Env[Any, Any]:
            return make_env(self.cfg, seed=self.seed + self.first + index)

        return thunk

    def _failure(self, call: str, exc: Exception, copy: int | None = None) -> EnvError:
        """One line for an exception raised inside the environment's own code."""
        which = (
            f" (env copy {copy} of {self.n_envs})" if copy is not None and self.n_envs > 1 else ""
        )
        return env_failure(self.cfg.id, call + which, exc)

    def reset(self, seed: int | None = None) -> Obs:
        """Reset every copy (copy i gets seed + i; without a seed, the seed of its next
        episode) and return the first observations."""
        try:
            obs, infos = self.envs.reset(seed=self.trace.restart(seed))
        except Exception as exc:
            raise self._failure("reset()", exc) from exc
        check_finite("observation", obs, self.cfg.id)
        self.masks = None
        if MASK_KEY in infos:
            width = mask_width(self.single_action_space)
            self.masks = self._mask_rows([infos[MASK_KEY][i] for i in range(self.n_envs)], width)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self.obs = cast(Obs, obs)
        return self.obs

    def _mask_rows(self, masks: list[Any], width: int) -> npt.NDArray[np.bool_]:
        """The per-copy masks as one bool array [n_envs, width], checked."""
        try:
            out = np.stack([np.asarray(m, dtype=bool).reshape(-1) for m in masks])
        except (TypeError, ValueError) as exc:
            raise EnvError(
                f"environment '{self.cfg.id}' gave an unreadable action mask: {exc}"
            ) from None
        if out.shape[1] != width:
            raise EnvError(
                f"environment '{self.cfg.id}' gave an action mask of {out.shape[1]} entries; "
                f"its action space {self.single_action_space} needs {width}"
            )
        return out

    def sample_actions(self) -> np.ndarray:
        """Uniformly random actions for every copy (from the seeded action space), among the
        valid ones where the environment gives an action mask."""
        space = self.single_action_space
        if self.masks is None:
            return np.stack([space.sample() for _ in range(self.n_envs)])
        if isinstance(space, gym.spaces.MultiDiscrete):
            cuts = np.cumsum(space.nvec.reshape(-1))[:-1]
            return np.stack(
                [space.sample(mask=tuple(np.split(m.astype(np.int8), cuts))) for m in self.masks]
            )
        return np.stack([space.sample(mask=m.astype(np.int8)) for m in self.masks])

    def step(self, actions: np.ndarray) -> Step:
        """Step every copy once; an ended episode is reset in the same step (SAME_STEP).

        The copies are stepped here directly (the `SyncVectorEnv` holds them and does reset,
        spaces and close): its step also merges every env's `info` dict into batched arrays,
        which we never read and which cost more than CartPole's own step (docs/performance.md,
        benchmarks/rollout_speed.py)."""
        n = self.n_envs
        rewards = np.empty(n, dtype=np.float32)
        terminated = np.empty(n, dtype=bool)
        truncated = np.empty(n, dtype=bool)
        observations: list[Any] = []
        finals: dict[int, Any] = {}
        masked = self.masks is not None
        masks: list[Any] = []
        final_masks: dict[int, Any] = {}
        successes: list[bool] = []
        # Discrete actions as Python ints: the env's `action_space.contains` check is several
        # times cheaper for an int than for a NumPy scalar
        per_env = actions.tolist() if self._int_actions else actions
        for i, env in enumerate(self.envs.envs):
            try:  # free where nothing is raised (zero-cost exceptions since Python 3.11)
                o, r, te, tr, info = env.step(per_env[i])
            except Exception as exc:
                raise self._failure("step()", exc, i) from exc
            rewards[i], terminated[i], truncated[i] = r, te, tr
            if te or tr:
                finals[i] = o
                if (success := episode_success(info)) is not None:
                    successes.append(success)
                if masked:
                    final_masks[i] = info.get(MASK_KEY, True)
                try:
                    o, info = env.reset(seed=self.trace.next_seed(i))
                except Exception as exc:
                    raise self._failure("reset()", exc, i) from exc
            observations.append(o)
            if masked:
                masks.append(info.get(MASK_KEY))
        self.trace.record(actions, finals)
        obs = spaces.stack(observations)
        check_finite("observation", obs, self.cfg.id)
        check_finite("reward", rewards, self.cfg.id)
        next_obs = obs
        step_masks = next_masks = None
        if masked:
            width = mask_width(self.single_action_space)
            if any(m is None for m in masks):
                raise EnvError(f"environment '{self.cfg.id}' stopped giving its action mask")
            step_masks = next_masks = self._mask_rows(masks, width)
            if final_masks:
                next_masks = step_masks.copy()
                for i, m in final_masks.items():
                    next_masks[i] = np.broadcast_to(np.asarray(m, dtype=bool).reshape(-1), width)
            self.masks = step_masks
        returns: list[float] = []
        lengths: list[int] = []
        self._returns += rewards
        self._lengths += 1
        if finals:
            next_obs = spaces.copy(obs)
            for i, final in finals.items():
                spaces.put(next_obs, i, final)
                returns.append(float(self._returns[i]))
                lengths.append(int(self._lengths[i]))
                self._returns[i] = 0.0
                self._lengths[i] = 0
            check_finite("observation", next_obs, self.cfg.id)
        self.obs = obs
        return Step(
            obs,
            next_obs,
            rewards,
            terminated,
            truncated,
            returns,
            lengths,
            step_masks,
            next_masks,
            successes,
        )

    @property
    def episode_steps(self) -> np.ndarray:
        """Steps each copy has taken in its current episode (0: it has just reset)."""
        steps: np.ndarray = self._lengths.copy()
        return steps

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON state and arrays from which `restore` rebuilds these copies exactly."""
        return env_state(self)

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Replay each copy's current episode from `state` (see `tidyrl.envs.trace`)."""
        restore_env(self, state, arrays)

    def close(self) -> None:
        self.envs.close()
