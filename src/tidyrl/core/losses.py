"""Regression losses for value learning, element-wise (reduce with importance weights outside).

- `huber`: the "error clipping" of Mnih et al. (2015), Methods: the squared error for
  |x| <= delta and the absolute error beyond, so the gradient is clipped to [-delta, delta].
- `squared`: 0.5 x^2 (the gradient of the Bellman error itself).
- `categorical_cross_entropy`: C51's loss -sum_j m_j log p_j (Bellemare et al. 2017, Alg. 1).

Behaviour cloning (supervised learning of a policy from demonstrated pairs (s_i, a_i); Pomerleau
1989, Bain & Sammut 1995; lecture seed 003, "Supervised Learning of Behaviors"), shared by `bc`
and the learner of `dagger` (Ross et al. 2011), reduced to one number per minibatch:

- `negative_log_likelihood`: -1/N sum_i log pi_theta(a_i|s_i), maximum likelihood of the
  demonstrated actions (categorical or diagonal-Gaussian policy).
- `action_mse`: 1/N sum_i ||mu_theta(s_i) - a_i||^2 on Box actions: the Gaussian negative
  log-likelihood with a fixed unit variance, times 2 and less its constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tidyrl.core.distributions import Distribution

BC_LOSSES = ("log-likelihood", "mse")
"""Behaviour-cloning losses `behaviour_cloning_loss` knows."""


def huber(x: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """0.5 x^2 where |x| <= delta, delta * (|x| - 0.5 delta) elsewhere."""
    a = x.abs()
    quadratic = torch.clamp(a, max=delta)
    return 0.5 * quadratic**2 + delta * (a - quadratic)


def squared(x: torch.Tensor) -> torch.Tensor:
    """0.5 x^2."""
    return 0.5 * x * x


def td_loss(x: torch.Tensor, kind: str = "huber") -> torch.Tensor:
    """Element-wise loss of TD errors `x` (target - prediction): "huber" or "mse"."""
    if kind == "huber":
        return huber(x)
    if kind == "mse":
        return squared(x)
    raise ValueError(f"unknown loss {kind!r}; choose huber or mse")


def mean_td_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    kind: str = "huber",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """mean_i w_i td_loss(target_i - prediction_i) (w = 1 when `weights` is None).

    The same numbers as `td_loss`, computed by torch's fused huber / mse kernels (one op each
    way instead of five): this runs once per gradient step of every value-based method."""
    if kind not in ("huber", "mse"):
        raise ValueError(f"unknown loss {kind!r}; choose huber or mse")
    reduction = "mean" if weights is None else "none"
    if kind == "huber":
        loss = F.huber_loss(prediction, target, reduction=reduction, delta=1.0)
    else:
        loss = 0.5 * F.mse_loss(prediction, target, reduction=reduction)
    return loss if weights is None else (weights * loss).mean()


def categorical_cross_entropy(log_probs: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """-sum_j m_j log p_j over the last axis (one value per row)."""
    return -(target_probs * log_probs).sum(dim=-1)


def negative_log_likelihood(dist: Distribution, actions: torch.Tensor) -> torch.Tensor:
    """-1/N sum_i log pi_theta(a_i|s_i) of demonstrated `actions` under the policy `dist`."""
    return -dist.log_prob(actions).mean()


def action_mse(predicted: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """1/N sum_i ||predicted_i - a_i||^2 (summed over action dimensions, mean over the batch)."""
    return ((predicted - actions) ** 2).sum(-1).mean()


def behaviour_cloning_loss(dist: Distribution, actions: torch.Tensor, kind: str) -> torch.Tensor:
    """The behaviour-cloning loss `kind`: "log-likelihood" (any policy) or "mse" (the Gaussian
    policy's mean against Box actions)."""
    if kind == "log-likelihood":
        return negative_log_likelihood(dist, actions)
    if kind == "mse":
        return action_mse(dist.mode(), actions)
    raise ValueError(f"unknown behaviour-cloning loss {kind!r}; choose {' or '.join(BC_LOSSES)}")
