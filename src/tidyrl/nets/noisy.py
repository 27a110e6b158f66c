"""Factorised Gaussian noisy linear layer (Fortunato et al. 2018, "Noisy Networks for
Exploration", section 3(b)).

    y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b
    eps_w = f(eps_out) f(eps_in)^T,   eps_b = f(eps_out),   f(x) = sgn(x) sqrt(|x|)

with eps_in ~ N(0, I_p), eps_out ~ N(0, I_q): p + q noise variables instead of p * q. Init
(section 3.2): mu ~ U(-1/sqrt(p), 1/sqrt(p)), sigma = sigma_0 / sqrt(p), sigma_0 = 0.5.
The noise is resampled explicitly with `reset_noise()` (Rainbow resamples once per update and
per acting step). With `use_noise = False` the layer is its mean, mu_w x + mu_b: deterministic
acting (evaluation, `predict`) uses that.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

FACTOR_ROWS = 8
"""Largest number of input rows computed in the factorised form (see the module docstring)."""


def _f(x: torch.Tensor) -> torch.Tensor:
    return x.sign() * x.abs().sqrt()


class NoisyLinear(nn.Module):
    """Linear layer with learned, factorised Gaussian parameter noise."""

    eps_in: torch.Tensor
    eps_out: torch.Tensor

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(
            torch.empty(out_features, in_features).uniform_(-bound, bound)
        )
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        sigma = sigma0 / math.sqrt(in_features)
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma))
        self.register_buffer("eps_in", torch.zeros(in_features))
        self.register_buffer("eps_out", torch.zeros(out_features))
        self.use_noise = True
        self._holding = False
        self._held: tuple[torch.Tensor, torch.Tensor, bool] | None = None
        self.reset_noise()

    @torch.no_grad()
    def reset_noise(self) -> None:
        """Draw fresh eps_in, eps_out (already passed through f)."""
        self.eps_in.copy_(_f(torch.randn(self.in_features)))
        self.eps_out.copy_(_f(torch.randn(self.out_features)))

    def noisy_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """W = mu_w + sigma_w * f(eps_out) f(eps_in)^T and b = mu_b + sigma_b * f(eps_out)."""
        held = self._held
        if held is not None and (held[2] or not torch.is_grad_enabled()):
            return held[0], held[1]  # composed earlier in this `composed_once` block
        outer = torch.outer(self.eps_out, self.eps_in)
        weight = torch.addcmul(self.weight_mu, self.weight_sigma, outer)
        bias = torch.addcmul(self.bias_mu, self.bias_sigma, self.eps_out)
        if self._holding:
            self._held = (weight, bias, torch.is_grad_enabled())
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.use_noise:
            return nn.functional.linear(x, self.weight_mu, self.bias_mu)
        if not self._holding and x.numel() <= FACTOR_ROWS * self.in_features:
            mean = nn.functional.linear(x, self.weight_mu, self.bias_mu)  # the factorised form
            noise = nn.functional.linear(x * self.eps_in, self.weight_sigma, self.bias_sigma)
            return torch.addcmul(mean, self.eps_out, noise)
        return nn.functional.linear(x, *self.noisy_weights())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def reset_noise(*modules: nn.Module) -> None:
    """Resample the noise of every NoisyLinear inside `modules`: one draw for all of them."""
    buffers: list[torch.Tensor] = []
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, NoisyLinear):
                buffers += [layer.eps_in, layer.eps_out]
    if not buffers:
        return
    with torch.no_grad():
        draw = _f(torch.randn(sum(b.numel() for b in buffers)))
        parts = list(torch.split(draw.to(buffers[0].device), [b.numel() for b in buffers]))
        torch._foreach_copy_(buffers, parts)


def set_noise(module: nn.Module, on: bool) -> None:
    """Switch every NoisyLinear in `module` between noisy and mean weights."""
    for layer in module.modules():
        if isinstance(layer, NoisyLinear):
            layer.use_noise = on


@contextmanager
def composed_once(module: nn.Module) -> Iterator[None]:
    """Inside the block, each noisy layer of `module` composes its W and b at its first forward
    and reuses them for later ones (noise and parameters must not change inside): Double DQN's
    online pass over s (with gradients) and over s' (without) compose each weight once. A
    weight composed without gradients is composed again for a pass that needs them."""
    layers = [m for m in module.modules() if isinstance(m, NoisyLinear)]
    for layer in layers:
        layer._holding, layer._held = True, None
    try:
        yield
    finally:
        for layer in layers:
            layer._holding, layer._held = False, None
