"""Critics for continuous actions: an ensemble of Q(s, a) networks evaluated in batched matmuls.

TD3 and SAC train two critics on the same batch and DDPG one. Running them as separate modules
costs one small matmul per critic per layer; `QEnsemble` stores the k critics' weights stacked,
``W: (k, in, out)``, and evaluates all of them with one ``torch.baddbmm`` per layer (the first
layer, whose input is shared, is one ordinary matmul of width k * hidden). Each member is still an
independently initialised MLP, so the maths is that of k separate critics.

`batchnorm_mlp` is the batch-normalised MLP of the DDPG paper (Lillicrap et al. 2016, section 7:
batch norm on the state input and on every hidden layer).

Mixed precision: with ``compute_dtype=torch.bfloat16`` the hidden-to-hidden matmuls (where nearly
all the FLOPs are) run in bfloat16, which CPUs with AVX-512 BF16 execute several times faster
than float32, while the input layer (a handful of input features) and the output layer (so that
Q-values and TD errors keep float32 resolution) stay in float32. Parameters, gradients as Adam
sees them and the optimizer state stay float32 (ordinary mixed-precision training).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from tidyrl.nets.mlp import ACTIVATIONS

Init = Callable[[nn.Linear], None]


class EnsembleLinear(nn.Module):
    """k independent linear maps applied to a (k, B, in) input: y_k = x_k W_k + b_k."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach()[None] for layer in layers]))

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        if dtype is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(self.bias.to(dtype), x.to(dtype), self.weight.to(dtype))


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

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        x = self.first(torch.cat([obs, actions], -1))  # (B, k * h0)
        batch = x.shape[0]
        if self.norms is not None:
            x = self.norms[0](x)
        h = self.activation(x.view(batch, self.n_critics, -1).transpose(0, 1))  # (k, B, h0)
        for i, layer in enumerate(self.layers[:-1]):
            h = layer(h, self.compute_dtype)
            if self.norms is not None:
                flat = h.transpose(0, 1).reshape(batch, -1)
                h = self.norms[i + 1](flat).view(batch, self.n_critics, -1).transpose(0, 1)
            h = self.activation(h)
        out: torch.Tensor = self.layers[-1](h.to(self.layers[-1].weight.dtype))
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


def mlp_forward(net: nn.Sequential, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """Run a `tidyrl.nets.mlp.mlp` with its hidden-to-hidden Linear layers in `dtype` (first and
    last Linear in the parameters' dtype); plain ``net(x)`` when `dtype` is None."""
    if dtype is None:
        out: torch.Tensor = net(x)
        return out
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for module in net:
        if isinstance(module, nn.Linear) and module is not linears[0]:
            if module is linears[-1]:
                x = F.linear(x.to(module.weight.dtype), module.weight, module.bias)
            else:
                x = F.linear(x.to(dtype), module.weight.to(dtype), module.bias.to(dtype))
        else:
            x = module(x)
    return x
