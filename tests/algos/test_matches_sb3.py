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
from tidyrl.data.rollout import RolloutBatch
from tidyrl.loops.on_policy import collect_rollout

sb3 = pytest.importorskip("stable_baselines3")
buffers = pytest.importorskip("stable_baselines3.common.buffers")
sb3_types = pytest.importorskip("stable_baselines3.common.type_aliases")
env_util = pytest.importorskip("stable_baselines3.common.env_util")

N_ENVS, N_STEPS, GAMMA = 8, 5, 0.99


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _sb3_pair() -> tuple[object, list[nn.Linear], list[nn.Linear]]:
    """SB3's A2C at its defaults and a tidyrl A2C holding a copy of its weights."""
    venv = env_util.make_vec_env("CartPole-v1", n_envs=N_ENVS, seed=0)
    model = sb3.A2C("MlpPolicy", venv, seed=0, device="cpu")
    policy = model.policy
    theirs = [
        *_linears(policy.mlp_extractor.policy_net),
        policy.action_net,
        *_linears(policy.mlp_extractor.value_net),
        policy.value_net,
    ]
    agent = tidyrl.make("a2c", "CartPole-v1", seed=0)
    ours = [*_linears(agent.policy.actor), *_linears(agent.policy.critic)]
    with torch.no_grad():
        for src, dst in zip(theirs, ours, strict=True):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return (model, agent), theirs, ours


def test_a2c_update_equals_sb3_update_from_the_same_weights_and_batch():
    (model, agent), theirs, ours = _sb3_pair()
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
