"""MaskedChoice: a small task with an action mask, where invalid actions are costly.

Each step offers `n_actions` actions; a random subset of them (each with probability
`p_invalid`, at least one always valid) is invalid. The observation shows, per action, its value
v_a ~ U(0, 1) where valid (0 where invalid) and a validity bit. Choosing a valid action earns v_a;
choosing an invalid one costs `invalid_reward` (-1) and terminates the episode. Episodes last at
most 20 steps, so a perfect policy earns about 20 * E[max valid v] and a uniformly random valid
choice about 20 * 0.5.

With `expose_mask=True` the observation is a Dict {"observation", "action_mask"} (the PettingZoo
layout), so the env owner hands the agent the Box and the mask; with False it is the Box alone
and an agent must learn validity from the bits (the unmasked comparison of
`benchmarks/suites/spaces.py`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class MaskedChoiceEnv(gym.Env[Any, np.int64]):
    metadata = {"render_modes": []}

    def __init__(
        self,
        n_actions: int = 8,
        p_invalid: float = 0.5,
        invalid_reward: float = -1.0,
        expose_mask: bool = True,
    ) -> None:
        self.n_actions, self.p_invalid = n_actions, p_invalid
        self.invalid_reward, self.expose_mask = invalid_reward, expose_mask
        box = gym.spaces.Box(0.0, 1.0, (2 * n_actions,), np.float32)
        self.observation_space: gym.Space[Any] = (
            gym.spaces.Dict({"observation": box, "action_mask": gym.spaces.MultiBinary(n_actions)})
            if expose_mask
            else box
        )
        self.action_space = gym.spaces.Discrete(n_actions)
        self.values = np.zeros(n_actions, dtype=np.float32)
        self.valid = np.ones(n_actions, dtype=bool)
        self.invalid_chosen = 0
        """Invalid actions taken since construction (tests check that masking agents take none)."""

    def _obs(self) -> Any:
        rng = self.np_random
        self.valid = rng.random(self.n_actions) >= self.p_invalid
        self.valid[rng.integers(self.n_actions)] = True
        self.values = np.where(self.valid, rng.random(self.n_actions), 0.0).astype(np.float32)
        box = np.concatenate([self.values, self.valid.astype(np.float32)])
        if self.expose_mask:
            return {"observation": box, "action_mask": self.valid.astype(np.int8)}
        return box

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if not self.valid[a]:
            self.invalid_chosen += 1
            return self._obs(), self.invalid_reward, True, False, {}
        reward = float(self.values[a])  # before _obs() draws the next step's values
        return self._obs(), reward, False, False, {}
