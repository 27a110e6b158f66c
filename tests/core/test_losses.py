"""Losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from tidyrl.core.distributions import Categorical, DiagGaussian
from tidyrl.core.losses import (
    action_mse,
    behaviour_cloning_loss,
    categorical_cross_entropy,
    huber,
    negative_log_likelihood,
    squared,
    td_loss,
)


def test_huber_and_squared():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 2.0])
    torch.testing.assert_close(huber(x), torch.tensor([2.5, 0.5, 0.125, 0.0, 0.125, 1.5]))
    torch.testing.assert_close(
        huber(x, delta=2.0), torch.tensor([4.0, 0.5, 0.125, 0.0, 0.125, 2.0])
    )
    torch.testing.assert_close(squared(x), 0.5 * x * x)
    torch.testing.assert_close(td_loss(x, "mse"), squared(x))
    with pytest.raises(ValueError):
        td_loss(x, "l1")


def test_huber_gradient_is_clipped():
    x = torch.tensor([-5.0, 0.3, 5.0], requires_grad=True)
    huber(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-1.0, 0.3, 1.0]))


def test_cross_entropy():
    log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    m = torch.tensor([[0.0, 1.0, 0.0]])
    torch.testing.assert_close(categorical_cross_entropy(log_p, m), torch.log(torch.tensor([4.0])))


def test_behaviour_cloning_log_likelihood_of_a_categorical_policy():
    # probabilities (0.5, 0.25, 0.25) and (0.1, 0.9, ~0): demonstrated actions 0 and 1
    dist = Categorical(torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.9, 1e-12]])))
    actions = torch.tensor([0, 1])
    expected = -(math.log(0.5) + math.log(0.9)) / 2
    assert negative_log_likelihood(dist, actions).item() == pytest.approx(expected, rel=1e-6)
    assert behaviour_cloning_loss(dist, actions, "log-likelihood").item() == pytest.approx(
        expected, rel=1e-6
    )


def test_behaviour_cloning_losses_of_a_gaussian_policy():
    # mean (0, 1), std (1, 2); action (1, 1): log N = -1/2 - log 1 - c + 0 - log 2 - c
    mean = torch.tensor([[0.0, 1.0]])
    dist = DiagGaussian(mean, torch.log(torch.tensor([1.0, 2.0])))
    actions = torch.tensor([[1.0, 1.0]])
    c = 0.5 * math.log(2 * math.pi)
    expected_nll = 0.5 + math.log(2.0) + 2 * c
    assert negative_log_likelihood(dist, actions).item() == pytest.approx(expected_nll, rel=1e-6)
    # squared error of the mean: (0 - 1)^2 + (1 - 1)^2 = 1, and a second row (2^2 + 1^2 = 5)
    two = torch.tensor([[0.0, 1.0], [1.0, -1.0]])
    assert action_mse(two, torch.tensor([[1.0, 1.0], [-1.0, 0.0]])).item() == pytest.approx(3.0)
    assert behaviour_cloning_loss(dist, actions, "mse").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="log-likelihood or mse"):
        behaviour_cloning_loss(dist, actions, "l1")


def test_mse_is_the_unit_variance_gaussian_nll_up_to_a_factor_and_a_constant():
    mean = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    actions = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    nll = negative_log_likelihood(DiagGaussian(mean, torch.zeros(3)), actions)
    constant = 3 * 0.5 * math.log(2 * math.pi)
    assert (2 * (nll - constant)).item() == pytest.approx(action_mse(mean, actions).item(), 1e-5)
