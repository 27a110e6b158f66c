"""The evaluation during training: greedy by default, sampled when the run asks for it."""

from __future__ import annotations

import pytest
import torch

import tidyrl


@pytest.mark.parametrize("setting", [True, False])
def test_training_evaluations_follow_eval_deterministic(setting):
    agent = tidyrl.make(
        "ppo",
        "CartPole-v1",
        seed=0,
        n_envs=1,
        n_steps=32,
        batch_size=32,
        eval_every=64,
        eval_episodes=2,
        eval_deterministic=setting,
    )
    seen: list[bool] = []
    evaluate = agent.evaluate

    def spy(*args, **kwargs):
        seen.append(kwargs.get("deterministic", True))
        return evaluate(*args, **kwargs)

    agent.evaluate = spy
    agent.learn(128)
    assert seen == [setting, setting]


def test_sampled_evaluation_differs_from_the_greedy_one():
    """An untrained policy's mode is one fixed function of the observation; sampling is not,
    so the two evaluations of the same episodes (same env seeds) give different lengths."""
    agent = tidyrl.make("ppo", "CartPole-v1", seed=0, n_envs=1)
    greedy = [agent.evaluate(episodes=5, seed=7)["mean_length"] for _ in range(2)]
    sampled = agent.evaluate(episodes=5, seed=7, deterministic=False)["mean_length"]
    assert greedy[0] == greedy[1]
    assert sampled != greedy[0]


@pytest.mark.parametrize(
    "algo, overrides",
    [
        ("ppo", {"n_envs": 1, "n_steps": 64, "batch_size": 32}),
        ("sac", {"learning_starts": 64, "batch_size": 32, "hidden": (32,)}),
    ],
)
def test_a_sampled_evaluation_does_not_change_the_training(algo, overrides):
    """Evaluating draws from the generators the training draws from; it must not shift them,
    so a run with evaluations learns exactly what the same run without them learns."""

    def trained(**run):
        agent = tidyrl.make(algo, "Pendulum-v1", seed=3, **overrides, **run)
        agent.learn(256)
        return {
            name: tensor
            for key, module in agent.state_objects().items()
            if isinstance(module, torch.nn.Module)
            for name, tensor in module.state_dict(prefix=f"{key}.").items()
        }

    plain = trained()
    evaluated = trained(eval_every=64, eval_episodes=1, eval_deterministic=False)
    assert plain.keys() == evaluated.keys()
    assert all(torch.equal(plain[k], evaluated[k]) for k in plain)


def test_evaluation_reports_the_success_rate_where_the_env_reports_success(tmp_path):
    """Bit flipping's last step says `is_success`. A policy that always flips bit 0 succeeds
    from a reset where the goal differs from the state in bit 0 alone (one flip) or not at all
    (two flips); that share of the 40 evaluation episodes, computed from the same resets, is
    the success rate, and training logs it beside the return (and the training episodes'
    success rate beside their return). CartPole reports no success."""
    import gymnasium as gym

    from tidyrl.config import EnvConfig
    from tidyrl.logging import read_metrics

    agent = tidyrl.make("dqn", EnvConfig("tidyrl/BitFlip-v0", kwargs={"n_bits": 2}), seed=0)
    agent.predict = lambda obs, deterministic=True, **masks: 0
    env = gym.make("tidyrl/BitFlip-v0", n_bits=2)
    expected = []
    for i in range(40):
        obs, _ = env.reset(seed=7 + i)
        differ = obs["achieved_goal"] != obs["desired_goal"]
        expected.append(not differ[1])
    stats = agent.evaluate(episodes=40, seed=7)
    assert 0 < sum(expected) < 40
    assert stats["success_rate"] == pytest.approx(sum(expected) / 40)
    assert "success_rate" not in tidyrl.make("dqn", "CartPole-v1").evaluate(episodes=1)
    learner = tidyrl.make(
        "dqn",
        EnvConfig("tidyrl/BitFlip-v0", kwargs={"n_bits": 2}),
        run_dir=tmp_path / "run",
        eval_every=50,
        eval_episodes=4,
        learning_starts=50,
    )
    learner.learn(100)
    rows = read_metrics(tmp_path / "run")
    rates = [r["eval_success_rate"] for r in rows if "eval_return" in r]
    assert len(rates) == 2 and all(0.0 <= rate <= 1.0 for rate in rates)
    # the training episodes' too: a 2-bit episode succeeds when it returns more than -2
    assert all(0.0 <= r["episode_success_rate"] <= 1.0 for r in rows if "episode_return" in r)
    assert learner._recent_successes and list(learner._recent_successes) == [
        r > -2 for r in learner._recent_returns
    ]


def test_a3c_workers_send_the_successes_of_their_episodes():
    """A3C's worker processes step the env: the learner's rolling success rate is theirs, one
    entry per finished episode that reports success, paired with its return (a 2-bit episode
    succeeds when it returns more than -2). The Ray workers' are in tests/test_distributed.py."""
    learner = tidyrl.make("a3c", "tests.space_envs:tidyspace/FlatBitFlip-v0", seed=0, n_workers=2)
    learner.learn(400)
    successes = list(learner._recent_successes)
    assert len(successes) == len(learner._recent_returns) == 20
    assert successes == [r > -2 for r in learner._recent_returns]
    assert 0 < sum(successes) < 20
