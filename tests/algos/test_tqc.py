"""TQC (tidyrl.algos.actor_critic.tqc): the truncated target, the losses by hand, the update
differentiating exactly the named losses, and the setting that leaves no atom refused. Bounds,
bootstrapping, target tracking and a small learning test are tests/algos/test_actor_critic.py's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tidyrl
from tests.algos.test_actor_critic import SMALL
from tidyrl.algos.actor_critic import tqc
from tidyrl.errors import ConfigError


def test_the_target_keeps_the_smallest_atoms_of_the_pool():
    # two critics of three atoms, one row: pooled {4, 0, 2, 1, 5, 3}; drop 1 per critic: keep 4
    z_next = torch.tensor([[[4.0, 0.0, 2.0]], [[1.0, 5.0, 3.0]]])
    kept = tqc.truncated_atoms(z_next, keep=4)
    torch.testing.assert_close(kept, torch.tensor([[0.0, 1.0, 2.0, 3.0]]))
    # y_i = r + gamma (1 - terminated) (z_(i) - alpha log pi(a'|s'))
    y = tqc.td_target(
        torch.tensor([1.0, 1.0]),
        torch.tensor([1.0, 0.0]),  # row 1 terminated
        0.5,
        torch.tensor([[0.0, 2.0], [7.0, 9.0]]),
        torch.tensor([-1.0, 3.0]),  # alpha log pi(a'|s')
    )
    torch.testing.assert_close(y, torch.tensor([[1.5, 2.5], [1.0, 1.0]]))


def test_the_critic_loss_by_hand():
    """One row, M = 2 atoms at tau = 1/4, 3/4, kN = 2 target atoms y = (0.5, 2), kappa = 1.

    Critic 1, theta = (0, 1): u = y - theta is (0.5, 2) for tau 1/4 and (-0.5, 1) for tau 3/4;
    rho = |tau - 1{u<0}| L(u), L(u) = u^2/2 for |u| <= 1 else |u| - 1/2:
    1/4 * 0.125 + 1/4 * 1.5 + 1/4 * 0.125 + 3/4 * 0.5 = 0.8125, over kN M = 4: 0.203125.
    Critic 2, theta = (2, 2): u = (-1.5, 0) for both taus:
    3/4 * 1 + 0 + 1/4 * 1 + 0 = 1, over 4: 0.25. The loss sums the critics: 0.453125."""
    quantiles = torch.tensor([[[0.0, 1.0]], [[2.0, 2.0]]])
    y = torch.tensor([[0.5, 2.0]])
    taus = torch.tensor([0.25, 0.75])
    loss = tqc.critic_loss(quantiles, y, taus, kappa=1.0)
    assert loss.item() == pytest.approx(0.453125)
    # the actor's Q is the mean of every atom of every critic: (0 + 1 + 2 + 2) / 4 = 1.25
    actor = tqc.actor_loss(quantiles, torch.tensor([0.5]), torch.tensor(2.0))
    assert actor.item() == pytest.approx(2.0 * 0.5 - 1.25)


@pytest.mark.parametrize("use_sde", [False, True])
def test_update_differentiates_exactly_the_named_losses(monkeypatch, use_sde):
    agent = tidyrl.make(
        "tqc", "Pendulum-v1", seed=0, **{**SMALL, "learning_starts": 40, "use_sde": use_sde}
    )
    agent.learn(60)
    batch = agent.replay.sample(32, np.random.default_rng(0))
    params = [p for g in agent.optimizer.param_groups for p in g["params"] if p.requires_grad]
    torch.manual_seed(1)  # update() draws the actor's noise first, then the target's
    shape = agent.log_sigma.shape if use_sde else (32, 1)  # gSDE: one z [F, A] per batch
    eps_pi, eps_next = torch.randn(shape), torch.randn(shape)
    alpha = agent.log_alpha.detach().exp()
    y = agent.target_q(batch, eps_next)
    assert y.shape == (32, agent.config.n_critics * (agent.config.n_quantiles - 2))
    quantiles = agent.critic(batch.obs, batch.actions)
    actions_pi, logp_pi = agent.pi(batch.obs, eps=eps_pi)
    loss = (
        tqc.critic_loss(quantiles, y, agent.taus, agent.config.kappa)
        + tqc.actor_loss(agent.critic(batch.obs, actions_pi, frozen=True), logp_pi, alpha)
        + tqc.alpha_loss(agent.log_alpha, logp_pi, agent.target_entropy)
    )
    expected = torch.autograd.grad(loss, params)
    monkeypatch.setattr(agent.optimizer, "step", lambda: None)
    monkeypatch.setattr(tqc, "polyak_update", lambda *args: None)
    torch.manual_seed(1)
    agent.update(batch)
    for p, e in zip(params, expected, strict=True):
        assert p.grad is not None
        torch.testing.assert_close(p.grad, e, atol=1e-6, rtol=1e-5)


def test_a_drop_that_leaves_no_atom_is_refused():
    with pytest.raises(ConfigError, match=r"drop_per_net=25 leaves no atom.*0\.\.24"):
        tidyrl.make("tqc", "Pendulum-v1", drop_per_net=25)
