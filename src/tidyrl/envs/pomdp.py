"""Partially observable variants of classic tasks, which a memoryless policy cannot solve.

`CartPoleNoVelEnv` is CartPole-v1 with the velocities hidden: the observation is the cart
position and the pole angle [x, theta] only, so the agent must infer x_dot and theta_dot from
successive observations (the task of sb3-contrib's RecurrentPPO tests and RL-Zoo's
`CartPoleNoVel-v1`). Dynamics, reward and termination are CartPole's.
"""

from __future__ import annotations

from typing import Any

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
