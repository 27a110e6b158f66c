"""Quantile Huber loss and quantile midpoints against hand-computed values (layer 1)."""

from __future__ import annotations

import pytest
import torch

from tidyrl.core.quantile import quantile_huber_loss, quantile_midpoints


def test_quantile_midpoints():
    assert quantile_midpoints(4).tolist() == [0.125, 0.375, 0.625, 0.875]
    assert quantile_midpoints(1).tolist() == [0.5]
    with pytest.raises(ValueError):
        quantile_midpoints(0)


def loss(theta, z, tau, kappa=1.0):
    return quantile_huber_loss(
        torch.tensor([theta]), torch.tensor([z]), torch.tensor(tau), kappa
    ).item()


def test_hand_values_one_quantile():
    # u = z - theta = 2 > kappa: |0.25 - 0| * (|u| - kappa/2) / kappa = 0.25 * 1.5
    assert loss([0.0], [2.0], [0.25]) == pytest.approx(0.375)
    # u = -0.5 inside the quadratic zone: |0.25 - 1| * 0.5 * 0.25 = 0.09375
    assert loss([0.0], [-0.5], [0.25]) == pytest.approx(0.09375)
    # mean over target samples
    assert loss([0.0], [2.0, -0.5], [0.25]) == pytest.approx((0.375 + 0.09375) / 2)
    # kappa = 0: the pinball loss |tau - 1{u<0}| |u|
    assert loss([0.0], [2.0], [0.25], kappa=0.0) == pytest.approx(0.5)
    assert loss([0.0], [-2.0], [0.25], kappa=0.0) == pytest.approx(1.5)
    # kappa = 2 divides the Huber loss by kappa: u = 1 -> 0.5 * 0.5 / 2
    assert loss([0.0], [1.0], [0.5], kappa=2.0) == pytest.approx(0.125)


def test_hand_value_sums_over_quantiles_and_averages_over_batch():
    quantiles = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    targets = torch.tensor([[0.5], [0.0]])
    taus = torch.tensor([0.25, 0.75])
    # row 0: u = 0.5 for theta_0 (w 0.25, L 0.125), u = -0.5 for theta_1 (w 0.25, L 0.125)
    expected = (0.25 * 0.125 + 0.25 * 0.125 + 0.0) / 2
    assert quantile_huber_loss(quantiles, targets, taus).item() == pytest.approx(expected)
    weights = torch.tensor([2.0, 0.0])
    value = quantile_huber_loss(quantiles, targets, taus, weights=weights).item()
    assert value == pytest.approx(0.0625)


def test_minimiser_is_the_quantiles_of_the_target_samples():
    z = torch.arange(1001.0)[None] / 1000  # uniform samples on [0, 1]
    taus = quantile_midpoints(4)
    theta = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.02)
    for _ in range(600):
        opt.zero_grad()
        quantile_huber_loss(theta, z, taus, kappa=0.0).backward()
        opt.step()
    torch.testing.assert_close(theta.detach()[0], taus, atol=0.02, rtol=0)


@pytest.mark.parametrize("kappa", [1.0, 0.5, 0.0])
def test_the_fused_loss_is_the_equation_term_by_term(kappa):
    """The loss, with its gradient, equals the module docstring's rho written out with
    elementwise ops, on pairs that include u = 0 and |u| = kappa (the branch points)."""
    generator = torch.Generator().manual_seed(0)
    theta = torch.randint(-4, 5, (6, 8), generator=generator).float() / 2
    z = torch.randint(-4, 5, (6, 5), generator=generator).float() / 2
    taus = quantile_midpoints(8)
    u = z[:, None, :] - theta[:, :, None]
    assert (u == 0).any() and (u.abs() == kappa).any()
    theta_a = theta.clone().requires_grad_()
    theta_b = theta.clone().requires_grad_()
    u = z[:, None, :] - theta_a[:, :, None]
    if kappa > 0:
        huber = torch.where(u.abs() <= kappa, u**2 / 2, kappa * (u.abs() - kappa / 2)) / kappa
    else:
        huber = u.abs()
    rho = (taus[None, :, None] - (u.detach() < 0).float()).abs() * huber
    written_out = rho.mean(-1).sum(-1).mean()
    fused = quantile_huber_loss(theta_b, z, taus, kappa)
    written_out.backward()
    fused.backward()
    torch.testing.assert_close(fused, written_out, rtol=1e-6, atol=0)
    torch.testing.assert_close(theta_b.grad, theta_a.grad, rtol=1e-6, atol=1e-7)
