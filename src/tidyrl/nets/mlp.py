"""Multi-layer perceptrons."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["relu", "tanh", "elu", "gelu", "silu"]
"""The activation names a config may choose (the keys of `ACTIVATIONS`)."""

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: str = "relu",
    output_activation: str | None = None,
    init: Callable[[nn.Linear], None] | None = None,
    output_init: Callable[[nn.Linear], None] | None = None,
) -> nn.Sequential:
    """Linear -> activation blocks for each hidden width, then a linear output layer.

    `init` is applied to every hidden Linear and `output_init` to the last one (for example the
    orthogonal initialisation of PPO, or the uniform output init of DDPG's "spell chart").
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        linear = nn.Linear(width, h)
        if init is not None:
            init(linear)
        layers += [linear, ACTIVATIONS[activation]()]
        width = h
    out = nn.Linear(width, out_dim)
    if output_init is not None:
        output_init(out)
    layers.append(out)
    if output_activation is not None:
        layers.append(ACTIVATIONS[output_activation]())
    return nn.Sequential(*layers)


def run_layers(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`layers(x)`, calling Linear, ReLU and Tanh layers as functions.

    RL networks are small and run once per environment step and per update, so nn.Module's
    per-call machinery is a visible share of the time (docs/performance.md). Other layers
    (NoisyLinear, CNNs, normalization) are called as modules. Module hooks registered on the
    plain layers inside `layers` do not run."""
    for m in layers:
        kind = type(m)
        if kind is nn.Linear:
            linear = cast(nn.Linear, m)
            x = F.linear(x, linear.weight, linear.bias)
        elif kind is nn.ReLU:
            x = torch.relu(x)
        elif kind is nn.Tanh:
            x = torch.tanh(x)
        else:
            x = m(x)
    return x


def orthogonal_init(gain: float = 2**0.5, bias: float = 0.0) -> Callable[[nn.Linear], None]:
    """Orthogonal weights with `gain`, constant bias (Saxe et al. 2014; common in PPO/A2C)."""

    def apply(layer: nn.Linear) -> None:
        nn.init.orthogonal_(layer.weight, gain)
        nn.init.constant_(layer.bias, bias)

    return apply


def uniform_init(bound: float) -> Callable[[nn.Linear], None]:
    """U(-bound, bound) weights and biases (DDPG's output layers, Lillicrap et al. 2016)."""

    def apply(layer: nn.Linear) -> None:
        nn.init.uniform_(layer.weight, -bound, bound)
        nn.init.uniform_(layer.bias, -bound, bound)

    return apply


def xavier_init(layer: nn.Linear) -> None:
    """Xavier/Glorot uniform weights, zero bias (Glorot & Bengio 2010)."""
    nn.init.xavier_uniform_(layer.weight)
    with torch.no_grad():
        layer.bias.zero_()
