"""Dreamer: each loss moves only its own networks, it learns a toy task a world model makes
easy within a few hundred steps, and runs on Box actions and 64x64 pixels."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.model_based.dreamer import world_model_loss

TINY = {
    "deter": 32,
    "hidden": 32,
    "layers": 1,
    "groups": 4,
    "classes": 4,
    "batch_size": 8,
    "seq_len": 8,
    "horizon": 5,
    "gamma": 0.9,
    "learning_starts": 50,
    "train_ratio": 64.0,  # one update per step
    "model_lr": 3e-3,
    "actor_lr": 3e-3,
    "critic_lr": 3e-3,
    "progress": False,
}


class CueEnv(gym.Env):
    """The observation shows one of two cues; the action that matches it pays 1. Ten steps an
    episode (truncated), so a random policy earns 5 and the best one 10. The reward model must
    learn (cue, action) -> reward, the actor to act on it."""

    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.cue = int(self.np_random.integers(2))
        return np.eye(2, dtype=np.float32)[self.cue], {}

    def step(self, action):
        reward = float(int(action) == self.cue)
        self.t += 1
        self.cue = int(self.np_random.integers(2))
        return np.eye(2, dtype=np.float32)[self.cue], reward, False, self.t >= 10, {}


if "tidytest/Cue-v0" not in gym.registry:
    gym.register("tidytest/Cue-v0", entry_point=CueEnv)


def test_learns_the_cue_task_in_a_few_hundred_steps():
    torch.set_num_threads(1)
    agent = tidyrl.make("dreamer", "tidytest/Cue-v0", seed=0, **TINY)
    before = agent.evaluate(episodes=10)["mean_return"]
    agent.learn(450)
    after = agent.evaluate(episodes=10)["mean_return"]
    assert agent.counters["updates"] == 400
    assert after >= 9.0, (before, after)


def test_world_model_loss_moves_only_the_world_model_and_actor_loss_only_the_actor():
    agent = tidyrl.make("dreamer", "tidytest/Cue-v0", seed=0, **TINY)
    agent.learn(60)
    for net in (agent.world_model, agent.actor, agent.critic):
        net.zero_grad(set_to_none=True)
    batch = agent.replay.sample(4, 8, np.random.default_rng(0))
    loss, _, post = world_model_loss(agent.world_model, batch, agent.bins, agent.config)
    loss.backward()
    assert all(p.grad is None for p in agent.actor.parameters())
    assert all(p.grad is None for p in agent.critic.parameters())
    assert any(p.grad is not None for p in agent.world_model.parameters())
    agent.world_model.zero_grad(set_to_none=True)
    feats, actions = agent.imagine(post.detach().flatten(0, 1))
    assert feats.shape[0] == agent.config.horizon + 1 and not feats.requires_grad
    logp, _ = agent.actor.log_prob_entropy(feats[:-1], actions)
    logp.sum().backward()
    assert all(p.grad is None for p in agent.world_model.parameters())
    assert all(p.grad is None for p in agent.critic.parameters())
    # the slow critic never receives gradients
    assert not any(p.requires_grad for p in agent.slow_critic.parameters())


def test_box_actions_stay_in_bounds():
    agent = tidyrl.make("dreamer", "Pendulum-v1", seed=0, **{**TINY, "learning_starts": 40})
    agent.learn(80)
    assert agent.counters["updates"] > 0
    obs = np.zeros((5, 3), np.float32)
    actions = agent.predict(obs, deterministic=False)
    assert actions.shape == (5, 1) and np.all(np.abs(actions) <= 2.0)


def test_pixels():
    if importlib.util.find_spec("dm_control") is None:  # importing it would pick a renderer
        pytest.skip("the dmc extra is not installed")
    cfg = {**TINY, "cnn_depth": 4, "batch_size": 2, "seq_len": 8, "learning_starts": 10}
    agent = tidyrl.make("dreamer", "dmc/cartpole-swingup-pixels-v0", seed=0, **cfg)
    agent.learn(14)
    assert agent.counters["updates"] > 0
    assert agent.replay.streams[0].columns["obs"].dtype == np.uint8
    assert np.isfinite(float(agent.last_metrics["recon_loss"]))
