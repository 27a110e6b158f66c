"""I2A (Weber et al. 2017): shapes of the imagination core, rollout encoder and aggregator, the
reverse-order encoding, one update of each phase, gradient isolation (the policy loss never
reaches the environment model; pi^ learns only by distillation), the copy-model control,
save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tidyrl
from tidyrl.algos.policy_gradient.i2a import (
    RolloutEncoder,
    distillation_loss,
    imagine,
)
from tidyrl.errors import ConfigError

ENV = "tidyrl/MiniPacman-v0"
SMALL = {
    "n_envs": 4,
    "encoder_hidden": 8,
    "hidden": 16,
    "model_channels": 8,
    "rollout_depth": 2,
    "pretrain_steps": 40,
}


def make(**overrides):
    return tidyrl.make("i2a", ENV, seed=0, env_kwargs={"mode": "hunt"}, **{**SMALL, **overrides})


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True)]


def trained_batch(agent):
    agent.learn(80)  # 40 steps of pre-training, then 40 of I2A
    assert not agent.pretraining
    return agent.rollout.flatten(*agent.rollout.advantages(0.99, 1.0))


def test_imagination_shapes_one_rollout_per_action():
    agent = make()
    obs = torch.rand(3, 3, 15, 19)
    frames, rewards = imagine(obs, agent.env_model, agent.rollout_policy, 5, 2)
    assert frames.shape == (2, 15, 3, 15, 19) and rewards.shape == (2, 15)
    out = agent.net(obs, frames, rewards)
    assert out.shape == (3, 6)
    assert agent.acting(obs.reshape(3, -1)).shape == (3, 6)
    # the environment model starts as "nothing moves": the first imagined frame is the input
    assert torch.allclose(frames[0], obs.repeat_interleave(5, dim=0))


def test_first_imagined_action_is_the_rollouts_action():
    agent = make()
    torch.manual_seed(0)
    for p in agent.env_model.deconv0.parameters():  # a model whose frame depends on the action
        p.data.normal_()
    obs = torch.rand(2, 3, 15, 19)
    frames, _ = imagine(obs, agent.env_model, agent.rollout_policy, 5, 1)
    for a in range(5):
        one_hot = F.one_hot(torch.tensor([a, a]), 5).float()
        expected, _ = agent.env_model(obs, one_hot)
        assert torch.allclose(frames[0, a::5], expected)


def test_copy_model_repeats_the_frame_with_zero_reward():
    agent = make(imagination="copy")
    assert agent.acting.env_model is None
    obs = torch.rand(2, 3, 15, 19)
    frames, rewards = imagine(obs, None, agent.rollout_policy, 5, 3)
    assert frames.shape == (3, 10, 3, 15, 19)
    assert torch.equal(frames[2], obs.repeat_interleave(5, dim=0))
    assert not rewards.any()


def test_rollout_encoder_reads_the_rollout_in_reverse():
    torch.manual_seed(0)
    enc = RolloutEncoder((3, 15, 19), 6)
    frames, rewards = torch.rand(3, 2, 3, 15, 19), torch.randn(3, 2)
    e = enc(frames, rewards)
    # by hand: the LSTM cell stepped over k = 3, 2, 1
    h = c = torch.zeros(2, 6)
    w_ih, w_hh = enc.lstm.weight_ih_l0, enc.lstm.weight_hh_l0
    b = enc.lstm.bias_ih_l0 + enc.lstm.bias_hh_l0
    for k in (2, 1, 0):
        x = torch.cat([enc.features(frames[k]), rewards[k, :, None]], dim=1)
        i, f, g, o = (x @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    assert torch.allclose(e, h, atol=1e-6)


def test_distillation_loss_by_hand():
    logits = torch.tensor([[0.0, np.log(3.0)]])  # pi = (1/4, 3/4)
    rollout_logits = torch.tensor([[0.0, 0.0]], requires_grad=True)  # pi^ = (1/2, 1/2)
    loss = distillation_loss(logits, rollout_logits)
    assert loss.item() == pytest.approx(np.log(2.0))
    loss.backward()  # d/dz of -sum pi log softmax(z) = softmax(z) - pi
    assert torch.allclose(rollout_logits.grad, torch.tensor([[0.25, -0.25]]))


def test_i2a_update_moves_the_policy_never_the_environment_model():
    agent = make(distill_coef=0.0)
    batch = trained_batch(agent)
    model, net, rollout = params(agent.env_model), params(agent.net), params(agent.rollout_policy)
    metrics = agent.update(batch)
    assert set(metrics) == {"policy_loss", "value_loss", "entropy", "distill_loss"}
    assert not any(changed(model, agent.env_model))
    assert all(p.grad is None for p in agent.env_model.parameters())
    assert all(changed(net, agent.net))
    # without the distillation term pi^ gets no gradient: imagination runs without autograd
    assert not any(changed(rollout, agent.rollout_policy))


def test_distillation_moves_only_the_rollout_policy_head_and_features():
    agent = make(distill_coef=1.0)
    batch = trained_batch(agent)
    rollout = params(agent.rollout_policy)
    agent.update(batch)
    assert all(changed(rollout, agent.rollout_policy))


def test_pretraining_update_trains_the_rollout_policy_and_the_model():
    agent = make(pretrain_steps=1000)
    agent.learn(40)
    assert agent.pretraining
    model, net, rollout = params(agent.env_model), params(agent.net), params(agent.rollout_policy)
    agent.learn(60)
    metrics = agent.last_metrics
    assert {"model_loss", "model_frame_accuracy"} <= set(metrics)
    assert 0.0 <= float(metrics["model_frame_accuracy"]) <= 1.0
    assert all(changed(model, agent.env_model))
    assert all(changed(rollout, agent.rollout_policy))
    assert not any(changed(net, agent.net))  # the I2A waits for the model


def test_save_load_acts_identically(tmp_path):
    agent = make()
    agent.learn(80)
    agent.save(tmp_path / "i2a")
    loaded = tidyrl.load(tmp_path / "i2a")
    obs = np.stack([agent.env.obs[0]] * 3)
    np.testing.assert_array_equal(agent.predict(obs), loaded.predict(obs))
    for a, b in zip(agent.env_model.parameters(), loaded.env_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_flat_observations_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"\(C, H, W\)"):
        tidyrl.make("i2a", "CartPole-v1")


def test_minatar_frames_through_both_phases():
    pytest.importorskip("minatar")
    agent = tidyrl.make("i2a", "MinAtar/Breakout-v1", seed=0, **{**SMALL, "pretrain_steps": 40})
    assert agent.shape == (4, 10, 10)  # uint8 0/1 planes, read as floats by EM and the CNNs
    agent.learn(40)
    assert 0.0 <= float(agent.last_metrics["model_frame_accuracy"]) <= 1.0
    agent.learn(80)
    assert "distill_loss" in agent.last_metrics


def test_normalized_advantages_enter_the_policy_loss():
    from tidyrl.core.distributions import Categorical
    from tidyrl.core.returns import normalize

    agent = make(normalize_advantages=True)
    batch = trained_batch(agent)
    with torch.no_grad():
        logp = Categorical(agent.acting(batch.obs)[:, :-1]).log_prob(batch.actions)
    expected = -(logp * normalize(batch.advantages)).mean()
    assert not torch.allclose(expected, -(logp * batch.advantages).mean())
    assert torch.allclose(agent.update(batch)["policy_loss"], expected, atol=1e-6)
