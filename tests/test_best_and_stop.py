"""`RunConfig.save_best` and `stop_at_return`: Stable-Baselines3's EvalCallback (best model kept
beside the run) and StopTrainingOnRewardThreshold, as run settings.

A threshold reached at an evaluation ends the run at that step (an on-policy learner at the end
of the rollout it is collecting), with one row per step and its checkpoint; run_dir/best holds
the agent of the first evaluation with the highest return; the best return survives a resume;
missing evaluations or run directory are one-line errors."""

from __future__ import annotations

import pytest

import tidyrl
from tests.test_cli import assert_one_line_error
from tests.test_faults import run_main
from tidyrl.errors import ConfigError
from tidyrl.logging import read_metrics

FAST = {
    "dqn": {"learning_starts": 200, "train_freq": 4, "gradient_steps": 1},
    "ppo": {"n_steps": 64},
}


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_stop_at_return_ends_the_run_at_that_evaluation(tmp_path, capsys, algo):
    run_dir = tmp_path / "run"
    agent = tidyrl.make(
        algo,
        "CartPole-v1",
        seed=0,
        run_dir=run_dir,
        eval_every=500,
        eval_episodes=2,
        stop_at_return=1.0,  # any evaluation reaches it: the first one stops the run
        **FAST[algo],
    )
    agent.learn(5_000)
    rows = read_metrics(run_dir)
    steps = [int(row["step"]) for row in rows]
    stopped_at = next(int(row["step"]) for row in rows if row["eval_return"] != "")
    assert 500 <= stopped_at == agent.counters["target"] and steps == sorted(set(steps))
    if algo == "dqn":  # the stopping row is the run's final row
        assert agent.counters["steps"] == steps[-1] == stopped_at
    else:  # PPO finishes the rollout it was collecting, and the final row follows it
        assert stopped_at < agent.counters["steps"] == steps[-1] <= stopped_at + 64 * 8
    assert rows[-1]["eval_return"] != ""
    assert tidyrl.load(run_dir).counters["steps"] == steps[-1]  # its checkpoint
    assert "reached stop_at_return=1: training stops" in capsys.readouterr().err


def test_stop_at_return_not_reached_runs_the_whole_budget(tmp_path):
    agent = tidyrl.make(
        "ppo", "CartPole-v1", run_dir=tmp_path / "r", eval_every=256, stop_at_return=1e9, n_steps=64
    )
    agent.learn(1_024)
    assert agent.counters["steps"] == 1_024


def test_save_best_keeps_the_first_evaluation_with_the_highest_return(tmp_path):
    run_dir = tmp_path / "run"
    agent = tidyrl.make(
        "dqn",
        "CartPole-v1",
        seed=0,
        run_dir=run_dir,
        eval_every=1_000,
        eval_episodes=3,
        save_best=True,
        **FAST["dqn"],
    )
    agent.learn(6_000)
    evaluated = [(float(r["eval_return"]), int(r["step"])) for r in read_metrics(run_dir)]
    evaluated = [(value, step) for value, step in evaluated if value == value]  # not NaN
    assert [step for _, step in evaluated] == [1_000, 2_000, 3_000, 4_000, 5_000, 6_000]
    best_value = max(value for value, _ in evaluated)  # the final evaluation counts too
    first_best_step = next(step for value, step in evaluated if value == best_value)
    best = tidyrl.load(run_dir / "best")
    assert best.counters["steps"] == first_best_step
    assert agent._best_eval == best_value
    assert tidyrl.load(run_dir, resume=True)._best_eval == best_value  # a resume keeps it
    obs = agent.env.obs
    assert best.predict(obs).shape == (1,)


def test_save_best_and_stop_at_return_need_evaluations_and_a_run_dir(tmp_path, capsys):
    with pytest.raises(ConfigError, match="set eval_every > 0"):
        tidyrl.make("ppo", "CartPole-v1", run_dir=tmp_path / "a", save_best=True)
    with pytest.raises(ConfigError, match="set eval_every > 0"):
        tidyrl.make("ppo", "CartPole-v1", stop_at_return=100.0)
    with pytest.raises(ConfigError, match="save_best writes run_dir/best"):
        tidyrl.make("ppo", "CartPole-v1", save_best=True, eval_every=100)
    result = run_main(
        capsys, "train", "ppo", "CartPole-v1", "--run-dir", str(tmp_path / "b"),
        "--set", "stop_at_return=475",
    )  # fmt: skip
    assert_one_line_error(result, "stop_at_return", "eval_every > 0")
    assert result.returncode == 2


@pytest.mark.parametrize("algo", ["dqn", "ppo", "a3c"])
def test_a_step_observer_sees_every_counted_step_and_can_stop_the_run(tmp_path, algo):
    """`observe_steps` (SB3's `_on_step`): the observer is called once per counted step with
    the steps taken, the episodes it reports add up to the agent's count, and `stop()` inside
    it ends `learn` (an off-policy learner at that step, an on-policy one at the end of its
    rollout; A3C's workers send `Ended` episodes instead of steps)."""
    from tidyrl.envs.make import Ended, Step

    agent = tidyrl.make(algo, "CartPole-v1", seed=0, run_dir=tmp_path / "run", **FAST.get(algo, {}))
    seen = {"calls": 0, "episodes": 0, "steps": []}

    def observer(agent, step):
        assert isinstance(step, Ended if algo == "a3c" else Step)
        seen["calls"] += 1
        seen["episodes"] += len(step.episode_returns)
        seen["steps"].append(agent.counters["steps"])
        if agent.counters["steps"] >= 300:
            agent.stop()

    agent.observe_steps(observer)
    agent.learn(2_000)
    steps = agent.counters["steps"]
    assert seen["steps"] == sorted(seen["steps"]) and seen["steps"][-1] == steps
    assert seen["episodes"] == agent.counters["episodes"] > 0
    if algo == "dqn":
        assert steps == 300 and seen["calls"] == 300
    else:  # the rollout (PPO: 64 steps) or the worker's segment in flight completes
        assert 300 <= steps < 2_000
    assert read_metrics(tmp_path / "run")[-1]["step"] == steps
