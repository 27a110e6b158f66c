"""Dueling combination, categorical Q, and QNetwork shapes."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import torch

from tidyrl.nets.heads import QNetwork, categorical_q, dueling_combine
from tidyrl.nets.noisy import NoisyLinear


def test_dueling_combine_hand_checked():
    value = torch.tensor([[1.0], [0.0]])
    advantage = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])
    # Q = V + A - mean A: row 0 mean 2 -> [0, 1, 2]; row 1 mean 1 -> [-1, -1, 2]
    torch.testing.assert_close(
        dueling_combine(value, advantage), torch.tensor([[0.0, 1.0, 2.0], [-1.0, -1.0, 2.0]])
    )


def test_categorical_q_hand_checked():
    support = torch.tensor([0.0, 1.0, 2.0])
    logits = torch.log(torch.tensor([[[0.5, 0.5, 0.0001], [0.0001, 0.0001, 1.0]]]))
    q = categorical_q(logits, support)
    torch.testing.assert_close(q, torch.tensor([[0.5, 2.0]]), atol=1e-3, rtol=0)


def test_qnetwork_shapes_and_parts():
    vec = gym.spaces.Box(-1, 1, (4,), np.float32)
    net = QNetwork(vec, 3, (32, 16), dueling=True, noisy=True, n_atoms=5)
    out = net(torch.zeros(7, 4))
    assert out.shape == (7, 3, 5)
    assert sum(isinstance(m, NoisyLinear) for m in net.modules()) == 5  # shared + 2 per stream
    plain = QNetwork(vec, 2, (256, 256))
    assert plain(torch.zeros(1, 4)).shape == (1, 2)
    # hidden (256, 256) = SB3 net_arch [256, 256]: 4*256+256 + 256*256+256 + 256*2+2 params
    assert sum(p.numel() for p in plain.parameters()) == 4 * 256 + 256 + 256 * 256 + 256 + 514


def test_dueling_value_stream_shifts_all_actions_equally():
    vec = gym.spaces.Box(-1, 1, (2,), np.float32)
    net = QNetwork(vec, 4, (8,), dueling=True)
    x = torch.randn(3, 2)
    before = net(x)
    with torch.no_grad():
        net.value[-1].bias += 1.0
    torch.testing.assert_close(net(x) - before, torch.ones(3, 4))


def test_with_next_matches_two_plain_passes_and_only_s_carries_gradients():
    torch.manual_seed(0)
    spaces = {
        "vector": (gym.spaces.Box(-1, 1, (4,), np.float32), lambda n: torch.randn(n, 4)),
        "pixels": (
            gym.spaces.Box(0, 255, (4, 40, 40), np.uint8),
            lambda n: torch.randint(0, 256, (n, 4, 40, 40), dtype=torch.uint8),
        ),
    }
    for (space, draw), noisy in itertools.product(spaces.values(), (False, True)):
        net = QNetwork(space, 3, (16,), dueling=True, noisy=noisy)  # noisy: one 2B head pass
        obs, next_obs = draw(5), draw(5)
        out, next_out = net.with_next(obs, next_obs)
        assert not next_out.requires_grad
        torch.testing.assert_close(out, net(obs))
        torch.testing.assert_close(next_out, net(next_obs))
        out.sum().backward()
        grads = [p.grad.clone() for p in net.parameters()]
        net.zero_grad()
        net(obs).sum().backward()
        for g, p in zip(grads, net.parameters()):
            torch.testing.assert_close(g, p.grad)


def test_empty_hidden_puts_the_output_layers_on_the_encoder():
    """hidden=(): Revisiting Rainbow's MinAtar network, conv features -> output layers."""
    space = gym.spaces.Box(0, 1, (4, 10, 10), np.float32)
    net = QNetwork(space, 3, (), dueling=True, noisy=True, n_atoms=51)
    assert len(net.shared) == 0
    noisy = [m for m in net.modules() if isinstance(m, NoisyLinear)]
    width = net.encoder.out_dim
    assert [(m.in_features, m.out_features) for m in noisy] == [(width, 153), (width, 51)]
    assert net(torch.zeros(2, 4, 10, 10)).shape == (2, 3, 51)
    assert net.output_layers() == noisy
