"""Tanh-squashed Gaussian log-probabilities and Box rescaling (DESIGN.md section 7, layer 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tidyrl.core.squashed import (
    gaussian_log_prob,
    scale_action,
    squashed_gaussian_action,
    squashed_gaussian_log_prob,
    squashed_gaussian_sample,
    tanh_log_det_jacobian,
    unscale_action,
)


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (0.7, 0.3), (-1.5, 1.0), (3.0, 0.5)])
def test_squashed_density_integrates_to_one_and_matches_change_of_variables(mean, std):
    # density of a = tanh(u) on (-1, 1): N(atanh a; mean, std) / (1 - a^2)
    a = torch.linspace(-1 + 1e-7, 1 - 1e-7, 400_001, dtype=torch.float64)
    u = torch.atanh(a)
    m = torch.full_like(u, mean)[:, None]
    log_std = torch.full_like(u, math.log(std))[:, None]
    logp = squashed_gaussian_log_prob(u[:, None], m, log_std)
    density = torch.exp(logp)
    assert torch.trapezoid(density, a).item() == pytest.approx(1.0, abs=2e-3)
    normal = torch.exp(-0.5 * ((u - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    middle = slice(1000, -1000)
    np.testing.assert_allclose(density[middle], (normal / (1 - a**2))[middle], rtol=1e-6)


def test_squashed_mean_matches_numeric_integral_and_monte_carlo():
    mean, std = 0.4, 0.8
    a = torch.linspace(-1 + 1e-7, 1 - 1e-7, 200_001, dtype=torch.float64)
    u = torch.atanh(a)[:, None]
    logp = squashed_gaussian_log_prob(
        u, torch.full_like(u, mean), torch.full_like(u, math.log(std))
    )
    expected = torch.trapezoid(a * torch.exp(logp), a).item()
    torch.manual_seed(0)
    m = torch.full((200_000, 1), mean, dtype=torch.float64)
    samples, _ = squashed_gaussian_sample(m, torch.full_like(m, math.log(std)))
    assert samples.mean().item() == pytest.approx(expected, abs=5e-3)


def test_log_prob_of_a_sample_sums_over_action_dimensions():
    torch.manual_seed(1)
    mean, log_std = torch.randn(5, 3), torch.randn(5, 3) * 0.3
    action, logp = squashed_gaussian_sample(mean, log_std)
    assert action.shape == (5, 3) and logp.shape == (5,)
    assert (action.abs() < 1).all()
    u = torch.atanh(action.double())
    per_dim = [
        squashed_gaussian_log_prob(u[:, i : i + 1], mean[:, i : i + 1], log_std[:, i : i + 1])
        for i in range(3)
    ]
    np.testing.assert_allclose(logp, sum(per_dim).float(), rtol=1e-3, atol=1e-3)


def test_log_det_jacobian_is_stable_where_tanh_saturates():
    u = torch.tensor([[0.0], [5.0], [-30.0], [100.0]])
    value = tanh_log_det_jacobian(u)
    assert torch.isfinite(value).all()
    assert value[0].item() == pytest.approx(0.0, abs=1e-7)  # log(1 - tanh(0)^2) = 0
    assert value[1].item() == pytest.approx(math.log(1 - math.tanh(5.0) ** 2), rel=1e-5)


def test_gaussian_log_prob_hand_value():
    # log N(1; 0, 2) = -1/8 - log 2 - log(2 pi)/2
    value = gaussian_log_prob(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([math.log(2)]))
    assert value.item() == pytest.approx(-0.125 - math.log(2) - 0.5 * math.log(2 * math.pi))


def test_deterministic_sample_is_tanh_of_mean_and_gradients_reach_mean_and_std():
    mean = torch.tensor([[0.3, -2.0]], requires_grad=True)
    log_std = torch.tensor([[0.1, -0.5]], requires_grad=True)
    action, _ = squashed_gaussian_sample(mean, log_std, deterministic=True)
    np.testing.assert_allclose(action.detach(), torch.tanh(mean).detach())
    action, logp = squashed_gaussian_sample(mean, log_std)
    (action.sum() + logp.sum()).backward()
    assert mean.grad is not None and log_std.grad is not None
    assert torch.isfinite(mean.grad).all() and (log_std.grad != 0).all()


def test_scale_and_unscale_actions_with_asymmetric_bounds():
    low, high = np.array([0.0, -10.0]), np.array([5.0, -2.0])
    unit = np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [0.5, -0.5]])
    scaled = scale_action(unit, low, high)
    np.testing.assert_allclose(scaled[0], low)
    np.testing.assert_allclose(scaled[2], high)
    np.testing.assert_allclose(scaled[1], [2.5, -6.0])
    np.testing.assert_allclose(scaled[3], [3.75, -8.0])
    np.testing.assert_allclose(unscale_action(scaled, low, high), unit, atol=1e-6)
    assert scale_action(np.array([[3.0, -3.0]]), low, high).tolist() == [[5.0, -10.0]]


def test_infinite_or_empty_bounds_are_rejected():
    with pytest.raises(ValueError, match="finite action bounds"):
        scale_action(np.zeros(1), np.array([-np.inf]), np.array([1.0]))
    with pytest.raises(ValueError, match="low < high"):
        unscale_action(np.zeros(1), np.array([1.0]), np.array([1.0]))


@pytest.mark.parametrize("deterministic", [False, True])
def test_sample_log_prob_in_eps_equals_the_change_of_variables_form(deterministic):
    """log pi written in eps gives the value and the gradients of squashed_gaussian_log_prob(u)."""
    torch.manual_seed(0)
    mean = torch.randn(64, 3, dtype=torch.float64, requires_grad=True)
    log_std = (torch.randn(64, 3, dtype=torch.float64) - 0.5).requires_grad_(True)
    torch.manual_seed(1)
    action, logp = squashed_gaussian_sample(mean, log_std, deterministic)
    clamped = log_std.clamp(-20.0, 2.0)
    torch.manual_seed(1)
    u = mean if deterministic else mean + clamped.exp() * torch.randn_like(mean)
    expected = squashed_gaussian_log_prob(u, mean, clamped)
    torch.testing.assert_close(action, torch.tanh(u))
    torch.testing.assert_close(logp, expected)
    weights = torch.randn(64, dtype=torch.float64)
    grads = torch.autograd.grad((logp * weights).sum() + action.sum(), (mean, log_std))
    expected_grads = torch.autograd.grad(
        (expected * weights).sum() + torch.tanh(u).sum(), (mean, log_std)
    )
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e)


def test_action_alone_is_the_same_draw_as_the_sample():
    mean, log_std = torch.randn(5, 2), torch.randn(5, 2)
    torch.manual_seed(3)
    action, _ = squashed_gaussian_sample(mean, log_std)
    torch.manual_seed(3)
    torch.testing.assert_close(squashed_gaussian_action(mean, log_std), action)
    torch.testing.assert_close(
        squashed_gaussian_action(mean, log_std, deterministic=True), torch.tanh(mean)
    )


def test_guarded_log_prob_caps_the_squashing_term_at_log_eps():
    """jacobian_eps > 0: log pi = -eps^2/2 - log std - log(2 pi)/2 - log(1 - a^2 + jacobian_eps)
    per dimension (the original SAC code's and Stable-Baselines3's form). Unsaturated, it is
    the exact value to within the guard; saturated (tanh(20) rounds to 1), the term is
    log(1e-6), where the exact one is 2 (log 2 - 20 - softplus(-40)) = -38.61."""
    mean, log_std = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    eps = torch.tensor([[0.5, 20.0]])
    _, exact = squashed_gaussian_sample(mean, log_std, eps=eps)
    action, guarded = squashed_gaussian_sample(mean, log_std, eps=eps, jacobian_eps=1e-6)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    first = -0.125 - half_log_2pi - math.log(1 - math.tanh(0.5) ** 2 + 1e-6)
    second = -200.0 - half_log_2pi - math.log(1e-6)
    assert action[0, 1].item() == 1.0
    assert guarded.item() == pytest.approx(first + second, rel=1e-6)
    exact_first = -0.125 - half_log_2pi - math.log(1 - math.tanh(0.5) ** 2)
    exact_second = -200.0 - half_log_2pi - 2 * (math.log(2) - 20.0)  # softplus(-40) ~ 4e-18
    assert exact.item() == pytest.approx(exact_first + exact_second, rel=1e-6)
