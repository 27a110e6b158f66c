"""DDPG, TD3, SAC, TQC, D4PG, SDDPG: spaces, action bounds, bootstrapping, gradient isolation,
presets, and a small SAC learning test."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.actor_critic import sac
from tidyrl.algos.actor_critic.common import actor_loss, backward_step, critic_loss, td_target
from tidyrl.core.squashed import squashed_gaussian_action
from tidyrl.data.batch import Transition
from tidyrl.errors import EnvError
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import Adam

ALGOS = ["ddpg", "td3", "sac", "tqc", "d4pg", "sddpg"]
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
    stored = agent.replay.storage.columns["actions"]
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
        discounts=torch.full((3,), 0.99),
    )


@pytest.mark.parametrize("algo", ALGOS)
def test_target_bootstraps_on_truncation_but_not_on_termination(algo):
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **small(algo))

    def target(next_obs: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)  # SAC samples a', TD3 smooths it
        batch = bootstrap_batch(next_obs)
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
    if algo == "td3" and (agent.counters["updates"] + 1) % 2 == 1:
        agent.counters["updates"] += 1  # the actor (and targets) move on every 2nd update only
    probe = agent.update_probe()
    assert probe is not None
    probe()
    after = dict(agent.critic.named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)
    tau = agent.config.tau
    for n, p in target.named_parameters():
        expected = before_target[n] + tau * (after[n].detach() - before_target[n])
        torch.testing.assert_close(p, expected, atol=1e-6, rtol=1e-5)


def test_deterministic_policy_gradient_losses_by_hand():
    """DDPG's, TD3's and ddpg-imagination's shared losses on numbers worked out by hand."""
    rewards = torch.tensor([1.0, -1.0, 0.5])
    mask = torch.tensor([1.0, 0.0, 1.0])  # the second row terminated: no bootstrap
    y = td_target(rewards, mask, 0.5, torch.tensor([4.0, 10.0, -2.0]))
    torch.testing.assert_close(y, torch.tensor([3.0, -1.0, -0.5]))
    q = torch.tensor([[3.0, 0.0, 0.5], [1.0, -1.0, -0.5]])  # two critics (TD3's rows)
    # critic 1: errors 0, 1, 1 -> mean 2/3; critic 2: errors 2, 0, 0 -> mean 4/3; summed: 2
    torch.testing.assert_close(critic_loss(q, y), torch.tensor(2.0))
    torch.testing.assert_close(actor_loss(torch.tensor([2.0, -4.0, 5.0])), torch.tensor(-1.0))


def test_actor_loss_does_not_touch_critic_gradients():
    agent = tidyrl.make("ddpg", "Pendulum-v1", seed=0, **SMALL)
    agent.learn(80)
    batch = agent.replay.sample(16, np.random.default_rng(0))
    agent.critic.zero_grad(set_to_none=True)
    loss = -agent.critic(batch.obs, agent.actor(batch.obs)).mean()
    backward_step(agent.actor_opt, loss)
    assert all(p.grad is None for p in agent.critic.parameters())
    assert all(p.grad is not None for p in agent.actor.parameters())


def test_backward_step_clips_the_global_gradient_norm_inside_the_optimizer():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    other = torch.nn.Parameter(torch.ones(2))
    opt = Adam(net.parameters(), lr=0.1, max_grad_norm=0.5)
    loss = 100.0 * net(torch.randn(8, 4)).pow(2).sum() + other.sum()
    expected = torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)
    backward_step(opt, loss)
    assert other.grad is None  # only the optimizer's own parameters receive gradients
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in expected]))
    assert norm > 0.5
    torch.testing.assert_close(opt.last_grad_norm, norm)
    for p, g in zip(net.parameters(), expected):
        torch.testing.assert_close(p.grad, g * 0.5 / norm)  # clipped in place before the step


def sac_losses(agent, batch, eps_next, eps_pi):
    """The module's named losses, summed, computed here from the module-level functions."""
    cfg = agent.config
    alpha = agent.log_alpha.detach().exp()
    y = agent.target_q(batch, eps_next)
    q = agent.critic(batch.obs, batch.actions)[..., 0]
    actions_pi, logp_pi = agent.pi(batch.obs, eps=eps_pi)
    q_pi = agent.critic(batch.obs, actions_pi, frozen=True)[..., 0].min(0).values
    loss = sac.critic_loss(q, y) + sac.actor_loss(q_pi, logp_pi, alpha)
    if cfg.autotune:
        loss = loss + sac.alpha_loss(agent.log_alpha, logp_pi, agent.target_entropy)
    if cfg.value_network:
        v = agent.value(batch.obs)[:, 0]
        loss = loss + sac.value_loss(v, q_pi, logp_pi, alpha)
    return loss


def sac_gradients(agent, batch, monkeypatch):
    """The gradients `agent.update(batch)` leaves in the parameters (its Adam step and target
    tracking skipped, so that calls can be repeated from the same parameters)."""
    monkeypatch.setattr(agent.optimizer, "step", lambda: None)
    monkeypatch.setattr(sac, "polyak_update", lambda *args: None)
    torch.manual_seed(1)
    agent.update(batch)
    params = [p for g in agent.optimizer.param_groups for p in g["params"] if p.requires_grad]
    return params, [p.grad for p in params]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"preset": "v2018"}, {"autotune": False}, {"precision": "bf16"}, {"use_sde": True}],
)
def test_sac_update_differentiates_exactly_its_named_losses(monkeypatch, overrides):
    agent = tidyrl.make(
        "sac", "Pendulum-v1", seed=0, **{**SMALL, "learning_starts": 40, **overrides}
    )
    agent.learn(60)
    cfg, batch = agent.config, agent.replay.sample(32, np.random.default_rng(0))
    torch.manual_seed(1)  # the noise of the actor's a~ first, then the target's a': as update()
    shape = agent.log_sigma.shape if cfg.use_sde else (32, agent.act_dim)  # gSDE: z [F, A]
    eps_pi = torch.randn(shape)
    eps_next = None if cfg.value_network else torch.randn(shape)
    params = [p for g in agent.optimizer.param_groups for p in g["params"] if p.requires_grad]
    expected = torch.autograd.grad(sac_losses(agent, batch, eps_next, eps_pi), params)
    _, got = sac_gradients(agent, batch, monkeypatch)
    for g, e in zip(got, expected, strict=True):
        assert g is not None
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-5)


def test_editing_sacs_actor_loss_changes_what_trains(monkeypatch):
    """A reader who edits `actor_loss` changes training: with the actor's loss zeroed, the
    actor gets no gradient while the critics' gradients are untouched."""
    agent = tidyrl.make("sac", "Pendulum-v1", seed=0, **{**SMALL, "learning_starts": 40})
    agent.learn(60)
    batch = agent.replay.sample(32, np.random.default_rng(0))
    params, plain = sac_gradients(agent, batch, monkeypatch)
    assert all(g.abs().sum() > 0 for g in plain)
    monkeypatch.setattr(sac, "actor_loss", lambda q_pi, logp_pi, alpha: 0.0 * q_pi.sum())
    _, edited = sac_gradients(agent, batch, monkeypatch)
    actor = {id(p) for p in agent.actor.parameters()}
    critic = {id(p) for p in agent.critic.parameters()}
    for p, a, b in zip(params, plain, edited, strict=True):
        if id(p) in actor:
            assert b is None or b.abs().sum() == 0
        elif id(p) in critic:
            torch.testing.assert_close(a, b)


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
@pytest.mark.parametrize("algo", ["sac", "tqc"])
def test_sac_and_tqc_learn_the_reach_task(algo):
    agent = tidyrl.make(
        algo,
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


@pytest.mark.parametrize("value_network", [False, True])
def test_sac_side_by_side_update_matches_the_serial_one(monkeypatch, value_network):
    # with a core to spare, SAC's actor step runs on a helper thread beside the critic step;
    # the parameters after a few updates must equal those of the serial update
    from concurrent.futures import ThreadPoolExecutor

    from tidyrl import runtime

    helper = ThreadPoolExecutor(max_workers=1)

    def train(worker: object) -> list[torch.Tensor]:
        monkeypatch.setattr(runtime, "spare_core", lambda: worker)
        agent = tidyrl.make(
            "sac", "Pendulum-v1", seed=1, learning_starts=100, value_network=value_network
        )
        agent.learn(150)
        rng = np.random.default_rng(0)
        for _ in range(5):
            agent.update(agent.replay.sample(64, rng))
        return [p.detach().clone() for p in agent.optimizer.param_groups[0]["params"]]

    for a, b in zip(train(None), train(helper), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sac_acts_in_numpy_with_torchs_values_and_random_stream():
    agent = tidyrl.make("sac", "Pendulum-v1", seed=0, **{**SMALL, "learning_starts": 20})
    agent.learn(40)  # the actor has been updated in place since the views were taken
    obs = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    assert fast_policy(agent.actor).uses_numpy
    torch.manual_seed(5)
    host = [agent.policy(obs), agent.policy(obs, deterministic=True)]
    torch.manual_seed(5)
    with torch.no_grad():
        mean, log_std = agent.actor(torch.from_numpy(obs)).chunk(2, -1)
        through_torch = [
            squashed_gaussian_action(mean, log_std).numpy(),
            squashed_gaussian_action(mean, log_std, deterministic=True).numpy(),
        ]
    for a, b in zip(host, through_torch, strict=True):
        assert a.dtype == np.float32 and a.shape == (6, 1)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(host[0], host[1])  # the stochastic action did draw noise


@pytest.mark.parametrize(
    ("algo", "overrides"),
    [(a, {}) for a in ("ddpg", "td3", "d4pg", "sddpg")] + [("ddpg", {"batch_norm": True})],
)
def test_deterministic_actors_act_in_numpy_with_torchs_values(algo, overrides):
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **{**small(algo), **overrides})
    agent.learn(120)  # updated in place since the views were taken
    obs = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    assert fast_policy(agent.actor).uses_numpy != bool(overrides)  # batch norm: torch
    got = agent.policy(obs)
    with torch.no_grad():
        agent.actor.eval()
        expected = agent.actor(torch.from_numpy(obs)).numpy()
        agent.actor.train()
    assert got.dtype == np.float32 and got.shape == (6, 1) and agent.actor.training
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_sac_gsde_log_prob_by_hand():
    """gSDE's squashed action and log-probability from the definitions: phi the actor's last
    hidden features, mu = clip(W phi + b, -2, 2), std^2 = phi^2 sigma^2 + 1e-6, u = mu + phi^T
    (sigma * z), log pi = log N(u; mu, std) - sum log(1 - tanh(u)^2), in float64."""
    agent = tidyrl.make("sac", "Pendulum-v1", seed=0, use_sde=True, log_std_init=-1.0, **SMALL)
    obs = torch.randn(5, 3)
    z = torch.randn(agent.log_sigma.shape)
    action, logp = agent.sde_pi(obs, z=z)
    with torch.no_grad():
        phi = agent.actor[:-1](obs).double()
        last = agent.actor[-1]
        mu = (phi @ last.weight.double().T + last.bias.double()).clamp(-2.0, 2.0)
        sigma = agent.log_sigma.double().exp()
        std = (phi.square() @ sigma.square() + 1e-6).sqrt()
        u = mu + phi @ (sigma * z.double())
        normal = torch.distributions.Normal(mu, std).log_prob(u).sum(-1)
        expected = normal - torch.log(1.0 - torch.tanh(u).square()).sum(-1)
    torch.testing.assert_close(action.double(), torch.tanh(u), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logp.double(), expected, rtol=1e-4, atol=1e-4)
    # the std trains sigma and, through phi, the actor's hidden layers (SB3's SAC)
    grads = torch.autograd.grad(logp.sum(), [agent.log_sigma, agent.actor[0].weight])
    assert all(g.abs().sum() > 0 for g in grads)


def test_sac_gsde_acts_with_each_matrix_for_sde_sample_freq_steps():
    """The training loop's actions (held=True) reuse one E per env copy for 4 steps: the same
    observation gives the same action 4 times, then a new one; outside the loop each call draws
    its own noise."""
    agent = tidyrl.make("sac", "Pendulum-v1", seed=0, use_sde=True, sde_sample_freq=4, **SMALL)
    obs = np.ones((1, 3), dtype=np.float32)
    held = [agent.policy(obs, held=True) for _ in range(5)]
    assert all(np.array_equal(held[0], a) for a in held[1:4])
    assert not np.array_equal(held[3], held[4])
    free = [agent.policy(obs) for _ in range(2)]
    assert not np.array_equal(free[0], free[1])
    np.testing.assert_array_equal(
        agent.policy(obs, deterministic=True), agent.policy(obs, deterministic=True)
    )


def test_held_exploration_resumes_with_the_matrices_it_held():
    from tidyrl.core.distributions import HeldExploration

    log_sigma = torch.zeros(3, 2)
    held, rng = HeldExploration(every=3), np.random.default_rng(0)
    first = held(log_sigma, 2, rng)
    saved = held.state_arrays()
    resumed = HeldExploration(every=3)
    resumed.load_state_arrays(saved)
    for _ in range(2):  # the two calls left of the first matrices' three
        torch.testing.assert_close(resumed(log_sigma, 2, rng), first)
    assert not torch.equal(resumed(log_sigma, 2, rng), first)
    empty = HeldExploration(every=3)
    empty.load_state_arrays(HeldExploration(every=3).state_arrays())
    assert empty.matrices is None and empty.age == 0


@pytest.mark.parametrize(
    ("env_id", "low", "high"),
    [
        ("MountainCarContinuous-v0", -10.0, 100.0),
        ("LunarLanderContinuous-v3", -200.0, 200.0),
        ("BipedalWalker-v3", -120.0, 30.0),
    ],
)
def test_d4pg_chooses_a_support_that_spends_its_atoms_on_the_task(env_id, low, high):
    """Issue 27 item 5: D4PG's default support is Pendulum's [-1200, 100] (atoms 26 apart).
    On MountainCarContinuous, whose discounted returns lie in [-10, 100] (module docstring),
    only 5 of its 51 atoms fall in that range, so the -0.1-per-step action cost is lost in the
    projection; the support `tidyrl train d4pg ENV` picks puts all 51 atoms there."""
    chosen = tidyrl.make("d4pg", env_id, seed=0)
    default = tidyrl.make("d4pg", env_id, seed=0, preset="none")
    for agent, least, most in ((chosen, 51, 51), (default, 0, 51 // 3)):
        inside = int(((agent.support >= low) & (agent.support <= high)).sum())
        assert least <= inside <= most, (env_id, inside)
        agent.close()
