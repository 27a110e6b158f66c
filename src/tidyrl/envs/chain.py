"""A deterministic chain with a distractor: the classic hard-exploration test (after Strehl &
Littman 2008's chain and Osband et al. 2016's deep-exploration chains).

States 0 .. n-1, one-hot observations, start in state 0, two actions:

    right (1)   s -> s + 1, reward 0; reaching state n - 1 pays 1 and ends the episode (terminated)
    leave (0)   reward `distractor` (0.01) and the episode ends (terminated): a small sure reward

Dithering exploration (epsilon-greedy) reaches the end only by n - 1 rights in a row,
probability 2^-(n-1) per episode for a uniform policy, while the distractor soon teaches the
greedy policy to leave at once; the optimal return is 1 (n - 1 rights), leaving earns 0.01. A
novelty bonus (`tidyrl.rewards`) pays for new states and leads the agent down the chain.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class ChainEnv(gym.Env[np.ndarray, np.int64]):
    """The chain above; `n` states, the distractor reward of action `leave`."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n: int = 10, distractor: float = 0.01) -> None:
        if n < 2:
            raise ValueError(f"ChainEnv needs n >= 2 states, got {n}")
        self.n, self.distractor = n, distractor
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.state = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n, dtype=np.float32)
        obs[self.state] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = 0
        return self._obs(), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if int(action) == 1:
            self.state += 1
            goal = self.state == self.n - 1
            return self._obs(), 1.0 if goal else 0.0, goal, False, {}
        return self._obs(), self.distractor, True, False, {}
