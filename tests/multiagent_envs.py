"""Tiny PettingZoo parallel environments for the multi-agent tests (reachable from the CLI as
``tests.multiagent_envs:relay``).

`Relay` makes per-agent episode boundaries checkable: agents "a" and "b" observe ``[t, i, lane]``
(the step inside the episode, the agent's index, the seed of the copy's first reset); "a" earns
1 per step and terminates (leaves the game) after `a_steps` steps; "b" earns 10 per step and is
truncated at `max_cycles` steps, which ends the episode.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv


class Relay(ParallelEnv):
    metadata = {"render_modes": [], "name": "relay_v0", "is_parallelizable": True}

    def __init__(
        self,
        a_steps: int = 2,
        max_cycles: int = 4,
        discrete: bool = False,
        bad_reward_at: int | None = None,
    ) -> None:
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.a_steps, self.max_cycles = a_steps, max_cycles
        self.bad_reward_at = bad_reward_at
        self._obs_space = spaces.Box(-1e6, 1e6, (3,), np.float32)
        self._act_space = spaces.Discrete(3) if discrete else spaces.Box(-1.0, 1.0, (1,))
        self.t, self.lane = 0, 0

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    def _obs(self, agent: str) -> np.ndarray:
        return np.array([self.t, self.possible_agents.index(agent), self.lane], np.float32)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.lane = seed
        self.t = 0
        self.agents = list(self.possible_agents)
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        assert set(actions) == set(self.agents), (actions, self.agents)
        self.t += 1
        rewards = {a: (1.0 if a == "a" else 10.0) for a in self.agents}
        if self.bad_reward_at == self.t:
            rewards["b"] = float("nan")
        terminated = {a: a == "a" and self.t >= self.a_steps for a in self.agents}
        truncated = {a: self.t >= self.max_cycles for a in self.agents}
        obs = {a: self._obs(a) for a in self.agents}
        self.agents = [a for a in self.agents if not (terminated[a] or truncated[a])]
        return obs, rewards, terminated, truncated, {a: {} for a in obs}


def relay(**kwargs: Any) -> Relay:
    return Relay(**kwargs)


class TurnBased(AECEnv):
    """An AEC environment that is not parallelizable (moves in turns)."""

    metadata = {"render_modes": [], "name": "turns_v0", "is_parallelizable": False}

    def __init__(self) -> None:
        super().__init__()
        self.possible_agents = ["x", "o"]


def turn_based(**kwargs: Any) -> TurnBased:
    return TurnBased()
