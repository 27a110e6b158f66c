"""ddpg-imagination: its named losses and bonuses against hand-computed values, the imagined
rollouts, gradient isolation (which optimizer moves which network), the bootstrap mask, the
preset, and the environment model fitting a linear system through the agent's own updates."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.actor_critic.common import backward_step
from tidyrl.algos.actor_critic.ddpg_imagination import (
    ENTROPY_EPS,
    curiosity,
    gaussian_entropy,
    imagination_actor_loss,
    imagination_step,
    intrinsic_bonus,
    rollout_spread,
)
from tidyrl.data.batch import Transition
from tidyrl.errors import ConfigError
from tidyrl.models.env_model import VectorEnvModel

SMALL = {
    "learning_starts": 64,
    "batch_size": 16,
    "hidden": (32, 32),
    "model_hidden": (32, 16),
    "rollouts": 4,
    "rollout_steps": 3,
}
VARIANTS = ["actor", "critic"]


class LinearPoint(gym.Env):
    """x' = 0.9 x + 0.2 a on the line (clipped far outside its reach), reward -x'^2, 20 steps."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.x = np.zeros(1, np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.x = (0.9 * self.x + 0.2 * np.asarray(action, np.float32)).astype(np.float32)
        return self.x.copy(), -float(self.x[0] ** 2), False, False, {}


if "tidytest-imagination/LinearPoint-v0" not in gym.registry:
    gym.register(
        "tidytest-imagination/LinearPoint-v0", entry_point=LinearPoint, max_episode_steps=20
    )


def agent_for(entropy_in: str, **overrides: Any) -> Any:
    return tidyrl.make(
        "ddpg-imagination", "Pendulum-v1", seed=0, entropy_in=entropy_in, **{**SMALL, **overrides}
    )


def test_gaussian_entropy_by_hand():
    # one batch state, one coordinate, the set {0, 2}: variance 1
    states = torch.tensor([[[0.0]], [[2.0]]])
    expected = 0.5 * math.log(2 * math.pi * math.e * (1.0 + ENTROPY_EPS))
    assert gaussian_entropy(states).item() == pytest.approx(expected)
    # two coordinates with variances 1 and 4 (the set {0, 2} and {0, 4}): mean of the two
    states = torch.tensor([[[0.0, 0.0]], [[2.0, 4.0]]])
    h4 = 0.5 * math.log(2 * math.pi * math.e * (4.0 + ENTROPY_EPS))
    assert gaussian_entropy(states).item() == pytest.approx((expected + h4) / 2)
    # one row per batch state
    assert gaussian_entropy(torch.zeros(5, 3, 2)).shape == (3,)


def test_imagination_actor_loss_by_hand():
    q = torch.tensor([1.0, 3.0])
    h = torch.tensor([0.5, 1.5])
    # -((1 + 2 * 0.5) + (3 + 2 * 1.5)) / 2 = -4
    assert imagination_actor_loss(q, h, beta=2.0).item() == pytest.approx(-4.0)
    assert imagination_actor_loss(q, h, beta=0.0).item() == pytest.approx(-2.0)  # DDPG's


def test_rollout_spread_by_hand():
    start = torch.tensor([[1.0, 0.0]])
    # two rollouts end at (1, 0) and (3, 4): displacements (0, 0) and (2, 4), variances 1 and 4
    final = torch.tensor([[[1.0, 0.0]], [[3.0, 4.0]]])
    assert rollout_spread(final, start).item() == pytest.approx(2.5)
    assert rollout_spread(final[:1], start).item() == 0.0  # one rollout: no spread


def test_curiosity_and_bonus_by_hand():
    assert curiosity(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 3.0]])).item() == 5.0
    bonus = intrinsic_bonus(torch.tensor([0.5]), torch.tensor([1.0]), beta=2.0, beta_cur=1.0)
    assert bonus.item() == pytest.approx(2 * math.tanh(1.0))
    assert intrinsic_bonus(torch.tensor([9.0]), torch.tensor([9.0]), 0.0, 0.0).item() == 0.0


def test_imagination_step_keeps_the_value_and_gives_the_identity_its_gradient():
    torch.manual_seed(0)
    model = VectorEnvModel(2, 1, (8,))  # state head starts at zero: EM(z, a) = z
    z = torch.tensor([[0.5, -1.0]], requires_grad=True)
    a = torch.tensor([[0.3]])
    step = imagination_step(model, z, a)
    torch.testing.assert_close(step, model(z, a)[0])
    (grad,) = torch.autograd.grad(step[0, 0], z)
    torch.testing.assert_close(grad, torch.tensor([[1.0, 0.0]]))  # d z'_0 / d z = e_0
    (raw,) = torch.autograd.grad(model(z, a)[0][0, 0], z, allow_unused=True)
    assert raw is None or torch.equal(raw, torch.zeros_like(raw))  # the seed's detached residual


def test_imagined_rollouts_have_the_configured_shape_and_noise():
    agent = agent_for("actor")
    z0 = torch.randn(5, 3)
    assert agent.imagine(z0).shape == (3, 4, 5, 3)  # [rollout_steps, rollouts, B, D]
    quiet = agent_for("actor", noise_variance_start=0.0, noise_variance_end=0.0)
    imagined = quiet.imagine(z0)
    torch.testing.assert_close(imagined[:, 0], imagined[:, 3])  # no noise: rollouts agree
    torch.testing.assert_close(rollout_spread(imagined[-1], z0), torch.zeros(5))


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


def test_target_adds_the_bonus_and_bootstraps_on_truncation_only():
    agent = agent_for("critic")
    bonus = torch.tensor([0.5, 0.5, 0.5])
    a = agent.target_q(bootstrap_batch(torch.tensor([[1.0, 0.0, 0.5]] * 3)), bonus)
    b = agent.target_q(bootstrap_batch(torch.tensor([[-1.0, 0.0, -7.0]] * 3)), bonus)
    assert a[0].item() == pytest.approx(1.5)  # terminated: r + bonus, next_obs ignored
    assert a[0] == b[0]
    assert not torch.allclose(a[1:], b[1:])  # truncated and ongoing rows bootstrap


@pytest.mark.parametrize("entropy_in", VARIANTS)
def test_each_optimizer_alone_moves_its_network(entropy_in, monkeypatch):
    """Gradient isolation: with one optimizer's step disabled, its network stays exactly as it
    was through a whole update, so no other loss (the actor's, which reaches the actor through
    the model and the critic) moves it."""
    agent = agent_for(entropy_in)
    agent.learn(80)
    batch = agent.replay.sample(16, agent.rng)
    for net, opt in [("model", "model_opt"), ("critic", "critic_opt"), ("actor", "actor_opt")]:
        before = {n: p.detach().clone() for n, p in getattr(agent, net).named_parameters()}
        others = {
            other: {n: p.detach().clone() for n, p in getattr(agent, other).named_parameters()}
            for other in ("model", "critic", "actor")
            if other != net
        }
        with monkeypatch.context() as m:
            m.setattr(getattr(agent, opt), "step", lambda: None)
            agent.update(batch)
        after = dict(getattr(agent, net).named_parameters())
        assert all(torch.equal(before[n], after[n]) for n in before), net
        for other, params in others.items():  # every other network did move
            now = dict(getattr(agent, other).named_parameters())
            assert any(not torch.equal(params[n], now[n]) for n in params), other


def test_the_entropy_term_reaches_the_actor_through_the_model_only_into_the_actor():
    agent = agent_for("actor")
    agent.learn(80)
    z = agent.states(agent.replay.sample(16, agent.rng).obs)
    imagined = agent.imagine(z).flatten(0, 1)
    entropy = gaussian_entropy(torch.cat([z.unsqueeze(0), imagined]))
    loss = imagination_actor_loss(torch.zeros(16), entropy, beta=1.0)  # the entropy term alone
    for opt in (agent.model_opt, agent.critic_opt, agent.actor_opt):
        opt.zero_grad(set_to_none=True)
    backward_step(agent.actor_opt, loss)  # step on it, as update does
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())
    assert all(p.grad is None for p in agent.model.parameters())
    assert all(p.grad is None for p in agent.critic.parameters())


def test_critic_variant_bonus_carries_no_gradient_and_is_logged():
    agent = agent_for("critic")
    agent.learn(80)
    metrics = agent.update(agent.replay.sample(16, agent.rng))
    for key in ("model_loss", "entropy", "curiosity", "bonus", "critic_loss", "actor_loss"):
        assert torch.isfinite(metrics[key]) and not metrics[key].requires_grad, key
    assert 0.0 <= metrics["bonus"].item() <= 2.0


def test_model_fits_a_linear_system_through_the_agents_updates():
    """x' = 0.9 x + 0.2 a: the agent's own model steps (on standardized states) cut its
    one-step error on fresh replay samples by far."""
    agent = tidyrl.make(
        "ddpg-imagination",
        "tidytest-imagination/LinearPoint-v0",
        seed=0,
        **{**SMALL, "model_lr": 3e-3, "learning_starts": 100},
    )
    agent.learn(101)
    first = agent.update(agent.replay.sample(256, agent.rng))["model_loss"].item()
    agent.learn(600)
    last = agent.update(agent.replay.sample(256, agent.rng))["model_loss"].item()
    assert last < 0.1 * first


def test_spellchart_preset_is_seed_000s_chart_with_the_linked_codes_batch_and_model_lr():
    agent = tidyrl.make("ddpg-imagination", "Pendulum-v1", preset="spellchart")
    cfg = agent.config
    assert (cfg.tau, cfg.actor_lr, cfg.critic_lr, cfg.model_lr) == (1e-3, 1e-4, 2e-4, 2e-4)
    assert (cfg.batch_size, cfg.gamma, cfg.init, cfg.hidden_scale) == (64, 0.99, "spellchart", 10)
    assert (cfg.noise_variance_start, cfg.noise_variance_end) == (1.0, 0.3)
    assert (cfg.rollouts, cfg.rollout_steps, cfg.entropy_coef, cfg.curiosity_coef) == (16, 1, 1, 1)


@pytest.mark.parametrize(
    ("key", "value"), [("rollouts", 0), ("rollout_steps", 0), ("entropy_coef", -1.0)]
)
def test_invalid_imagination_settings_name_the_field(key, value):
    with pytest.raises(ConfigError, match=key):
        tidyrl.make("ddpg-imagination", "Pendulum-v1", **{key: value})
