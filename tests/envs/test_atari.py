"""Atari pipeline and MinAtar adapter: shapes, dtypes, stacking, reward clipping, life loss."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.config import EnvConfig
from tidyrl.envs.make import VecEnv, make_env

pytest.importorskip("ale_py")


def test_atari_pipeline_observation_and_stack():
    env = make_env(EnvConfig(id="Atari/Pong-v5"), seed=0)
    assert env.observation_space.shape == (4, 84, 84)
    assert env.observation_space.dtype == np.uint8
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert all((obs[i] == obs[0]).all() for i in range(4))  # reset padding repeats the frame
    rewards = []
    prev = obs
    for _ in range(60):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        rewards.append(r)
        np.testing.assert_array_equal(obs[:3], prev[1:])  # one new frame per step
        prev = obs
    assert set(rewards) <= {-1.0, 0.0, 1.0}
    assert env.spec.max_episode_steps == 27_000
    env.close()


def test_terminal_on_life_loss_terminates():
    cfg = EnvConfig(id="Atari/Breakout-v5", kwargs={"terminal_on_life_loss": True, "noop_max": 0})
    env = make_env(cfg, seed=0)
    env.reset(seed=0)
    for t in range(2000):
        _, _, term, trunc, _ = env.step(0)  # NOOP: the ball is never served... serve with FIRE
        if t % 20 == 0:
            _, _, term, trunc, _ = env.step(1)
        if term or trunc:
            break
    assert term and not trunc
    assert env.unwrapped.ale.lives() == 4  # ended at the first lost life, not at game over
    env.close()


def test_minatar_becomes_uint8_channels_first():
    pytest.importorskip("minatar")
    vec = VecEnv(EnvConfig(id="MinAtar/Breakout-v1"), n_envs=2, seed=0)
    assert vec.single_observation_space.shape == (4, 10, 10)
    assert vec.obs.dtype == np.uint8 and set(np.unique(vec.obs)) <= {0, 1}
    step = vec.step(vec.sample_actions())
    assert step.next_obs.shape == (2, 4, 10, 10)
    vec.close()
