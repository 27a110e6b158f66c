"""The optimizers tidyrl's algorithms use: torch's own, with global gradient-norm clipping done
inside `step()`.

`Adam` is `torch.optim.Adam(fused=True)` and `CenteredRMSprop` is `torch.optim.RMSprop(centered,
foreach)`: the maths, the state and the `state_dict` are torch's, so checkpoints load into either.
`TFRMSprop` is RMSProp as TensorFlow computes it (mean square started at 1, eps inside the root),
written out in its `step`.
What they add is the clipping of Pascanu et al. (2013), g <- g * min(1, max_norm / ||g||) with
||g|| the norm of all gradients together (as `torch.nn.utils.clip_grad_norm_` computes it, 1e-6
added to ||g||), at the start of `step()`, so that an algorithm calls `optimizer.step()` alone.
On the CPU the multiply is skipped when nothing is clipped (most steps), because acting and
updating small networks is dominated by per-op costs; `benchmarks/dqn_update_profile.py` breaks
an update down. Only public torch APIs are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

_Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def clip_global_norm(params: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor | None:
    """Scale the gradients of `params` in place by min(1, max_norm / (||g|| + 1e-6)), with ||g||
    the norm of all of them together (torch's `clip_grad_norm_`); returns ||g|| before clipping,
    or None when clipping is off (`max_norm` <= 0) or no parameter has a gradient."""
    params = [p for p in params if p.grad is not None]
    grads = [p.grad for p in params if p.grad is not None]
    if max_norm <= 0 or not grads:
        return None
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    if norm.device.type == "cpu" and float(norm) <= max_norm:
        return norm  # factor 1 (reading a CPU scalar costs no sync)
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm, foreach=True)
    return norm


class _ClippedSteps:
    """`step()` with the global gradient-norm clipping first, and `zero_grad()` dropping the
    gradients directly (the base method is wrapped as dynamo-disabled, which costs more per call
    than dropping a small network's gradients). Mixed in before a torch optimizer."""

    param_groups: list[dict[str, Any]]
    max_grad_norm: float
    last_grad_norm: torch.Tensor | None

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = (p for group in self.param_groups for p in group["params"])
        self.last_grad_norm = clip_global_norm(params, self.max_grad_norm)
        super().step()  # type: ignore[misc]
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            super().zero_grad(set_to_none=False)  # type: ignore[misc]
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None


class Adam(_ClippedSteps, torch.optim.Adam):  # type: ignore[misc]
    """Adam (Kingma & Ba 2015) with torch's fused kernel, clipping the global gradient norm to
    `max_grad_norm` (0: off) at the start of each `step()`."""

    def __init__(
        self,
        params: _Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_grad_norm: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, fused=True)
        self.max_grad_norm = max_grad_norm
        """Clip the global gradient norm of each step to this value (0: no clipping)."""
        self.last_grad_norm: torch.Tensor | None = None
        """||g|| before clipping at the last step (None when clipping is off)."""


class CenteredRMSprop(_ClippedSteps, torch.optim.RMSprop):  # type: ignore[misc]
    """Centered RMSProp with Mnih et al. (2015, Extended Data Table 1)'s constants (squared-
    gradient momentum 0.95, gradient momentum 0.95, min squared gradient 0.01), in torch's form:

        v <- a v + (1 - a) g^2,   m <- a m + (1 - a) g,   b <- mu b + g / (sqrt(v - m^2) + eps)
        theta <- theta - lr b

    (eps outside the square root, as torch.optim.RMSprop puts it; DeepMind's own variant adds
    it inside.) These are the settings of MinAtar's `examples/dqn.py` (Young & Tian 2019). The
    global gradient norm is clipped to `max_grad_norm` (0: off) inside `step`, as in `Adam`."""

    def __init__(
        self,
        params: _Params,
        lr: float,
        alpha: float = 0.95,
        momentum: float = 0.95,
        eps: float = 0.01,
        max_grad_norm: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=True, foreach=True
        )
        self.max_grad_norm = max_grad_norm
        """Clip the global gradient norm of each step to this value (0: no clipping)."""
        self.last_grad_norm: torch.Tensor | None = None
        """||g|| before clipping at the last step (None when clipping is off)."""


class _TFRMSpropSteps(torch.optim.Optimizer):
    """The update of TensorFlow's RMSProp (no momentum, not centered), which differs from
    torch's in two places: the mean square starts at 1, not 0, and eps is inside the root.

        v <- alpha v + (1 - alpha) g^2   (v = 1 before the first step)
        theta <- theta - lr g / sqrt(v + eps)"""

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.ones_like(p)
                v = state["square_avg"]
                v.mul_(alpha).addcmul_(p.grad, p.grad, value=1.0 - alpha)
                p.addcdiv_(p.grad, (v + eps).sqrt_(), value=-lr)
        return loss


class TFRMSprop(_ClippedSteps, _TFRMSpropSteps):  # type: ignore[misc]
    """RMSProp as TensorFlow computes it (`_TFRMSpropSteps`: mean square started at 1, eps
    inside the root): the optimizer of the A2C/ACKTR papers' code (OpenAI Baselines) and of
    Stable-Baselines3's `RMSpropTFLike`, which RL-Zoo's Atari A2C uses. Torch's RMSprop starts
    the mean square at 0, so its first steps move each weight by about lr / sqrt(1 - alpha)
    (10 lr at alpha 0.99) whatever the gradient's size; this one starts near lr * g. The global
    gradient norm is clipped to `max_grad_norm` (0: off) inside `step`, as in `Adam`."""

    def __init__(
        self,
        params: _Params,
        lr: float,
        alpha: float = 0.99,
        eps: float = 1e-5,
        max_grad_norm: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})
        self.max_grad_norm = max_grad_norm
        """Clip the global gradient norm of each step to this value (0: no clipping)."""
        self.last_grad_norm: torch.Tensor | None = None
        """||g|| before clipping at the last step (None when clipping is off)."""


def a2c_rmsprop(
    params: _Params, lr: float, tf_like: bool = False
) -> torch.optim.RMSprop | TFRMSprop:
    """The A2C paper's RMSProp (alpha 0.99, eps 1e-5): torch's (`tf_like=False`, SB3's A2C
    default) or TensorFlow's (`TFRMSprop`, OpenAI Baselines' and SB3's `RMSpropTFLike`)."""
    if tf_like:
        return TFRMSprop(params, lr=lr, alpha=0.99, eps=1e-5)
    return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5, foreach=True)


OPTIMIZERS = ("adam", "rmsprop")
"""`optimizer` choices of the value-based configs that offer one (see `make_optimizer`)."""


def make_optimizer(
    kind: str,
    params: Iterable[torch.Tensor],
    lr: float,
    eps: float | None = None,
    max_grad_norm: float = 0.0,
) -> Adam | CenteredRMSprop:
    """ "adam": the kernel's `Adam` (eps default 1e-8); "rmsprop": centered RMSProp with the
    Nature DQN's constants (Mnih et al. 2015; MinAtar's examples/dqn.py). Both clip the global
    gradient norm to `max_grad_norm` (0: off) inside their step."""
    if kind == "rmsprop":
        return CenteredRMSprop(params, lr=lr, max_grad_norm=max_grad_norm)
    if kind != "adam":
        raise ValueError(f"unknown optimizer {kind!r}; choose from {', '.join(OPTIMIZERS)}")
    return Adam(params, lr=lr, eps=1e-8 if eps is None else eps, max_grad_norm=max_grad_norm)
