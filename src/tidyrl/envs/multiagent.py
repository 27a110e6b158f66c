"""The one owner of multi-agent episode semantics: PettingZoo's parallel API, vectorised.

`tidyrl.envs.make` owns single-agent Gymnasium episodes; this module does the same for
multi-agent environments, so a multi-agent algorithm never reads ``infos`` or PettingZoo's
per-agent dictionaries of flags:

* an environment is named ``module:name``: `name` in `module` (or the submodule
  ``module.name``) is a PettingZoo environment module with ``parallel_env()``
  (``mpe2:simple_spread_v3``), or a callable returning a ``ParallelEnv`` or an ``AECEnv``. An
  AEC environment marked ``is_parallelizable`` is converted with PettingZoo's
  ``aec_to_parallel``; a turn-based one is refused with one line.
* agents are the environment's ``possible_agents``, in its order. Every per-agent quantity is a
  dict ``{agent: array}`` whose arrays have one row per environment copy.
* each agent keeps its own ``terminated`` (no bootstrap) and ``truncated`` (bootstrap from its
  final observation) flags; ``acted`` says whether the agent was in the game for that step. An
  agent that leaves early (PettingZoo drops it from ``env.agents``) gets zero observations and
  ``acted = False`` until its copy's episode ends; its final observation arrives in
  ``next_obs`` of the step it left.
* a copy's episode ends when no agent is left in it (or every agent that acted terminated or
  was truncated); it is reset in the same step, like ``AutoresetMode.SAME_STEP``: ``obs`` holds
  the first observations of the next episode and ``next_obs`` the final ones.
* the team return of an episode is the sum of every agent's rewards (the MADDPG reference
  code's "episode reward"); per-agent returns are kept too.
* observations and rewards are checked for NaN/inf (an `EnvError`).
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from tidyrl.config import EnvConfig
from tidyrl.envs.make import check_finite, env_failure
from tidyrl.errors import EnvError

PerAgent = dict[str, np.ndarray]
"""One array per agent id, each with one row per environment copy."""


def _example(algo: str) -> str:
    return (
        f"{algo} needs a PettingZoo environment named module:name, e.g. mpe2:simple_spread_v3 "
        "(pip install 'tidyrl[multiagent]')"
    )


def _find(env_id: str) -> Any:
    """The object `env_id` (``module:name``) names, or None when the module lacks it."""
    module_name, name = env_id.split(":", 1)
    module = importlib.import_module(module_name)
    found = getattr(module, name, None)
    if found is None:
        try:
            found = importlib.import_module(f"{module_name}.{name}")
        except ImportError:
            return None
    return found


def is_pettingzoo(env_id: str) -> bool:
    """True when `env_id` (``module:name``) names a PettingZoo environment (no env is built)."""
    if ":" not in env_id:
        return False
    try:
        found = _find(env_id)
    except Exception:  # the module cannot be imported: not ours to explain here
        return False
    if isinstance(found, types.ModuleType):
        return hasattr(found, "parallel_env") or hasattr(found, "env")
    try:
        from pettingzoo import AECEnv, ParallelEnv
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, (AECEnv, ParallelEnv))


def make_parallel_env(
    cfg: EnvConfig, algo: str = "this algorithm", render_mode: str | None = None
) -> Any:
    """Build one PettingZoo ``ParallelEnv`` from `cfg` (the same function backs the vectorised
    copies and evaluation)."""
    if ":" not in cfg.id:
        raise EnvError(f"'{cfg.id}' is not a multi-agent environment: {_example(algo)}")
    try:
        from pettingzoo import AECEnv, ParallelEnv
        from pettingzoo.utils.conversions import aec_to_parallel
    except ImportError as exc:
        raise EnvError(f"{_example(algo)}; pettingzoo is not installed") from exc
    try:
        found = _find(cfg.id)
    except ImportError as exc:
        raise EnvError(f"cannot import the module of environment '{cfg.id}': {exc}") from exc
    builder: Callable[..., Any] | None
    if isinstance(found, types.ModuleType):
        builder = getattr(found, "parallel_env", None) or getattr(found, "env", None)
    else:
        builder = found if callable(found) else None
    if builder is None:
        raise EnvError(f"'{cfg.id}' names no PettingZoo environment: {_example(algo)}")
    kwargs = dict(cfg.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if cfg.max_episode_steps is not None:
        kwargs["max_cycles"] = cfg.max_episode_steps
    try:
        env = builder(**kwargs)
    except TypeError as exc:
        raise EnvError(f"cannot make environment '{cfg.id}' with kwargs {kwargs}: {exc}") from exc
    except Exception as exc:  # the environment's own constructor failed
        raise env_failure(cfg.id, "its constructor", exc) from exc
    if isinstance(env, AECEnv):
        if not env.metadata.get("is_parallelizable", False):
            raise EnvError(
                f"'{cfg.id}' is a turn-based (AEC) PettingZoo environment; {algo} needs "
                "simultaneous moves (the parallel API, or an AEC env marked is_parallelizable)"
            )
        env = aec_to_parallel(env)
    if not isinstance(env, ParallelEnv):
        raise EnvError(
            f"'{cfg.id}' built a {type(env).__name__}, not a PettingZoo environment: "
            f"{_example(algo)}"
        )
    return env


def as_float_obs(obs: Any) -> np.ndarray:
    return np.asarray(obs, dtype=np.float32)


@dataclass
class MultiStep:
    """What one vectorised multi-agent step returns, with episode boundaries resolved."""

    obs: PerAgent
    """Observations to act on next (the reset observations where an episode just ended; zeros
    for an agent that has left its copy's episode)."""
    next_obs: PerAgent
    """True successor observations (the final ones where an agent or episode ended): the ones to
    store and bootstrap from."""
    rewards: PerAgent
    terminated: dict[str, npt.NDArray[np.bool_]]
    """The agent reached a terminal state: its targets must not bootstrap."""
    truncated: dict[str, npt.NDArray[np.bool_]]
    """The agent's episode was cut (time limit): its targets bootstrap from ``next_obs``."""
    acted: dict[str, npt.NDArray[np.bool_]]
    """The agent was in the game and acted in this step (False: no transition of its own)."""
    episode_returns: list[float] = field(default_factory=list)
    """Team returns (sum over agents) of the episodes that ended in this step."""
    episode_lengths: list[int] = field(default_factory=list)
    agent_returns: list[dict[str, float]] = field(default_factory=list)
    """Per-agent returns of the episodes that ended in this step."""
    dones: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """A copy's episode ended in this step: its next `obs` starts a new one."""


class MultiAgentVecEnv:
    """`n_envs` copies of one PettingZoo parallel environment stepped in lock-step."""

    def __init__(
        self, cfg: EnvConfig, n_envs: int = 1, seed: int = 0, algo: str = "this algorithm"
    ) -> None:
        if n_envs < 1:
            raise EnvError(f"n_envs must be at least 1, got {n_envs}")
        self.cfg, self.n_envs, self.seed = cfg, n_envs, seed
        self.envs = [make_parallel_env(cfg, algo) for _ in range(n_envs)]
        first = self.envs[0]
        self.agents: list[str] = list(first.possible_agents)
        if not self.agents:
            raise EnvError(f"environment '{cfg.id}' has no agents")
        self.observation_spaces: dict[str, gym.Space[Any]] = {
            a: first.observation_space(a) for a in self.agents
        }
        self.action_spaces: dict[str, gym.Space[Any]] = {
            a: first.action_space(a) for a in self.agents
        }
        for i, agent in enumerate(self.agents):
            self.action_spaces[agent].seed(seed + i)
        self._obs_shapes = {a: tuple(s.shape or ()) for a, s in self.observation_spaces.items()}
        self._int_actions = {
            a: isinstance(s, gym.spaces.Discrete) for a, s in self.action_spaces.items()
        }
        self._returns = np.zeros((n_envs, len(self.agents)), dtype=np.float64)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self.obs = self.reset(seed)

    def _zeros(self) -> PerAgent:
        return {
            a: np.zeros((self.n_envs, *self._obs_shapes[a]), dtype=np.float32) for a in self.agents
        }

    def _failure(self, call: str, exc: Exception, copy: int) -> EnvError:
        which = f" (env copy {copy} of {self.n_envs})" if self.n_envs > 1 else ""
        return env_failure(self.cfg.id, call + which, exc)

    def _reset_copy(self, i: int, seed: int | None, obs: PerAgent) -> None:
        try:
            first, _ = self.envs[i].reset(seed=seed)
        except Exception as exc:
            raise self._failure("reset()", exc, i) from exc
        for agent in self.agents:
            obs[agent][i] = as_float_obs(first[agent]) if agent in first else 0.0

    def reset(self, seed: int | None = None) -> PerAgent:
        """Reset every copy (copy i gets seed + i) and return the first observations."""
        obs = self._zeros()
        for i in range(self.n_envs):
            self._reset_copy(i, None if seed is None else seed + i, obs)
        self._check("observation", obs)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self.obs = obs
        return obs

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What a checkpoint keeps of these copies: nothing yet. Multi-agent episodes are not
        replayed on resume (docs/resume.md): a resumed run starts fresh episodes."""
        return {"replayed": False}, {}

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Counterpart of `state`: the copies keep the fresh episodes they were built with."""

    def _check(self, name: str, values: PerAgent) -> None:
        for array in values.values():
            check_finite(name, array, self.cfg.id)

    def alive(self) -> dict[str, npt.NDArray[np.bool_]]:
        """Which agents are in the game in each copy (those that act next)."""
        return {
            a: np.array([a in env.agents for env in self.envs], dtype=bool) for a in self.agents
        }

    def sample_actions(self) -> PerAgent:
        """Uniformly random actions for every agent and copy (from the seeded spaces)."""
        return {
            a: np.stack([space.sample() for _ in range(self.n_envs)])
            for a, space in self.action_spaces.items()
        }

    def step(self, actions: PerAgent) -> MultiStep:
        """Step every copy once with the actions of the agents still in it; an episode with no
        agent left is reset in the same step."""
        n, agents = self.n_envs, self.agents
        obs = self._zeros()
        next_obs = self._zeros()
        rewards = {a: np.zeros(n, dtype=np.float32) for a in agents}
        terminated = {a: np.zeros(n, dtype=bool) for a in agents}
        truncated = {a: np.zeros(n, dtype=bool) for a in agents}
        acted = {a: np.zeros(n, dtype=bool) for a in agents}
        dones = np.zeros(n, dtype=bool)
        team_returns: list[float] = []
        lengths: list[int] = []
        agent_returns: list[dict[str, float]] = []
        for i, env in enumerate(self.envs):
            present = list(env.agents)
            joint = {
                a: (int(actions[a][i]) if self._int_actions[a] else actions[a][i]) for a in present
            }
            try:
                o, r, te, tr, _ = env.step(joint)
            except Exception as exc:
                raise self._failure("step()", exc, i) from exc
            for a in present:
                acted[a][i] = True
                rewards[a][i] = r.get(a, 0.0)
                terminated[a][i] = bool(te.get(a, False))
                truncated[a][i] = bool(tr.get(a, False))
                if a in o:
                    next_obs[a][i] = as_float_obs(o[a])
            for a in env.agents:
                if a in o:
                    obs[a][i] = as_float_obs(o[a])
            self._returns[i] += [float(rewards[a][i]) for a in agents]
            self._lengths[i] += 1
            ended = all(terminated[a][i] or truncated[a][i] for a in present)
            if not env.agents or ended:
                dones[i] = True
                team_returns.append(float(self._returns[i].sum()))
                lengths.append(int(self._lengths[i]))
                agent_returns.append(dict(zip(agents, self._returns[i].tolist(), strict=True)))
                self._returns[i] = 0.0
                self._lengths[i] = 0
                self._reset_copy(i, None, obs)
        self._check("observation", next_obs)
        self._check("observation", obs)
        self._check("reward", rewards)
        self.obs = obs
        return MultiStep(
            obs,
            next_obs,
            rewards,
            terminated,
            truncated,
            acted,
            team_returns,
            lengths,
            agent_returns,
            dones,
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()
