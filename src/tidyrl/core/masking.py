"""Action masks: which actions are valid in a state (an env exposes them as ``action_mask``;
`tidyrl.envs.make` reads them, algorithms receive a bool array with one entry per action).

Masked actions get the value -inf before any choice (Huang & Ontañón 2022, "A closer look at
invalid action masking in policy gradient algorithms": the masked softmax pi(a|s) = 0 for invalid
a, which keeps the gradient of the log-probability exact):

    x'_a = x_a     where mask_a        (logits of a policy, Q-values of a greedy choice)
    x'_a = -inf    elsewhere

A row whose mask allows no action at all (a terminal state of a board game, whose value is never
bootstrapped) is left unmasked, so no row turns into NaN.
"""

from __future__ import annotations

import numpy as np
import torch


def valid_rows(mask: torch.Tensor) -> torch.Tensor:
    """The effective mask: `mask`, with rows that allow nothing opened to every action."""
    return mask | ~mask.any(-1, keepdim=True)


def mask_invalid(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """`values` with invalid entries set to -inf (see the module docstring); unchanged when
    `mask` is None."""
    if mask is None:
        return values
    return values.masked_fill(~valid_rows(mask), float("-inf"))


def masked_argmax(values: torch.Tensor, mask: np.ndarray | None) -> np.ndarray:
    """argmax_a per row of `values` (B, A) over the valid actions of `mask` (bool [B, A], None:
    every action), as a NumPy array: the greedy action of a value-based agent."""
    if mask is not None:
        values = mask_invalid(values, torch.as_tensor(mask, dtype=torch.bool, device=values.device))
    chosen: np.ndarray = values.argmax(dim=1).cpu().numpy()
    return chosen


def sample_valid(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row drawn uniformly among the row's valid ones (every action where none
    is valid): the exploring draw of a masked epsilon-greedy policy."""
    allowed = mask | ~mask.any(-1, keepdims=True)
    # a uniform draw in [0, count) picks the k-th valid action through the cumulative count
    counts = allowed.sum(-1)
    k = (rng.random(len(mask)) * counts).astype(np.int64)
    chosen: np.ndarray = (np.cumsum(allowed, -1) <= k[:, None]).sum(-1)
    return chosen
