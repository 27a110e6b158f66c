"""Policy distributions for on-policy methods: Categorical (Discrete actions) and a diagonal
Gaussian (Box actions), each with sampling, log-probabilities, entropy, mode and KL divergence.

These are small hand-written classes rather than `torch.distributions` because the policy-gradient
hot path calls them every step: no argument validation, no broadcasting machinery, and the KL
divergences that TRPO and PPO's early stop need are written out next to their closed forms.

KL divergences (closed forms; e.g. Cover & Thomas 2006, section 8.5 for the Gaussian):

    Categorical   KL(p || q) = sum_a p_a (log p_a - log q_a)
    Gaussian      KL(N(m1, s1^2) || N(m2, s2^2))
                    = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2     per dimension

The tanh-squashed Gaussian of SAC lives in `tidyrl.core.squashed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Categorical:
    """pi(a|s) = softmax(logits)_a over the last dimension."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = torch.log_softmax(logits, -1)
        """Normalized log-probabilities log p_a = logits_a - logsumexp(logits) (one fused op
        each way; the subtraction form costs five)."""

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.exp()

    def sample(self, u: torch.Tensor | None = None) -> torch.Tensor:
        """Actions, shape logits.shape[:-1], drawn with torch's global generator (seeded per
        run) unless the uniform draws `u` (shape logits.shape[:-1] + (1,)) are given.

        Inverse-CDF sampling: a = #{k : F_k <= u} for u ~ U[0, 1) and F the cumulative
        probabilities (the count is clamped to the last action against rounding in F): three
        small ops, cheaper on a few rows than `torch.multinomial`."""
        cdf = self.probs.cumsum(-1)
        if u is None:
            u = torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device)
        return (cdf <= u).sum(-1).clamp_(max=cdf.shape[-1] - 1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions and their log-probabilities for acting (no gradient), the uniform draws
        taken from `rng` (rollouts are reproducible from the agent's own generator)."""
        u = _draw(rng.random, self.logits.shape[:-1] + (1,), self.logits.device)
        actions = self.sample(u)
        return actions, self.log_prob(actions).detach()

    def entropy(self) -> torch.Tensor:
        """H = -sum_a p_a log p_a."""
        return -(self.probs * self.logits).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    def kl(self, other: Categorical) -> torch.Tensor:
        """KL(self || other) = sum_a p_a (log p_a - log q_a), per batch element."""
        return (self.probs * (self.logits - other.logits)).sum(-1)

    def detach(self) -> Categorical:
        return Categorical(self.logits.detach())


class DiagGaussian:
    """pi(a|s) = prod_i N(a_i; mean_i, std_i^2); log-probabilities sum over the action dims."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.std = self.log_std.exp()

    def sample(self) -> torch.Tensor:
        return self.mean + self.std * torch.randn_like(self.mean)

    def rsample(self, noise: torch.Tensor) -> torch.Tensor:
        """Reparameterized sample a = mean + std * eps (the pathwise estimator's path)."""
        return self.mean + self.std * noise

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - self.mean) / self.std
        return (-0.5 * z * z - self.log_std - LOG_SQRT_2PI).sum(-1)

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """a = mean + std * eps with eps ~ N(0, I) drawn from `rng`, and log pi(a), for acting
        (no gradient; see `Categorical`'s)."""
        eps = _draw(rng.standard_normal, self.mean.shape, self.mean.device)
        actions = self.rsample(eps).detach()
        return actions, self.log_prob(actions).detach()

    def entropy(self) -> torch.Tensor:
        """H = sum_i (log std_i + 1/2 log(2 pi e))."""
        return (self.log_std + 0.5 + LOG_SQRT_2PI).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self, other: DiagGaussian) -> torch.Tensor:
        """KL(self || other), summed over action dimensions (closed form in the module doc)."""
        var_ratio = (self.std / other.std) ** 2
        mean_term = ((self.mean - other.mean) / other.std) ** 2
        return (0.5 * (var_ratio + mean_term - 1.0) - torch.log(self.std / other.std)).sum(-1)

    def detach(self) -> DiagGaussian:
        return DiagGaussian(self.mean.detach(), self.log_std.detach())


Distribution = Categorical | DiagGaussian


def _draw(
    sample: Callable[..., np.ndarray], shape: torch.Size, device: torch.device
) -> torch.Tensor:
    """`sample(shape, dtype=float32)` from a NumPy generator's method, as a tensor on `device`."""
    return torch.from_numpy(sample(tuple(shape), dtype=np.float32)).to(device)
