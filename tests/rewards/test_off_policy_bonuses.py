"""Bonus reward plug-ins in DDPG, TD3 and SAC: the critic's target learns from r + beta C on the
sampled minibatch (C hand-computed from visit counts), no critic gradient reaches the plug-in,
and save / load keeps the plug-in's state."""

from __future__ import annotations

import pytest
import torch

import tidyrl
from tidyrl.api import resolve_config
from tidyrl.data.batch import Experience, Transition
from tidyrl.errors import ConfigError
from tidyrl.rewards.base import bonus_rewards

ALGOS = ["ddpg", "td3", "sac"]
SMALL = {"hidden": (16, 16), "batch_size": 8, "learning_starts": 40, "buffer_size": 500}

# Pendulum's observation bounds are [-1, 1] x [-1, 1] x [-8, 8]: these two states hash to
# opposite SimHash codes (g = (1, 1, 1) and -g), so they never share a count cell
SEEN, NEW = [1.0, 1.0, 8.0], [-1.0, -1.0, -8.0]


def hand_batch() -> Transition:
    return Transition(
        obs=torch.zeros(2, 3),
        actions=torch.tensor([[0.5], [-0.5]]),
        rewards=torch.tensor([1.0, -2.0]),
        next_obs=torch.tensor([SEEN, NEW]),
        terminated=torch.tensor([0.0, 1.0]),
        truncated=torch.zeros(2),
        discounts=torch.full((2,), 0.99),
    )


def count_agent(algo: str, beta: float):
    """An agent with the SimHash count bonus that has seen `SEEN` four times: C = 1/sqrt(4) for
    it and 1/sqrt(max(0, 1)) = 1 for `NEW`."""
    agent = tidyrl.make(
        algo, "Pendulum-v1", seed=0, reward="count", intrinsic_coef=beta, hash_bits=8, **SMALL
    )
    seen = torch.tensor([SEEN] * 4)
    agent.reward_plugin.observe(
        Experience(seen, torch.zeros(4, 1), seen, torch.zeros(4), torch.zeros(4)), 1
    )
    return agent


def target(agent, batch: Transition, rewards: torch.Tensor | None = None) -> torch.Tensor:
    torch.manual_seed(0)  # SAC samples a', TD3 smooths it: the same draws for both targets
    if agent.algo == "sac":
        return agent.target_q(batch, None, rewards)
    return agent.target_q(batch, rewards)


@pytest.mark.parametrize("algo", ALGOS)
def test_the_bonus_moves_the_critic_target_by_beta_times_the_counts_bonus(algo):
    agent, batch = count_agent(algo, beta=0.5), hand_batch()
    rewards, metrics = bonus_rewards(agent.reward_plugin, batch)
    torch.testing.assert_close(rewards, torch.tensor([1.0 + 0.5 * 0.5, -2.0 + 0.5 * 1.0]))
    assert float(metrics["count_reward"]) == pytest.approx(0.75)
    assert float(metrics["extrinsic_reward"]) == pytest.approx(-0.5)
    plain = target(agent, batch)
    torch.testing.assert_close(target(agent, batch, rewards) - plain, torch.tensor([0.25, 0.5]))

    seen = []  # update() hands its target exactly these rewards
    real = agent.target_q

    def spy(batch, *args):  # DDPG, TD3: (batch, rewards); SAC: (batch, eps, rewards)
        seen.append(args[-1])
        return real(batch, *args)

    agent.target_q = spy
    out = agent.update(hand_batch())
    torch.testing.assert_close(seen[0], rewards)
    assert {"count_reward", "extrinsic_reward"} <= set(out)


@pytest.mark.parametrize("algo", ALGOS)
def test_without_a_plugin_the_target_learns_from_the_env_reward_alone(algo):
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **SMALL)
    batch = hand_batch()
    rewards, metrics = bonus_rewards(agent.reward_plugin, batch)
    assert agent.reward_plugin is None and rewards is batch.rewards and metrics == {}


@pytest.mark.parametrize("algo", ["ddpg", "sac"])
def test_no_critic_or_actor_gradient_reaches_the_plugin(algo):
    """The plug-in's own step is switched off, so any gradient on its model after an update
    could only have come through the bonus in the critic's target."""
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, reward="curiosity", **SMALL)
    agent.learn(60)
    plugin = agent.reward_plugin
    plugin.update = lambda batch: {}
    for p in plugin.model.parameters():
        p.grad = None
    batch = agent.replay.sample(8, agent.rng)
    rewards, _ = bonus_rewards(plugin, batch)
    assert not rewards.requires_grad
    agent.update(batch)
    assert all(p.grad is None for p in plugin.model.parameters())


def plugin_state(agent) -> dict[str, torch.Tensor]:
    out = {}
    for key, obj in agent.reward_plugin.state_objects().items():
        if isinstance(obj, torch.Tensor):
            out[key] = obj.clone()
        elif isinstance(obj, torch.nn.Module):
            out.update({f"{key}.{k}": v.clone() for k, v in obj.state_dict().items()})
    return out


@pytest.mark.parametrize("algo", ALGOS)
def test_save_and_load_keep_the_plugin_state(algo, tmp_path):
    agent = tidyrl.make(
        algo, "Pendulum-v1", seed=0, reward="rnd", rnd_hidden=(16,), rnd_embedding=8, **SMALL
    )
    agent.learn(80)
    assert {"rnd_reward", "extrinsic_reward", "rnd_loss"} <= set(agent.last_metrics)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    before, after = plugin_state(agent), plugin_state(loaded)
    assert before.keys() == after.keys() and "returns" in before
    for key in before:
        assert torch.equal(before[key], after[key]), key
    batch = agent.replay.sample(8, agent.rng)
    with torch.no_grad():
        torch.testing.assert_close(
            agent.reward_plugin.reward(batch), loaded.reward_plugin.reward(batch)
        )


def test_off_policy_learners_refuse_replacing_plugins_in_one_line():
    with pytest.raises(ConfigError, match="Valid choices: count, curiosity, env, icm, rnd"):
        resolve_config("sac", None, {"reward": "gail"})
    _, config, _, _ = resolve_config("ddpg", None, {"reward": "rnd", "intrinsic_coef": 0.3})
    assert config.reward_kwargs == {"intrinsic_coef": 0.3}
