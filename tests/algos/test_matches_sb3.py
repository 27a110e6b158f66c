"""tidyrl against Stable-Baselines3 at equal settings (issue 27): the same data gives the same
targets, and the same weights and batch give the same update, so any gap in learning curves is
not tidyrl's maths. A2C: advantages and updates (benchmarks/RESULTS.md, suite a2c-vs-sb3, holds
the 10-seed comparison); DQN with RL-Zoo's CartPole settings: updates, target network included.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import tidyrl
from tidyrl.core.squashed import unscale_action
from tidyrl.data.rollout import RolloutBatch
from tidyrl.loops.on_policy import collect_rollout

sb3 = pytest.importorskip("stable_baselines3")
buffers = pytest.importorskip("stable_baselines3.common.buffers")
sb3_types = pytest.importorskip("stable_baselines3.common.type_aliases")
env_util = pytest.importorskip("stable_baselines3.common.env_util")

N_ENVS, N_STEPS, GAMMA = 8, 5, 0.99


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _sb3_pair(tf_like: bool = False) -> tuple[object, list[nn.Linear], list[nn.Linear]]:
    """SB3's A2C at its defaults and a tidyrl A2C holding a copy of its weights; `tf_like`:
    both with TensorFlow's RMSProp (SB3's `RMSpropTFLike`, RL-Zoo's Atari A2C optimizer)."""
    venv = env_util.make_vec_env("CartPole-v1", n_envs=N_ENVS, seed=0)
    kwargs = {}
    if tf_like:
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

        kwargs["policy_kwargs"] = {
            "optimizer_class": RMSpropTFLike,
            "optimizer_kwargs": {"alpha": 0.99, "eps": 1e-5, "weight_decay": 0},
        }
    model = sb3.A2C("MlpPolicy", venv, seed=0, device="cpu", **kwargs)
    policy = model.policy
    theirs = [
        *_linears(policy.mlp_extractor.policy_net),
        policy.action_net,
        *_linears(policy.mlp_extractor.value_net),
        policy.value_net,
    ]
    agent = tidyrl.make(
        "a2c", "CartPole-v1", seed=0, optimizer="rmsprop-tf" if tf_like else "rmsprop"
    )
    ours = [*_linears(agent.policy.actor), *_linears(agent.policy.critic)]
    with torch.no_grad():
        for src, dst in zip(theirs, ours, strict=True):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return (model, agent), theirs, ours


@pytest.mark.parametrize("tf_like", [False, True], ids=["rmsprop", "rmsprop-tf"])
def test_a2c_update_equals_sb3_update_from_the_same_weights_and_batch(tf_like):
    (model, agent), theirs, ours = _sb3_pair(tf_like)
    _, callback = model._setup_learn(10_000, None)
    callback.on_training_start(locals(), globals())
    for _ in range(30):
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
        rb = model.rollout_buffer
        size = N_STEPS * N_ENVS
        batch = RolloutBatch(
            torch.as_tensor(rb.observations.reshape(size, -1)),
            torch.as_tensor(rb.actions.reshape(size)).long(),
            torch.as_tensor(rb.log_probs.reshape(size)),
            torch.as_tensor(rb.values.reshape(size)),
            torch.as_tensor(rb.advantages.reshape(size)),
            torch.as_tensor(rb.returns.reshape(size)),
        )
        model.train()
        agent.update(batch)
    with torch.no_grad():
        for src, dst in zip(theirs, ours, strict=True):
            torch.testing.assert_close(dst.weight, src.weight, rtol=0, atol=1e-6)
            torch.testing.assert_close(dst.bias, src.bias, rtol=0, atol=1e-6)
    # the weights moved: the comparison is not between two untouched copies
    assert model._n_updates == 30


def test_a2c_advantages_equal_sb3s_on_the_same_rollouts_including_time_limits():
    """SB3 bootstraps a truncated episode by adding gamma V(final obs) to its last reward;
    tidyrl keeps `truncated` apart and bootstraps from `final_values`. Both must agree, also
    where an episode terminates on its time limit's last step (no bootstrap in either)."""
    agent = tidyrl.make("a2c", "CartPole-v1", seed=0, max_episode_steps=20)
    starts = np.ones(N_ENVS, dtype=np.float32)
    truncations = 0
    with agent.training(10**6):
        for _ in range(60):
            r = collect_rollout(agent, agent.policy, agent.rollout, agent.io, agent.io.obs)
            advantages, returns = r.advantages(GAMMA, 1.0)
            buf = buffers.RolloutBuffer(
                N_STEPS,
                agent.observation_space,
                gym.spaces.Discrete(2),
                device="cpu",
                gamma=GAMMA,
                gae_lambda=1.0,
                n_envs=N_ENVS,
            )
            for t in range(N_STEPS):
                cut = r.truncated[t] * (1 - r.terminated[t])  # SB3's "TimeLimit.truncated"
                rewards = (r.rewards[t] + GAMMA * r.final_values[t] * cut).numpy()
                actions = r.actions[t].numpy().reshape(N_ENVS, 1)
                buf.add(r.obs[t].numpy(), actions, rewards, starts, r.values[t], r.logprobs[t])
                starts = torch.clamp(r.terminated[t] + r.truncated[t], max=1).numpy()
                truncations += int(r.truncated[t].sum())
            buf.compute_returns_and_advantage(r.last_values.clone(), starts)
            np.testing.assert_allclose(buf.advantages, advantages.numpy(), rtol=0, atol=1e-5)
            np.testing.assert_allclose(buf.returns, returns.numpy(), rtol=0, atol=1e-5)
            agent.update(r.flatten(advantages, returns))
    assert truncations > 0  # the time-limit path was exercised


def test_dqn_update_equals_sb3_update_from_the_same_weights_and_batch():
    """RL-Zoo's CartPole DQN (tidyrl's defaults): Huber loss on r + gamma (1 - terminated)
    max Q_target(s'), Adam, gradient-norm clip 10 -- 50 updates on the same minibatches."""
    kwargs = {"learning_rate": 2.3e-3, "batch_size": 64, "gamma": 0.99, "learning_starts": 0}
    model = sb3.DQN(
        "MlpPolicy",
        "CartPole-v1",
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [256, 256]},
        **kwargs,
    )
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0)
    theirs = _linears(model.q_net) + _linears(model.q_net_target)
    ours = _linears(agent.q) + _linears(agent.q_target)
    with torch.no_grad():
        for src, dst in zip(theirs, ours, strict=True):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    env, obs = agent.env, agent.env.obs
    for _ in range(500):
        actions = env.sample_actions()
        step = env.step(actions)
        agent.replay.add(obs, actions, step)
        obs = step.obs
    model._setup_learn(1000)
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = agent.replay.sample(64, rng)
        samples = sb3_types.ReplayBufferSamples(
            batch.obs,
            batch.actions.long().reshape(-1, 1),
            batch.next_obs,
            batch.terminated.float().reshape(-1, 1),
            batch.rewards.reshape(-1, 1),
            None,
        )
        model.replay_buffer.sample = lambda *_, s=samples, **__: s
        model.train(gradient_steps=1, batch_size=64)
        agent.update(batch)
    with torch.no_grad():
        for src, dst in zip(theirs, ours, strict=True):
            torch.testing.assert_close(dst.weight, src.weight, rtol=0, atol=1e-6)
    assert model._n_updates == 50


# --- SAC and TD3 (issue 27): RL-Zoo's MuJoCo settings, the same weights, batches and noise ---

N_FILL, N_UPDATES, BATCH = 400, 12, 256
CONTINUOUS = [
    pytest.param("Pendulum-v1", 40, id="Pendulum-v1"),
    # the SAC/TD3 benchmark task's dimensions (obs 11, actions 3); random actions fall over
    # within ~20-40 steps, so the replay holds terminations as well as the 30-step cut-offs
    pytest.param("Hopper-v5", 30, id="Hopper-v5"),
]
Pairs = list[tuple[torch.Tensor, torch.Tensor]]


def _needs_env(env_id: str) -> None:
    if env_id.startswith("Hopper"):
        pytest.importorskip("mujoco")


def _critic_pairs(critics: list[nn.Module], ensemble: nn.Module) -> Pairs:
    """(tidyrl tensor, SB3 tensor) for every parameter of SB3's separate critics and tidyrl's
    `QEnsemble`, whose first layer stacks the members' rows and whose later layers hold W^T
    (k, in, out) and b (k, 1, out) per member."""
    layers = [_linears(c) for c in critics]
    pairs = [
        (ensemble.first.weight, torch.cat([ls[0].weight for ls in layers], 0)),
        (ensemble.first.bias, torch.cat([ls[0].bias for ls in layers], 0)),
    ]
    for i, ours in enumerate(ensemble.layers, start=1):
        pairs.append((ours.weight, torch.stack([ls[i].weight.t() for ls in layers])))
        pairs.append((ours.bias, torch.stack([ls[i].bias[None] for ls in layers])))
    return pairs


def _sac_actor_pairs(model: object, agent: tidyrl.Agent) -> Pairs:
    """SB3's actor laid out as tidyrl's: hidden layers, then one head of [mu; log sigma]."""
    actor = model.actor
    theirs = [p for layer in _linears(actor.latent_pi) for p in (layer.weight, layer.bias)]
    theirs.append(torch.cat([actor.mu.weight, actor.log_std.weight], 0))
    theirs.append(torch.cat([actor.mu.bias, actor.log_std.bias], 0))
    return list(zip(agent.actor.parameters(), theirs, strict=True))


def _sac_pairs(model: object, agent: tidyrl.Agent) -> Pairs:
    return [
        *_sac_actor_pairs(model, agent),
        *_critic_pairs(list(model.critic.q_networks), agent.critic),
        *_critic_pairs(list(model.critic_target.q_networks), agent.critic_target),
        (agent.log_alpha.reshape(1), model.log_ent_coef),
    ]


def _td3_pairs(model: object, agent: tidyrl.Agent) -> Pairs:
    pairs = []
    actors = [(model.actor.mu, agent.actor), (model.actor_target.mu, agent.actor_target)]
    for theirs, ours in actors:
        for a, b in zip(_linears(theirs), _linears(ours), strict=True):
            pairs += [(b.weight, a.weight), (b.bias, a.bias)]
    pairs += _critic_pairs(list(model.critic.q_networks), agent.critic)
    return pairs + _critic_pairs(list(model.critic_target.q_networks), agent.critic_target)


def _copy(pairs: Pairs) -> None:
    with torch.no_grad():
        for ours, theirs in pairs:
            ours.copy_(theirs)


def _gaps(pairs: Pairs) -> tuple[float, int, int]:
    """(largest |tidyrl - SB3|, elements off by more than 1e-6, elements)."""
    with torch.no_grad():
        diffs = torch.cat([(ours - theirs).abs().flatten() for ours, theirs in pairs])
    return float(diffs.max()), int((diffs > 1e-6).sum()), diffs.numel()


def _assert_same_weights(pairs: Pairs, lr: float) -> None:
    """Every weight within 1e-6 of SB3's, but for at most 1 in 10,000, and those within a tenth
    of one Adam step (lr / 10): Adam divides by sqrt(v) + 1e-8, so a weight whose gradient is
    rounding noise (~1e-9; a ReLU unit the batch hardly reaches) moves by up to lr either way
    on noise; the sums of the two libraries round differently."""
    largest, off, total = _gaps(pairs)
    assert off <= total // 10_000 and largest <= lr / 10, (largest, off, total)


def _filled_agent(algo: str, env_id: str, limit: int, **config: object) -> tidyrl.Agent:
    """A tidyrl agent whose replay holds N_FILL uniformly random steps (as both libraries
    collect before learning_starts), with time-limit cut-offs at `limit` steps."""
    agent = tidyrl.make(algo, env_id, seed=0, max_episode_steps=limit, **config)
    env, obs = agent.env, agent.env.obs
    for _ in range(N_FILL):
        actions = env.sample_actions()
        step = env.step(actions)
        agent.replay.add(obs, unscale_action(actions, agent.low, agent.high), step)
        obs = step.obs
    return agent


def _sb3_samples(batch: object) -> object:
    """tidyrl's minibatch as SB3's: `dones` is SB3's time-limit-corrected done, i.e. terminated."""
    return sb3_types.ReplayBufferSamples(
        batch.obs,
        batch.actions,
        batch.next_obs,
        batch.terminated.float().reshape(-1, 1),
        batch.rewards.reshape(-1, 1),
        None,
    )


def _run_updates(model: object, agent: tidyrl.Agent, seed: int = 100) -> tuple[int, int]:
    """N_UPDATES consecutive updates of both on the same minibatches, torch's generator seeded
    alike before each (SAC's eps for a~ then a', TD3's smoothing noise); returns the numbers of
    terminated and truncated rows the batches held."""
    model._setup_learn(1000)
    rng = np.random.default_rng(0)
    terminated = truncated = 0
    for k in range(N_UPDATES):
        batch = agent.replay.sample(BATCH, rng)
        terminated += int(batch.terminated.sum())
        truncated += int((batch.truncated & ~batch.terminated).sum())
        samples = _sb3_samples(batch)
        model.replay_buffer.sample = lambda *_, s=samples, **__: s
        torch.manual_seed(seed + k)
        model.train(gradient_steps=1, batch_size=BATCH)
        torch.manual_seed(seed + k)
        agent.update(batch)
        agent.counters["updates"] += 1  # as learn() counts them
    assert model._n_updates == N_UPDATES
    return terminated, truncated


def _sac_pair(env_id: str, limit: int, **config: object) -> tuple[object, tidyrl.Agent]:
    """SB3's SAC at RL-Zoo's MuJoCo settings (SB3's defaults: lr 3e-4, batch 256, tau 0.005,
    gamma 0.99, 256-256, ent_coef auto from 1.0, target entropy -dim(A)) and a tidyrl SAC holding
    a copy of its actor, critics and target critics."""
    model = sb3.SAC("MlpPolicy", env_id, seed=0, device="cpu", learning_starts=0, batch_size=BATCH)
    agent = _filled_agent("sac", env_id, limit, **config)
    _copy(_sac_pairs(model, agent))
    return model, agent


@pytest.mark.parametrize(("env_id", "limit"), CONTINUOUS)
def test_sac_updates_equal_sb3s_from_the_same_weights_batches_and_noise(env_id, limit):
    """`--preset sb3-mujoco`: SB3's order (alpha in the losses is its value before the update;
    the critic step, then the actor step through the updated critics: update_order=sequential)
    and SB3's guarded log pi (log(1 - a^2 + 1e-6): jacobian_eps=1e-6); targets by Polyak every
    update. Actor, both critics, both target critics and log alpha agree after 12 updates."""
    _needs_env(env_id)
    model, agent = _sac_pair(env_id, limit, preset="sb3-mujoco")
    assert agent.target_entropy == model.target_entropy == -agent.act_dim
    start = [ours.detach().clone() for ours, _ in _sac_pairs(model, agent)]
    terminated, truncated = _run_updates(model, agent)
    assert truncated > 0  # rows cut by the time limit: they bootstrap in both
    assert terminated > 0 or env_id == "Pendulum-v1"  # Pendulum never terminates
    _assert_same_weights(_sac_pairs(model, agent), lr=3e-4)
    torch.testing.assert_close(agent.log_alpha.reshape(1), model.log_ent_coef, rtol=0, atol=1e-6)
    # Adam's steps hardly depend on the gradient's scale (a scalar with a steady gradient moves
    # by lr each step), so the last update's gradients are compared too: -(log pi + H_target)
    # for log alpha (a wrong target entropy shows here), the actor loss's for the actor
    actor = model.actor
    theirs = [p.grad for layer in _linears(actor.latent_pi) for p in (layer.weight, layer.bias)]
    theirs.append(torch.cat([actor.mu.weight.grad, actor.log_std.weight.grad], 0))
    theirs.append(torch.cat([actor.mu.bias.grad, actor.log_std.bias.grad], 0))
    grads = [(p.grad, g) for p, g in zip(agent.actor.parameters(), theirs, strict=True)]
    grads.append((agent.log_alpha.grad.reshape(1), model.log_ent_coef.grad))
    for ours, theirs in grads:
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    moved = [not torch.equal(a, ours) for a, (ours, _) in zip(start, _sac_pairs(model, agent))]
    assert all(moved)  # every network, the targets and log alpha moved: not untouched copies


def test_sacs_joint_update_order_is_not_sb3s():
    """The default order (all losses from the same parameters, the authors' choice) is a real
    difference: from the same start, 12 updates leave the actor off SB3's by more than rounding."""
    model, agent = _sac_pair("Pendulum-v1", 40, jacobian_eps=1e-6)  # update_order="joint"
    _run_updates(model, agent)
    largest, off, total = _gaps(_sac_actor_pairs(model, agent))
    assert off > total // 10_000 and largest > 3e-5


def test_sacs_exact_log_prob_is_not_sb3s():
    """The default exact tanh correction (jacobian_eps=0) against SB3's guarded one: a real,
    if small, difference in the actor after 12 updates (on Hopper, where some of the random
    start's actions come close to saturating)."""
    pytest.importorskip("mujoco")
    model, agent = _sac_pair("Hopper-v5", 30, update_order="sequential")
    _run_updates(model, agent)
    largest, off, total = _gaps(_sac_actor_pairs(model, agent))
    assert off > total // 10_000 and largest > 3e-5


def test_sac_log_sigma_clamp_and_log_prob_equal_sb3s():
    """log sigma clamped to [-20, 2] (SB3's LOG_STD_MIN/MAX): with the log-sigma head's bias
    pushed to -25, 0 and 5 on Hopper's three action dimensions, tidyrl's log pi of the mean
    action equals SB3's Gaussian-plus-squashing log-probability of it."""
    pytest.importorskip("mujoco")
    model, agent = _sac_pair("Hopper-v5", 30, jacobian_eps=1e-6)
    with torch.no_grad():
        model.actor.log_std.bias.copy_(torch.tensor([-25.0, 0.0, 5.0]))
        agent.actor[-1].bias[3:] = model.actor.log_std.bias
        obs = agent.replay.sample(64, np.random.default_rng(0)).obs
        mean, log_std, _ = model.actor.get_action_dist_params(obs)
        assert log_std.min() == -20 and log_std.max() == 2  # both bounds active
        dist = model.actor.action_dist.proba_distribution(mean, log_std)
        theirs = dist.log_prob(torch.tanh(mean), mean)
        _, ours = agent.pi(obs, deterministic=True)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


@pytest.mark.parametrize(("env_id", "limit"), CONTINUOUS)
def test_td3_updates_equal_sb3s_from_the_same_weights_batches_and_noise(env_id, limit):
    """RL-Zoo's MuJoCo TD3 (lr 1e-3, 400-300, batch 256; tidyrl's `--preset sb3-mujoco`) with
    SB3's policy_delay 2, smoothing noise 0.2 clipped at 0.5, tau 0.005: the actor and both
    targets move on the 2nd, 4th, ... update only. All six networks agree after 12 updates (6 of
    them delayed)."""
    _needs_env(env_id)
    model = sb3.TD3(
        "MlpPolicy",
        env_id,
        seed=0,
        device="cpu",
        learning_starts=0,
        learning_rate=1e-3,
        batch_size=BATCH,
        policy_kwargs={"net_arch": [400, 300]},
    )
    assert (model.policy_delay, model.target_policy_noise, model.target_noise_clip) == (2, 0.2, 0.5)
    agent = _filled_agent("td3", env_id, limit, preset="sb3-mujoco")
    # RL-Zoo's exploration: N(0, 0.1^2) on each action component, 10k random steps first
    cfg = agent.config
    assert (cfg.noise, cfg.noise_variance_start, cfg.noise_variance_end) == ("gaussian", 0.01, 0.01)
    assert cfg.learning_starts == 10_000
    _copy(_td3_pairs(model, agent))
    start = [ours.detach().clone() for ours, _ in _td3_pairs(model, agent)]
    _, truncated = _run_updates(model, agent)
    assert truncated > 0
    _assert_same_weights(_td3_pairs(model, agent), lr=1e-3)
    moved = [not torch.equal(a, ours) for a, (ours, _) in zip(start, _td3_pairs(model, agent))]
    assert all(moved)


def test_td3_moves_the_actor_on_the_second_update_first():
    """The delayed update's phase (Fujimoto et al.'s `total_it % policy_freq == 0` after
    counting the update; SB3 likewise): update 1 moves the critics only, update 2 the actor."""
    agent = _filled_agent("td3", "Pendulum-v1", 40, hidden=(32, 32), batch_size=32)
    rng = np.random.default_rng(0)
    moved = []
    for _ in range(2):
        before = [p.detach().clone() for p in agent.actor.parameters()]
        agent.update(agent.replay.sample(32, rng))
        agent.counters["updates"] += 1
        after = agent.actor.parameters()
        moved.append(any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)))
    assert moved == [False, True]


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_warmup_and_update_schedule_equal_sb3s(algo):
    """learning_starts uniformly random steps, then one gradient step per env step: after the
    same number of env steps both libraries have done the same number of updates."""
    cls = {"sac": sb3.SAC, "td3": sb3.TD3}[algo]
    small = {"learning_starts": 50, "batch_size": 16}
    model = cls(
        "MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs={"net_arch": [8]}, **small
    )
    model.learn(120)
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, hidden=(8,), **small)
    agent.learn(120)
    assert agent.counters["updates"] == model._n_updates == 70


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_deterministic_actions_equal_sb3s_on_the_env_bounds(algo):
    """Evaluation acts with tanh(mu) (SAC) or mu (TD3), rescaled from [-1, 1] to the env's
    bounds: the same weights give the same actions on Pendulum's [-2, 2] torque box, float64
    observations as the env returns them."""
    cls = {"sac": sb3.SAC, "td3": sb3.TD3}[algo]
    model = cls("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    config = {"hidden": (400, 300)} if algo == "td3" else {}
    agent = tidyrl.make(algo, "Pendulum-v1", seed=0, **config)
    with torch.no_grad():
        for p in model.actor.parameters():
            p.mul_(4)  # larger outputs: the squashing and the bounds are exercised
    if algo == "sac":
        _copy(_sac_actor_pairs(model, agent))
    else:
        _copy(_td3_pairs(model, agent)[:6])
    obs = np.random.default_rng(0).normal(size=(64, 3)) * 3
    theirs, _ = model.predict(obs, deterministic=True)
    ours = agent.act(obs, deterministic=True)
    # float32 networks summing in different orders, their weights scaled up 4x per layer
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
    assert np.abs(theirs).max() > 1.5  # beyond the unit box: the rescaling is exercised
