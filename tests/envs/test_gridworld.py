"""The lectures' gridworld: Gymnasium's checker, the transition model against `step`, rewards,
slipping, rendering, and the shortest path."""

from __future__ import annotations

import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tidyrl.envs  # noqa: F401  (registers tidyrl/GridWorld-v0)
from tidyrl.envs.gridworld import DOWN, LEFT, RIGHT, UP, GridWorldEnv
from tidyrl.errors import EnvError

ENV_ID = "tidyrl/GridWorld-v0"


@pytest.mark.parametrize("kwargs", [{}, {"slip": 0.2}, {"reward": "dense", "size": 5}])
def test_passes_gymnasium_env_checker(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings
        check_env(env.unwrapped)
    env.close()


def test_registered_with_a_time_limit():
    env = gym.make(ENV_ID)
    assert env.spec.max_episode_steps == 100
    assert env.observation_space == gym.spaces.Discrete(16)
    assert env.action_space == gym.spaces.Discrete(4)


@pytest.mark.parametrize("kwargs", [{}, {"slip": 0.3}, {"reward": "dense"}, {"size": 3}])
def test_model_matches_step(kwargs):
    env = GridWorldEnv(**kwargs)
    env.reset(seed=0)
    for s in range(env.n_states):
        for a in range(4):
            support = {(n, r, t) for p, n, r, t in env.P[s][a] if p > 0}
            for _ in range(20):
                env.s = s
                s_next, reward, terminated, truncated, _ = env.step(a)
                assert (s_next, reward, terminated) in support
                assert not truncated


def test_moves_and_walls():
    env = GridWorldEnv()
    # state 5 is row 1, column 1 of the 4x4 grid
    assert [env.move(5, a) for a in (LEFT, DOWN, RIGHT, UP)] == [4, 9, 6, 1]
    assert env.move(0, LEFT) == 0 and env.move(0, UP) == 0
    assert env.move(15, RIGHT) == 15 and env.move(15, DOWN) == 15


def test_sparse_rewards():
    env = GridWorldEnv(reward="sparse")
    assert env.P[14][RIGHT] == [(1.0, 15, 1.0, True)]
    assert env.P[11][DOWN] == [(1.0, 15, 1.0, True)]
    assert env.P[0][RIGHT] == [(1.0, 1, 0.0, False)]
    rewards = {r for s in range(15) for a in range(4) for _, _, r, _ in env.P[s][a]}
    assert rewards == {0.0, 1.0}


def test_dense_rewards_follow_the_lecture_formula():
    env = GridWorldEnv(reward="dense")
    # cell 1 (state 0) is 3 cells up and 3 left of the goal: 1 / sqrt(3^2 + 3^2)
    assert env.reward(0) == pytest.approx(1 / np.sqrt(18))
    assert env.reward(13) == pytest.approx(1 / 2)  # two cells left of the goal
    assert env.reward(14) == 1.0 and env.reward(11) == 1.0  # neighbours of the goal
    assert env.reward(15) == 1.0  # the goal: distance capped at 1
    assert env.P[14][RIGHT] == [(1.0, 15, 1.0, True)]
    assert env.P[14][DOWN] == [(1.0, 14, 1.0, False)]  # bumping the wall next to the goal pays 1


def test_goal_is_absorbing_and_terminal():
    env = GridWorldEnv(slip=0.3)
    for a in range(4):
        assert env.P[15][a] == [(1.0, 15, 0.0, True)]


def test_slip_makes_the_model_stochastic():
    deterministic, slippery = GridWorldEnv(), GridWorldEnv(slip=0.3)
    for s in range(16):
        for a in range(4):
            assert len(deterministic.P[s][a]) == 1
            assert sum(p for p, *_ in slippery.P[s][a]) == pytest.approx(1.0)
    # from the centre every direction is possible: 0.7 for the chosen one, 0.1 for each other
    probs = {n: p for p, n, *_ in slippery.P[5][RIGHT]}
    assert probs == pytest.approx({6: 0.7, 4: 0.1, 9: 0.1, 1: 0.1})


def test_slip_frequencies_match_the_model():
    env = GridWorldEnv(slip=0.3)
    env.reset(seed=1)
    counts = {}
    for _ in range(4000):
        env.s = 5
        s_next, *_ = env.step(RIGHT)
        counts[s_next] = counts.get(s_next, 0) + 1
    assert counts[6] / 4000 == pytest.approx(0.7, abs=0.03)
    assert counts[1] / 4000 == pytest.approx(0.1, abs=0.02)


def test_render_modes():
    env = gym.make(ENV_ID, render_mode="rgb_array", size=5)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (5 * 64, 5 * 64, 3) and frame.dtype == np.uint8
    text_env = gym.make(ENV_ID, render_mode="ansi")
    text_env.reset(seed=0)
    text_env.step(RIGHT)
    text = text_env.render()
    assert "(Right)" in text and text.splitlines()[1].split() == ["S", "A", ".", "."]


def test_invalid_arguments_raise_env_error():
    with pytest.raises(EnvError, match="reward"):
        GridWorldEnv(reward="shaped")
    with pytest.raises(EnvError, match="size"):
        GridWorldEnv(size=1)
    with pytest.raises(EnvError, match="slip"):
        GridWorldEnv(slip=1.5)


@pytest.mark.parametrize("size", [4, 6])
def test_shortest_path_from_start_takes_2_size_minus_2_steps(size):
    """Breadth-first search over the model: 6 steps on the lectures' 4x4 grid."""
    env = GridWorldEnv(size=size)
    distance = {env.start: 0}
    queue = deque([env.start])
    while queue:
        s = queue.popleft()
        for a in range(4):
            for _, s_next, _, _ in env.P[s][a]:
                if s_next not in distance:
                    distance[s_next] = distance[s] + 1
                    queue.append(s_next)
    assert distance[env.goal] == 2 * (size - 1)
    if size == 4:
        assert distance[env.goal] == 6


def test_an_optimal_walk_reaches_the_goal_in_6_steps():
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0)
    total = 0.0
    for t, a in enumerate([RIGHT, RIGHT, RIGHT, DOWN, DOWN, DOWN], start=1):
        obs, reward, terminated, truncated, _ = env.step(a)
        total += reward
        assert terminated == (t == 6) and not truncated
    assert obs == 15 and total == 1.0
