"""Symlog squashing and two-hot regression: how DreamerV3 predicts quantities of unknown scale.

Hafner et al. 2023, "Mastering Diverse Domains through World Models" (arXiv:2301.04104), Sec. 2:

    symlog(x) = sign(x) ln(|x| + 1)         symexp(x) = sign(x) (exp(|x|) - 1)   (eq. 1)

symexp inverts symlog. Targets are regressed in symlog space, so large values do not produce
large gradients and small ones keep their resolution near zero.

Two-hot (eq. 8-10): a scalar y becomes a categorical target over fixed bins B = b_1 < ... < b_K
(255 bins spaced evenly over [-20, 20] in symlog space, i.e. up to symexp(20) ~ 4.9e8): the two
bins around y share its mass by closeness,

    k = the last bin with b_k <= y,   twohot(y)_k = |b_{k+1} - y| / |b_{k+1} - b_k|,
                                       twohot(y)_{k+1} = |b_k - y| / |b_{k+1} - b_k|,

(all mass on the edge bin outside [b_1, b_K]). A network with logits l predicts
softmax(l)^T B, trained by cross-entropy -twohot(y)^T log softmax(l): the gradient does not scale
with the target's magnitude, and a bimodal return does not average into a value no episode has.
Here y = symlog(target) and the prediction is symexp(softmax(l)^T B).
"""

from __future__ import annotations

import torch

TWOHOT_BINS = 255
"""DreamerV3's number of bins."""
TWOHOT_LOW, TWOHOT_HIGH = -20.0, 20.0
"""The bins' range in symlog space."""


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) ln(|x| + 1)."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    """sign(x) (exp(|x|) - 1), the inverse of `symlog`."""
    return torch.sign(x) * torch.expm1(x.abs())


def twohot_bins(
    n: int = TWOHOT_BINS,
    low: float = TWOHOT_LOW,
    high: float = TWOHOT_HIGH,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """b_1 .. b_n spaced evenly over [low, high]."""
    if n < 2 or not high > low:
        raise ValueError(f"need n >= 2 bins and high > low, got {n}, {low}, {high}")
    return torch.linspace(low, high, n, device=device)


def twohot_encode(y: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """twohot(y): weights [..., K] on the two bins around each y (shares by closeness; all on
    the edge bin outside the range). Rows sum to 1."""
    y = y.clamp(bins[0], bins[-1])
    upper = torch.searchsorted(bins, y.contiguous(), right=True).clamp(1, len(bins) - 1)
    lower = upper - 1
    b_lo, b_hi = bins[lower], bins[upper]
    w_hi = (y - b_lo) / (b_hi - b_lo)
    out = torch.zeros(*y.shape, len(bins), dtype=bins.dtype, device=bins.device)
    out.scatter_(-1, lower.unsqueeze(-1), (1.0 - w_hi).unsqueeze(-1))
    out.scatter_add_(-1, upper.unsqueeze(-1), w_hi.unsqueeze(-1))
    return out


def twohot_mean(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """softmax(logits)^T B: the prediction in the bins' space (symlog space here)."""
    return torch.softmax(logits, -1) @ bins


def twohot_decode(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """symexp(softmax(logits)^T B): the predicted value in the original units."""
    return symexp(twohot_mean(logits, bins))


def twohot_loss(logits: torch.Tensor, target: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """-twohot(symlog(target))^T log softmax(logits), element-wise (no gradient to `target`)."""
    weights = twohot_encode(symlog(target.detach()), bins)
    return -(weights * torch.log_softmax(logits, -1)).sum(-1)
