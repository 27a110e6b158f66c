"""Explicit backward passes (tidyrl.nets.backprop) give autograd's gradients."""

from __future__ import annotations

import pytest
import torch

from tidyrl.core.squashed import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    squashed_gaussian_sample,
    squashed_gaussian_sample_backward,
)
from tidyrl.nets.backprop import (
    accumulate_grad,
    ensemble_input,
    ensemble_layers,
    mlp_layers,
    relu_backward,
    relu_forward,
    set_grads,
)
from tidyrl.nets.critics import QEnsemble, mlp_forward
from tidyrl.nets.mlp import mlp

# bf16 products round to 8 bits of mantissa: compare against autograd's bf16 path loosely
TOL = {None: {"atol": 1e-5, "rtol": 1e-4}, torch.bfloat16: {"atol": 2e-2, "rtol": 5e-2}}


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
@pytest.mark.parametrize("hidden", [(32,), (32, 24), (16, 40, 24)])
def test_mlp_forward_and_gradients_match_autograd(dtype, hidden):
    torch.manual_seed(0)
    net = mlp(5, hidden, 3)
    x = torch.randn(17, 5, requires_grad=True)
    g = torch.randn(17, 3)
    expected_out = mlp_forward(net, x, dtype)
    expected = torch.autograd.grad((expected_out * g).sum(), [x, *net.parameters()])

    layers = mlp_layers(net)
    out, inputs = relu_forward(layers, x.detach(), dtype)
    grads, dx = relu_backward(layers, inputs, g, input_grad=True)
    assert out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, expected_out.detach(), **TOL[dtype])
    flat = [dx] + [t for pair in grads for t in pair]
    for got, want, p in zip(flat, expected, [x, *net.parameters()], strict=True):
        assert got.shape == want.shape and got.dtype == p.dtype
        torch.testing.assert_close(got, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
@pytest.mark.parametrize(("hidden", "out_dim"), [((32, 32), 1), ((24,), 1), ((16, 32, 8), 5)])
def test_ensemble_gradients_match_autograd(dtype, hidden, out_dim):
    torch.manual_seed(1)
    critic = QEnsemble(3, 2, hidden, n_critics=2, out_dim=out_dim)
    critic.compute_dtype = dtype
    obs, actions = torch.randn(33, 3), torch.randn(33, 2, requires_grad=True)
    g = torch.randn(2, 33, out_dim)
    q = critic(obs, actions)
    params = list(critic.parameters())
    expected = torch.autograd.grad((q * g).sum(), [actions, *params])

    layers = ensemble_layers(critic)
    out, inputs = relu_forward(layers, ensemble_input(critic, obs, actions.detach()), dtype)
    grads, dx = relu_backward(layers, inputs, g, input_grad=True)
    torch.testing.assert_close(out, q.detach(), **TOL[dtype])
    assert dx is not None
    torch.testing.assert_close(dx.sum(0)[:, 3:], expected[0], **TOL[dtype])
    # the layers' parameters are the module's, in the same order
    assert [p for layer in layers for p in (layer.weight, layer.bias)] == params
    for (dw, db), (want_w, want_b) in zip(grads, zip(expected[1::2], expected[2::2])):
        torch.testing.assert_close(dw, want_w, **TOL[dtype])
        torch.testing.assert_close(db, want_b, **TOL[dtype])


def test_frozen_backward_skips_the_parameters_and_matches_the_frozen_critic():
    torch.manual_seed(2)
    critic = QEnsemble(4, 1, (32, 32), n_critics=2)
    obs, actions = torch.randn(20, 4), torch.randn(20, 1, requires_grad=True)
    g = torch.randn(2, 20, 1)
    (expected,) = torch.autograd.grad((critic(obs, actions, frozen=True) * g).sum(), [actions])
    layers = ensemble_layers(critic)
    _, inputs = relu_forward(layers, ensemble_input(critic, obs, actions.detach()))
    grads, dx = relu_backward(layers, inputs, g, params=False, input_grad=True)
    assert grads == [] and dx is not None
    torch.testing.assert_close(dx.sum(0)[:, 4:], expected)


def test_set_grads_accumulates_in_the_parameter_layout():
    torch.manual_seed(3)
    net = mlp(3, (8,), 2)
    layers = mlp_layers(net)
    x, g = torch.randn(6, 3), torch.randn(6, 2)
    _, inputs = relu_forward(layers, x)
    grads, _ = relu_backward(layers, inputs, g)
    set_grads(layers, grads)
    first = [p.grad.clone() for p in net.parameters()]
    assert all(p.grad.is_contiguous() for p in net.parameters())
    set_grads(layers, grads)
    for p, once in zip(net.parameters(), first):
        torch.testing.assert_close(p.grad, 2 * once)
    scalar = torch.nn.Parameter(torch.tensor(0.5))
    accumulate_grad(scalar, torch.tensor(2.0))
    accumulate_grad(scalar, torch.tensor(1.0))
    assert scalar.grad.item() == 3.0


def test_relu_stack_rejects_other_architectures():
    with pytest.raises(ValueError, match="Linear-ReLU"):
        mlp_layers(mlp(3, (8,), 2, activation="tanh"))
    with pytest.raises(ValueError, match="batch norm"):
        ensemble_layers(QEnsemble(3, 1, (8,), batch_norm=True))


def test_squashed_gaussian_backward_matches_autograd_including_the_clamp():
    torch.manual_seed(4)
    mean = torch.randn(50, 2, dtype=torch.float64, requires_grad=True)
    log_std = (4 * torch.randn(50, 2, dtype=torch.float64)).requires_grad_(True)
    with torch.no_grad():  # rows outside the clamp on both sides, and on its edges
        log_std[:3] = torch.tensor([LOG_STD_MAX + 1, LOG_STD_MIN - 1], dtype=torch.float64)
        log_std[3] = torch.tensor([LOG_STD_MAX, LOG_STD_MIN], dtype=torch.float64)
    eps = torch.randn(50, 2, dtype=torch.float64)
    action, log_prob = squashed_gaussian_sample(mean, log_std, eps=eps)
    g_action, g_logp = torch.randn_like(action), torch.randn_like(log_prob)
    expected = torch.autograd.grad(
        (action * g_action).sum() + (log_prob * g_logp).sum(), [mean, log_std]
    )
    got = squashed_gaussian_sample_backward(
        log_std.detach(), eps, action.detach(), g_action, g_logp
    )
    # autograd's softplus switches to the identity above 20 (d = 1 there), the written-out
    # derivative 2 tanh(u) is exact: they differ by ~1e-9 where |u| > 10
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-7)
    assert (got[1][:3] == 0).all()  # no gradient through the clamp outside its range
