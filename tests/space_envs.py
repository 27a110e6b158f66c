"""Small learnable environments over the spaces of `docs/spaces.md`, registered on import.

Each is a contextual bandit run for 8 steps: a fresh target every step, shown in the observation,
and reward for matching it, so a policy that reads its observation correctly earns 8 per episode
and a uniformly random one much less.

- `MultiAction-v0`: Box observation (the one-hot target of each sub-action), MultiDiscrete([3, 3])
  actions; reward = fraction of sub-actions equal to their target (random: 8/3 per episode).
- `MultiBinary-v0`: Box observation (the target bits as +-1), MultiBinary(4) actions; reward =
  fraction of matching bits (random: 4 per episode).
- `DictObs-v0` / `TupleObs-v0`: the target t in {0, 1, 2} is the Discrete key `which`; an 6x6x1
  uint8 image (channels last, as MiniGrid's) lights row t; `vector` is noise. Discrete(3)
  actions, reward 1 for a = t (random: 8/3). `action="box"`: Box(-1, 1) action, reward
  1 - |a - (t - 1)| (random: about 3).
- `GoalReach-v0`: Dict observation {`position`: Box(2), `goal`: Box(2)} in [-1, 1]^2, Box(-1, 1,
  (2,)) actions moving the position by 0.5 a; reward -|position - goal| after the move, a goal
  drawn afresh at reset. Only the goal key says where to go (random play: about -7 per episode;
  heading straight for the goal: about -1.5).
- `ImageObs-v0`: the image key of `DictObs-v0` alone, a channels-last uint8 (6, 6, 1) Box: row
  pair t lit, Discrete(3) actions, reward 1 for a = t (random: 8/3).
- `PixelReach-v0`: `GoalReach-v0` seen as one channels-first RGB frame, uint8 (3, 36, 36): the
  position lit in the red plane, the goal in the green one (the shape of a 3-frame stack of
  36x36 frames, which it is not).
- `FlatBitFlip-v0`: bit flipping (`tidyrl/BitFlip-v0`, two bits unless `n_bits` says otherwise)
  with its state and goal in one Box, for the algorithms that take only a Box: its last step
  says `is_success`, and an episode succeeds exactly when its return is above -n_bits.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import register

NS = "tidyspace"


class MultiActionEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, binary: bool = False) -> None:
        self.binary = binary
        if binary:
            self.action_space = gym.spaces.MultiBinary(4)
            self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        else:
            self.action_space = gym.spaces.MultiDiscrete([3, 3])
            self.observation_space = gym.spaces.Box(0.0, 1.0, (6,), np.float32)
        self.target = np.zeros(4, dtype=np.int64)

    def _obs(self) -> np.ndarray:
        if self.binary:
            self.target = self.np_random.integers(0, 2, 4)
            return (2.0 * self.target - 1.0).astype(np.float32)
        self.target = self.np_random.integers(0, 3, 2)
        obs = np.zeros(6, dtype=np.float32)
        obs[[self.target[0], 3 + self.target[1]]] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        reward = float(np.mean(np.asarray(action) == self.target))
        return self._obs(), reward, False, False, {}


class StructuredObsEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, tuple_obs: bool = False, action: str = "discrete") -> None:
        parts = {
            "image": gym.spaces.Box(0, 255, (6, 6, 1), np.uint8),
            "vector": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
            "which": gym.spaces.Discrete(3),
        }
        self.tuple_obs = tuple_obs
        self.observation_space = (
            gym.spaces.Tuple(tuple(parts.values())) if tuple_obs else gym.spaces.Dict(parts)
        )
        self.box = action == "box"
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if self.box else gym.spaces.Discrete(3)
        )
        self.target = 0

    def _obs(self) -> Any:
        self.target = int(self.np_random.integers(0, 3))
        image = np.zeros((6, 6, 1), dtype=np.uint8)
        image[2 * self.target : 2 * self.target + 2] = 255
        vector = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        if self.tuple_obs:
            return (image, vector, self.target)
        return {"image": image, "vector": vector, "which": self.target}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        if self.box:
            reward = 1.0 - abs(float(np.asarray(action).reshape(-1)[0]) - (self.target - 1))
        else:
            reward = float(int(action) == self.target)
        return self._obs(), reward, False, False, {}


class GoalReachEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self) -> None:
        box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Dict({"position": box, "goal": box})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.position = np.zeros(2, np.float32)
        self.goal = np.zeros(2, np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"position": self.position.copy(), "goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.goal = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action):
        move = 0.5 * np.clip(np.asarray(action, np.float32).reshape(2), -1.0, 1.0)
        self.position = np.clip(self.position + move, -1.0, 1.0).astype(np.float32)
        reward = -float(np.linalg.norm(self.position - self.goal))
        return self._obs(), reward, False, False, {}


class GoalPointEnv(GoalReachEnv):
    """GoalReach in Gymnasium-Robotics' GoalEnv layout (observation / achieved_goal /
    desired_goal, batched compute_* functions): reward -1 until the point is within 0.1 of the
    goal, 0 then; never terminated (as the Fetch tasks), cut by the time limit."""

    def __init__(self) -> None:
        super().__init__()
        box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box}
        )

    def compute_reward(self, achieved_goal, desired_goal, info):
        distance = np.linalg.norm(np.asarray(achieved_goal) - desired_goal, axis=-1)
        return -(distance > 0.1).astype(np.float32)

    def compute_terminated(self, achieved_goal, desired_goal, info):
        return np.zeros(np.shape(achieved_goal)[:-1], dtype=bool)

    def _obs(self) -> dict[str, np.ndarray]:
        p = self.position.copy()
        return {"observation": p, "achieved_goal": p.copy(), "desired_goal": self.goal.copy()}

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        reward = float(self.compute_reward(self.position, self.goal, None))
        return obs, reward, terminated, truncated, info


class ImageObsEnv(StructuredObsEnv):
    def __init__(self) -> None:
        super().__init__()
        self.observation_space = self.observation_space["image"]

    def _obs(self) -> Any:
        return super()._obs()["image"]


class PixelReachEnv(GoalReachEnv):
    SIDE = 36

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Box(0, 255, (3, self.SIDE, self.SIDE), np.uint8)

    def _obs(self) -> np.ndarray:  # type: ignore[override]
        frame = np.zeros((3, self.SIDE, self.SIDE), np.uint8)
        for plane, point in ((0, self.position), (1, self.goal)):
            row, col = np.round((point + 1.0) / 2.0 * (self.SIDE - 4)).astype(int)
            frame[plane, row : row + 4, col : col + 4] = 255
        return frame


class FlatBitFlipEnv(gym.ObservationWrapper):
    def __init__(self, n_bits: int = 2) -> None:
        from tidyrl.envs.bitflip import BitFlipEnv

        super().__init__(BitFlipEnv(n_bits))
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2 * n_bits,), np.float32)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        parts = (observation["observation"], observation["desired_goal"])
        return np.concatenate(parts).astype(np.float32)


def _register(name: str, entry_point: str, **kwargs: Any) -> None:
    env_id = f"{NS}/{name}"
    if env_id not in gym.registry:
        register(
            id=env_id,
            entry_point=f"tests.space_envs:{entry_point}",
            max_episode_steps=8,
            kwargs=kwargs,
        )


_register("MultiAction-v0", "MultiActionEnv")
_register("MultiBinary-v0", "MultiActionEnv", binary=True)
_register("DictObs-v0", "StructuredObsEnv")
_register("TupleObs-v0", "StructuredObsEnv", tuple_obs=True)
_register("DictObsBox-v0", "StructuredObsEnv", action="box")
_register("GoalReach-v0", "GoalReachEnv")
_register("PixelReach-v0", "PixelReachEnv")
_register("ImageObs-v0", "ImageObsEnv")
_register("GoalPoint-v0", "GoalPointEnv")
_register("FlatBitFlip-v0", "FlatBitFlipEnv")
