"""Start episodes from a demonstration's states: the backward algorithm's environment.

Salimans & Chen (2018), "Learning Montezuma's Revenge from a single demonstration"
(arXiv:1812.03381): instead of imitating a demonstration, an ordinary RL learner (PPO) plays
episodes that start from a state of the demonstration, first near its end, where the reward is a
few steps away, and then, as the learner succeeds from there, from earlier and earlier states,
until it starts from the reset itself. Go-Explore's phase 2 robustifies its best trajectory this
way (Ecoffet et al. 2019, section 2.2; 2021).

`DemoStartEnv` wraps the environment `env` (made by `tidyrl.envs.make_env`, with its time limit).
Each reset draws a start state j from the current start ``start = k``
(`tidyrl.data.backward.draw_start`: uniform on the `window` states up to k, or with probability
`later` on the states after it; with the defaults 0 and 0, j = k). With j > 0 the reset brings
the inner env to the demonstration's state j: it restores a snapshot taken when the
demonstration was set (through `tidyrl.envs.restore`'s adapters), or, for an env no adapter
fits, resets with the demonstration's seed and replays its first j actions (exact for
environments deterministic given the seed and actions, which Go-Explore's phase 1 needs anyway).
The episode has the time its limit leaves after j steps, and with ``lag > 0`` it is truncated
once it falls `lag` steps behind the demonstration's score (`tidyrl.data.backward.behind`).
With j = 0 it is a plain reset (with the seed the vector env gives). Each finished episode
appends (j, success) to `outcomes`, success meaning that the episode's return reached the
demonstration's return from the same state on: the signal the curriculum that moves `start`
reads.

Discrete observations reach the learner as one-hot vectors (`encode`), so that a PPO over Box
inputs learns on FrozenLake or a maze; the agent that acts on the plain env encodes the same way.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tidyrl.config import EnvConfig
from tidyrl.data.backward import behind, draw_start
from tidyrl.envs.make import make_env
from tidyrl.envs.restore import replay, state_adapter


def policy_space(space: gym.Space[Any]) -> gym.Space[Any]:
    """The space the learner sees: a one-hot Box for a Discrete space, else `space` itself."""
    if isinstance(space, gym.spaces.Discrete):
        return gym.spaces.Box(0.0, 1.0, (int(space.n),), np.float32)
    return space


def encode(space: gym.Space[Any], obs: Any) -> Any:
    """`obs` (one observation or a batch) of `space` as the learner sees it (`policy_space`)."""
    if isinstance(space, gym.spaces.Discrete):
        index = np.asarray(obs, dtype=np.int64) - int(space.start)
        return np.eye(int(space.n), dtype=np.float32)[index]
    return obs


class DemoStartEnv(gym.Env[Any, Any]):
    """`env` whose episodes start at state `start` of a demonstration (module docstring)."""

    def __init__(
        self,
        env: str,
        env_kwargs: dict[str, Any] | None = None,
        limit: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        # `limit` is the inner env's max_episode_steps (a name gymnasium.make keeps for itself)
        self.inner = make_env(EnvConfig(env, dict(env_kwargs or {}), limit))
        self.base_space = self.inner.observation_space
        self.observation_space = policy_space(self.base_space)
        self.action_space = self.inner.action_space
        self.demo_seed = 0
        self.demo_actions = np.zeros(0, dtype=np.int64)
        self.to_go = np.zeros(1)
        """to_go[k]: the demonstration's return from its state k to its end."""
        self.start = 0
        self.window = 0
        """Draw the start uniformly from the `window` states before `start` too."""
        self.later = 0.0
        """Probability of drawing the start from the states after `start` instead."""
        self.lag = 0
        """Truncate an episode that falls this many steps behind the demonstration (0: off)."""
        self.inner.reset(seed=0)  # some envs hold their state only after a reset
        self.adapter = state_adapter(self.inner)
        self.snapshots: list[tuple[Any, Any]] = []
        """Per demonstration step k: (simulator state, observation), when an adapter fits."""
        self.outcomes: list[tuple[int, bool]] = []
        self._episode_start = 0
        self._return = 0.0
        self._t = 0

    def set_demo(self, seed: int, actions: np.ndarray, rewards: np.ndarray) -> None:
        """The demonstration: its reset seed, actions and per-step rewards."""
        self.demo_seed = int(seed)
        self.demo_actions = np.asarray(actions)
        self.to_go = np.concatenate([np.cumsum(np.asarray(rewards)[::-1])[::-1], [0.0]])
        self.snapshots = []
        if not self.adapter.replays:
            obs, _ = self.inner.reset(seed=self.demo_seed)
            self.snapshots.append((self.adapter.get_state(self.inner), obs))
            for action in self.demo_actions[:-1].tolist():
                obs = self.inner.step(action)[0]
                self.snapshots.append((self.adapter.get_state(self.inner), obs))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)  # seeds np_random, which draws the start
        start = self.start
        if start > 0 or self.later > 0.0:
            start = draw_start(
                self.np_random, self.start, len(self.demo_actions), self.window, self.later
            )
        if start > 0 and self.snapshots:
            state, obs = self.snapshots[start]
            self.adapter.set_state(self.inner, state, start)
            info: dict[str, Any] = {}
        elif start > 0:
            obs, complete = replay(self.inner, self.demo_seed, self.demo_actions[:start])
            if not complete:
                raise RuntimeError(
                    "the demonstration ended its episode before its state "
                    f"{start} on replay: the environment is not deterministic"
                )
            info = {}
        else:
            obs, info = self.inner.reset(seed=seed)
        self._episode_start, self._return, self._t = start, 0.0, start
        return encode(self.base_space, obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.inner.step(action)
        self._return += float(reward)
        self._t += 1
        if not (terminated or truncated) and self.lag > 0:
            truncated = behind(self.to_go, self._episode_start, self._t, self._return, self.lag)
        if terminated or truncated:
            target = float(self.to_go[min(self._episode_start, len(self.to_go) - 1)])
            self.outcomes.append((self._episode_start, self._return >= target - 1e-9))
        return encode(self.base_space, obs), float(reward), terminated, truncated, info

    def close(self) -> None:
        self.inner.close()
