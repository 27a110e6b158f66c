"""DeepMind Control Suite tasks through `tidyrl.envs.dmc` and the env owner."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tidyrl.config import EnvConfig
from tidyrl.envs.make import VecEnv, make_env
from tidyrl.errors import EnvError

# find_spec, not importorskip: importing shimmy loads dm_control's renderer, which must happen
# after `tidyrl.envs.dmc` chose the headless MUJOCO_GL backend
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dm_control") is None or importlib.util.find_spec("shimmy") is None,
    reason="the dmc extra is not installed",
)


def test_proprio_obs_is_a_flat_float32_vector():
    env = make_env(EnvConfig("dmc/cartpole-swingup-v0"), seed=0)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (5,)  # position (3) + velocity (2)
    assert obs.shape == (5,) and obs.dtype == np.float32
    assert env.action_space.shape == (1,) and env.action_space.dtype == np.float32
    env.close()


def test_action_repeat_sums_the_rewards_of_the_repeated_steps():
    once = make_env(EnvConfig("dmc/cartpole-swingup-v0", kwargs={"action_repeat": 1}))
    twice = make_env(EnvConfig("dmc/cartpole-swingup-v0", kwargs={"action_repeat": 2}))
    once.reset(seed=3)
    twice.reset(seed=3)
    action = np.array([0.7], np.float32)
    rewards = [once.step(action)[1] for _ in range(4)]
    obs1 = once.step(action)[0]
    for _ in range(2):
        once.step(action)
    got = [twice.step(action)[1] for _ in range(2)]
    np.testing.assert_allclose(got, [rewards[0] + rewards[1], rewards[2] + rewards[3]], rtol=1e-6)
    assert obs1.shape == (5,)


def test_episode_is_500_agent_steps_and_truncated():
    env = VecEnv(EnvConfig("dmc/cartpole-swingup-v0"), n_envs=1, seed=0)
    for t in range(500):
        step = env.step(np.zeros((1, 1), np.float32))
        if t < 499:
            assert not step.dones[0]
    assert step.truncated[0] and not step.terminated[0]
    assert step.episode_lengths == [500]
    env.close()


def test_pixels_are_64x64_uint8_channels_first():
    env = make_env(EnvConfig("dmc/cartpole-swingup-pixels-v0"), seed=0)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (3, 64, 64)
    assert obs.shape == (3, 64, 64) and obs.dtype == np.uint8 and obs.std() > 0
    obs2 = env.step(np.ones(1, np.float32))[0]
    assert obs2.shape == (3, 64, 64)
    env.close()


def test_unknown_task_is_a_clean_error():
    with pytest.raises(EnvError, match="dmc/cartpole-fly-v0"):
        make_env(EnvConfig("dmc/cartpole-fly-v0"))
