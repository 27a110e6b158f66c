"""`Adam` with gradient-norm clipping folded into one fused kernel call: the optimizer every
tidyrl algorithm uses.

The maths is exactly Adam (Kingma & Ba 2015, Alg. 1) as `torch.optim.Adam` computes it, and
the state (`step`, `exp_avg`, `exp_avg_sq` per parameter) and `state_dict` are torch's own, so
checkpoints stay interchangeable. What differs is the cost of one step for the small networks
of RL, where the arithmetic takes tens of microseconds and the bookkeeping around it more:

- `step()` calls torch's fused CPU/GPU kernel (`torch._fused_adam_`) directly on parameter and
  state lists built once, instead of regrouping tensors by device and dtype every step;
- global gradient-norm clipping (Pascanu et al. 2013) is part of the step: one stacked norm
  and one multi-tensor multiply by c = min(1, max_norm / ||g||), skipped on CPU when c = 1.
  (Passing 1 / c to the kernel as its `grad_scale` would save the multiply, but takes the
  kernel's unvectorized path, 4x slower on this CPU.)
- `zero_grad()` drops the gradients without the profiler scaffolding of the base method.

Measured on the 2-core CI machine kind (DQN's 256-256 Q-network, batch 64): a whole update
0.93 ms -> 0.74 ms against torch.optim.Adam(fused=True) + clip_grad_norm_;
`benchmarks/dqn_update_profile.py` prints the breakdown.
Parameter groups with amsgrad, weight decay, `maximize` or a missing gradient take torch's
general path (same results, just slower).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import torch

_Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
_GroupLists = tuple[
    dict[str, Any], list[torch.Tensor], list[list[torch.Tensor]], torch.Tensor | None
]


class Adam(torch.optim.Adam):
    """torch.optim.Adam(fused) with a lean `step` and optional global-norm clipping."""

    def __init__(
        self,
        params: _Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_grad_norm: float = 0.0,
    ) -> None:
        # torch wraps every optimizer's `step` in profiler and hook bookkeeping (~15 us a
        # call); marking ours as already wrapped skips that, so step pre/post hooks registered
        # on this optimizer do not run
        type(self).step.hooked = True  # type: ignore[attr-defined]
        super().__init__(params, lr=lr, betas=betas, eps=eps, fused=True)
        self.max_grad_norm = max_grad_norm
        """Clip the global gradient norm of each step to this value (0: no clipping)."""
        self._lists: list[_GroupLists]
        self._lists = []
        self.last_grad_norm: torch.Tensor | None = None
        """||g|| before clipping at the last step (when clipping is on)."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._lists = []  # the state tensors were replaced

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        self._lists = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            super().zero_grad(set_to_none=False)
            return
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _state(self) -> list[_GroupLists]:
        """Per group: (group, params, [exp_avgs, exp_avg_sqs, steps], step counters), made
        once, lazily, with the same initial state as torch.optim.Adam.

        A group's step counters are made views of one tensor, so counting a step is one add
        rather than one per parameter (they all step together; a checkpoint stores each one
        separately, as torch does)."""
        if not self._lists:
            for group in self.param_groups:
                # frozen parameters never get a gradient; torch's Adam skips them as well
                params = [p for p in group["params"] if p.requires_grad]
                for p in params:
                    state = self.state[p]
                    if not state:
                        state["step"] = torch.tensor(0.0, dtype=torch.float32, device=p.device)
                        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                        state["exp_avg_sq"] = torch.zeros_like(
                            p, memory_format=torch.preserve_format
                        )
                counters = None
                if params and len({p.device for p in params}) == 1:
                    counters = torch.stack([self.state[p]["step"] for p in params])
                    for i, p in enumerate(params):
                        self.state[p]["step"] = counters[i]
                columns = [[self.state[p][key] for p in params] for key in _KEYS]
                self._lists.append((group, params, columns, counters))
        return self._lists

    def _lean(self) -> bool:
        return all(
            not g["amsgrad"] and not g["maximize"] and g["weight_decay"] == 0
            for g in self.param_groups
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        state = self._state()
        grads = [[p.grad for p in params] for _, params, _, _ in state]
        if not self._lean() or any(x is None for gs in grads for x in gs):
            self._clip([x for gs in grads for x in gs if x is not None])
            super().step()
            return loss
        dense = cast(list[list[torch.Tensor]], grads)  # no None left (checked above)
        self._clip([x for gs in dense for x in gs])
        for (group, params, (exp_avgs, exp_avg_sqs, steps), counters), group_grads in zip(
            state, dense
        ):
            beta1, beta2 = group["betas"]
            if counters is not None:
                counters.add_(1)
            else:
                torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                group_grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                lr=float(group["lr"]),
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=group["eps"],
                amsgrad=False,
                maximize=False,
            )
        return loss

    def _clip(self, grads: list[torch.Tensor]) -> None:
        self.last_grad_norm = clip_global_norm(grads, self.max_grad_norm)


_KEYS = ("exp_avg", "exp_avg_sq", "step")


def clip_global_norm(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor | None:
    """g <- g * min(1, max_norm / ||g||) with ||g|| the norm of all gradients together
    (Pascanu et al. 2013); returns ||g|| before clipping (None when clipping is off)."""
    if max_norm <= 0 or not grads:
        return None
    norm: torch.Tensor = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if norm.device.type == "cpu" and float(norm) <= max_norm:
        return norm  # c = 1 (reading a CPU scalar costs no sync; most steps are not clipped)
    torch._foreach_mul_(grads, torch.clamp(max_norm / norm, max=1.0))
    return norm


class CenteredRMSprop(torch.optim.RMSprop):
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
        self.last_grad_norm: torch.Tensor | None = None

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.last_grad_norm = clip_global_norm(grads, self.max_grad_norm)
        return cast(float | None, super().step(closure))


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
