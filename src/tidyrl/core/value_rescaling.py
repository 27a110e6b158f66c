"""Invertible value rescaling: learn Q in a squashed space so that rewards of any scale keep the
gradient well-conditioned, without clipping them (Pohlen et al. 2018, "Observe and Look
Further", Proposition A.2; used by R2D2, Kapturowski et al. 2019, sec. 2.3):

    h(x)      = sign(x) (sqrt(|x| + 1) - 1) + eps x
    h^-1(x)   = sign(x) (((sqrt(1 + 4 eps (|x| + 1 + eps)) - 1) / (2 eps))^2 - 1)

with eps = 1e-3 (the papers' value). h is strictly increasing and odd, h(0) = 0; the eps x term
keeps it invertible with a Lipschitz inverse. The n-step target of a rescaled Q function is

    y = h( R^(n) + gamma^n h^-1( Q'(s_{t+n}, a*) ) ),

the return computed in the original units and squashed back (`tidyrl.core.returns` gives
R^(n) + gamma^n V over stored sequences). h^-1 is h's closed-form inverse: solving
y = sqrt(u) - 1 + eps (u - 1) for u = |x| + 1 is a quadratic in sqrt(u).
"""

from __future__ import annotations

import torch

RESCALE_EPS = 1e-3
"""eps of Pohlen et al. (2018) and Kapturowski et al. (2019)."""


def value_rescale(x: torch.Tensor, eps: float = RESCALE_EPS) -> torch.Tensor:
    """h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x."""
    return torch.sign(x) * (torch.sqrt(x.abs() + 1.0) - 1.0) + eps * x


def value_rescale_inverse(x: torch.Tensor, eps: float = RESCALE_EPS) -> torch.Tensor:
    """h^-1(x) = sign(x) (((sqrt(1 + 4 eps (|x| + 1 + eps)) - 1) / (2 eps))^2 - 1)."""
    root = (torch.sqrt(1.0 + 4.0 * eps * (x.abs() + 1.0 + eps)) - 1.0) / (2.0 * eps)
    return torch.sign(x) * (root * root - 1.0)
