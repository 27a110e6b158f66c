"""NoisyLinear: factorised noise, init, mean mode, resampling."""

from __future__ import annotations

import math

import torch

from tidyrl.nets.noisy import (
    FACTOR_ROWS,
    NoisyLinear,
    _f,
    composed_once,
    reset_noise,
    set_noise,
)


def test_factorised_noise_matches_formula():
    torch.manual_seed(0)
    layer = NoisyLinear(3, 2, sigma0=0.5)
    eps_w = torch.outer(layer.eps_out, layer.eps_in)  # f(eps_out) f(eps_in)^T
    w = layer.weight_mu + layer.weight_sigma * eps_w
    b = layer.bias_mu + layer.bias_sigma * layer.eps_out
    # a few rows take the factorised form, a minibatch the composed weight: both are the formula
    for rows in (1, FACTOR_ROWS, FACTOR_ROWS + 1, 64):
        x = torch.randn(rows, 3)
        torch.testing.assert_close(layer(x), x @ w.T + b)
    # f(x) = sgn(x) sqrt|x| keeps the sign and |f(x)|^2 = |x| of a standard normal draw
    assert layer.eps_in.shape == (3,) and layer.eps_out.shape == (2,)


def test_init_ranges():
    layer = NoisyLinear(16, 4, sigma0=0.5)
    bound = 1 / math.sqrt(16)
    assert layer.weight_mu.abs().max() <= bound and layer.bias_mu.abs().max() <= bound
    torch.testing.assert_close(layer.weight_sigma, torch.full((4, 16), 0.5 / 4))
    torch.testing.assert_close(layer.bias_sigma, torch.full((4,), 0.5 / 4))


def test_mean_mode_and_resampling():
    torch.manual_seed(1)
    net = torch.nn.Sequential(NoisyLinear(3, 3), torch.nn.ReLU(), NoisyLinear(3, 2))
    x = torch.randn(5, 3)
    noisy = net(x)
    torch.testing.assert_close(net(x), noisy)  # noise held until resampled
    reset_noise(net)
    assert not torch.allclose(net(x), noisy)
    set_noise(net, False)
    mean = net[2](torch.relu(x @ net[0].weight_mu.T + net[0].bias_mu))
    torch.testing.assert_close(net(x), mean)


def test_gradients_reach_mu_and_sigma():
    layer = NoisyLinear(3, 2)
    layer(torch.randn(4, 3)).sum().backward()
    for p in (layer.weight_mu, layer.weight_sigma, layer.bias_mu, layer.bias_sigma):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_both_forms_give_the_same_gradients():
    torch.manual_seed(2)
    layer = NoisyLinear(5, 3)
    x = torch.randn(FACTOR_ROWS + 1, 5)
    params = (layer.weight_mu, layer.weight_sigma, layer.bias_mu, layer.bias_sigma)
    layer(x).square().sum().backward()  # composed weight (one pass over all rows)
    composed = [p.grad.clone() for p in params]
    layer.zero_grad()
    sum(layer(row[None]).square().sum() for row in x).backward()  # factorised, row by row
    for a, p in zip(composed, params):
        torch.testing.assert_close(a, p.grad)


def test_reset_noise_draws_all_layers_of_all_modules_in_one_call():
    a = torch.nn.Sequential(NoisyLinear(3, 2), torch.nn.ReLU(), NoisyLinear(2, 4))
    b = torch.nn.Sequential(NoisyLinear(2, 1), torch.nn.Linear(1, 1))
    torch.manual_seed(5)
    reset_noise(a, b)
    torch.manual_seed(5)
    expected = _f(torch.randn(3 + 2 + 2 + 4 + 2 + 1)).split([3, 2, 2, 4, 2, 1])
    got = [a[0].eps_in, a[0].eps_out, a[2].eps_in, a[2].eps_out, b[0].eps_in, b[0].eps_out]
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)
    reset_noise(torch.nn.Linear(2, 2))  # no noisy layer: nothing drawn, no error


def test_composed_once_reuses_the_weight_and_recomposes_for_gradients():
    layer = NoisyLinear(4, 3)
    x = torch.randn(FACTOR_ROWS + 2, 4)
    with composed_once(layer):
        with torch.no_grad():
            first = layer.noisy_weights()[0]
            assert layer.noisy_weights()[0] is first  # no-grad passes share it
        grad_weight = layer.noisy_weights()[0]  # a pass with gradients needs its own
        assert grad_weight is not first and grad_weight.requires_grad
        assert layer.noisy_weights()[0] is grad_weight
        with torch.no_grad():
            assert layer.noisy_weights()[0] is grad_weight
        held = layer(x)
    assert layer._held is None and layer.noisy_weights()[0] is not grad_weight  # released
    torch.testing.assert_close(held, layer(x))
