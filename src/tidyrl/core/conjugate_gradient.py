"""Conjugate gradient and Fisher-vector products: the natural-gradient machinery of TRPO.

TRPO (Schulman et al. 2015, "Trust region policy optimization", appendix C) solves F x = g for
the search direction, F the Fisher information matrix of the policy, without forming F: conjugate
gradient needs only products F v, and F v is the Hessian-vector product of the mean KL
divergence between the old policy and the current one at the current parameters,

    F v = d/dtheta ( (d KL / d theta) . v ),

two backward passes and no N x N matrix (Pearlmutter 1994). A damping term beta v keeps F + beta I
well conditioned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iterations: int = 10,
    residual_tol: float = 1e-10,
) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive-definite A given only x -> A x.

    Nocedal & Wright (2006), algorithm 5.2. Exact in at most dim(b) iterations (in exact
    arithmetic); TRPO uses 10.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r @ r
    for _ in range(iterations):
        if rr <= residual_tol:
            break
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def flat_grad(
    output: torch.Tensor,
    params: Sequence[torch.Tensor],
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> torch.Tensor:
    """d output / d params, concatenated into one vector (zeros for unused parameters)."""
    grads = torch.autograd.grad(
        output,
        list(params),
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
    )
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
    )


def fisher_vector_product(
    kl: torch.Tensor, params: Sequence[torch.Tensor], damping: float = 0.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> (F + damping I) v, F the Hessian of the scalar mean `kl` with respect to `params`.

    `kl` must be KL(pi_old || pi_theta) with pi_old detached, evaluated at theta = theta_old, so
    that its Hessian equals the Fisher information E[grad log pi grad log pi^T].
    """
    grad_kl = flat_grad(kl, params, create_graph=True)

    def product(v: torch.Tensor) -> torch.Tensor:
        return flat_grad(grad_kl @ v, params, retain_graph=True) + damping * v

    return product


def get_flat_params(params: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


@torch.no_grad()
def set_flat_params(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    offset = 0
    for p in params:
        n = p.numel()
        p.copy_(flat[offset : offset + n].view_as(p))
        offset += n
