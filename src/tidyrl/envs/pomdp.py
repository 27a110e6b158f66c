"""Partially observable variants of classic tasks, which a memoryless policy cannot solve.

`CartPoleNoVelEnv` is CartPole-v1 with the velocities hidden: the observation is the cart
position and the pole angle [x, theta] only, so the agent must infer x_dot and theta_dot from
successive observations (the task of sb3-contrib's RecurrentPPO tests and RL-Zoo's
`CartPoleNoVel-v1`). Dynamics, reward and termination are CartPole's.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

POSITIONS = np.array([0, 2])
"""Indices of x and theta in CartPole's state [x, x_dot, theta, theta_dot]."""


class CartPoleNoVelEnv(CartPoleEnv):
    """CartPole observing [x, theta] only."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        full = self.observation_space
        assert isinstance(full, spaces.Box)
        self.observation_space = spaces.Box(
            full.low[POSITIONS], full.high[POSITIONS], dtype=np.float32
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        obs, info = super().reset(seed=seed, options=options)
        return obs[POSITIONS], info

    def step(self, action: Any) -> Any:
        # gymnasium's CartPoleEnv.step carries no annotations
        obs, reward, terminated, truncated, info = super().step(action)  # type: ignore[no-untyped-call]
        return obs[POSITIONS], reward, terminated, truncated, info


class TMazeEnv(gym.Env[np.ndarray, np.int64]):
    """A cue-recall corridor (after Bakker 2002's T-maze): the cue is seen once, at the start.

    The agent starts at the foot of a corridor of `length` cells. Its first observation shows a
    cue, up [1, 0, 0] or down [0, 1, 0], drawn at random each episode; the corridor's cells
    look alike ([0, 0, 0]), and the junction at its end shows [0, 0, 1]. Every action moves
    one cell along the corridor; at the junction, action 0 turns up and action 1 turns down,
    which ends the episode (terminated) with reward +1 if the turn matches the cue and -1
    otherwise. An episode is `length` + 1 steps. A memoryless policy sees the same observation
    at the junction whatever the cue, so it turns the right way half the time (mean return 0);
    an agent that remembers the cue for `length` steps always does (return 1).

    Simplified from Bakker (2002, "Reinforcement Learning with Long Short-Term Memory"): there
    the agent also has to learn to walk the corridor (four moves, a -0.1 reward per step), and
    the rewards are +4 / -0.1; here only the memory is tested.
    """

    metadata = {"render_modes": []}

    def __init__(self, length: int = 10) -> None:
        if length < 1:
            raise ValueError(f"TMaze length must be at least 1, got {length}")
        self.length = int(length)
        self.observation_space = spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.position = 0
        self.cue = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(3, np.float32)
        if self.position == 0:
            obs[self.cue] = 1.0
        if self.position == self.length:
            obs[2] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.position = 0
        self.cue = int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.position < self.length:
            self.position += 1
            return self._obs(), 0.0, False, False, {}
        reward = 1.0 if int(action) == self.cue else -1.0
        return self._obs(), reward, True, False, {"success": reward > 0}
