"""MiniPacman (Weber et al. 2017, appendix): reward tables, walls, ghosts, power pills, level and
episode ends, seeding, and Gymnasium's env checker."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tidyrl.envs  # noqa: F401  (registers tidyrl/MiniPacman-v0)
from tidyrl.envs.minipacman import (
    COLOURS,
    MODES,
    PILL_DURATION,
    WALLS,
    MiniPacmanEnv,
    palette_index,
)

STAY, RIGHT, UP, LEFT, DOWN = range(5)


def fresh(mode: str = "regular", seed: int = 0) -> MiniPacmanEnv:
    env = MiniPacmanEnv(mode)
    env.reset(seed=seed)
    return env


FAR = (13, 17)
"""A cell far from the top-left corner where the tests play."""


def place(env: MiniPacmanEnv, player, ghosts=(FAR,), pills=(), food=None) -> None:
    """Put the board in a known state. By default one ghost waits in the far corner and one
    food cell stays there, so that no level ends unless a test means it to."""
    env.player = np.array(player)
    env.ghosts = [(np.array(g), 1) for g in ghosts]
    env.pills = [np.array(p) for p in pills]
    if food is None:
        food = np.zeros_like(WALLS)
        food[FAR] = True
    env.food = food
    env.power = 0


def test_reward_tables_are_the_papers():
    table = {m: (r.step, r.food, r.pill, r.ghost, r.death) for m, r in MODES.items()}
    assert table == {
        "regular": (0.0, 1.0, 2.0, 5.0, 0.0),
        "avoid": (0.1, -0.1, -5.0, -10.0, -20.0),
        "hunt": (0.0, 0.0, 1.0, 10.0, -20.0),
        "ambush": (0.0, -0.1, 0.0, 10.0, -20.0),
        "rush": (0.0, -0.1, 10.0, 0.0, 0.0),
    }


@pytest.mark.parametrize("mode", sorted(MODES))
def test_food_and_pill_rewards_per_mode(mode):
    env = fresh(mode)
    r = MODES[mode]
    food = np.zeros_like(WALLS)
    food[1, 2] = food[FAR] = True
    # two pills so that eating one never ends a rush level (which would re-place everything)
    place(env, (1, 1), pills=[(1, 3), (13, 16)], food=food)
    _, reward, terminated, _, _ = env.step(RIGHT)  # onto the food
    assert reward == pytest.approx(r.step + r.food) and not terminated
    _, reward, _, _, info = env.step(RIGHT)  # onto a power pill
    assert reward == pytest.approx(r.step + r.pill)
    assert info["power"] == PILL_DURATION


def test_walls_block_the_player():
    env = fresh()
    place(env, (1, 1))
    for action in (UP, LEFT):  # the outer wall
        env.step(action)
        assert tuple(env.player) == (1, 1)
    env.step(DOWN)
    assert tuple(env.player) == (2, 1)
    env.step(RIGHT)  # (2, 2) is a wall
    assert tuple(env.player) == (2, 1)


@pytest.mark.parametrize("mode", ["hunt", "avoid", "regular"])
def test_meeting_a_ghost_kills_the_player(mode):
    env = fresh(mode)
    place(env, (1, 1), ghosts=[(1, 2), FAR])
    _, reward, terminated, truncated, _ = env.step(RIGHT)
    assert terminated and not truncated
    assert reward == pytest.approx(MODES[mode].step + MODES[mode].death)


def test_power_pill_makes_ghosts_edible_then_wears_off():
    env = fresh("hunt")
    place(env, (1, 1), ghosts=[(3, 9), (11, 9)], pills=[(1, 2)])
    env.step(RIGHT)  # the pill
    assert env.power == PILL_DURATION
    assert (palette_index(env._frame()) == 6).sum() == len(env.ghosts)  # edible ghosts: yellow
    place(env, (1, 1), ghosts=[(1, 2), (11, 9)])
    env.power = 5
    _, reward, terminated, _, info = env.step(RIGHT)  # eat the ghost
    assert not terminated and reward == pytest.approx(MODES["hunt"].ghost)
    assert info["ghosts"] == 1
    env.power = 1
    env.step(STAY)  # the power runs out this step
    assert env.power == 0
    assert (palette_index(env._frame()) == 5).sum() == 1  # a dangerous ghost again


def test_eating_every_ghost_ends_a_hunt_level():
    env = fresh("hunt")
    place(env, (1, 1), ghosts=[(1, 2)])
    env.power = 5
    _, _, terminated, _, info = env.step(RIGHT)
    assert not terminated and info["level"] == 2
    assert info["ghosts"] == 1  # level 2: 1 + (2 - 1) // 2 ghosts
    assert env.food.sum() == (~WALLS).sum()  # the maze is refilled


def test_rush_level_ends_with_the_last_pill_and_avoid_on_its_timer():
    env = fresh("rush")
    place(env, (1, 1), pills=[(1, 2)])
    _, reward, _, _, info = env.step(RIGHT)
    assert reward == pytest.approx(MODES["rush"].pill) and info["level"] == 2
    env = fresh("avoid")
    levels = []
    for _ in range(128):
        env.ghosts = []  # nothing can end the episode
        levels.append(env.step(STAY)[4]["level"])
    assert levels[-2] == 1 and levels[-1] == 2


def test_episode_truncates_at_the_registered_limit():
    env = gym.make("tidyrl/MiniPacman-v0", mode="avoid")
    env.reset(seed=0)
    base = env.unwrapped
    steps, truncated = 0, False
    while not truncated:
        base.ghosts = []
        _, _, terminated, truncated, _ = env.step(STAY)
        steps += 1
        assert not terminated and steps <= 1000
    assert steps == 1000


def test_frames_use_the_seven_colours_and_show_the_board():
    env = fresh()
    obs, _ = env.reset(seed=3)
    assert obs.shape == (3, 15, 19) and obs.dtype == np.float32
    classes = palette_index(obs)
    assert (classes >= 0).all()
    assert np.array_equal(classes == 1, WALLS)
    assert (classes == 4).sum() == 1 and (classes == 5).sum() == 1
    np.testing.assert_array_equal(COLOURS[classes].transpose(2, 0, 1), obs)


def test_same_seed_same_episode_and_different_seed_differs():
    def run(seed):
        env = gym.make("tidyrl/MiniPacman-v0", mode="hunt")
        obs, _ = env.reset(seed=seed)
        frames, rewards = [obs], []
        rng = np.random.default_rng(0)
        for _ in range(200):
            obs, r, term, trunc, _ = env.step(int(rng.integers(5)))
            frames.append(obs)
            rewards.append(r)
            if term or trunc:
                obs, _ = env.reset()
        return np.stack(frames), rewards

    a, ra = run(7)
    b, rb = run(7)
    c, _ = run(8)
    assert np.array_equal(a, b) and ra == rb
    assert not np.array_equal(a, c)


def test_bad_mode_names_the_choices():
    with pytest.raises(ValueError, match="ambush"):
        MiniPacmanEnv("chase")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_gymnasium_env_checker(mode):
    check_env(gym.make("tidyrl/MiniPacman-v0", mode=mode).unwrapped, skip_render_check=True)
