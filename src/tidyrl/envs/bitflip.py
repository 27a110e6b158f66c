"""Bit flipping: the goal-conditioned test bed of hindsight experience replay.

Andrychowicz et al. (2017), "Hindsight Experience Replay", section 3.1 (the motivating example)
and Fig. 1. The state is n bits, s in {0, 1}^n, and so is the goal g; action i flips bit i.
The reward is -1 on every step whose next state is not the goal and 0 on the step that reaches
it, which ends the episode (terminated); an episode that has not reached the goal after n steps
is cut (truncated). Start and goal are drawn uniformly. A random walk meets a given goal of n
bits with a chance of about 2^-n per step, so for n above about 13 plain DQN sees no reward but
-1 and learns nothing (the paper's Fig. 1); with goals relabelled in hindsight it solves n = 50.

The observation is a Dict in the Gymnasium-Robotics `GoalEnv` layout: ``observation`` (the
bits), ``achieved_goal`` (the bits again: the goal a state achieves is the state) and
``desired_goal``; `compute_reward` and `compute_terminated` score any achieved / desired goal
pair, batched over leading dimensions, as hindsight relabelling needs (`tidyrl.data.hindsight`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class BitFlipEnv(gym.Env[dict[str, np.ndarray], np.int64]):
    """n bits to set to a goal, one flip per step (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n_bits: int = 15) -> None:
        if n_bits < 1:
            raise ValueError(f"BitFlipEnv needs n_bits >= 1, got {n_bits}")
        self.n_bits = n_bits
        bits = gym.spaces.MultiBinary(n_bits)
        self.observation_space = gym.spaces.Dict(
            {"observation": bits, "achieved_goal": bits, "desired_goal": bits}
        )
        self.action_space = gym.spaces.Discrete(n_bits)
        self.state = np.zeros(n_bits, dtype=np.int8)
        self.goal = np.zeros(n_bits, dtype=np.int8)
        self.steps = 0

    def _obs(self) -> dict[str, np.ndarray]:
        return {
            "observation": self.state.copy(),
            "achieved_goal": self.state.copy(),
            "desired_goal": self.goal.copy(),
        }

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> np.ndarray:
        """0 where the achieved goal is the desired one, else -1 (over the last axis)."""
        reached = np.all(np.asarray(achieved_goal) == np.asarray(desired_goal), axis=-1)
        return np.where(reached, 0.0, -1.0).astype(np.float32)

    def compute_terminated(self, achieved_goal: Any, desired_goal: Any, info: Any) -> np.ndarray:
        """True where the achieved goal is the desired one: reaching the goal ends the episode."""
        return np.all(np.asarray(achieved_goal) == np.asarray(desired_goal), axis=-1)

    def compute_truncated(self, achieved_goal: Any, desired_goal: Any, info: Any) -> np.ndarray:
        """Never by the goal: only the n-step limit cuts an episode."""
        return np.zeros(np.shape(achieved_goal)[:-1], dtype=bool)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.state = self.np_random.integers(0, 2, self.n_bits).astype(np.int8)
        self.goal = self.np_random.integers(0, 2, self.n_bits).astype(np.int8)
        self.steps = 0
        return self._obs(), {}

    def step(
        self, action: np.int64
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        self.state[int(action)] ^= 1
        self.steps += 1
        reward = float(self.compute_reward(self.state, self.goal, None))
        terminated = bool(self.compute_terminated(self.state, self.goal, None))
        truncated = not terminated and self.steps >= self.n_bits
        return self._obs(), reward, terminated, truncated, {"is_success": terminated}
