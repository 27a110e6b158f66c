"""Go-Explore (issue 22, item 3): the archive's rules by hand, the state adapters' round trips,
phase 1 finding FrozenLake 8x8's goal, the archive saved and resumed, phase 2's curriculum."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tidyrl
from tidyrl.algos.exploration.go_explore import GoExploreConfig, downscale_cell, grid_cell
from tidyrl.data.archive import Archive, is_better, selection_weights
from tidyrl.envs.demo_start import DemoStartEnv, encode
from tidyrl.envs.restore import replay, state_adapter
from tidyrl.errors import ConfigError

LAKE8 = {"is_slippery": False, "map_name": "8x8"}


def test_update_rule_by_hand():
    assert is_better(1.0, 20, 0.0, 5)  # a higher score wins, however long
    assert is_better(1.0, 4, 1.0, 5)  # the same score in fewer steps
    assert not is_better(1.0, 5, 1.0, 5)  # a tie keeps the stored trajectory
    assert not is_better(1.0, 6, 1.0, 5)
    assert not is_better(0.5, 1, 1.0, 5)  # a lower score loses, however short


def test_selection_weights_by_hand():
    seen, chosen = np.array([0.0, 3.0, 8.0]), np.array([0.0, 1.0, 0.0])
    terminal = np.array([False, False, True])
    # W = 1 / sqrt(n_seen + 1) + 0.5 / sqrt(n_chosen + 1); a terminal cell weighs 0
    w = selection_weights(seen, chosen, terminal, w_seen=1.0, w_chosen=0.5, power=0.5)
    np.testing.assert_allclose(w, [1.0 + 0.5, 0.5 + 0.5 / np.sqrt(2.0), 0.0])
    # the Nature paper's default: 1 / sqrt(C_seen + 1)
    np.testing.assert_allclose(selection_weights(seen, chosen, terminal & False), [1, 0.5, 1 / 3])


def test_archive_offer_counts_and_replaces():
    archive = Archive()
    assert archive.offer((0,), 0.0, [], False, step=0) == 0
    assert archive.offer((1,), 0.0, [2, 2, 2], False, step=3) == 1
    assert archive.offer((1,), 0.0, [2, 2, 2, 1], False, step=7) is None  # longer, same score
    assert archive.offer((1,), 0.0, [2], False, step=9) == 1  # shorter, same score
    assert archive.found_at[1] == 3  # its score was first reached at step 3
    assert archive.offer((1,), 1.0, [2, 1, 1, 1, 1], True, step=12) == 1  # higher score
    assert archive.found_at[1] == 12
    assert archive.seen == [1, 4]
    assert archive.scores == [0.0, 1.0] and archive.terminal == [False, True]
    np.testing.assert_array_equal(archive.trajectories[1], [2, 1, 1, 1, 1])
    assert archive.best() == 1
    np.testing.assert_allclose(archive.weights(), [1 / np.sqrt(2), 0.0])
    rng = np.random.default_rng(0)
    assert {archive.select(rng, archive.weights()) for _ in range(20)} == {0}


def test_archive_saves_and_loads(tmp_path):
    archive = Archive(action_shape=(2,), action_dtype=np.float32)
    archive.offer((0, 0), 0.0, np.zeros((0, 2)), False)
    archive.offer((1, -2), 0.5, [[0.1, 0.2], [0.3, -0.4]], False, step=2)
    archive.offer((3, 1), 2.0, [[0.1, 0.2], [0.3, -0.4], [1.0, 1.0]], True, step=3)
    archive.chosen[1] = 4
    loaded = Archive.load(archive.save(tmp_path / "archive"))
    assert not list((tmp_path / "archive").glob("*.pkl"))
    assert loaded.cells == archive.cells and loaded.index == archive.index
    for name in ("scores", "seen", "chosen", "terminal", "found_at"):
        assert getattr(loaded, name) == getattr(archive, name), name
    for a, b in zip(loaded.trajectories, archive.trajectories, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32 and a.shape[1:] == (2,)


def test_cells_by_hand():
    frame = np.array(
        [[0, 32, 255, 255], [64, 96, 255, 255], [0, 0, 128, 128], [0, 0, 128, 128]], np.uint8
    )
    # 2 x 2 blocks: means 48, 255, 0, 128 -> floor(mean * 8 / 256) = 1, 7, 0, 4
    assert downscale_cell(frame, width=2, height=2, levels=8) == (1, 7, 0, 4)
    rgb = np.repeat(frame[:, :, None], 3, axis=2)  # grey = the channels' mean
    assert downscale_cell(rgb, width=2, height=2, levels=8) == (1, 7, 0, 4)
    assert grid_cell(np.array([0.25, -0.05]), 0.1) == (2, -1)


def continues_identically(env, adapter, actions, seed=0):
    """Snapshot after a few steps, run on, restore, run the same actions again: same path."""
    env.reset(seed=seed)
    for a in actions[:3]:
        env.step(a)
    state = adapter.get_state(env)
    first = [np.asarray(env.step(a)[0]).copy() for a in actions[3:]]
    env.reset(seed=seed + 1)
    adapter.set_state(env, state, 3)
    second = [np.asarray(env.step(a)[0]).copy() for a in actions[3:]]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_toy_text_and_user_adapters_round_trip():
    lake = gym.make("FrozenLake-v1", **LAKE8)
    lake.reset(seed=0)
    adapter = state_adapter(lake)
    assert adapter.name == "toy-text"
    continues_identically(lake, adapter, [2, 2, 1, 2, 1, 2, 2])
    maze = gym.make("tidyrl/Maze-v0", size=4)
    maze.reset(seed=0)
    assert state_adapter(maze).name == "user"
    continues_identically(maze, state_adapter(maze), [2, 2, 2, 1, 1, 0, 1, 1])


def test_mujoco_adapter_round_trip():
    pytest.importorskip("mujoco")
    env = gym.make("InvertedPendulum-v5")
    env.reset(seed=0)
    adapter = state_adapter(env)
    assert adapter.name == "mujoco"
    rng = np.random.default_rng(0)
    continues_identically(env, adapter, list(rng.uniform(-1, 1, (10, 1)).astype(np.float32)))


def test_ale_adapter_round_trip():
    ale_py = pytest.importorskip("ale_py")
    gym.register_envs(ale_py)
    env = gym.make("ALE/MontezumaRevenge-v5", repeat_action_probability=0.25)
    env.reset(seed=0)
    adapter = state_adapter(env)
    assert adapter.name == "ale"
    # sticky actions draw from the emulator's generator: the snapshot includes it
    continues_identically(env, adapter, [0, 3, 3, 1, 5, 5, 4, 4, 2, 0, 3, 3])


def test_replay_is_the_fallback_and_reproduces_the_state():
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    assert state_adapter(env).name == "replay"
    actions = np.array([0, 1, 1, 0, 1])
    obs, complete = replay(env, 3, actions)
    again, _ = replay(env, 3, actions)
    assert complete
    np.testing.assert_array_equal(obs, again)
    with pytest.raises(ConfigError, match="restore='ale' does not fit"):
        state_adapter(env, "ale")


def test_config_errors_name_the_choices():
    with pytest.raises(ConfigError, match="restore.*ale, auto, mujoco, replay, toy-text, user"):
        GoExploreConfig(restore="snapshot")
    with pytest.raises(ConfigError, match="cell_fn"):
        GoExploreConfig(cell_fn="nocolon")


def user_cell(obs):
    """A user cell function for the test: the lake's row only (8 cells)."""
    return (int(obs) // 8,)


def test_phase1_finds_the_frozenlake_8x8_goal_within_5000_steps():
    agent = tidyrl.make("go-explore", "FrozenLake-v1", seed=0, env_kwargs=LAKE8)
    agent.learn(5_000)  # phase 1 only (explore_steps is 100,000)
    archive = agent.archive
    best = archive.best()
    assert agent.adapter.name == "toy-text" and len(archive) > 50
    assert archive.scores[best] == 1.0 and archive.terminal[best]
    # the stored trajectory reaches the goal when replayed from the reset seed
    env = gym.make("FrozenLake-v1", **LAKE8)
    env.reset(seed=0)
    rewards = [env.step(a)[1] for a in archive.trajectories[best].tolist()]
    assert sum(rewards) == 1.0 and len(rewards) >= 14  # the shortest path has 14 steps
    cells = tidyrl.make("go-explore", "FrozenLake-v1", seed=0, env_kwargs=LAKE8,
                        cell_fn="tests.algos.test_go_explore:user_cell")  # fmt: skip
    cells.learn(500)
    assert set(cells.archive.cells) <= {(r,) for r in range(8)}


def test_archive_is_checkpointed_and_resumed(tmp_path):
    run_dir = tmp_path / "run"
    agent = tidyrl.make("go-explore", "tidyrl/Maze-v0", seed=1, env_kwargs={"size": 4},
                        run_dir=run_dir, repeat_prob=0.5)  # fmt: skip
    agent.learn(1_000)
    resumed = tidyrl.load(run_dir, resume=True)
    assert resumed.archive.cells == agent.archive.cells
    assert resumed.archive.scores == agent.archive.scores
    assert resumed.archive.seen == agent.archive.seen
    for a, b in zip(resumed.archive.trajectories, agent.archive.trajectories, strict=True):
        np.testing.assert_array_equal(a, b)
    resumed.learn(300)  # continues phase 1 from the archive (returns by replay, then snapshots)
    assert resumed.counters["steps"] >= 1_300
    assert len(resumed.archive) >= len(agent.archive)


def test_demo_start_env_starts_in_the_demonstration():
    env = DemoStartEnv("FrozenLake-v1", LAKE8)
    path = np.array([2] * 7 + [1] * 7)
    env.set_demo(0, path, np.array([0.0] * 13 + [1.0]))
    env.start = 10
    obs, _ = env.reset(seed=5)
    np.testing.assert_array_equal(obs, encode(gym.spaces.Discrete(64), 7 + 8 * 3))
    for a in path[10:]:
        *_, terminated, _, _ = env.step(a)
    assert terminated and env.outcomes == [(10, True)]
    env.reset()
    env.step(0)
    env.step(0)  # left twice, from square 31 into the hole at 29: 0 where the demonstration got 1
    assert env.outcomes == [(10, True), (10, False)]


def test_cut_demonstration_replays_to_the_goal():
    # a bump into the top wall, a step left and back, then the straight path to the goal
    loopy = [3] + [2] * 3 + [0, 2] + [2] * 4 + [1] * 7
    agent = tidyrl.make("go-explore", "FrozenLake-v1", seed=0, env_kwargs=LAKE8)
    agent.archive.offer((63,), 1.0, loopy, True)
    actions, rewards = agent.demonstration()
    assert actions.tolist() == [2] * 7 + [1] * 7  # the three reward-free loops are cut
    env = gym.make("FrozenLake-v1", **LAKE8)
    env.reset(seed=0)
    outcome = [env.step(a) for a in actions.tolist()]
    assert outcome[-1][0] == 63 and outcome[-1][1] == 1.0 and outcome[-1][2]  # goal, terminated
    np.testing.assert_array_equal(rewards, [0.0] * 13 + [1.0])
    kept = tidyrl.make("go-explore", "FrozenLake-v1", seed=0, env_kwargs=LAKE8, cut_loops=False)
    kept.archive.offer((63,), 1.0, loopy, True)
    assert kept.demonstration()[0].tolist() == loopy


def test_demo_start_env_draws_starts_in_the_window():
    env = DemoStartEnv("FrozenLake-v1", LAKE8)
    path = np.array([2] * 7 + [1] * 7)
    env.set_demo(0, path, np.array([0.0] * 13 + [1.0]))
    env.start, env.window = 10, 2
    squares = set()
    for seed in range(40):
        squares.add(int(np.argmax(env.reset(seed=seed)[0])))
    assert squares == {7 + 8 * 1, 7 + 8 * 2, 7 + 8 * 3}  # demonstration states 8, 9 and 10


def test_demo_start_env_truncates_an_episode_behind_the_demonstration():
    env = DemoStartEnv("FrozenLake-v1", LAKE8)
    path = np.array([2] * 7 + [1] * 7)
    env.set_demo(0, path, np.array([0.0] * 13 + [1.0]))
    env.start, env.lag = 10, 3
    env.reset(seed=0)
    # the demo earned its 1 on action 13 (state 14); bumping the right wall, the episode is
    # behind once t - 3 >= 14, at its seventh step (t = 17), truncated, not terminated
    ends = [env.step(2)[2:4] for _ in range(7)]
    assert ends[:6] == [(False, False)] * 6 and ends[6] == (False, True)
    assert env.outcomes == [(10, False)]


@pytest.mark.slow
def test_phase2_robustifies_the_4x4_lake():
    agent = tidyrl.make("go-explore", "FrozenLake-v1", seed=0,
                        env_kwargs={"is_slippery": False}, explore_steps=2_000)  # fmt: skip
    agent.learn(40_000)
    assert agent.start == 0
    assert tidyrl.evaluate(agent, episodes=5)["mean_return"] == 1.0
