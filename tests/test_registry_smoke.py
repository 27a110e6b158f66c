"""Smoke (DESIGN.md section 7, layer 5): every registered algorithm builds, learns a few hundred
steps, predicts, evaluates, saves and loads, through the API and the CLI."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import tidyrl
from tests.helpers import imitation_overrides
from tidyrl import cli, registry
from tidyrl.logging import read_metrics

CANDIDATE_ENVS = ["FrozenLake-v1", "CartPole-v1", "Pendulum-v1", "tidyrl/MiniPacman-v0"]
"""Small envs in order of preference: tabular methods get FrozenLake, the rest the first whose
spaces they accept (and, for an algorithm that declares `observation_rank`, e.g. I2A's (C, H, W)
frames, whose observations have that many dimensions)."""

SINGLE_AGENT = [n for n in registry.names() if registry.entry(n).family != "multi-agent"]
"""Multi-agent algorithms run on PettingZoo envs; tests/algos/test_multiagent.py smoke-tests
them through the API and the CLI."""

PLANNERS = {"policy-iteration", "value-iteration"}
"""Planners stop at convergence, before the step budget."""


def algorithm_class(algo: str) -> type:
    module = registry.entry(algo).module
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    cls, _ = registry.lookup(algo)
    return cls


def env_for(cls: type) -> str:
    for env_id in CANDIDATE_ENVS:
        env = gym.make(env_id)
        ok = isinstance(env.observation_space, cls.observation_spaces) and isinstance(
            env.action_space, cls.action_spaces
        )
        rank = getattr(cls, "observation_rank", None)
        ok = ok and (rank is None or len(env.observation_space.shape or ()) == rank)
        env.close()
        if ok:
            return env_id
    pytest.fail(f"{cls.__name__} accepts none of {CANDIDATE_ENVS}")


def observations(agent, n: int = 8) -> np.ndarray:
    space = agent.observation_space
    if isinstance(space, gym.spaces.Discrete):
        return np.arange(space.start, space.start + space.n)
    space.seed(0)
    return np.stack([space.sample() for _ in range(n)])


@pytest.fixture(scope="module")
def imitation_root(tmp_path_factory):
    """Demonstrations and experts for the imitation algorithms, made once per module."""
    return tmp_path_factory.mktemp("imitation")


@pytest.mark.parametrize("algo", SINGLE_AGENT)
def test_api_smoke(tmp_path, algo, imitation_root):
    cls = algorithm_class(algo)
    env_id = env_for(cls)
    needs = imitation_overrides(algo, env_id, imitation_root)
    agent = tidyrl.make(algo, env_id, seed=0, eval_episodes=2, **needs)
    assert agent.algo == algo
    assert agent.learn(300) is agent
    assert agent.counters["steps"] >= 300 or algo in PLANNERS

    obs, _ = gym.make(env_id).reset(seed=0)
    action = agent.predict(obs)
    assert agent.action_space.contains(np.asarray(action, dtype=agent.action_space.dtype))
    batch = observations(agent)
    actions = agent.predict(batch)
    assert len(actions) == len(batch)
    assert all(
        agent.action_space.contains(np.asarray(a, dtype=agent.action_space.dtype)) for a in actions
    )

    stats = tidyrl.evaluate(agent, episodes=2)
    assert set(stats) == {"episodes", "mean_return", "std_return", "mean_length"}
    assert stats["episodes"] == 2 and np.isfinite(stats["mean_return"])

    agent.save(tmp_path / algo)
    loaded = tidyrl.load(tmp_path / algo)
    assert type(loaded) is type(agent) and loaded.algo == algo
    assert loaded.counters == agent.counters
    np.testing.assert_array_equal(loaded.predict(batch), agent.predict(batch))
    for name, obj in agent.state_objects().items():
        if isinstance(obj, np.ndarray):
            np.testing.assert_array_equal(getattr(loaded, name), obj)


@pytest.mark.parametrize("algo", SINGLE_AGENT)
def test_cli_smoke(tmp_path, algo, capsys, imitation_root):
    cls = algorithm_class(algo)
    env_id = env_for(cls)
    needs = [
        f"{key}={value}" for key, value in imitation_overrides(algo, env_id, imitation_root).items()
    ]
    run_dir = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                algo,
                env_id,
                "--steps",
                "300",
                "--run-dir",
                str(run_dir),
                "--quiet",
                "--set",
                "log_every=100",
                "eval_episodes=2",
                "tensorboard=false",
                *needs,
            ]
        )
        == 0
    )
    rows = read_metrics(run_dir)
    # planners (policy iteration) may stop early at convergence; learners run the whole budget
    assert rows and "eval_return" in rows[-1]
    assert rows[-1]["step"] == tidyrl.load(run_dir).counters["steps"]
    assert rows[-1]["step"] >= 300 or algo in PLANNERS
    assert cli.main(["eval", str(run_dir), "--episodes", "2", "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["resume", str(run_dir), "--steps", "400", "--quiet"]) == 0
    assert tidyrl.load(run_dir).counters["steps"] >= 400 or algo in PLANNERS
