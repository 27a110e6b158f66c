"""Recurrent pieces: an LSTM unrolled over sequences with episode-start resets, and the training
envs' recurrent state between steps as run state.

    (h_t, c_t) = LSTM(x_t, (1 - e_t) * (h_{t-1}, c_{t-1}))

with e_t = 1 at an episode's first step, so memory never crosses an episode boundary
(Hochreiter & Schmidhuber 1997; Kapturowski et al. 2019 reset the state the same way). The time
axis is cut where any sequence has an episode start, and each piece runs as one LSTM call from
the masked state: the maths of a step-by-step loop, in fewer calls.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


def unroll(
    lstm: nn.LSTM, x: torch.Tensor, starts: torch.Tensor, state: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A one-layer LSTM over time-major inputs x [L, B, D] with episode-start flags starts
    [L, B] (the state is zeroed before reading a step whose flag is 1), from `state` [2, B, H]
    (h, c). Returns the outputs [L, B, H] and the final state [2, B, H]."""
    cuts = torch.nonzero(starts[1:].any(dim=1)).flatten() + 1
    bounds = [0, *cuts.tolist(), x.shape[0]]
    outs = []
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        state = state * (1.0 - starts[begin]).view(1, -1, 1)
        out, (h, c) = lstm(x[begin:end], (state[0:1], state[1:2]))
        outs.append(out)
        state = torch.cat([h, c])
    return torch.cat(outs), state


class LSTMMemory:
    """The training envs' recurrent state between steps, a run state (a resumed run continues
    with the memory its envs' current episodes built)."""

    def __init__(self, state: torch.Tensor, n_envs: int) -> None:
        self.state = state
        """The state after the last step [..., N, H]."""
        self.starts = torch.ones(n_envs)
        """1 where the next observation starts an episode (all, before the first step)."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"state": self.state.detach().cpu().numpy(), "starts": self.starts.numpy()}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.state = torch.as_tensor(np.array(arrays["state"], dtype=np.float32))
        self.starts = torch.as_tensor(np.array(arrays["starts"], dtype=np.float32))
