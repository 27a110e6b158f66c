"""Gradient estimators for d/dtheta E_{x ~ p_theta}[f(x)] (lecture seed 004, "Gradient estimation").

Each function returns *per-sample surrogate terms*: tensors whose gradient, averaged over the
samples, is the estimator. Take `.mean()` and call `backward()` to get the estimate; keep the
per-sample terms to measure the estimator's variance (tests and docs/algorithms/
gradient-estimators.md do that).

score function (REINFORCE, likelihood ratio; Williams 1992)
    grad = E[(f(x) - b) grad log p_theta(x)]
    Unbiased for any p and any f (even non-differentiable); b is a baseline that does not depend
    on x: E[b grad log p] = b grad sum_x p = 0, so it only changes the variance.
pathwise (reparameterization; Kingma & Welling 2014)
    x = g_theta(eps), eps ~ p(eps)  =>  grad = E_eps[grad_x f(x) grad_theta g_theta(eps)]
    Needs f differentiable and a continuous, reparameterizable p; usually far lower variance.
Gumbel-softmax / Concrete (Jang et al. 2017; Maddison et al. 2017)
    z = softmax((log pi + g) / tau), g_i ~ Gumbel(0, 1)
    argmax(log pi + g) is an exact sample of Categorical(pi) (the Gumbel-max trick). The soft z
    is a differentiable relaxation: its gradient is the pathwise gradient of the *relaxed*
    objective, biased for tau > 0 and exact only as tau -> 0 (where its variance grows).
    Straight-through: the forward pass uses the hard one-hot, the backward pass the soft z.
"""

from __future__ import annotations

import torch


def score_function(
    f_values: torch.Tensor, log_probs: torch.Tensor, baseline: torch.Tensor | float | None = None
) -> torch.Tensor:
    """Per-sample terms (f(x_i) - b) * log p_theta(x_i), with f and b treated as constants."""
    weight = f_values.detach()
    if baseline is not None:
        weight = weight - torch.as_tensor(baseline, dtype=weight.dtype).detach()
    return weight * log_probs


def score_function_gradients(
    f_values: torch.Tensor,
    log_probs: torch.Tensor,
    param: torch.Tensor,
    baseline: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Each sample's own score-function gradient w.r.t. `param`, stacked [n, *param.shape]
    (for measuring variance; one backward pass per sample, so keep n small)."""
    terms = score_function(f_values, log_probs, baseline)
    rows = [torch.autograd.grad(term, param, retain_graph=True)[0] for term in terms.reshape(-1)]
    return torch.stack(rows)


def leave_one_out_baseline(f_values: torch.Tensor) -> torch.Tensor:
    """b_i = mean of f over the *other* samples: independent of x_i, so the score-function
    estimator stays unbiased (Kool et al. 2019, "Buy 4 REINFORCE samples, get a baseline for
    free")."""
    n = f_values.shape[0]
    if n < 2:
        raise ValueError("a leave-one-out baseline needs at least 2 samples")
    total = f_values.detach().sum(0, keepdim=True)
    return (total - f_values.detach()) / (n - 1)


def reparameterize(mean: torch.Tensor, std: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x = mean + std * eps with eps ~ N(0, I): a sample that stays differentiable in theta."""
    return mean + std * noise


def pathwise(f_values: torch.Tensor) -> torch.Tensor:
    """Per-sample terms f(g_theta(eps_i)); gradients flow through the reparameterized sample."""
    return f_values


def sample_gumbel(shape: torch.Size | tuple[int, ...], eps: float = 1e-20) -> torch.Tensor:
    """g = -log(-log u), u ~ U(0, 1): standard Gumbel noise (torch's global generator)."""
    u = torch.rand(shape)
    return -torch.log(-torch.log(u + eps) + eps)


def gumbel_softmax(
    logits: torch.Tensor,
    tau: float = 1.0,
    hard: bool = False,
    gumbels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Relaxed one-hot sample softmax((logits + g) / tau) over the last dimension.

    With `hard=True` (straight-through) the value is the one-hot of argmax(logits + g) -- an
    exact Categorical(softmax(logits)) sample -- while gradients are those of the soft sample.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    g = sample_gumbel(logits.shape) if gumbels is None else gumbels
    soft = torch.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return soft
    index = soft.argmax(-1, keepdim=True)
    one_hot = torch.zeros_like(soft).scatter_(-1, index, 1.0)
    return one_hot - soft.detach() + soft
