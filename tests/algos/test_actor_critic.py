"""DDPG, TD3, SAC, D4PG, SDDPG: spaces, action bounds, bootstrapping, gradient isolation,
presets, and a small SAC learning test."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.data.batch import Transition
from tidyrl.errors import EnvError

ALGOS = ["ddpg", "td3", "sac", "d4pg", "sddpg"]
SMALL = {"learning_starts": 64, "batch_size": 16, "hidden": (32, 32)}


def shifted_pendulum() -> gym.Env:
    """Pendulum with its torque rescaled to the asymmetric box [0, 4]."""
    return gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), np.float32(0.0), np.float32(4.0))


class Reach(gym.Env):
    """A point on a line, x' = clip(x + 0.25 a), reward -x'^2, 10 steps (then truncated).

    Random actions return about -3.3 per episode; driving x to 0 returns about -0.4."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.x = np.zeros(1, np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.x = np.clip(self.x + 0.25 * np.asarray(action, np.float32), -1, 1)
        return self.x.copy(), -float(self.x[0] ** 2), False, False, {}


for env_id, entry in [
    ("tidytest-ac/ShiftedPendulum-v0", shifted_pendulum),
    ("tidytest-ac/Reach-v0", Reach),
]:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry, max_episode_steps=10 if "Reach" in env_id else 200)


def small(algo: str) -> dict[str, Any]:
    return dict(SMALL, n_envs=1) if algo == "d4pg" else dict(SMALL)


@pytest.mark.parametrize("algo", ALGOS)
def test_discrete_actions_are_refused_with_a_clear_error(algo):
    with pytest.raises(EnvError, match="Box action space"):
        tidyrl.make(algo, "CartPole-v1")


@pytest.mark.parametrize("algo", ALGOS)
def test_actions_are_rescaled_to_asymmetric_bounds(algo):
    agent = tidyrl.make(algo, "tidytest-ac/ShiftedPendulum-v0", seed=0, **small(algo))
    agent.learn(100)
    obs = np.stack([agent.observation_space.sample() for _ in range(64)])
    for deterministic in (True, False):
        actions = agent.act(obs, deterministic=deterministic)
        assert actions.shape == (64, 1)
        assert actions.min() >= 0.0 and actions.max() <= 4.0
    stored = (
        agent.storage.columns["actions"]
        if algo == "d4pg"
        else agent.buffer.storage.columns["actions"]
    )
    n = 100 if algo != "d4pg" else 90
    assert np.abs(stored[:n]).max() <= 1.0  # replay holds unit-box actions


def bootstrap_batch(next_obs: torch.Tensor) -> Transition:
    """Row 0 terminated, row 1 truncated, row 2 ongoing; same obs, actions and rewards."""
    return Transition(
        obs=torch.zeros(3, 3),
        actions=torch.zeros(3, 1),
        rewards=torch.tensor([1.0, 1.0, 1.0]),
        next_obs=next_obs,
        terminated=torch.tensor([True, False, False]),
        truncated=torch.tensor([False, True, False]),
    )


@pytest.mark.parametrize("algo", ALGOS)
def test_target_bootstraps_on_truncation_but_not_on_termination(algo):
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **small(algo))

    def target(next_obs: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)  # SAC samples a', TD3 smooths it
        batch = bootstrap_batch(next_obs)
        if algo == "d4pg":
            return agent.target_q(batch, torch.full((3,), 0.99))
        return agent.target_q(batch)

    a = target(torch.tensor([[1.0, 0.0, 0.5]] * 3))
    b = target(torch.tensor([[-1.0, 0.0, -7.0]] * 3))
    torch.testing.assert_close(a[0], b[0])  # terminated: r only, next_obs ignored
    assert not torch.allclose(a[1], b[1])  # truncated: bootstraps from next_obs
    assert not torch.allclose(a[2], b[2])
    if algo == "d4pg":  # the terminated row's distribution collapses onto r = 1
        expected = (agent.support - 1.0).abs().argmin()
        assert a[0].argmax() == expected or a[0][expected] + a[0][expected + 1] == pytest.approx(1)
    else:
        torch.testing.assert_close(a[0], torch.ones_like(a[0]))


@pytest.mark.parametrize("algo", ALGOS)
def test_update_moves_online_networks_and_targets_only_by_polyak(algo):
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **small(algo))
    agent.learn(80)
    target_name = (
        "value_target" if getattr(agent.config, "value_network", False) else "critic_target"
    )
    target = getattr(agent, target_name)
    assert all(not p.requires_grad for p in target.parameters())
    before = {n: p.detach().clone() for n, p in agent.critic.named_parameters()}
    before_target = {n: p.detach().clone() for n, p in target.named_parameters()}
    probe = agent.update_probe()
    assert probe is not None
    probe()
    if algo == "td3" and agent.counters["updates"] % 2 == 1:
        probe()  # the actor (and targets) move on even update counts only
    after = dict(agent.critic.named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)
    tau = agent.config.tau
    for n, p in target.named_parameters():
        expected = before_target[n] + tau * (after[n].detach() - before_target[n])
        torch.testing.assert_close(p, expected, atol=1e-6, rtol=1e-5)


def test_actor_loss_does_not_touch_critic_gradients():
    agent = tidyrl.make("ddpg", "Pendulum-v1", seed=0, **SMALL)
    agent.learn(80)
    batch = agent.buffer.sample(16, np.random.default_rng(0))
    agent.critic.zero_grad(set_to_none=True)
    loss = -agent.critic(batch.obs, agent.actor(batch.obs)).mean()
    agent._step(agent.actor_opt, loss, agent.actor)
    assert all(p.grad is None for p in agent.critic.parameters())
    assert all(p.grad is not None for p in agent.actor.parameters())


def test_spellchart_preset_is_seed_000s_chart():
    agent = tidyrl.make("ddpg", "Pendulum-v1", preset="spellchart")
    cfg = agent.config
    assert (cfg.tau, cfg.actor_lr, cfg.critic_lr) == (0.001, 1e-4, 2e-4)
    assert (cfg.noise, cfg.noise_variance_start, cfg.noise_variance_end) == ("gaussian", 1.0, 0.3)
    assert cfg.noise_decay_steps == 1_000_000
    widths = [m.out_features for m in agent.actor if isinstance(m, torch.nn.Linear)]
    assert widths == [30, 15, 1]  # 10x the state size (3), then half of that
    assert agent.actor[-2].weight.abs().max() <= 0.3
    assert agent.critic.layers[-1].weight.abs().max() <= 0.003
    assert isinstance(agent.actor[-1], torch.nn.Tanh)


@pytest.mark.parametrize(
    ("algo", "overrides"),
    [
        ("ddpg", {"preset": "seed001"}),
        ("d4pg", {"prioritized": True, "n_envs": 2}),
        ("sac", {"preset": "v2018"}),
        ("sac", {"precision": "bf16", "autotune": False}),
    ],
)
def test_variants_run(algo, overrides):
    kwargs = dict(small(algo), **overrides)
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **kwargs)
    agent.learn(120)
    assert agent.counters["updates"] > 0
    assert all(torch.isfinite(p).all() for p in agent.actor.parameters())


@pytest.mark.learning
def test_sac_learns_the_reach_task():
    agent = tidyrl.make(
        "sac",
        "tidytest-ac/Reach-v0",
        seed=0,
        learning_starts=200,
        batch_size=64,
        hidden=(32, 32),
        lr=3e-3,
        eval_episodes=20,
    )
    agent.learn(1_500)
    stats = tidyrl.evaluate(agent, episodes=20)
    assert stats["mean_return"] > -0.8, stats
