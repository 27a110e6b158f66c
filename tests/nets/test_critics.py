"""The batched critic ensemble equals k separate MLPs, and its members stay independent."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tidyrl.nets.critics import QEnsemble, activate, batchnorm_mlp, linear, mlp_forward
from tidyrl.nets.mlp import mlp, uniform_init, xavier_init


def member_forward(q: QEnsemble, k: int, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Critic k evaluated on its own, layer by layer, from the stacked weights."""
    h0 = q.hidden[0]
    w = q.first.weight[k * h0 : (k + 1) * h0]
    b = q.first.bias[k * h0 : (k + 1) * h0]
    h = torch.relu(F.linear(torch.cat([obs, act], -1), w, b))
    for i, layer in enumerate(q.layers):
        h = h @ layer.weight[k] + layer.bias[k]
        if i < len(q.layers) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("n_critics", [1, 2, 5])
def test_ensemble_equals_separate_critics(n_critics):
    torch.manual_seed(0)
    q = QEnsemble(3, 2, (16, 8), n_critics=n_critics, out_dim=4)
    obs, act = torch.randn(7, 3), torch.randn(7, 2)
    out = q(obs, act)
    assert out.shape == (n_critics, 7, 4)
    for k in range(n_critics):
        torch.testing.assert_close(out[k], member_forward(q, k, obs, act))


def test_members_are_independently_initialised_and_trained():
    torch.manual_seed(0)
    q = QEnsemble(3, 1, (16, 16), n_critics=2)
    assert not torch.equal(q.layers[0].weight[0], q.layers[0].weight[1])
    q(torch.randn(5, 3), torch.randn(5, 1))[0].sum().backward()
    assert q.layers[0].weight.grad[1].abs().sum() == 0
    assert q.layers[0].weight.grad[0].abs().sum() > 0
    assert q.first.weight.grad[16:].abs().sum() == 0


def test_spell_chart_initialisation():
    torch.manual_seed(0)
    q = QEnsemble(3, 1, (30, 15), 1, 1, init=xavier_init, output_init=uniform_init(0.003))
    assert q.layers[-1].weight.abs().max() <= 0.003
    assert q.layers[-1].bias.abs().max() <= 0.003
    assert (q.first.bias == 0).all()  # Xavier init zeroes the bias
    bound = (6 / (30 + 15)) ** 0.5
    assert q.layers[0].weight.abs().max() <= bound


def test_bf16_hidden_matmuls_stay_close_and_return_float32():
    torch.manual_seed(0)
    q = QEnsemble(3, 1, (64, 64), n_critics=2)
    obs, act = torch.randn(32, 3), torch.randn(32, 1)
    full = q(obs, act)
    q.compute_dtype = torch.bfloat16
    mixed = q(obs, act)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, full, atol=2e-2, rtol=2e-2)
    net = mlp(3, (64, 64), 2)
    out = mlp_forward(net, obs, torch.bfloat16)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, net(obs), atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(mlp_forward(net, obs, None), net(obs))


def test_batch_norm_variants():
    torch.manual_seed(0)
    q = QEnsemble(3, 1, (16, 8), n_critics=2, batch_norm=True)
    obs, act = torch.randn(10, 3) * 5 + 3, torch.randn(10, 1)
    assert q(obs, act).shape == (2, 10, 1)
    q.eval()
    assert q(obs[:1], act[:1]).shape == (2, 1, 1)  # eval mode works on a single row
    actor = batchnorm_mlp(3, (16, 8), 2, output_activation="tanh")
    assert actor(obs).shape == (10, 2) and actor(obs).abs().max() <= 1


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "b_shape"),
    [
        ((20, 4), (2, 4, 24), (2, 1, 24)),  # ensemble first layer: shared input, broadcast
        ((2, 20, 24), (2, 24, 1), (2, 1, 1)),  # ensemble output layer: computed transposed
        ((2, 20, 24), (2, 24, 24), (2, 1, 24)),  # wide: torch's baddbmm
        ((20, 3), (3, 24), (24,)),  # actor input layer
        ((20, 24), (24, 2), (2,)),  # actor output layer
        ((20, 1), (1, 24), (24,)),  # inner dimension 1: an outer product
    ],
)
def test_linear_values_and_gradients(x_shape, w_shape, b_shape):
    torch.manual_seed(0)
    x, w, b = (
        torch.randn(*s, dtype=torch.float64, requires_grad=True)
        for s in (x_shape, w_shape, b_shape)
    )
    torch.testing.assert_close(linear(x, w, b), torch.matmul(x, w) + b)
    assert torch.autograd.gradcheck(linear, (x, w, b))


def test_linear_in_bf16_returns_gradients_in_the_inputs_dtype():
    torch.manual_seed(0)
    x, w, b = torch.randn(20, 3), torch.randn(3, 24), torch.randn(24)
    for t in (x, w, b):
        t.requires_grad_(True)
    out = linear(x, w, b, torch.bfloat16)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == torch.float32
    torch.testing.assert_close(
        w.grad, x.detach().sum(0)[:, None].expand(3, 24), atol=0.1, rtol=0.02
    )


def test_frozen_critic_passes_gradients_to_actions_only():
    torch.manual_seed(0)
    q = QEnsemble(3, 1, (24, 24), n_critics=2)
    obs, act = torch.randn(20, 3), torch.randn(20, 1, requires_grad=True)
    (expected,) = torch.autograd.grad(q(obs, act).min(0).values.sum(), act)
    q.zero_grad(set_to_none=True)
    frozen = q(obs, act, frozen=True)
    torch.testing.assert_close(frozen, q(obs, act))
    frozen.min(0).values.sum().backward()
    torch.testing.assert_close(act.grad, expected)
    assert all(p.grad is None for p in q.parameters())
    with pytest.raises(ValueError, match="frozen"):
        QEnsemble(3, 1, (8,), batch_norm=True)(obs, act, frozen=True)


def test_activate_converts_before_a_relu_with_the_same_values_and_gradients():
    torch.manual_seed(0)
    w = torch.randn(4, 8, requires_grad=True)
    x = torch.randn(16, 4)
    # reference: ReLU in float32, then rounded to bfloat16
    ref = torch.relu(x @ w).to(torch.bfloat16)
    ref.float().sum().backward()
    grad_ref = w.grad.clone()
    w.grad = None
    out = activate(nn.ReLU(), x @ w, torch.bfloat16)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, ref)
    out.float().sum().backward()
    assert torch.equal(w.grad, grad_ref)
    # other activations are applied first, then converted
    h = torch.randn(16, 8)
    assert torch.equal(activate(nn.Tanh(), h, torch.bfloat16), torch.tanh(h).to(torch.bfloat16))
    assert torch.equal(activate(nn.Tanh(), h, None), torch.tanh(h))
