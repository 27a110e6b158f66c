"""World Models' M (tidyrl.models.mdn_rnn): the mixture NLL by hand, sampling at a temperature,
sequence windows, and a fit of a known sequence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tidyrl.models.mdn_rnn import (
    MDNRNN,
    MDNOutput,
    episode_windows,
    mdn_nll,
    mdn_rnn_loss,
    sample_mdn,
)


def normal_pdf(y: float, mu: float, sigma: float) -> float:
    return math.exp(-0.5 * ((y - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_mdn_nll_by_hand():
    # two components: weights 0.25 / 0.75, N(0, 1) and N(2, 0.5), at y = 1
    log_pi = torch.log(torch.tensor([[0.25, 0.75]]))
    mu = torch.tensor([[0.0, 2.0]])
    log_sigma = torch.log(torch.tensor([[1.0, 0.5]]))
    expected = -math.log(0.25 * normal_pdf(1.0, 0.0, 1.0) + 0.75 * normal_pdf(1.0, 2.0, 0.5))
    assert mdn_nll(log_pi, mu, log_sigma, torch.tensor([1.0])).item() == pytest.approx(expected)


def test_mdn_rnn_loss_masks_padding_by_hand():
    k = torch.zeros(1, 2, 1, 1)  # one component N(0, 1), one code dimension, two steps
    out = MDNOutput(k, k, k, torch.tensor([[1.0, 5.0]]), torch.tensor([[0.0, 9.0]]))
    next_z = torch.tensor([[[1.0], [100.0]]])
    mask = torch.tensor([[1.0, 0.0]])  # the second step is padding
    loss, parts = mdn_rnn_loss(out, next_z, torch.tensor([[3.0, 0.0]]), torch.zeros(1, 2), mask)
    nll = 0.5 + 0.5 * math.log(2 * math.pi)
    assert parts["mdn_nll"].item() == pytest.approx(nll)
    assert parts["reward_loss"].item() == pytest.approx(4.0)
    assert parts["done_loss"].item() == pytest.approx(math.log(2.0))
    assert loss.item() == pytest.approx(nll + 4.0 + math.log(2.0))


def test_sample_mdn_temperature():
    """tau -> 0 picks the heaviest component and its mean; tau = 1 follows the weights."""
    log_pi = torch.log(torch.tensor([0.3, 0.7])).expand(4000, 1, 2)
    mu = torch.tensor([-5.0, 5.0]).expand(4000, 1, 2)
    log_sigma = torch.full((4000, 1, 2), math.log(0.1))
    out = MDNOutput(log_pi, mu, log_sigma, torch.zeros(4000), torch.full((4000,), -1e9))
    gen = torch.Generator().manual_seed(0)
    z, done = sample_mdn(out, 1e-4, gen)
    assert torch.allclose(z, torch.full_like(z, 5.0), atol=0.01) and not bool(done.any())
    z, _ = sample_mdn(out, 1.0, gen)
    assert float((z > 0).float().mean()) == pytest.approx(0.7, abs=0.03)
    assert float(z[z > 0].std()) == pytest.approx(0.1, abs=0.01)
    z, _ = sample_mdn(out, 4.0, gen)  # sigma scaled by sqrt(tau) = 2
    assert float(z[z > 0].std()) == pytest.approx(0.2, abs=0.02)


def test_episode_windows_never_cross_an_episode():
    index, mask = episode_windows(np.array([3, 5]), 4)
    assert index.tolist() == [[0, 1, 2, 2], [3, 4, 5, 6], [7, 7, 7, 7]]
    assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_mdn_rnn_shapes_and_step_matches_sequence():
    torch.manual_seed(0)
    m = MDNRNN(3, 2, hidden=8, n_mixtures=5)
    z, a = torch.randn(2, 4, 3), torch.randn(2, 4, 2)
    out, state = m(z, a)
    assert out.log_pi.shape == (2, 4, 3, 5) and out.reward.shape == (2, 4)
    assert torch.allclose(out.log_pi.exp().sum(-1), torch.ones(2, 4, 3))
    s = m.initial_state(2)
    for t in range(4):
        step, s = m.step(z[:, t], a[:, t], s)
    assert torch.allclose(step.mu, out.mu[:, -1], atol=1e-6)
    assert torch.allclose(s[0], state[0], atol=1e-6)


def test_mdn_rnn_fits_a_known_sequence():
    """z_{t+1} = z_t + a_t on a 1-d walk with terminal steps at |z| >= 3: M learns the next code
    (nll far below a unit Gaussian's), the reward (= z_t) and when an episode ends."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    a = rng.choice([-1.0, 1.0], size=(64, 12)).astype(np.float32)
    z = np.concatenate([np.zeros((64, 1)), np.cumsum(a, axis=1)], axis=1).astype(np.float32)
    done = (np.abs(z[:, 1:]) >= 3).astype(np.float32)
    zt, at = torch.as_tensor(z[:, :-1, None]), torch.as_tensor(a[:, :, None])
    target, rewards = torch.as_tensor(z[:, 1:, None]), torch.as_tensor(z[:, :-1])
    mask = torch.ones(64, 12)
    m = MDNRNN(1, 1, hidden=32, n_mixtures=3)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(300):
        out, _ = m(zt, at)
        loss, parts = mdn_rnn_loss(out, target, rewards, torch.as_tensor(done), mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["mdn_nll"].item() < -1.0  # a unit Gaussian around the truth scores 0.92
    assert parts["reward_loss"].item() < 0.05
    with torch.no_grad():
        out, _ = m(zt, at)
    predicted_done = torch.sigmoid(out.done_logit) > 0.5
    assert float((predicted_done == torch.as_tensor(done).bool()).float().mean()) > 0.97
