"""Pixel environments for value-based RL: the Atari pipeline of Mnih et al. (2015) and MinAtar.

Atari (`Atari/<Game>-v5`, e.g. `Atari/Pong-v5`, over ale-py's bundled ROMs). `make_atari` builds,
in order (Mnih et al. 2015, Methods "Preprocessing" and Extended Data Table 1; Machado et al.
2018 for sticky actions):

1. `ALE/<Game>-v5` with `frameskip=1` (skipping is done below), sticky actions with probability
   `sticky_actions` (0.25 is the v5 default, Machado et al.; 0 gives the deterministic ALE of
   the Nature paper), and the 108,000-frame episode cap (a truncation, not a termination);
2. `AtariPreprocess` (written here: Gymnasium's version needs OpenCV, which is not installed):
   up to `noop_max` = 30 no-op actions at reset, frame skip 4 with a max over the last two
   frames (removes flicker), ALE's grayscale screen resized to 84x84 (Pillow, bilinear), and
   optionally `terminal_on_life_loss` (a lost life ends the episode as *terminated*, so no
   bootstrap; the next reset is a full game reset, as in Gymnasium's wrapper);
3. reward clipping to {-1, 0, +1} (sign), so logged returns are clipped returns (the same as the
   raw score in Pong);
4. `FrameStackObservation(4, padding_type="reset")`: observations are uint8 (4, 84, 84), the
   first of an episode being the reset frame repeated; `tidyrl.data.frame_replay` relies on it.

Episode boundaries (autoreset, final observation, terminated vs truncated) stay with
`tidyrl.envs.make`, which builds these like any other Gymnasium env.

MinAtar (`MinAtar/<Game>-v1`, Young & Tian 2019): its boolean (10, 10, C) grids become uint8
(C, 10, 10) 0/1 arrays (`MinAtarUint8`), applied by `make_env`, so the replay stores one byte per
cell and the CNNs see channels first.
"""

from __future__ import annotations

from typing import Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvCreator

ATARI_NAMESPACE = "Atari/"


def make_atari(
    game: str = "Pong",
    noop_max: int = 30,
    frame_skip: int = 4,
    screen_size: int = 84,
    stack: int = 4,
    terminal_on_life_loss: bool = False,
    clip_rewards: bool = True,
    sticky_actions: float = 0.25,
    full_action_space: bool = False,
    max_episode_frames: int = 108_000,
    render_mode: str | None = None,
) -> gym.Env[Any, Any]:
    """The preprocessed Atari env for `game` (see the module docstring)."""
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(
        f"ALE/{game}-v5",
        obs_type="grayscale",
        frameskip=1,
        repeat_action_probability=sticky_actions,
        full_action_space=full_action_space,
        max_num_frames_per_episode=max_episode_frames,
        render_mode=render_mode,
    )
    env = AtariPreprocess(env, noop_max, frame_skip, screen_size, terminal_on_life_loss)
    if clip_rewards:
        env = gym.wrappers.TransformReward(env, _sign)
    return gym.wrappers.FrameStackObservation(env, stack, padding_type="reset")


class AtariPreprocess(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """No-op starts, frame skip with a two-frame max, 84x84 grayscale, optional life-loss end."""

    def __init__(
        self,
        env: gym.Env[Any, Any],
        noop_max: int = 30,
        frame_skip: int = 4,
        screen_size: int = 84,
        terminal_on_life_loss: bool = False,
    ) -> None:
        super().__init__(env)
        if frame_skip < 1 or noop_max < 0:
            raise ValueError("frame_skip must be >= 1 and noop_max >= 0")
        self.noop_max, self.frame_skip, self.size = noop_max, frame_skip, screen_size
        self.terminal_on_life_loss = terminal_on_life_loss
        shape = env.observation_space.shape or (210, 160)
        self.pool = np.zeros((2, *shape[:2]), dtype=np.uint8)
        self.observation_space = gym.spaces.Box(0, 255, (screen_size, screen_size), np.uint8)
        self.lives = 0

    def _ale_lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())  # type: ignore[attr-defined]

    def _frame(self, screen: np.ndarray) -> np.ndarray:
        from PIL import Image

        image = Image.fromarray(screen).resize((self.size, self.size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        noops = int(self.np_random.integers(1, self.noop_max + 1)) if self.noop_max else 0
        for _ in range(noops):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset()
        self.lives = self._ale_lives()
        return self._frame(np.asarray(obs)), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        total, terminated, truncated = 0.0, False, False
        info: dict[str, Any] = {}
        last = self.frame_skip - 1
        for i in range(self.frame_skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if i >= last - 1:
                self.pool[i - (last - 1)] = obs
            if terminated or truncated:
                self.pool[1] = obs  # the episode ended early: the last frame is what we saw
                if i < last - 1:
                    self.pool[0] = obs
                break
        if self.terminal_on_life_loss:
            lives = self._ale_lives()
            terminated = terminated or lives < self.lives
            self.lives = lives
        screen = self.pool.max(axis=0) if self.frame_skip > 1 else self.pool[1]
        return self._frame(screen), total, terminated, truncated, info


def _sign(reward: SupportsFloat) -> float:
    """Reward clipping to {-1, 0, +1}."""
    r = float(reward)
    return float((r > 0) - (r < 0))


def register_atari(env_id: str) -> None:
    """Register `Atari/<Game>-v5` (the preprocessed game) with Gymnasium on first use."""
    if env_id in gym.registry or not env_id.startswith(ATARI_NAMESPACE):
        return
    name = env_id[len(ATARI_NAMESPACE) :]
    game = name.rsplit("-v", 1)[0]
    gym.register(
        env_id,
        entry_point=cast(EnvCreator, make_atari),
        kwargs={"game": game},
        max_episode_steps=27_000,  # 108,000 frames / frame skip 4
    )


class MinAtarUint8(gym.ObservationWrapper[np.ndarray, Any, np.ndarray]):
    """MinAtar's bool (H, W, C) observation as uint8 (C, H, W) with values 0/1."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        h, w, c = env.observation_space.shape or (0, 0, 0)
        self.observation_space = gym.spaces.Box(0, 1, (c, h, w), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(np.asarray(observation, dtype=np.uint8), -1, 0))


def adapt_pixels(env_id: str, env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
    """The hook `make_env` calls: MinAtar grids become uint8 channels-first; others unchanged."""
    if env_id.startswith("MinAtar/") and env.observation_space.dtype == np.bool_:
        return MinAtarUint8(env)
    return env
