"""NoisyLinear: factorised noise, init, mean mode, resampling."""

from __future__ import annotations

import math

import torch

from tidyrl.nets.noisy import NoisyLinear, reset_noise, set_noise


def test_factorised_noise_matches_formula():
    torch.manual_seed(0)
    layer = NoisyLinear(3, 2, sigma0=0.5)
    x = torch.randn(4, 3)
    eps_w = torch.outer(layer.eps_out, layer.eps_in)  # f(eps_out) f(eps_in)^T
    w = layer.weight_mu + layer.weight_sigma * eps_w
    b = layer.bias_mu + layer.bias_sigma * layer.eps_out
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
