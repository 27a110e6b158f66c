"""ARS (tidyrl.algos.policy_gradient.ars): the step by hand, every search return checked against
an episode simulated here with that policy, the refusals, and a small learning test."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import tidyrl
from tidyrl.algos.policy_gradient import ars
from tidyrl.errors import ConfigError, EnvError


def test_the_step_by_hand():
    deltas = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # N = 2 directions of a 1 x 2 matrix
    r_plus, r_minus = np.array([3.0, 1.0]), np.array([1.0, 2.0])
    # b = 1: direction 0 (max 3 beats max 2); sigma_R = std(3, 1) = 1; 0.02 / 1 * (3 - 1) * d0
    np.testing.assert_allclose(ars.ars_step(deltas, r_plus, r_minus, 1, 0.02), [[0.04, 0.0]])
    # b = 2: sigma_R = std(3, 1, 1, 2) = sqrt(0.6875); 0.02 / (2 sigma_R) * (2 d0 - 1 d1)
    scale = 0.02 / (2 * np.sqrt(0.6875))
    np.testing.assert_allclose(
        ars.ars_step(deltas, r_plus, r_minus, 2, 0.02), [[2 * scale, -scale]]
    )
    np.testing.assert_array_equal(ars.top_directions(r_plus, r_minus, 2), [0, 1])
    # every return equal: sigma_R = 0 and no direction is better, so no step
    same = np.ones(2)
    np.testing.assert_array_equal(ars.ars_step(deltas, same, same, 2, 0.02), np.zeros((1, 2)))


class Line(gym.Env):
    """x starts at 0.5; x' = x + 0.1 a (a in [-1, 1]); reward -x'^2; 10 steps. Deterministic,
    so a policy's return can be simulated outside the agent."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-5.0, 5.0, (1,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.x = 0.5
        return np.array([self.x]), {}

    def step(self, action):
        self.x += 0.1 * float(np.asarray(action).reshape(-1)[0])
        return np.array([self.x]), -(self.x**2), False, False, {}


if "tidytest-ars/Line-v0" not in gym.registry:
    gym.register("tidytest-ars/Line-v0", entry_point=Line, max_episode_steps=10)


def simulated_return(m: np.ndarray, offset: float) -> float:
    """The return of u = m x (a = clip(u, -1, 1)) on `Line`, step by step, `offset` added to
    each reward."""
    x, total = 0.5, 0.0
    for _ in range(10):
        x += 0.1 * float(np.clip(m[0, 0] * x, -1.0, 1.0))
        total += -(x**2) + offset
    return total


@pytest.mark.parametrize(("n_envs", "offset"), [(1, 0.0), (3, -0.5)])
def test_each_search_return_is_its_own_policys_episode(monkeypatch, n_envs, offset):
    """The returns the step uses are, direction by direction, those of M + nu delta_k and
    M - nu delta_k, each run for one episode from the reset (with 3 copies, copies take the
    waiting policies at their episodes' starts and a copy left over runs M, unused), with
    `alive_bonus_offset` added to every reward."""
    agent = tidyrl.make(
        "ars",
        "tidytest-ars/Line-v0",
        seed=0,
        n_envs=n_envs,
        n_delta=3,
        normalize_obs=False,
        alive_bonus_offset=offset,
    )
    seen = []
    update = agent.update

    def recording(deltas, r_plus, r_minus):
        seen.append((agent.policy.weight.detach().numpy().copy(), deltas, r_plus, r_minus))
        return update(deltas, r_plus, r_minus)

    monkeypatch.setattr(agent, "update", recording)
    agent.learn(400)
    assert len(seen) >= 3
    nu = agent.config.delta_std
    for m, deltas, r_plus, r_minus in seen:
        for k, delta in enumerate(deltas):
            assert r_plus[k] == pytest.approx(simulated_return(m + nu * delta, offset))
            assert r_minus[k] == pytest.approx(simulated_return(m - nu * delta, offset))
    assert agent.counters["updates"] == len(seen)
    assert not np.allclose(agent.policy.weight.detach().numpy(), 0.0)  # M moved from zero


def test_states_are_normalised_by_the_states_seen_before_the_iteration():
    agent = tidyrl.make("ars", "Pendulum-v1", seed=0, n_delta=2)
    agent.learn(800)  # one iteration: 4 episodes of 200 steps
    assert agent.counters["updates"] == 1
    assert agent.obs_norm.count.item() == 800  # every state of the search's episodes


class UnboundedLine(Line):
    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


if "tidytest-ars/UnboundedLine-v0" not in gym.registry:
    gym.register("tidytest-ars/UnboundedLine-v0", entry_point=UnboundedLine, max_episode_steps=10)


def test_settings_and_spaces_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="n_top=9 must be between 1 and n_delta=8"):
        tidyrl.make("ars", "CartPole-v1", n_top=9)
    with pytest.raises(EnvError, match="ars needs a bounded Box action space"):
        tidyrl.make("ars", "tidytest-ars/UnboundedLine-v0")


@pytest.mark.learning
def test_ars_balances_cartpole():
    agent = tidyrl.make("ars", "CartPole-v1", seed=0)
    agent.learn(50_000)
    assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= 400
