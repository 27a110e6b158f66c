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
