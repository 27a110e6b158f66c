"""Tanh-squashed Gaussian policies and action rescaling for bounded (Box) action spaces.

SAC's policy (Haarnoja et al. 2018, appendix C) samples u ~ N(mu, sigma^2) and acts with
a = tanh(u), so actions lie in (-1, 1). By the change of variables,

    log pi(a|s) = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2)

and log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)) is its numerically stable form (no
log(0) when tanh saturates). Networks always work in the unit box [-1, 1]^d; `scale_action` maps to
the environment's bounds [low, high] (and `unscale_action` back), so any finite Box works. The
affine map adds the constant -sum log((high - low) / 2) to log pi, which no loss depends on (SAC's
target entropy is stated for the unit box), so it is left out.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0
"""Clamp of the policy's log standard deviation (the SAC reference implementation's range)."""

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


def gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(u; mean, exp(log_std)^2), summed over the last (action) dimension."""
    z = (u - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(-1)


def tanh_log_det_jacobian(u: torch.Tensor) -> torch.Tensor:
    """sum_i log(1 - tanh(u_i)^2) = sum_i 2 (log 2 - u_i - softplus(-2 u_i)), stably."""
    return (2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))).sum(-1)


def squashed_gaussian_log_prob(
    u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor, jacobian_eps: float = 0.0
) -> torch.Tensor:
    """log pi(tanh(u)) of the tanh-squashed Gaussian, given the pre-squash sample u (with
    `jacobian_eps` > 0, the guarded squashing term of `squashed_gaussian_sample`)."""
    if jacobian_eps > 0:
        guard = torch.log(1.0 - torch.tanh(u).square() + jacobian_eps).sum(-1)
        return gaussian_log_prob(u, mean, log_std) - guard
    return gaussian_log_prob(u, mean, log_std) - tanh_log_det_jacobian(u)


def squashed_gaussian_sample(
    mean: torch.Tensor,
    log_std: torch.Tensor,
    deterministic: bool = False,
    eps: torch.Tensor | None = None,
    jacobian_eps: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterised sample a = tanh(mean + std * eps) in (-1, 1) and its log-probability;
    eps ~ N(0, I) is drawn here unless given (drawn by the caller, to fix the order of draws).

    Gradients flow to `mean` and `log_std` through the sample (the reparameterisation trick).
    With `deterministic`, a = tanh(mean) (the policy's mode, used for evaluation).

    The log-probability is `squashed_gaussian_log_prob` with its Gaussian term written in eps:
    (u - mean) / std is eps itself, whose gradient with respect to mean and log_std is zero
    either way, so

        log pi(a|s) = sum_i [-eps_i^2 / 2 - log std_i - log(2 pi) / 2 - 2 (log 2 - u_i
                             - softplus(-2 u_i))]

    is the same value and the same gradient in about half the operations (SAC evaluates it
    twice per update).

    With `jacobian_eps` > 0 the squashing term is the guarded form log(1 - a^2 + jacobian_eps)
    of the original SAC code and Stable-Baselines3 (1e-6; Tianshou: float32's machine epsilon)
    in place of the exact one: it caps the term at log(jacobian_eps), so a saturated action
    (|u| beyond ~7 for 1e-6) is no longer rated more probable the deeper it saturates, and
    its gradient towards |u| -> 0 vanishes there.
    """
    log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
    if deterministic:
        u = mean
        per_dim = -log_std
    else:
        eps = torch.randn_like(mean) if eps is None else eps
        u = mean + torch.exp(log_std) * eps
        per_dim = -0.5 * eps.square() - log_std
    if jacobian_eps > 0:
        action = torch.tanh(u)
        guarded = per_dim - torch.log(1.0 - action.square() + jacobian_eps)
        return action, guarded.sum(-1) - mean.shape[-1] * _HALF_LOG_2PI
    log_prob = (per_dim + 2.0 * (u + F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), log_prob - mean.shape[-1] * (_HALF_LOG_2PI + 2.0 * _LOG_2)


def squashed_gaussian_action(
    mean: torch.Tensor, log_std: torch.Tensor, deterministic: bool = False
) -> torch.Tensor:
    """The action of `squashed_gaussian_sample` alone (same random draw), for acting: no
    log-probability is computed."""
    if deterministic:
        return torch.tanh(mean)
    std = torch.exp(log_std.clamp(LOG_STD_MIN, LOG_STD_MAX))
    return torch.tanh(mean + std * torch.randn_like(mean))


def action_bounds(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, half-width) of a finite Box; ValueError naming the problem otherwise."""
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(
            f"continuous-control agents need finite action bounds, got low={low}, high={high}"
        )
    if (high <= low).any():
        raise ValueError(f"action bounds must satisfy low < high, got low={low}, high={high}")
    return (high + low) / 2.0, (high - low) / 2.0


def scale_action(unit: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map actions from [-1, 1] to [low, high] (clipped, so rounding never leaves the box)."""
    center, half = action_bounds(low, high)
    out = center + half * np.clip(unit, -1.0, 1.0)
    result: np.ndarray = np.clip(out, low, high).astype(np.float32)
    return result


def unscale_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map actions from [low, high] to [-1, 1] (the inverse of `scale_action`)."""
    center, half = action_bounds(low, high)
    result: np.ndarray = np.clip((np.asarray(action) - center) / half, -1.0, 1.0)
    return result.astype(np.float32)
