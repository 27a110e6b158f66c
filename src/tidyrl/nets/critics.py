"""Critics for continuous actions: an ensemble of Q(s, a) networks evaluated in batched matmuls.

TD3 and SAC train two critics on the same batch and DDPG one. Running them as separate modules
costs one small matmul per critic per layer; `QEnsemble` stores the k critics' weights stacked,
``W: (k, in, out)``, and evaluates all of them with one ``torch.baddbmm`` per layer (the first
layer, whose input is shared, is one ordinary matmul of width k * hidden). Each member is still an
independently initialised MLP, so the maths is that of k separate critics.

`batchnorm_mlp` is the batch-normalised MLP of the DDPG paper (Lillicrap et al. 2016, section 7:
batch norm on the state input and on every hidden layer).

Mixed precision: with ``compute_dtype=torch.bfloat16`` the hidden-to-hidden matmuls (where nearly
all the FLOPs are) run in bfloat16, which hardware with native bf16 (`tidyrl.nets.precision`)
multiplies faster than float32, while the input layer (a handful of input features) and the
output layer (so that Q-values and TD errors keep float32 resolution) stay in float32.
Parameters, gradients as Adam sees them and the optimizer state stay float32 (ordinary
mixed-precision training).

Every layer here goes through `linear`, whose forward and backward products are those of
``x @ W + b`` but each evaluated in the orientation the CPU's BLAS runs fast. RL networks have
skinny layers (3 observation features in, 1 Q-value out), and MKL's kernels for a product with
a narrow *output* (N <= 16 columns) are much slower than for the same product transposed.
Together with an ensemble first layer whose output is already laid out (k, B, h) -- so that the
ReLU and its backward see one memory layout -- this cuts the time a critic's forward-backward
spends outside the 256 x 256 products (figures: docs/performance.md, measured by
benchmarks/sac_update_profile.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from tidyrl.nets.encoders import CombinedEncoder, ImageBranch
from tidyrl.nets.mlp import ACTIVATIONS

Init = Callable[[nn.Linear], None]

_SKINNY = 16
"""Products whose output has at most this many columns are computed transposed."""


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b (2-D or batched, broadcasting), evaluated as (b^T a^T)^T when the result has few
    columns and more rows, and as a broadcast product when the inner dimension is 1 (an outer
    product): the orientations in which MKL's kernels are fast for skinny shapes."""
    if a.shape[-1] == 1:
        return a * b
    if b.shape[-1] <= _SKINNY < a.shape[-2]:
        return torch.matmul(b.mT, a.mT).mT
    return torch.matmul(a, b)


class _Linear(torch.autograd.Function):
    """y = x @ w + b (w: (..., in, out)), optionally computed in a lower precision `dtype`.

    Backward: dx = g @ w^T, dw = x^T @ g, db = sum of g over the broadcast (batch) dimensions
    -- the gradients torch derives for ``baddbmm``/``addmm``, each product oriented by
    `_matmul`, and computed only where an input requires a gradient (pass detached weights to
    differentiate with respect to x alone). With `dtype`, the products run in `dtype` and the
    gradients come back in the inputs' dtypes (autocast-style mixed precision).
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None
    ) -> torch.Tensor:
        ctx.shapes = (x.shape, w.shape, b.shape)
        ctx.dtypes = (x.dtype, w.dtype, b.dtype)
        if dtype is not None:
            x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
        ctx.save_for_backward(x, w)
        out = _matmul(x, w)
        # a transposed product is a view, and autograd forbids modifying a custom Function's
        # view output in place (the in-place ReLU of a hidden layer <= 16 wide would raise)
        return out + b if out._is_view() else out.add_(b)

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None]:
        x, w = ctx.saved_tensors
        (x_shape, w_shape, b_shape), (x_dtype, w_dtype, b_dtype) = ctx.shapes, ctx.dtypes
        grad = grad.to(x.dtype)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _matmul(grad, w.mT).sum_to_size(x_shape).to(x_dtype)
        if ctx.needs_input_grad[1]:
            dw = _matmul(x.mT, grad).sum_to_size(w_shape).to(w_dtype)
        if ctx.needs_input_grad[2]:
            db = grad.sum_to_size(b_shape).to(b_dtype)
        return dx, dw, db, None


def linear(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """x @ w + b with w of shape (..., in, out); with `dtype`, computed in that dtype (result in
    `dtype`, gradients in the inputs' dtypes).

    A skinny layer (in or out at most 16) goes through `_Linear`, whose products are oriented
    for speed; a wide one through torch's ``addmm``/``baddbmm`` (C++ autograd nodes, no Python
    overhead, which on the wide layers costs more than orientation could save)."""
    if min(w.shape[-2:]) <= _SKINNY or x.dim() != w.dim():
        out: torch.Tensor = _Linear.apply(x, w, b, dtype)  # type: ignore[no-untyped-call]
        return out
    if dtype is not None:
        x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
    return torch.addmm(b, x, w) if x.dim() == 2 else torch.baddbmm(b, x, w)


class EnsembleLinear(nn.Module):
    """k independent linear maps applied to a (k, B, in) input: y_k = x_k W_k + b_k."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach()[None] for layer in layers]))

    def forward(
        self, x: torch.Tensor, dtype: torch.dtype | None = None, frozen: bool = False
    ) -> torch.Tensor:
        if frozen:
            return linear(x, self.weight.detach(), self.bias.detach(), dtype)
        return linear(x, self.weight, self.bias, dtype)


def _linear(in_dim: int, out_dim: int, init: Init | None) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    if init is not None:
        init(layer)
    return layer


class QEnsemble(nn.Module):
    """k critics Q_k(s, a) = MLP_k([s, a]); ``forward(obs, actions)`` returns (k, B, out_dim).

    `out_dim` > 1 gives distributional critics (atoms or quantiles per critic). `init` applies to
    the hidden layers and `output_init` to the output layer of every member. With `batch_norm`,
    the observation input and each hidden pre-activation are batch-normalised (per member).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        n_critics: int = 2,
        out_dim: int = 1,
        activation: str = "relu",
        init: Init | None = None,
        output_init: Init | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("QEnsemble needs at least one hidden layer")
        if n_critics < 1:
            raise ValueError(f"n_critics must be at least 1, got {n_critics}")
        self.n_critics, self.out_dim = n_critics, out_dim
        self.activation = ACTIVATIONS[activation]()
        first = [_linear(obs_dim + act_dim, hidden[0], init) for _ in range(n_critics)]
        # the shared input makes the first layer one (B, in) x (in, k * h0) matmul
        self.first = nn.Linear(obs_dim + act_dim, n_critics * hidden[0])
        with torch.no_grad():
            self.first.weight.copy_(torch.cat([layer.weight for layer in first], 0))
            self.first.bias.copy_(torch.cat([layer.bias for layer in first], 0))
        widths = [*hidden, out_dim]
        layers = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
            layer_init = output_init if i == len(widths) - 2 else init
            layers.append(
                EnsembleLinear([_linear(w_in, w_out, layer_init) for _ in range(n_critics)])
            )
        self.layers = nn.ModuleList(layers)
        self.obs_norm = nn.BatchNorm1d(obs_dim) if batch_norm else None
        self.norms = (
            nn.ModuleList(nn.BatchNorm1d(n_critics * h) for h in hidden) if batch_norm else None
        )
        self.hidden = tuple(hidden)
        self.compute_dtype: torch.dtype | None = None
        """dtype of the hidden-to-hidden matmuls (None: the parameters' dtype)."""

    def output_layers(self) -> list[nn.Module]:
        """The output layer of every member (one `EnsembleLinear`): the head `--freeze encoder`
        keeps trainable."""
        return [self.layers[-1]]

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, frozen: bool = False
    ) -> torch.Tensor:
        """Q_k(s, a) for every member k, (k, B, out_dim). `obs` is (B, obs_dim), or (k, B,
        obs_dim) with one input per member (`EncodedQEnsemble`'s features; `actions` (k, B,
        act_dim) then).

        With `frozen`, the parameters enter as constants: gradients reach `actions` (the actor's
        loss in DDPG/TD3/SAC) but the critic's weight gradients are neither computed nor
        accumulated, as if they had been left out of ``backward(inputs=...)``.
        """
        if self.norms is not None:
            return self._forward_batch_norm(obs, actions, frozen)
        k, x = self.n_critics, torch.cat([obs, actions], -1)
        first_w = self.first.weight.view(k, -1, x.shape[-1]).mT  # (k, in, h0)
        first_b = self.first.bias.view(k, 1, -1)
        if frozen:
            first_w, first_b = first_w.detach(), first_b.detach()
        dtype = self.compute_dtype
        out_layer: EnsembleLinear = self.layers[-1]  # type: ignore[assignment]
        h = linear(x, first_w, first_b)  # (k, B, h0)
        h = activate(self.activation, h, dtype if len(self.layers) > 1 else None)
        for layer in self.layers[:-1]:
            h = activate(self.activation, layer(h, dtype, frozen), None)
        out: torch.Tensor = out_layer(h.to(out_layer.weight.dtype), None, frozen)
        return out

    def _forward_batch_norm(
        self, obs: torch.Tensor, actions: torch.Tensor, frozen: bool
    ) -> torch.Tensor:
        """The batch-normalised variant (DDPG paper, section 7), in plain torch ops."""
        assert self.obs_norm is not None and self.norms is not None
        if frozen:
            raise ValueError("QEnsemble(batch_norm=True) does not support frozen=True")
        x = self.first(torch.cat([self.obs_norm(obs), actions], -1))
        batch = x.shape[0]
        x = self.norms[0](x)  # (B, k * h0)
        h = self.activation(x.view(batch, self.n_critics, -1).transpose(0, 1))  # (k, B, h0)
        for i, layer in enumerate(self.layers[:-1]):
            h = layer(h, self.compute_dtype)
            flat = h.transpose(0, 1).reshape(batch, -1)
            h = self.norms[i + 1](flat).view(batch, self.n_critics, -1).transpose(0, 1)
            h = self.activation(h)
        out: torch.Tensor = self.layers[-1](h.to(self.layers[-1].weight.dtype))
        return out


class EncodedQEnsemble(nn.Module):
    """k critics over Dict or image observations: Q_k(s, a) = MLP_k([enc_k(s), a]), each member
    with its own encoder (a combined encoder or an image CNN, `tidyrl.nets.encoders`), so that
    the k critics share nothing, as they do on vectors. Same interface as `QEnsemble`
    (``forward(obs, actions, frozen)`` -> (k, B, out_dim)); the members' features, (k, B, F), go
    through the ensemble's first layer as one batched product.

    With `frozen`, the encoders run without autograd as well: the gradient reaches `actions`
    alone, and no encoder weight gradient is computed."""

    def __init__(
        self, encoders: Sequence[CombinedEncoder | ImageBranch], critics: QEnsemble
    ) -> None:
        super().__init__()
        if len(encoders) != critics.n_critics:
            raise ValueError(f"{critics.n_critics} critics need as many encoders")
        if critics.norms is not None:
            raise ValueError("EncodedQEnsemble does not support batch_norm")
        self.encoders = nn.ModuleList(encoders)
        self.critics = critics
        self.n_critics, self.out_dim = critics.n_critics, critics.out_dim

    @property
    def compute_dtype(self) -> torch.dtype | None:
        """dtype of the hidden-to-hidden matmuls (`QEnsemble.compute_dtype`)."""
        return self.critics.compute_dtype

    @compute_dtype.setter
    def compute_dtype(self, dtype: torch.dtype | None) -> None:
        self.critics.compute_dtype = dtype

    def features(self, obs: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """enc_k(s) of every member, stacked: (k, B, F)."""
        return torch.stack([encoder(obs) for encoder in self.encoders])

    def forward(
        self,
        obs: dict[str, torch.Tensor] | torch.Tensor,
        actions: torch.Tensor,
        frozen: bool = False,
    ) -> torch.Tensor:
        if frozen:
            with torch.no_grad():
                features = self.features(obs)
        else:
            features = self.features(obs)
        actions = actions.expand(self.n_critics, *actions.shape)
        out: torch.Tensor = self.critics(features, actions, frozen)
        return out


def batchnorm_mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: str = "relu",
    output_activation: str | None = None,
    init: Init | None = None,
    output_init: Init | None = None,
) -> nn.Sequential:
    """BatchNorm(input) -> [Linear -> BatchNorm -> activation] * len(hidden) -> Linear."""
    layers: list[nn.Module] = [nn.BatchNorm1d(in_dim)]
    width = in_dim
    for h in hidden:
        layers += [_linear(width, h, init), nn.BatchNorm1d(h), ACTIVATIONS[activation]()]
        width = h
    layers.append(_linear(width, out_dim, output_init))
    if output_activation is not None:
        layers.append(ACTIVATIONS[output_activation]())
    return nn.Sequential(*layers)


def activate(activation: nn.Module, h: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """activation(h), its output in `dtype` (None: h's dtype) for the next layer's product.

    A ReLU commutes with rounding (relu(round(h)) = round(relu(h))), so h is converted first and
    the ReLU and its backward run on the narrower dtype: half the bytes of two memory-bound
    passes over a (k, B, 256) tensor. `h` must be a fresh product that nothing else holds: the
    ReLU runs in place on it (the products' backward passes do not need their outputs). Other
    activations are applied in h's dtype, then converted."""
    if isinstance(activation, nn.ReLU):
        return torch.relu_(h.to(dtype) if dtype is not None else h)
    out: torch.Tensor = activation(h)
    return out.to(dtype) if dtype is not None else out


def mlp_forward(net: nn.Sequential, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """Run a `tidyrl.nets.mlp.mlp` with every Linear layer through `linear` and its
    hidden-to-hidden Linear layers in `dtype` (first and last Linear in the parameters' dtype;
    all of them when `dtype` is None). Same values as ``net(x)``. Any other module (an
    activation, a combined encoder in front of the stack) runs as it is."""
    modules = list(net)
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    inner = {id(m) for m in linears[1:-1]}
    for i, module in enumerate(modules):
        if isinstance(module, nn.Linear):
            x = x.to(module.weight.dtype) if id(module) not in inner else x
            x = linear(x, module.weight.mT, module.bias, dtype if id(module) in inner else None)
        else:
            # an activation whose output feeds an inner layer: produce it in `dtype`
            feeds_inner = i + 1 < len(modules) and id(modules[i + 1]) in inner
            x = activate(module, x, dtype if feeds_inner else None)
    return x
