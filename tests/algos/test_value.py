"""Value-based algorithms: targets against hand-computed values, gradient isolation, spaces,
pixels, ablation switches, and CI learning tests (DQN and QR-DQN on CartPole)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.value.dqn import dqn_target
from tidyrl.algos.value.qr_dqn import qr_loss, qr_target
from tidyrl.algos.value.rainbow import rainbow_target
from tidyrl.algos.value.soft_q import soft_q_target, soft_value
from tidyrl.core.schedules import crossed, linear_schedule
from tidyrl.data.batch import Transition
from tidyrl.errors import ConfigError, EnvError
from tidyrl.nets.optim import CenteredRMSprop


def sample(rewards, terminated, discounts):
    n = len(rewards)
    return Transition(
        obs=torch.zeros(n, 1),
        actions=torch.zeros(n, dtype=torch.long),
        rewards=torch.tensor(rewards),
        next_obs=torch.zeros(n, 1),
        terminated=torch.tensor(terminated),
        truncated=torch.zeros(n, dtype=torch.bool),
        discounts=torch.tensor(discounts),
        weights=torch.ones(n),
        index=np.arange(n),
    )


def test_dqn_and_double_dqn_targets_hand_checked():
    batch = sample([1.0, 1.0, 0.5], [False, True, False], [0.9, 0.9, 0.81])
    next_q_target = torch.tensor([[1.0, 3.0], [5.0, 2.0], [2.0, 4.0]])
    next_q_online = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # DQN: max of target net; terminated row 1 does not bootstrap; row 2 has gamma^2
    torch.testing.assert_close(
        dqn_target(batch, next_q_target, None), torch.tensor([1 + 0.9 * 3, 1.0, 0.5 + 0.81 * 4])
    )
    # Double: online argmax (0, 1, 0) evaluated by the target net
    torch.testing.assert_close(
        dqn_target(batch, next_q_target, next_q_online),
        torch.tensor([1 + 0.9 * 1, 1.0, 0.5 + 0.81 * 2]),
    )
    # the scalar (non-distributional) Rainbow target is the same formula
    torch.testing.assert_close(
        rainbow_target(batch, next_q_target, next_q_online, None),
        dqn_target(batch, next_q_target, next_q_online),
    )


def test_rainbow_distributional_target_uses_online_argmax():
    support = torch.tensor([0.0, 1.0, 2.0])
    batch = sample([0.0], [False], [1.0])
    # target net: action 0 certain at z=2, action 1 certain at z=0
    next_target = torch.log(torch.tensor([[[1e-6, 1e-6, 1.0], [1.0, 1e-6, 1e-6]]]))
    online_prefers_1 = torch.log(torch.tensor([[[1.0, 1e-6, 1e-6], [1e-6, 1e-6, 1.0]]]))
    m = rainbow_target(batch, next_target, online_prefers_1, support)
    torch.testing.assert_close(m, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-4, rtol=0)
    m = rainbow_target(batch, next_target, None, support)  # target net picks action 0
    torch.testing.assert_close(m, torch.tensor([[0.0, 0.0, 1.0]]), atol=1e-4, rtol=0)


def test_qr_dqn_target_and_loss_hand_checked():
    """T theta_j = r + gamma_m (1 - terminated) theta'_j(s', a*), a* the target net's argmax of
    the quantiles' mean (a valid one under a mask); the loss sums over the predicted quantiles
    the mean over target samples of |tau - 1{u < 0}| |u| (kappa = 0)."""
    batch = sample([1.0, 2.0], [False, True], [0.5, 0.5])
    # row 0: action 1's quantiles (0, 4) have the larger mean (2 > 1); row 1 terminated
    next_quantiles = torch.tensor([[[1.0, 1.0], [0.0, 4.0]], [[9.0, 9.0], [9.0, 9.0]]])
    torch.testing.assert_close(
        qr_target(batch, next_quantiles), torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    )
    masked = dataclasses.replace(
        sample([1.0], [False], [0.5]), next_masks=torch.tensor([[True, False]])
    )  # a* = 0, the only valid action
    torch.testing.assert_close(qr_target(masked, next_quantiles[:1]), torch.tensor([[1.5, 1.5]]))
    # quantiles (0, 1) at tau (0.25, 0.75) against targets (0.5, 2): theta_0 is below both
    # (0.25 * (0.5 + 2) / 2 = 0.3125), theta_1 above 0.5 and below 2 ((0.25 * 0.5 + 0.75 * 1) / 2
    # = 0.4375); the taken action's quantiles are the ones compared
    quantiles = torch.tensor([[[7.0, 7.0], [0.0, 1.0]]])
    taus = torch.tensor([0.25, 0.75])
    loss = qr_loss(quantiles, torch.tensor([1]), torch.tensor([[0.5, 2.0]]), taus, 0.0)
    assert loss.item() == pytest.approx(0.3125 + 0.4375)


def test_qr_dqn_quantiles_settle_at_the_target_quantiles():
    """Minimising the loss on samples of a known return distribution (uniform on 0..99) moves
    theta_i to its tau_hat_i quantiles, whatever their scale: no support to choose."""
    from tidyrl.core.quantile import quantile_midpoints

    taus = quantile_midpoints(4)
    theta = torch.zeros(1, 1, 4, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=0.5)
    targets = torch.arange(100.0).unsqueeze(0)
    for _ in range(2_000):
        loss = qr_loss(theta, torch.tensor([0]), targets, taus, 1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    expected = torch.quantile(targets[0], taus)  # 12.4, 37.1, 61.9, 86.6
    torch.testing.assert_close(theta.detach()[0, 0], expected, atol=1.0, rtol=0)


def test_qr_dqn_presets_and_errors():
    """Without a preset a classic task gets DQN's RL-Zoo settings and RL-Zoo's QR-DQN quantile
    count; the defaults are the paper's N = 200 with Adam epsilon 0.01 / batch."""
    acrobot = tidyrl.make("qr-dqn", "Acrobot-v1", seed=0)
    assert acrobot.config.n_quantiles == 25 and acrobot.config.target_update_every == 250
    assert tidyrl.make("qr-dqn", "CartPole-v1", seed=0).config.n_quantiles == 10
    default = tidyrl.make("qr-dqn", "CartPole-v1", seed=0, preset="none")
    assert default.config.n_quantiles == 200 and default.taus.shape == (200,)
    assert default.optimizer.param_groups[0]["eps"] == pytest.approx(0.01 / 64)
    assert default.z(torch.zeros(3, 4)).shape == (3, 2, 200)
    with pytest.raises(ConfigError, match="n_quantiles"):
        tidyrl.make("qr-dqn", "CartPole-v1", n_quantiles=1)


def test_soft_value_and_target_hand_checked():
    q = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    alpha = 0.5
    expected = alpha * torch.log(torch.exp(q[:, 0] / alpha) + torch.exp(q[:, 1] / alpha))
    torch.testing.assert_close(soft_value(q, alpha), expected)
    torch.testing.assert_close(soft_value(q, 1e-4), q.max(1).values, atol=1e-3, rtol=0)
    batch = sample([1.0, 2.0], [False, True], [0.9, 0.9])
    torch.testing.assert_close(
        soft_q_target(batch, q, alpha), torch.tensor([1 + 0.9 * float(expected[0]), 2.0])
    )


def test_epsilon_schedule_and_periodic_events():
    assert linear_schedule(1.0, 0.04, 8000, 0) == 1.0
    assert linear_schedule(1.0, 0.04, 8000, 4000) == pytest.approx(0.52)
    assert linear_schedule(1.0, 0.04, 8000, 20_000) == pytest.approx(0.04)
    assert crossed(255, 256, 256) and not crossed(256, 257, 256)
    assert crossed(250, 258, 256)  # n_envs steps at a time still trigger once


@pytest.mark.parametrize("algo", ["dqn", "c51", "qr-dqn", "rainbow", "soft-q"])
def test_continuous_actions_are_rejected(algo):
    with pytest.raises(EnvError, match="Discrete action space"):
        tidyrl.make(algo, "Pendulum-v1")


def test_update_moves_online_net_only():
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0, learning_starts=10**9, double=True)
    agent.learn(200)
    batch = agent.replay.sample(32, np.random.default_rng(0))
    online = [p.detach().clone() for p in agent.q.parameters()]
    target = [p.detach().clone() for p in agent.q_target.parameters()]
    agent.update(batch)
    assert any(not torch.equal(a, b) for a, b in zip(online, agent.q.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(target, agent.q_target.parameters()))
    assert all(p.grad is None for p in agent.q_target.parameters())


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"distributional": False, "noisy": False, "prioritized": False, "n_step": 1},
        {"double": False, "dueling": False},
    ],
)
def test_rainbow_switches_run(flags):
    agent = tidyrl.make(
        "rainbow",
        "CartPole-v1",
        seed=0,
        learning_starts=100,
        train_freq=50,
        gradient_steps=2,
        **flags,
    )
    agent.learn(300)
    assert agent.counters["updates"] > 0
    assert np.isfinite(float(agent._last_metrics["loss"]))
    assert agent.update_probe() is not None


def test_pixels_minatar_dqn_and_atari_rainbow():
    pytest.importorskip("minatar")
    agent = tidyrl.make(
        "dqn",
        "MinAtar/Breakout-v1",
        seed=0,
        preset="minatar",
        learning_starts=100,
        buffer_size=1000,
    )
    agent.learn(200)
    assert agent.replay.storage.columns["obs"].dtype == np.uint8
    pytest.importorskip("ale_py")
    agent = tidyrl.make(
        "rainbow",
        "Atari/Pong-v5",
        seed=0,
        preset="atari",
        learning_starts=60,
        buffer_size=500,
        batch_size=8,
    )
    agent.learn(100)
    assert agent.replay.frames is not None and agent.counters["updates"] == 10
    assert agent.replay.storage.columns["obs"].shape == (500, 4)  # handles, not pixels


def test_rainbow_minatar_preset_is_revisiting_rainbows_network_and_schedule():
    pytest.importorskip("minatar")
    agent = tidyrl.make(
        "rainbow", "MinAtar/Breakout-v1", seed=0, preset="minatar", learning_starts=100
    )
    agent.learn(200)
    # no hidden layer: the conv features feed the two noisy output layers (advantage, value)
    assert [m.out_features for m in agent.q.modules() if hasattr(m, "eps_out")] == [3 * 51, 51]
    assert agent.counters["updates"] == 25  # one every 4 steps after 100: steps 104, ..., 200
    assert agent.beta == 0.5  # a constant IS exponent (beta_start = beta_end)
    assert agent.epsilon == 0.01  # Dopamine's epsilon_train on top of the noisy layers
    assert float(agent.support[0]) == -100.0 and float(agent.support[-1]) == 100.0
    with pytest.raises(ConfigError, match="zero or more layer widths"):
        tidyrl.make("rainbow", "CartPole-v1", hidden=(0,))


# Per-step rewards of the classic tasks (Gymnasium's docs): CartPole +1, Acrobot -1 (0 on the
# step that reaches the goal), MountainCar -1. Discounted returns: [r_min, r_max] / (1 - gamma).
CLASSIC_REWARDS = {
    "CartPole-v1": (0.0, 1.0),
    "Acrobot-v1": (-1.0, 0.0),
    "MountainCar-v0": (-1.0, 0.0),
}


@pytest.mark.parametrize("algo", ["c51", "rainbow"])
@pytest.mark.parametrize("env_id", sorted(CLASSIC_REWARDS))
def test_distributional_support_covers_the_tasks_returns(algo, env_id):
    """Issue 27 item 5: a support that misses the returns clips every target to an end atom and
    fails silently (the old [0, 100] on Acrobot: all Q equal, eval -500). Without a preset the
    agent takes the env's, which must hold every discounted return; the defaults hold both signs."""
    low, high = CLASSIC_REWARDS[env_id]
    cfg = tidyrl.make(algo, env_id, seed=0).config
    scale = 1.0 / (1.0 - cfg.gamma)
    assert cfg.v_min <= low * scale and high * scale <= cfg.v_max
    assert cfg.v_max - cfg.v_min <= 2 * max(1.0, abs(low), abs(high)) * scale  # not needlessly wide
    defaults = tidyrl.make(algo, env_id, seed=0, preset="none").config
    assert defaults.v_min <= -scale and scale <= defaults.v_max


def test_soft_q_mountaincar_temperature_acts_on_gaps_before_the_goal():
    """Issue 27 item 5: before MountainCar's goal is first reached every step pays -1 and the
    three actions' Q values differ by a few 1e-3 (-50.000, -50.004, -50.008 here). At the
    defaults' alpha 0.01 the Boltzmann policy is then nearly uniform, softmax(0, -0.4, -0.8) =
    (0.47, 0.32, 0.21): a random walk that never builds the swing (eval -200 at 120k). The
    temperature `tidyrl train soft-q MountainCar-v0` picks follows the gaps: softmax(0, -4, -8)
    puts 0.98 on the best action."""
    from tidyrl.algos.value.soft_q import boltzmann

    q = torch.tensor([[-50.000, -50.004, -50.008]]).repeat(20_000, 1)
    chosen = tidyrl.make("soft-q", "MountainCar-v0", seed=0).config.alpha
    default = tidyrl.make("soft-q", "MountainCar-v0", seed=0, preset="none").config.alpha
    for alpha, first in ((default, 0.472), (chosen, 0.982)):
        actions = boltzmann(q, alpha, torch.Generator().manual_seed(0))
        assert (actions == 0).float().mean().item() == pytest.approx(first, abs=0.01)


def test_rainbow_target_on_a_support_that_misses_the_returns_loses_the_reward():
    """Why the support matters: from a next state worth 0 (all mass on the atom z = 0), r = -1
    gives T z = -1. On [0, 100] that is clipped to z_0 = 0, so the target says 0, not -1, and
    every -1 step looks free; on [-100, 0] the projected target keeps its mean, -1."""
    batch = sample([-1.0], [False], [0.9])
    for (v_min, v_max), expected_q in (((0.0, 100.0), 0.0), ((-100.0, 0.0), -1.0)):
        support = torch.linspace(v_min, v_max, 51)
        logits = torch.full((1, 1, 51), -1e9)
        logits[0, 0, int(torch.argmin(support.abs()))] = 0.0  # next value 0, all on one atom
        target = rainbow_target(batch, logits, None, support)
        torch.testing.assert_close((target * support).sum(), torch.tensor(expected_q))


@pytest.mark.learning
@pytest.mark.parametrize(
    "algo, extra",
    [("dqn", {}), ("qr-dqn", {"n_quantiles": 25, "adam_eps": 1e-8})],
)
def test_dqn_and_qr_dqn_learn_cartpole_quickly(algo, extra):
    """Regression gate: the greedy policy reaches a mean return >= 200 on CartPole (5 episodes)
    at one of its evaluations within 15k env steps (about 15 s on one free core each); QR-DQN
    with 25 quantiles and DQN's settings."""
    torch.set_num_threads(1)
    agent = tidyrl.make(
        algo,
        "CartPole-v1",
        seed=0,
        hidden=(64, 64),
        lr=1e-3,
        train_freq=4,
        gradient_steps=4,
        target_update_every=100,
        learning_starts=1000,
        exploration_fraction=0.1,
        epsilon_end=0.05,
        buffer_size=20_000,
        eval_every=2500,
        eval_episodes=5,
        **extra,
    )
    agent.learn(15_000)
    evals = [row["eval_return"] for row in agent._logger.rows if "eval_return" in row]
    assert len(evals) == 6 and max(evals) >= 200, evals


def test_dqn_rmsprop_option_trains_saves_and_rejects_unknown_optimizers(tmp_path):
    agent = tidyrl.make(
        "dqn", "CartPole-v1", seed=0, optimizer="rmsprop", learning_starts=100, train_freq=50
    )
    assert isinstance(agent.optimizer, CenteredRMSprop)
    agent.learn(300)
    assert agent.counters["updates"] > 0
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    assert isinstance(loaded.optimizer, CenteredRMSprop)
    before = loaded.optimizer.state_dict()["state"]
    after = agent.optimizer.state_dict()["state"]
    for pid, state in after.items():
        for key in ("square_avg", "grad_avg", "momentum_buffer"):
            torch.testing.assert_close(before[pid][key], state[key])
    with pytest.raises(ConfigError, match="adam.*rmsprop"):
        tidyrl.make("dqn", "CartPole-v1", optimizer="sgd")


def test_prioritized_dqn_weights_its_loss_and_sets_priorities_to_abs_td_errors():
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0, hidden=(8,), prioritized=True, alpha=0.5)
    agent.learn(40)  # rows in the replay, no update yet (learning_starts 1000)
    n = len(agent.replay)
    agent.replay.update_priorities(np.arange(n), torch.linspace(0.1, 2.0, n))  # unequal weights
    batch = agent.replay.sample(8, np.random.default_rng(0), beta=1.0)
    assert batch.weights is not None and float(batch.weights.min()) < 0.9
    with torch.no_grad():  # delta_i = r + gamma (1 - terminated) max_a Q'(s', a) - Q(s, a)
        q_sa = agent.q(batch.obs)[torch.arange(8), batch.actions]
        y = (
            batch.rewards
            + 0.99 * batch.bootstrap_mask * agent.q_target(batch.next_obs).max(1).values
        )
        delta = y - q_sa
        a = delta.abs()  # Huber: 0.5 d^2 inside |d| <= 1, |d| - 0.5 outside
        expected_loss = (batch.weights * torch.where(a <= 1, 0.5 * a**2, a - 0.5)).mean()
    out = agent.update(batch)
    torch.testing.assert_close(out["loss"], expected_loss)
    tree = agent.replay.sampler.tree  # p_i <- |delta_i| + epsilon, to the power alpha
    np.testing.assert_allclose(tree[batch.index], (a.numpy() + 1e-6) ** 0.5, rtol=1e-5)
