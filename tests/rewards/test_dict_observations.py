"""Reward plug-ins on Dict observations: the flat view (`rewards.base.DictView`), per-key counts,
and PPO / DQN with count, RND and ICM on MiniGrid and a Dict test env."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import tests.space_envs  # noqa: F401  (registers tidyspace/DictObs-v0)
import tidyrl
from tidyrl.data.batch import Experience, flat_observations
from tidyrl.data.rollout import Rollout
from tidyrl.errors import ConfigError
from tidyrl.rewards.count import Count, CountConfig
from tidyrl.rewards.rnd import RND, RNDConfig

SPACE = gym.spaces.Dict(
    {
        "image": gym.spaces.Box(0, 255, (2, 2, 1), np.uint8),
        "direction": gym.spaces.Discrete(3, start=1),
        "speed": gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
    }
)


def obs(images, directions, speeds):
    return {
        "image": np.asarray(images, dtype=np.uint8).reshape(-1, 2, 2, 1),
        "direction": np.asarray(directions),
        "speed": np.asarray(speeds, dtype=np.float32).reshape(-1, 1),
    }


def test_raw_flat_and_encoded_view_by_hand():
    o = obs([[10, 0, 255, 5]], [3], [-1.5])
    # raw: keys in sorted order (direction, image, speed), each flattened
    assert flat_observations(o, 1).tolist() == [[3.0, 10.0, 0.0, 255.0, 5.0, -1.5]]
    plugin = RND(RNDConfig(), SPACE, gym.spaces.Discrete(2))
    assert plugin.observation_space.shape == (8,)
    # direction 3 with start 1 -> one-hot index 2; image / 255; speed as is
    expected = [0.0, 0.0, 1.0, 10 / 255, 0.0, 1.0, 5 / 255, -1.5]
    view = plugin.obs_batch(torch.as_tensor(flat_observations(o, 1)))
    assert torch.allclose(view, torch.tensor([expected]))
    # a replay batch holds a dict of tensors: the same view
    as_tensors = {k: torch.as_tensor(v) for k, v in o.items()}
    assert torch.allclose(plugin.obs_batch(as_tensors), view)
    assert plugin.observation_space.low.tolist()[-1] == -2.0
    assert plugin.observation_space.high.tolist()[:5] == [1.0] * 5


def test_categorical_key_is_one_hot_per_element_by_hand():
    grid = gym.spaces.Dict(
        {
            "cells": gym.spaces.Box(1, 3, (2,), np.uint8),  # indices 1..3 per cell
            "direction": gym.spaces.Discrete(2),
        }
    )
    plugin = RND(RNDConfig(categorical_keys=("cells",)), grid, gym.spaces.Discrete(2))
    # cells: 3 columns per element (values 1, 2, 3), then direction's 2
    assert plugin.observation_space.shape == (8,)
    o = {"cells": np.array([[3, 1]], dtype=np.uint8), "direction": np.array([1])}
    view = plugin.obs_batch(torch.as_tensor(flat_observations(o, 1)))
    assert view.tolist() == [[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]]
    # without the key named, the same Box is scaled by its bound, as a frame
    scaled = RND(RNDConfig(), grid, gym.spaces.Discrete(2))
    view = scaled.obs_batch(torch.as_tensor(flat_observations(o, 1)))
    assert torch.allclose(view, torch.tensor([[1.0, 1 / 3, 0.0, 1.0]]))
    # a key that is not an integer Box is refused, not ignored, also when built directly
    with pytest.raises(ConfigError, match=r"categorical_keys speed are not .*valid: image$"):
        RND(RNDConfig(categorical_keys=("speed",)), SPACE, gym.spaces.Discrete(2))


def test_categorical_keys_must_name_integer_box_keys(tmp_path):
    pytest.importorskip("minigrid")
    with pytest.raises(ConfigError, match=r"categorical_keys direction are not .*valid: image$"):
        minigrid_ppo(reward="rnd", categorical_keys=("direction",))
    agent = minigrid_ppo(reward="rnd", categorical_keys=("image",))
    # 7 x 7 x 3 indices, each one-hot over MiniGrid's 0..10, then direction's 4
    assert agent.reward_plugin.observation_space.shape == (7 * 7 * 3 * 11 + 4,)
    agent.learn(64)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")  # the view is rebuilt one-hot from the saved config
    assert loaded.reward_plugin.observation_space.shape == (7 * 7 * 3 * 11 + 4,)
    assert_same_plugin_state(agent, loaded)


def count_of(states, observed):
    plugin = Count(CountConfig(hash_bits=12), SPACE, gym.spaces.Discrete(2))
    batch = Experience.of_step(
        observed,
        np.zeros(len(observed["direction"])),
        observed,
        np.zeros(len(observed["direction"])),
        np.zeros(len(observed["direction"])),
    )
    plugin.observe(batch, len(batch))
    n = len(states["direction"])
    query = Experience.of_step(states, np.zeros(n), states, np.zeros(n), np.zeros(n))
    return plugin, plugin.cells(query.next_obs), plugin.reward(query)


def test_count_bonus_tells_dict_states_apart_by_any_key():
    a = ([10, 0, 0, 0], 1, 0.5)
    b = ([10, 0, 0, 0], 2, 0.5)  # another direction only
    c = ([0, 0, 0, 10], 1, 0.5)  # another image only
    states = obs(*zip(a, b, c, strict=True))
    observed = obs(*zip(a, a, b, strict=True))  # a twice, b once, c never
    plugin, cells, bonus = count_of(states, observed)
    assert len(set(cells.tolist())) == 3
    # the exact key leads the cell: direction d (start 1) -> index d - 1 times 2^k
    assert (cells // 2**12).tolist() == [0, 1, 0]
    assert torch.allclose(bonus, torch.tensor([1 / 2**0.5, 1.0, 1.0]))
    assert plugin.counts.numel() == 3 * 2**12


def test_count_codes_weigh_each_hashed_key_alike():
    # SimHash of a key at unit norm: scaling the image (a key far smaller than the speed's
    # range) changes no code, and a new image still changes it despite the larger speed key
    p = Count(CountConfig(hash_bits=16), SPACE, gym.spaces.Discrete(2))
    raw = torch.as_tensor(
        flat_observations(
            obs([[1, 2, 0, 0], [3, 6, 0, 0], [0, 0, 2, 1]], [1, 1, 1], [2.0, 2.0, 2.0]), 3
        )
    )
    cells = p.dict_cells(raw).tolist()
    assert cells[0] == cells[1] != cells[2]


def test_rollout_keeps_raw_flat_dict_experience():
    spec = {k: (s.shape, s.dtype) for k, s in SPACE.spaces.items()}
    rollout = Rollout(2, 1, spec, (), True, experience=True)
    first, second = obs([[1, 2, 3, 4]], [2], [0.25]), obs([[5, 6, 7, 8]], [3], [-0.5])
    rollout.store_experience(0, first, np.array([1]), second)
    batch = rollout.experience()
    assert batch.obs[0].tolist() == [2.0, 1.0, 2.0, 3.0, 4.0, 0.25]
    assert batch.next_obs[0].tolist() == [3.0, 5.0, 6.0, 7.0, 8.0, -0.5]


def assert_same_plugin_state(agent, loaded):
    for key, obj in agent.reward_plugin.state_objects().items():
        other = loaded.reward_plugin.state_objects()[key]
        if isinstance(obj, torch.Tensor):
            assert torch.equal(obj, other)
        elif isinstance(obj, torch.nn.Module):
            for a, b in zip(obj.state_dict().values(), other.state_dict().values(), strict=True):
                assert torch.equal(a, b)


@pytest.mark.parametrize("reward", ["count", "rnd", "icm"])
def test_ppo_with_a_bonus_on_minigrid_learns_and_round_trips(reward, tmp_path):
    pytest.importorskip("minigrid")
    agent = tidyrl.make(
        "ppo",
        "MiniGrid-Empty-5x5-v0",
        reward=reward,
        n_envs=2,
        n_steps=32,
        batch_size=32,
        n_epochs=1,
    )
    agent.learn(128)  # two updates
    assert {f"{reward}_reward", "extrinsic_reward"} <= set(agent.last_metrics)
    if reward == "count":
        assert int((agent.reward_counts > 0).sum()) > 1  # more than one view was counted
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    assert_same_plugin_state(agent, loaded)
    batch = agent.rollout.experience()
    with torch.no_grad():
        assert torch.allclose(agent.reward_plugin.reward(batch), loaded.reward_plugin.reward(batch))


def test_dqn_with_a_count_bonus_on_dict_observations():
    agent = tidyrl.make(
        "dqn",
        "tidyspace/DictObs-v0",
        preset="none",
        reward="count",
        learning_starts=20,
        train_freq=10,
    )
    agent.learn(60)
    assert {"count_reward", "extrinsic_reward"} <= set(agent.last_metrics)
    assert int(agent.reward_counts.sum()) == 60  # every new transition counted once


def minigrid_ppo(**reward: object) -> tidyrl.Agent:
    """PPO on MiniGrid-Empty-5x5 with a reward plug-in, one 64-step rollout per update."""
    return tidyrl.make(
        "ppo", "MiniGrid-Empty-5x5-v0", n_envs=2, n_steps=32, batch_size=32, n_epochs=1, **reward
    )


def test_ppo_episodic_counts_and_hash_centre_round_trip(tmp_path):
    pytest.importorskip("minigrid")
    agent = minigrid_ppo(reward="count", episodic=True)
    agent.learn(64)  # one rollout: the episode tables and the hash centre hold counts
    plugin = agent.reward_plugin
    assert int(plugin.episode_counts.sum()) > 0 and int(plugin.centered) == 64
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    assert_same_plugin_state(agent, loaded)
    assert torch.equal(loaded.reward_plugin.episode_counts, plugin.episode_counts)


def test_ppo_rnd_episodic_gate_counts_dict_views_and_round_trips(tmp_path):
    pytest.importorskip("minigrid")
    agent = minigrid_ppo(reward="rnd", episodic_gate="first_visit")
    agent.learn(64)
    counter = agent.reward_plugin.gate.counter
    assert int(counter.counts.sum()) == 64 and int(counter.episode_counts.sum()) > 0
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    assert_same_plugin_state(agent, loaded)
    assert torch.equal(loaded.reward_plugin.gate.counter.episode_counts, counter.episode_counts)
