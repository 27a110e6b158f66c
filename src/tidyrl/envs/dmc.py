"""DeepMind Control Suite tasks (Tassa et al. 2018) as Gymnasium environments, through
`shimmy`'s dm_control adapter (the `dmc` extra: dm-control + shimmy).

`tidyrl.envs.make` builds them from two id forms, registered on first use:

    dmc/DOMAIN-TASK-v0          proprioceptive: dm_control's dict of arrays flattened to one
                                float32 vector (its keys in the task's order)
    dmc/DOMAIN-TASK-pixels-v0   64x64 RGB frames from camera 0, uint8, channels first (3, 64, 64)

e.g. ``dmc/cartpole-swingup-v0``, ``dmc/reacher-easy-pixels-v0``. Every task repeats each action
`action_repeat` times (default 2, the DMC setting of Hafner et al. 2023, DreamerV3) and sums the
rewards, so one agent step is `action_repeat` simulator steps: a 1000-step episode is 500 agent
steps. Change it with the env kwarg ``action_repeat`` (``--env-kwargs action_repeat=4`` on the
command line, ``EnvConfig(kwargs=...)`` in Python); ``size`` and ``camera_id`` set the
pixels. dm_control's time limit arrives as truncation; its tasks never terminate.

The raw shimmy ids (``dm_control/cartpole-swingup-v0``) work too, with their dict observations.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np

from tidyrl.runtime import headless_rendering

DMC_ID = re.compile(r"^dmc/(?P<domain>[a-z_]+)-(?P<task>[a-z_]+?)(?P<pixels>-pixels)?-v0$")
"""dmc/DOMAIN-TASK-v0 and dmc/DOMAIN-TASK-pixels-v0."""

DEFAULT_ACTION_REPEAT = 2


class DMCAdapter(gym.Wrapper[np.ndarray, np.ndarray, Any, Any]):
    """A shimmy dm_control env with a flat float32 vector (or 64x64 uint8 pixels) observation,
    float32 actions and action repeat."""

    def __init__(
        self,
        env: gym.Env[Any, Any],
        pixels: bool = False,
        action_repeat: int = DEFAULT_ACTION_REPEAT,
        size: int = 64,
    ) -> None:
        super().__init__(env)
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be at least 1, got {action_repeat}")
        self.pixels, self.action_repeat, self.size = pixels, int(action_repeat), size
        space = env.action_space
        assert isinstance(space, gym.spaces.Box)
        self.action_space = gym.spaces.Box(
            space.low.astype(np.float32), space.high.astype(np.float32), dtype=np.float32
        )
        if pixels:
            self.observation_space = gym.spaces.Box(0, 255, (3, size, size), np.uint8)
        else:
            parts = env.observation_space
            assert isinstance(parts, gym.spaces.Dict)
            width = sum(int(np.prod(s.shape or (1,))) for s in parts.spaces.values())
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (width,), np.float32)

    def _observe(self, obs: Any) -> np.ndarray:
        if self.pixels:
            frame = np.asarray(self.env.render())
            return np.ascontiguousarray(frame.transpose(2, 0, 1))
        return np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in obs.values()])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observe(obs), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.action_repeat):
            obs, reward, terminated, truncated, info = self.env.step(
                np.asarray(action, dtype=np.float64)
            )
            total += float(reward)
            if terminated or truncated:
                break
        return self._observe(obs), total, bool(terminated), bool(truncated), info


def make_dmc(
    domain: str,
    task: str,
    pixels: bool = False,
    action_repeat: int = DEFAULT_ACTION_REPEAT,
    size: int = 64,
    camera_id: int = 0,
    render_mode: str | None = None,
) -> gym.Env[np.ndarray, np.ndarray]:
    """The adapted dm_control task DOMAIN-TASK (see the module docstring)."""
    headless_rendering()  # before dm_control loads its renderer
    import shimmy

    gym.register_envs(shimmy)
    kwargs: dict[str, Any] = {}
    if pixels or render_mode == "rgb_array":
        kwargs = {
            "render_mode": "rgb_array",
            "render_kwargs": {"width": size, "height": size, "camera_id": camera_id},
        }
    env = gym.make(f"dm_control/{domain}-{task}-v0", **kwargs)
    return DMCAdapter(env, pixels, action_repeat, size)


def register_dmc(env_id: str) -> bool:
    """Register `env_id` if it has the dmc/DOMAIN-TASK[-pixels]-v0 form; False otherwise."""
    match = DMC_ID.match(env_id)
    if match is None:
        return False
    gym.register(
        id=env_id,
        entry_point="tidyrl.envs.dmc:make_dmc",
        kwargs={
            "domain": match["domain"],
            "task": match["task"],
            "pixels": match["pixels"] is not None,
        },
    )
    return True
