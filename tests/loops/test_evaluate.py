"""The evaluation during training: greedy by default, sampled when the run asks for it."""

from __future__ import annotations

import pytest

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
