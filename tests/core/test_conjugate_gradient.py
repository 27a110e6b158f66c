"""Conjugate gradient on a known SPD system; Fisher-vector products against an explicit Fisher."""

from __future__ import annotations

import torch

from tidyrl.core.conjugate_gradient import (
    conjugate_gradient,
    fisher_vector_product,
    get_flat_params,
    set_flat_params,
)
from tidyrl.core.distributions import Categorical, DiagGaussian


def test_cg_solves_a_known_spd_system():
    # A = [[4, 1], [1, 3]], b = [1, 2]  ->  x = A^-1 b = [1/11, 7/11]
    a = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0], dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iterations=2)
    torch.testing.assert_close(x, torch.tensor([1 / 11, 7 / 11], dtype=torch.float64))


def test_cg_exact_in_n_steps_on_a_random_spd_matrix():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iterations=6, residual_tol=0.0)
    torch.testing.assert_close(a @ x, b)


def explicit_fisher_categorical(w: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """F = mean_s sum_a pi(a|s) grad log pi(a|s) grad log pi(a|s)^T for logits = s @ w,
    enumerating every action (exact expectation)."""
    n_params = w.numel()
    fisher = torch.zeros(n_params, n_params, dtype=w.dtype)
    for s in states:
        for a in range(w.shape[1]):
            wv = w.detach().clone().requires_grad_(True)
            logp = torch.log_softmax(s @ wv, -1)[a]
            (grad,) = torch.autograd.grad(logp, wv)
            p = logp.exp().detach()
            fisher += p * torch.outer(grad.reshape(-1), grad.reshape(-1))
    return fisher / len(states)


def test_fisher_vector_product_matches_explicit_fisher_on_a_tiny_policy():
    g = torch.Generator().manual_seed(1)
    states = torch.randn(5, 3, generator=g, dtype=torch.float64)
    w = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    old = Categorical(states @ w).detach()
    kl = old.kl(Categorical(states @ w)).mean()
    fvp = fisher_vector_product(kl, [w], damping=0.0)
    fisher = explicit_fisher_categorical(w, states)
    for _ in range(3):
        v = torch.randn(w.numel(), generator=g, dtype=torch.float64)
        torch.testing.assert_close(fvp(v), fisher @ v)
    damped = fisher_vector_product(old.kl(Categorical(states @ w)).mean(), [w], damping=0.1)
    v = torch.randn(w.numel(), generator=g, dtype=torch.float64)
    torch.testing.assert_close(damped(v), fisher @ v + 0.1 * v)


def test_fisher_vector_product_gaussian_mean_is_inverse_variance():
    """For N(mu, sigma^2) with parameter mu, F = 1 / sigma^2 per dimension."""
    mu = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    log_std = torch.log(torch.tensor([0.5, 2.0], dtype=torch.float64))
    kl = DiagGaussian(mu.detach(), log_std).kl(DiagGaussian(mu, log_std)).sum()
    fvp = fisher_vector_product(kl, [mu])
    v = torch.tensor([1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(fvp(v), torch.tensor([4.0, 0.25], dtype=torch.float64))


def test_flat_params_round_trip():
    layer = torch.nn.Linear(3, 2)
    params = list(layer.parameters())
    flat = get_flat_params(params)
    assert flat.numel() == 8
    set_flat_params(params, torch.arange(8.0))
    torch.testing.assert_close(get_flat_params(params), torch.arange(8.0))
