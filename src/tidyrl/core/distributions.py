"""Policy distributions for on-policy methods: Categorical (Discrete actions), independent
categoricals (MultiDiscrete), independent Bernoullis (MultiBinary) and a diagonal Gaussian (Box
actions), each with sampling, log-probabilities, entropy, mode and KL divergence.

These are small hand-written classes rather than `torch.distributions` because the policy-gradient
hot path calls them every step: no argument validation, no broadcasting machinery, and the KL
divergences that TRPO and PPO's early stop need are written out next to their closed forms.

KL divergences (closed forms; e.g. Cover & Thomas 2006, section 8.5 for the Gaussian):

    Categorical   KL(p || q) = sum_a p_a (log p_a - log q_a)
    Gaussian      KL(N(m1, s1^2) || N(m2, s2^2))
                    = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2     per dimension
    Bernoulli     KL(p || q) = p (log p - log q) + (1 - p) (log(1 - p) - log(1 - q))  per dimension

A product of independent factors pi(a|s) = prod_i pi_i(a_i|s) (MultiDiscrete, MultiBinary, the
Gaussian's dimensions) has log pi = sum_i log pi_i, H = sum_i H_i and KL = sum_i KL_i.

A Categorical (and each factor of a MultiCategorical) takes an optional action mask: invalid
actions get logit -inf (`tidyrl.core.masking`), so they have probability 0 and add nothing to the
entropy or the KL divergence.

A `StateDependentGaussian` is the diagonal Gaussian of generalised state-dependent exploration
(gSDE; Raffin, Kober & Stulp 2022, "Smooth exploration for robotic reinforcement learning",
section 3): its noise is a linear function of the policy's last hidden features phi(s),

    a = mu(s) + phi(s)^T E,        E_ij ~ N(0, sigma_ij^2), held for several steps
    std_j(s)^2 = sum_i phi_i(s)^2 sigma_ij^2 (+ 1e-6, Stable-Baselines3's guard)

so for a fixed E the exploration is a deterministic, smooth function of the state, and for a
given state the action is N(mu(s), std(s)^2) over the draws of E: log-probabilities, entropy and
KL are the diagonal Gaussian's with that std.

The tanh-squashed Gaussian of SAC lives in `tidyrl.core.squashed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from tidyrl.core.masking import mask_invalid, valid_rows

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Categorical:
    """pi(a|s) = softmax(logits)_a over the last dimension (over the valid actions of `mask`)."""

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.mask = None if mask is None else valid_rows(mask)
        """Valid actions (None: all); masked logits are -inf."""
        self.logits = torch.log_softmax(mask_invalid(logits, mask), -1)
        """Normalized log-probabilities log p_a = logits_a - logsumexp(logits) (one fused op
        each way; the subtraction form costs five)."""

    def _finite(self, x: torch.Tensor) -> torch.Tensor:
        """`x` with the masked actions' entries (where p_a = 0) set to 0, so that p_a * x_a is
        0 there and not 0 * inf = NaN (in the value and in the gradient)."""
        return x if self.mask is None else x.masked_fill(~self.mask, 0.0)

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
        return -(self.probs * self._finite(self.logits)).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    def kl(self, other: Categorical) -> torch.Tensor:
        """KL(self || other) = sum_a p_a (log p_a - log q_a), per batch element (both under the
        same mask)."""
        return (self.probs * self._finite(self.logits - other.logits)).sum(-1)

    def detach(self) -> Categorical:
        return Categorical(self.logits.detach(), self.mask)


class MultiCategorical:
    """pi(a|s) = prod_i softmax(logits_i)_{a_i}: one independent Categorical per sub-action of a
    MultiDiscrete space, the logits of sub-action i being the next `nvec[i]` outputs (and the
    mask, when given, split the same way)."""

    def __init__(
        self, logits: torch.Tensor, nvec: tuple[int, ...], mask: torch.Tensor | None = None
    ) -> None:
        self.nvec = nvec
        sizes = list(nvec)
        parts = torch.split(logits, sizes, -1)
        masks = (None,) * len(nvec) if mask is None else torch.split(mask, sizes, -1)
        self.factors = [Categorical(x, m) for x, m in zip(parts, masks, strict=True)]

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) = sum_i log pi_i(a_i|s) for actions [..., k]."""
        return torch.stack(
            [f.log_prob(actions[..., i]) for i, f in enumerate(self.factors)], -1
        ).sum(-1)

    def sample(self) -> torch.Tensor:
        return torch.stack([f.sample() for f in self.factors], -1)

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions [..., k] and their log-probabilities, the draws taken from `rng`."""
        actions = torch.stack([f.sample_and_log_prob(rng)[0] for f in self.factors], -1)
        return actions, self.log_prob(actions).detach()

    def entropy(self) -> torch.Tensor:
        """H = sum_i H_i (independent factors)."""
        return torch.stack([f.entropy() for f in self.factors], -1).sum(-1)

    def mode(self) -> torch.Tensor:
        return torch.stack([f.mode() for f in self.factors], -1)

    def kl(self, other: MultiCategorical) -> torch.Tensor:
        """KL(self || other) = sum_i KL_i."""
        parts = [f.kl(g) for f, g in zip(self.factors, other.factors, strict=True)]
        return torch.stack(parts, -1).sum(-1)

    def detach(self) -> MultiCategorical:
        out = MultiCategorical.__new__(MultiCategorical)
        out.nvec, out.factors = self.nvec, [f.detach() for f in self.factors]
        return out


class Bernoulli:
    """pi(a|s) = prod_i p_i^{a_i} (1 - p_i)^{1 - a_i} with p_i = sigmoid(logits_i): independent
    binary sub-actions of a MultiBinary space."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits
        self.log_p = F.logsigmoid(logits)
        """log p_i (stable: logsigmoid, not log(sigmoid))."""
        self.log_not_p = F.logsigmoid(-logits)
        """log(1 - p_i) = logsigmoid(-logits_i)."""

    @property
    def probs(self) -> torch.Tensor:
        return self.log_p.exp()

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """sum_i a_i log p_i + (1 - a_i) log(1 - p_i)."""
        a = actions.to(self.logits.dtype)
        return (a * self.log_p + (1.0 - a) * self.log_not_p).sum(-1)

    def sample(self, u: torch.Tensor | None = None) -> torch.Tensor:
        """a_i = 1 where u_i < p_i for u ~ U[0, 1) (torch's generator unless `u` is given)."""
        if u is None:
            u = torch.rand_like(self.logits)
        return (u < self.probs).long()

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        actions = self.sample(_draw(rng.random, self.logits.shape, self.logits.device))
        return actions, self.log_prob(actions).detach()

    def entropy(self) -> torch.Tensor:
        """H = -sum_i p_i log p_i + (1 - p_i) log(1 - p_i)."""
        p = self.probs
        return -(p * self.log_p + (1.0 - p) * self.log_not_p).sum(-1)

    def mode(self) -> torch.Tensor:
        return (self.logits > 0).long()

    def kl(self, other: Bernoulli) -> torch.Tensor:
        """KL(self || other), summed over the sub-actions (closed form in the module doc)."""
        p = self.probs
        return (
            p * (self.log_p - other.log_p) + (1.0 - p) * (self.log_not_p - other.log_not_p)
        ).sum(-1)

    def detach(self) -> Bernoulli:
        return Bernoulli(self.logits.detach())


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


SDE_EPS = 1e-6
"""Added to the gSDE variance before its square root (Stable-Baselines3's epsilon)."""


def state_dependent_log_std(
    features: torch.Tensor, log_sigma: torch.Tensor, eps: float = SDE_EPS
) -> torch.Tensor:
    """log std_j(s) = 1/2 log(sum_i phi_i(s)^2 sigma_ij^2 + eps) for features phi [B, F] and the
    noise scales log sigma [F, A]; [B, A]."""
    variance = (features * features) @ (2.0 * log_sigma).exp()
    return 0.5 * torch.log(variance + eps)


def exploration_matrices(log_sigma: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """n draws of the gSDE noise matrix E [n, F, A], E_ij = sigma_ij * z_ij with z ~ N(0, 1)
    from `rng` (no gradient: a rollout's exploration, not a loss's sample)."""
    z = _draw(rng.standard_normal, torch.Size((n, *log_sigma.shape)), log_sigma.device)
    return log_sigma.detach().exp() * z


class HeldExploration:
    """gSDE's exploration matrices for acting in a training loop that steps one env step at a
    time (SAC): one E [F, A] per env copy, drawn by `exploration_matrices` every `every` calls
    and held in between (Stable-Baselines3 draws them at each collection round). Run state of
    the agent: a resumed run acts with the matrices it held."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.age = 0
        """Calls since the matrices were drawn."""
        self.matrices: torch.Tensor | None = None

    def __call__(self, log_sigma: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
        """The matrices of `n` env copies for this step, [n, F, A]."""
        if self.matrices is None or self.age >= self.every or len(self.matrices) != n:
            self.matrices = exploration_matrices(log_sigma, n, rng)
            self.age = 0
        self.age += 1
        return self.matrices

    def state_arrays(self) -> dict[str, np.ndarray]:
        held = np.zeros(0, np.float32) if self.matrices is None else self.matrices.cpu().numpy()
        return {"sde_matrices": held, "sde_age": np.array(self.age)}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        held = np.asarray(arrays["sde_matrices"], dtype=np.float32)
        self.matrices = torch.from_numpy(held.copy()) if held.size else None
        self.age = int(arrays["sde_age"])


class StateDependentGaussian(DiagGaussian):
    """N(mu(s), std(s)^2) of gSDE (module docstring): std from the features `features` [B, F]
    (their gradient is the caller's choice) and log sigma [F, A]. Acting with `noise`, the
    current exploration matrices [B, F, A] (one per env copy), samples a = mu + phi^T E; without
    them, or for a batch of another size, a = mu + std * z with fresh z, the same distribution
    drawn state by state."""

    def __init__(
        self,
        mean: torch.Tensor,
        features: torch.Tensor,
        log_sigma: torch.Tensor,
        noise: torch.Tensor | None = None,
    ) -> None:
        super().__init__(mean, state_dependent_log_std(features, log_sigma))
        self.features = features
        self.noise = noise if noise is not None and len(noise) == len(mean) else None

    def sample(self) -> torch.Tensor:
        if self.noise is None:
            return super().sample()
        return self.mean + (self.features.unsqueeze(1) @ self.noise).squeeze(1)

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """a = mu + phi^T E with the held matrices (or a fresh Gaussian draw from `rng`) and
        log pi(a), for acting (no gradient)."""
        if self.noise is None:
            return super().sample_and_log_prob(rng)
        actions = self.sample().detach()
        return actions, self.log_prob(actions).detach()


Distribution = Categorical | MultiCategorical | Bernoulli | DiagGaussian


def _draw(
    sample: Callable[..., np.ndarray], shape: torch.Size, device: torch.device
) -> torch.Tensor:
    """`sample(shape, dtype=float32)` from a NumPy generator's method, as a tensor on `device`."""
    return torch.from_numpy(sample(tuple(shape), dtype=np.float32)).to(device)
