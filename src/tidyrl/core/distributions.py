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

    def sample(self) -> torch.Tensor:
        """Actions drawn with torch's global generator (seeded per run), shape logits.shape[:-1].

        Inverse-CDF sampling: a = #{k : F_k <= u} for u ~ U[0, 1) and F the cumulative
        probabilities (the count is clamped to the last action against rounding in F).
        Three small ops; `torch.multinomial` costs ~4x as much per call on a batch of 8."""
        cdf = self.probs.cumsum(-1)
        u = torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device)
        return (cdf <= u).sum(-1).clamp_(max=cdf.shape[-1] - 1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

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
