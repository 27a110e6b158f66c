"""Demonstrations (`tidyrl.data.demos`): collection, file round trips, checks on load, batches,
and the `tidyrl demos` command line."""

from __future__ import annotations

import importlib.util
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tests.helpers import cartpole_expert, random_policy
from tidyrl import cli
from tidyrl.config import EnvConfig
from tidyrl.data.demos import ARRAYS, Demos, collect, load_demos
from tidyrl.errors import ConfigError, EnvError


@pytest.fixture(scope="module")
def cartpole_demos():
    return collect(cartpole_expert, EnvConfig("CartPole-v1", max_episode_steps=30), 3, seed=4)


@pytest.fixture(scope="module")
def grid_demos():
    return collect(random_policy("tidyrl/GridWorld-v0"), EnvConfig("tidyrl/GridWorld-v0"), 4)


def test_collect_records_whole_episodes_with_their_boundaries(cartpole_demos):
    d = cartpole_demos
    assert d.n_episodes == 3 and len(d) == 90  # the expert balances until the 30-step limit
    assert d.episode_bounds() == [(0, 30), (30, 60), (60, 90)]
    assert d.truncated.sum() == 3 and not d.terminated.any()
    np.testing.assert_array_equal(d.episode_returns(), [30.0, 30.0, 30.0])
    assert d.obs.dtype == np.float32 and d.obs.shape == (90, 4)
    assert d.actions.dtype == np.int64 and d.last_obs.shape == (3, 4)
    np.testing.assert_array_equal(d.actions, cartpole_expert(d.obs))
    # the env's own first observation for seed 4 starts the data
    first, _ = gym.make("CartPole-v1").reset(seed=4)
    np.testing.assert_array_equal(d.obs[0], first)


def test_collect_keeps_termination_apart_from_truncation(grid_demos):
    d = grid_demos
    ends = np.flatnonzero(d.terminated | d.truncated)
    assert (ends + 1).tolist() == [b for _, b in d.episode_bounds()]
    # an episode that reached the goal ends terminated in the goal; a cut one is truncated
    for e, (_, b) in enumerate(d.episode_bounds()):
        assert d.terminated[b - 1] == (d.last_obs[e] == 15)


def test_same_seed_same_demonstrations():
    a = collect(random_policy("tidyrl/GridWorld-v0", 1), EnvConfig("tidyrl/GridWorld-v0"), 3, 2)
    b = collect(random_policy("tidyrl/GridWorld-v0", 1), EnvConfig("tidyrl/GridWorld-v0"), 3, 2)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_file_round_trip_is_exact(tmp_path, cartpole_demos):
    path = cartpole_demos.save(tmp_path / "sub" / "demos.safetensors")
    loaded = load_demos(path)
    for name in ARRAYS:
        original = getattr(cartpole_demos, name)
        np.testing.assert_array_equal(getattr(loaded, name), original)
        assert getattr(loaded, name).dtype == original.dtype
    assert loaded.observation_space == cartpole_demos.observation_space
    assert loaded.action_space == cartpole_demos.action_space
    assert loaded.env == {"id": "CartPole-v1", "kwargs": {}, "max_episode_steps": 30}
    assert loaded.source == {"seed": 4}
    assert [p.name for p in path.parent.iterdir()] == ["demos.safetensors"]  # no temp file left


def test_first_episodes(cartpole_demos):
    two = cartpole_demos.first(2)
    assert two.n_episodes == 2 and len(two) == 60
    np.testing.assert_array_equal(two.last_obs, cartpole_demos.last_obs[:2])
    assert cartpole_demos.first(0) is cartpole_demos and cartpole_demos.first(9) is cartpole_demos


def test_space_mismatch_is_one_clear_error(tmp_path, cartpole_demos):
    path = cartpole_demos.save(tmp_path / "cartpole.safetensors")
    demos = load_demos(path)
    env = gym.make("MountainCar-v0")
    with pytest.raises(EnvError, match=r"observation space Box\(shape=\(4,\).*'MountainCar-v0'"):
        demos.check_spaces(env.observation_space, env.action_space, "MountainCar-v0")
    with pytest.raises(EnvError, match="recorded on 'CartPole-v1'"):
        tidyrl.make("bc", "Pendulum-v1", demos=str(path)).learn(1)


def test_corrupted_files_are_one_clear_error(tmp_path, cartpole_demos):
    path = cartpole_demos.save(tmp_path / "demos.safetensors")
    raw = bytearray(path.read_bytes())
    flipped = tmp_path / "flipped.safetensors"
    raw[-5] ^= 0xFF  # inside the last array's bytes
    flipped.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="corrupted demos file.*checksum"):
        load_demos(flipped)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="not a readable demos file"):
        load_demos(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_text("hello")
    with pytest.raises(ConfigError, match="not a readable demos file"):
        load_demos(junk)
    with pytest.raises(ConfigError, match="no demonstrations at"):
        load_demos(tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError, match="not a Minari dataset"):
        load_demos(tmp_path)


def test_inconsistent_episodes_are_rejected(cartpole_demos):
    d = cartpole_demos
    arrays = {name: getattr(d, name).copy() for name in ARRAYS}
    arrays["truncated"][29] = False  # the first episode no longer ends where the next starts
    spaces = (d.observation_space, d.action_space, d.env)
    with pytest.raises(ConfigError, match="must end"):
        Demos.from_arrays(arrays, *spaces)
    arrays = {name: getattr(d, name).copy() for name in ARRAYS}
    with pytest.raises(ConfigError, match="2 final observations for 3 episodes"):
        Demos.from_arrays({**arrays, "last_obs": arrays["last_obs"][:2]}, *spaces)


def test_sample_draws_uniform_pairs_reproducibly(cartpole_demos):
    batch = cartpole_demos.sample(5000, np.random.default_rng(0))
    assert batch.obs.shape == (5000, 4) and batch.actions.shape == (5000,)
    assert str(batch.obs.dtype) == "torch.float32" and str(batch.actions.dtype) == "torch.int64"
    again = cartpole_demos.sample(5000, np.random.default_rng(0))
    assert bool((batch.obs == again.obs).all())
    # every pair is a demonstrated one, and the 90 rows are drawn about equally often
    rows = {tuple(o): a for o, a in zip(cartpole_demos.obs.tolist(), cartpole_demos.actions)}
    assert all(rows[tuple(o)] == a for o, a in zip(batch.obs.tolist(), batch.actions.tolist()))
    counts = np.unique(batch.obs[:, 0].numpy(), return_counts=True)[1]
    assert counts.min() > 20 and counts.max() < 100  # expected 5000 / 90 = 55.6


@pytest.mark.skipif(importlib.util.find_spec("minari") is None, reason="needs tidyrl[imitation]")
def test_minari_round_trip(tmp_path, grid_demos):
    path = grid_demos.save(tmp_path / "minari-demos", format="minari")
    assert (path / "metadata.json").is_file()
    loaded = load_demos(path)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(grid_demos, name))
    assert loaded.env["id"] == "tidyrl/GridWorld-v0"
    assert loaded.observation_space == grid_demos.observation_space
    import minari

    dataset = minari.MinariDataset(str(path))  # a standard Minari dataset for Minari itself
    assert dataset.total_episodes == grid_demos.n_episodes
    assert dataset.total_steps == len(grid_demos)


@pytest.mark.skipif(importlib.util.find_spec("minari") is None, reason="needs tidyrl[imitation]")
@pytest.mark.filterwarnings("ignore::UserWarning")  # Minari asks for an author and description
def test_reads_a_dataset_that_minari_itself_wrote(tmp_path, monkeypatch):
    """A user's own Minari dataset (written by `minari.create_dataset_from_buffers`, in Minari's
    DATASET/data layout under its root) loads by its directory and by its dataset id."""
    import minari
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "root"))
    env = gym.make("CartPole-v1")
    buffers, lengths = [], []
    for episode in range(2):
        obs, _ = env.reset(seed=episode)
        observations, actions = [obs], []
        done = terminated = False
        while not done:
            action = int(env.action_space.sample())
            obs, _, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            done = terminated or truncated
        lengths.append(len(actions))
        buffers.append(
            EpisodeBuffer(
                id=episode,
                observations=np.array(observations),
                actions=np.array(actions),
                rewards=np.ones(len(actions)),
                terminations=np.eye(len(actions), dtype=bool)[-1] & terminated,
                truncations=np.zeros(len(actions), dtype=bool),
                infos={},
            )
        )
    minari.create_dataset_from_buffers(
        dataset_id="cartpole/user-v0", buffer=buffers, env=env, algorithm_name="random"
    )
    by_dir = load_demos(tmp_path / "root" / "cartpole" / "user-v0")
    by_id = load_demos("cartpole/user-v0")
    for demos in (by_dir, by_id):
        assert demos.n_episodes == 2 and len(demos) == sum(lengths)
        assert demos.env["id"] == "CartPole-v1"
        np.testing.assert_array_equal(demos.actions[: lengths[0]], buffers[0].actions)
        np.testing.assert_array_equal(demos.last_obs[0], buffers[0].observations[-1])
    with pytest.raises(ConfigError, match="no demonstrations at"):
        load_demos("cartpole/missing-v0")  # neither a file nor a dataset in Minari's root


def test_cli_collect_and_info(tmp_path, capsys):
    expert = tmp_path / "expert"
    tidyrl.make("value-iteration", "tidyrl/GridWorld-v0", seed=0).learn(100).save(expert)
    out = tmp_path / "grid.safetensors"
    argv = ["demos", "collect", str(expert), "--episodes", "3", "--out", str(out), "--seed", "1"]
    assert cli.main(argv) == 0
    assert "wrote 3 episodes (18 steps, return 1.000" in capsys.readouterr().out
    assert cli.main(["demos", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 3 and info["steps"] == 18 and info["mean_return"] == 1.0
    assert info["source"]["algo"] == "value-iteration" and info["source"]["deterministic"]
    assert cli.main(argv) == 2  # the file exists: one line, status 2
    assert "already exists" in capsys.readouterr().err
    missing = ["demos", "collect", str(tmp_path / "nope"), "--episodes", "1", "--out", "x"]
    assert cli.main(missing) == 2
    err = capsys.readouterr().err
    assert err.startswith("tidyrl: error: no checkpoint at") and err.count("\n") == 1


def dict_expert(obs):
    """The expert of `tidyspace/DictObs-v0`: the action its "which" key names (the image's lit
    rows name it too)."""
    return np.asarray(obs["which"])


@pytest.fixture(scope="module")
def dict_demos():
    import tests.space_envs  # noqa: F401  (registers tidyspace/*)

    return collect(dict_expert, EnvConfig("tidyspace/DictObs-v0"), 5, seed=0)


def test_dict_observations_are_kept_per_key_and_round_trip(tmp_path, dict_demos):
    """A Dict observation is recorded one array per key in the key's own dtype (uint8 frames
    stay uint8, the Discrete key int64), and a file keeps every key exactly, its checksum
    covering each of them."""
    d = dict_demos
    assert list(d.obs) == list(d.last_obs) == ["image", "vector", "which"]
    assert d.obs["image"].dtype == np.uint8 and d.obs["image"].shape == (40, 6, 6, 1)
    assert d.obs["which"].dtype == np.int64 and d.last_obs["vector"].shape == (5, 2)
    assert len(d) == 40 and d.episode_returns().tolist() == [8.0] * 5
    lit = d.obs["image"][:, ::2, 0, 0].argmax(axis=1)  # the lit row pair of each frame
    np.testing.assert_array_equal(lit, d.obs["which"])
    np.testing.assert_array_equal(d.actions, d.obs["which"])
    path = d.save(tmp_path / "dict.safetensors")
    loaded = load_demos(path)
    assert loaded.observation_space == d.observation_space
    for name in ("obs", "last_obs"):
        for key, value in getattr(d, name).items():
            np.testing.assert_array_equal(getattr(loaded, name)[key], value)
            assert getattr(loaded, name)[key].dtype == value.dtype
    np.testing.assert_array_equal(loaded.actions, d.actions)
    two = loaded.first(2)
    assert len(two) == 16 and two.last_obs["image"].shape == (2, 6, 6, 1)
    batch = loaded.sample(4, np.random.default_rng(0))
    assert len(batch) == 4
    dtypes = {k: v.dtype for k, v in batch.obs.items()}
    assert dtypes == {"image": torch.uint8, "vector": torch.float32, "which": torch.int64}
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # inside the last key's bytes
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="corrupted demos file.*checksum"):
        load_demos(flipped)


@pytest.mark.skipif(importlib.util.find_spec("minari") is None, reason="needs tidyrl[imitation]")
def test_dict_observations_round_trip_through_minari(tmp_path, dict_demos):
    path = dict_demos.save(tmp_path / "minari-dict", format="minari")
    loaded = load_demos(path)
    assert loaded.observation_space == dict_demos.observation_space
    for name in ("obs", "last_obs"):
        for key, value in getattr(dict_demos, name).items():
            np.testing.assert_array_equal(getattr(loaded, name)[key], value)
    np.testing.assert_array_equal(loaded.terminated, dict_demos.terminated)
    np.testing.assert_array_equal(loaded.truncated, dict_demos.truncated)
