"""Gradient estimators: unbiased on closed-form cases (within Monte Carlo error), the baseline
reduces variance, the pathwise estimator beats the score function on a Gaussian."""

from __future__ import annotations

import pytest
import torch

from tidyrl.core.distributions import Categorical, DiagGaussian
from tidyrl.core.estimators import (
    gumbel_softmax,
    leave_one_out_baseline,
    pathwise,
    reparameterize,
    score_function,
    score_function_gradients,
)

N = 50_000
MU, SIGMA = 1.5, 0.8
# f(x) = x^2, x ~ N(mu, sigma^2): E f = mu^2 + sigma^2, so d/dmu E f = 2 mu exactly
TRUE_GRAD = 2 * MU


def per_sample_grads_wrt_mu(estimator: str) -> torch.Tensor:
    """The estimator's gradient for each sample separately (mu broadcast to one copy per
    sample, so d sum / d mu_i is sample i's estimate)."""
    torch.manual_seed(0)
    mu = torch.full((N,), MU, requires_grad=True)
    noise = torch.randn(N)
    if estimator == "pathwise":
        x = reparameterize(mu, torch.tensor(SIGMA), noise)
        terms = pathwise(x**2)
    else:
        x = (MU + SIGMA * noise).detach()
        logp = DiagGaussian(mu.unsqueeze(-1), torch.log(torch.tensor([SIGMA]))).log_prob(
            x.unsqueeze(-1)
        )
        f = x**2
        baseline = None if estimator == "score" else leave_one_out_baseline(f)
        terms = score_function(f, logp, baseline)
    (grad,) = torch.autograd.grad(terms.sum(), mu)
    return grad


@pytest.mark.parametrize("estimator", ["score", "score+baseline", "pathwise"])
def test_estimators_are_unbiased_on_a_gaussian(estimator):
    g = per_sample_grads_wrt_mu(estimator)
    stderr = g.std() / N**0.5
    assert abs(g.mean().item() - TRUE_GRAD) < 4 * stderr.item()


def test_baseline_reduces_and_pathwise_beats_score_function_variance():
    var = {
        e: per_sample_grads_wrt_mu(e).var().item() for e in ("score", "score+baseline", "pathwise")
    }
    assert var["score+baseline"] < 0.7 * var["score"]
    assert var["pathwise"] < var["score+baseline"]
    # closed forms: Var_pathwise = Var(2x) = 4 sigma^2
    assert var["pathwise"] == pytest.approx(4 * SIGMA**2, rel=0.02)


def test_score_function_unbiased_for_a_categorical():
    """E[f(a)] = sum_a p_a c_a with p = softmax(logits): d/dlogits = p (c - p . c)."""
    torch.manual_seed(1)
    logits = torch.tensor([0.2, -0.5, 1.0], requires_grad=True)
    c = torch.tensor([1.0, 3.0, -2.0])
    dist = Categorical(logits.expand(N, 3))
    actions = dist.sample()
    f = c[actions]
    estimate = torch.autograd.grad(score_function(f, dist.log_prob(actions)).mean(), logits)[0]
    p = torch.softmax(logits.detach(), -1)
    exact = p * (c - p @ c)
    assert torch.allclose(estimate, exact, atol=0.03)


def test_score_function_gradients_helper_matches_autograd_mean():
    torch.manual_seed(2)
    logits = torch.tensor([0.0, 1.0], requires_grad=True)
    dist = Categorical(logits.expand(20, 2))
    actions = dist.sample()
    f = actions.float() * 2.0
    grads = score_function_gradients(f, dist.log_prob(actions), logits)
    assert grads.shape == (20, 2)
    mean = torch.autograd.grad(score_function(f, dist.log_prob(actions)).mean(), logits)[0]
    torch.testing.assert_close(grads.mean(0), mean)


def test_gumbel_max_hard_samples_follow_the_categorical():
    torch.manual_seed(3)
    probs = torch.tensor([0.1, 0.6, 0.3])
    z = gumbel_softmax(torch.log(probs).expand(N, 3), tau=0.5, hard=True)
    assert torch.all(z.sum(-1) == 1) and torch.all((z == 0) | (z == 1))
    torch.testing.assert_close(z.mean(0), probs, atol=0.005, rtol=0)


def test_straight_through_passes_soft_gradients():
    logits = torch.tensor([0.3, -0.2, 0.1], requires_grad=True)
    g = torch.tensor([0.5, 0.1, -0.3])
    c = torch.tensor([1.0, 2.0, 3.0])
    hard = gumbel_softmax(logits, tau=0.7, hard=True, gumbels=g)
    (grad_hard,) = torch.autograd.grad(hard @ c, logits)
    soft = gumbel_softmax(logits, tau=0.7, hard=False, gumbels=g)
    (grad_soft,) = torch.autograd.grad(soft @ c, logits)
    torch.testing.assert_close(grad_hard, grad_soft)
    assert hard.detach().tolist() == [1.0, 0.0, 0.0]


def test_gumbel_softmax_gradient_bias_vanishes_as_temperature_drops():
    """For f(z) = c . z the exact gradient is p (c - p . c); the relaxation's gradient is biased
    for tau > 0 and approaches it as tau -> 0 (its variance grows meanwhile)."""
    torch.manual_seed(4)
    logits = torch.tensor([0.5, -0.5, 0.0], requires_grad=True)
    c = torch.tensor([1.0, -1.0, 2.0])
    p = torch.softmax(logits.detach(), -1)
    exact = p * (c - p @ c)
    errors = {}
    for tau in (2.0, 0.5, 0.1):
        z = gumbel_softmax(logits.expand(N, 3), tau=tau)
        (grad,) = torch.autograd.grad((z @ c).mean(), logits)
        errors[tau] = (grad - exact).abs().max().item()
    assert errors[0.1] < errors[0.5] < errors[2.0]
    assert errors[0.1] < 0.05


def test_leave_one_out_baseline():
    f = torch.tensor([1.0, 2.0, 6.0])
    torch.testing.assert_close(leave_one_out_baseline(f), torch.tensor([4.0, 3.5, 1.5]))
    with pytest.raises(ValueError):
        leave_one_out_baseline(torch.tensor([1.0]))
