"""Tiny deterministic environments and a test-only agent for the kernel tests.

Importing this module registers the environments, so the CLI reaches them through Gymnasium's
`module:EnvId` convention: ``tidyrl train q-learning tests.helpers:tidytest/NaNReward-v0``.

`CounterEnv` makes episode boundaries checkable: its observation is ``[t, episode, lane]`` (the
step count inside the episode, the index of the episode in this copy, and the copy's lane, which
is the seed of its first reset), and the reward of step t is t, so an episode of length L returns
L (L + 1) / 2. With `terminal_after=k` an episode terminates after exactly ``k + lane`` steps, so
the copies of a vector env end their episodes at different steps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import register

from tidyrl.agent import Agent

ROOT = Path(__file__).resolve().parents[1]
"""The repository root (holds `tests/` and `src/`)."""

NS = "tidytest"


class CounterEnv(gym.Env):
    """Observation [t, episode, lane]; reward t; terminates after `terminal_after + lane` steps."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        terminal_after: int | None = None,
        bad_obs_at: int | None = None,
        bad_reward_at: int | None = None,
        bad_value: float = float("nan"),
        size: int = 3,
        reward_scale: float = 1.0,
    ) -> None:
        self.reward_scale = reward_scale
        self.terminal_after = terminal_after
        self.bad_obs_at = bad_obs_at
        self.bad_reward_at = bad_reward_at
        self.bad_value = bad_value
        self.size = size
        self.observation_space = gym.spaces.Box(-1e9, 1e9, (size,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0
        self.episode = -1
        self.lane = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.size, dtype=np.float32)
        obs[:3] = (self.t, self.episode, self.lane)
        if self.bad_obs_at is not None and self.t == self.bad_obs_at:
            obs[0] = self.bad_value
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None and self.episode < 0:  # VecEnv seeds every reset; the lane stays
            self.lane = int(seed) % 5
        self.t = 0
        self.episode += 1
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        reward = float(self.t) * self.reward_scale
        if self.bad_reward_at is not None and self.t == self.bad_reward_at:
            reward = self.bad_value
        terminated = self.terminal_after is not None and self.t >= self.terminal_after + self.lane
        return self._obs(), reward, terminated, False, {}


class DiscreteCounterEnv(gym.Env):
    """Discrete observation t (the step count), for tabular agents; optional NaN reward."""

    metadata = {"render_modes": []}

    def __init__(
        self, length: int = 5, bad_reward_at: int | None = None, bad_value: float = float("nan")
    ) -> None:
        self.length = length
        self.bad_reward_at = bad_reward_at
        self.bad_value = bad_value
        self.observation_space = gym.spaces.Discrete(length + 1)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self.t, {}

    def step(self, action):
        self.t += 1
        reward = 1.0 if self.t < self.length else 10.0
        if self.bad_reward_at is not None and self.t == self.bad_reward_at:
            reward = self.bad_value
        return self.t, reward, self.t >= self.length, False, {}


class WideBoxEnv(gym.Env):
    """A 20-dimensional Box with non-uniform bounds: its repr spans several lines."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        low = -np.arange(1, 21, dtype=np.float32)
        self.observation_space = gym.spaces.Box(low, -low * 1.5, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return np.zeros(20, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(20, dtype=np.float32), 0.0, True, False, {}


class FailingEnv(gym.Env):
    """Box observations, two actions, 10-step episodes; raises RuntimeError in its
    `fail_step`-th call of step() or its `fail_reset`-th call of reset() (counted per copy)."""

    metadata = {"render_modes": []}

    def __init__(self, fail_step: int | None = None, fail_reset: int | None = None) -> None:
        self.fail_step, self.fail_reset = fail_step, fail_reset
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.steps = self.resets = self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.resets += 1
        if self.fail_reset is not None and self.resets == self.fail_reset:
            raise RuntimeError(f"simulated failure in reset number {self.resets}")
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.fail_step is not None and self.steps == self.fail_step:
            raise RuntimeError(f"simulated failure in step number {self.steps}")
        self.t += 1
        obs = np.array([self.t / 10, float(action)], dtype=np.float32)
        return obs, float(action), self.t >= 10, False, {}


def _register(
    name: str, entry_point: str, max_episode_steps: int | None = None, **kwargs: Any
) -> None:
    env_id = f"{NS}/{name}"
    if env_id not in gym.registry:
        register(
            id=env_id,
            entry_point=f"tests.helpers:{entry_point}",
            max_episode_steps=max_episode_steps,
            kwargs=kwargs,
        )


_register("Terminating-v0", "CounterEnv", terminal_after=3)
"""Terminates after 3 + lane steps; no time limit of its own."""
_register("TimeLimited-v0", "CounterEnv", max_episode_steps=4)
"""Never terminates; a 4-step time limit truncates every episode."""
_register("Mixed-v0", "CounterEnv", max_episode_steps=4, terminal_after=3)
"""Lane 0 terminates at 3, lane 1 terminates at 4 where the time limit also hits, lane 2 is
truncated at 4."""
_register("Endless-v0", "CounterEnv")
"""Never ends and has no time limit: tidyrl must cap it."""
_register("NaNObs-v0", "CounterEnv", terminal_after=50, bad_obs_at=3)
"""Box observations, NaN in the observation of step 3."""
_register("NaNReward-v0", "DiscreteCounterEnv", length=20, bad_reward_at=3)
"""Discrete observations (tabular agents accept it), NaN reward at step 3."""
_register("WideBox-v0", "WideBoxEnv")
_register("HugeReward-v0", "CounterEnv", terminal_after=5, reward_scale=1e30)
"""Finite rewards whose squared TD errors overflow float32: an MSE loss turns inf."""
_register("StepRaises-v0", "FailingEnv", fail_step=301)
"""Raises in the 301st step() of each copy: 300 steps of a single env succeed."""
_register("ResetRaises-v0", "FailingEnv", fail_reset=31)
"""Raises in the 31st reset() of each copy: the reset ending the 30th 10-step episode."""


@dataclass(frozen=True)
class RandomConfig:
    n_envs: int = 1
    """Parallel environments."""


class RandomAgent(Agent):
    """Uniformly random actions on any Box or Discrete env: a stand-in for the deep agents that
    have not landed yet, so that CLI error paths of Box environments can be exercised."""

    Config = RandomConfig
    algo_id = "test-random"
    observation_spaces = (gym.spaces.Box, gym.spaces.Discrete)
    action_spaces = (gym.spaces.Discrete, gym.spaces.Box)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return np.stack([self.action_space.sample() for _ in range(len(obs))])

    def learn(self, total_steps: int) -> RandomAgent:
        with self.training(total_steps):
            while not self.finished:
                self.tick(self.env.step(self.env.sample_actions()))
        return self


def run_cli_with_test_agent(argv: list[str]) -> int:
    """`tidyrl.cli.main` with `test-random` registered (only inside this process)."""
    from tidyrl import cli, registry

    registry.ALGORITHMS["test-random"] = registry.Entry(
        "tests.helpers", "RandomAgent", "test", "uniformly random actions (tests only)"
    )
    return cli.main(argv)


def subprocess_env() -> dict[str, str]:
    """Environment for CLI subprocesses: `tests.helpers` importable from any working directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("SDL_VIDEODRIVER", "dummy")
    env.setdefault("SDL_AUDIODRIVER", "dummy")
    return env


def run_tidyrl(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m tidyrl ARGS` in a subprocess, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "tidyrl", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def missing_algorithm_modules() -> list[str]:
    """Registered algorithm modules that do not exist yet (work in progress elsewhere)."""
    import importlib.util

    from tidyrl import registry

    return sorted(
        {
            e.module
            for e in registry.ALGORITHMS.values()
            if importlib.util.find_spec(e.module) is None
        }
    )


def cartpole_expert(obs: np.ndarray) -> np.ndarray:
    """A hand-written CartPole-v1 expert (push towards where the pole falls: theta + theta'/2),
    which balances for the full 500 steps: a small expert for the imitation tests."""
    return (np.asarray(obs)[:, 2] + 0.5 * np.asarray(obs)[:, 3] > 0).astype(np.int64)


def random_policy(env_id: str, seed: int = 0):
    """Uniformly random actions for `env_id`, as a `tidyrl.data.demos.Policy`."""
    space = gym.make(env_id).action_space
    space.seed(seed)
    return lambda obs: np.stack([space.sample() for _ in range(len(obs))])


ENV_FOR_FAMILY = {
    "tabular": "FrozenLake-v1",
    "value": "CartPole-v1",
    "policy-gradient": "CartPole-v1",
    "actor-critic": "Pendulum-v1",
    "imitation": "CartPole-v1",
    "exploration": "FrozenLake-v1",
    "model-based": "CartPole-v1",
    "multi-agent": "mpe2:simple_spread_v3",
}
"""A small env each family of registered algorithms accepts (faults and GPU tests)."""


def imitation_overrides(algo: str, env_id: str, root: Path) -> dict[str, str]:
    """Config values the imitation algorithms cannot run without, made once under `root`:
    `demos` (3 episodes of a random policy on `env_id`, or of `cartpole_expert` on CartPole)
    and `expert` (a saved, untrained PPO agent on `env_id`); for an id that fixes a reward
    plug-in (`gail`), the plug-in's required fields too."""
    import tidyrl
    from tidyrl import registry
    from tidyrl.config import EnvConfig
    from tidyrl.data.demos import collect
    from tidyrl.rewards import plugin_fields

    cls, fixed = registry.lookup(algo)
    fields = set(cls.Config.__dataclass_fields__) | plugin_fields(str(fixed.get("reward", "")))
    out: dict[str, str] = {}
    safe = env_id.replace("/", "-")
    if "demos" in fields:
        path = root / f"demos-{safe}.safetensors"
        if not path.exists():
            policy = cartpole_expert if env_id == "CartPole-v1" else random_policy(env_id)
            collect(policy, EnvConfig(env_id), episodes=3, seed=0).save(path)
        out["demos"] = str(path)
    if "expert" in fields:
        path = root / f"expert-{safe}"
        if not path.exists():
            tidyrl.make("ppo", env_id, seed=0).save(path)
        out["expert"] = str(path)
    return out
