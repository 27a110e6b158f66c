"""The one inference seam for acting: a network's forward pass on a few rows, in NumPy.

Acting runs a policy or Q-network once per environment step on a handful of observations, where
torch's per-op dispatch costs more than the arithmetic; NumPy's small-array operations cost a
fraction of it (docs/algorithms/dqn.md, sac.md and ppo.md record what it bought).
`fast_policy(net)` is the only place that decides between the two:

- a plain stack it can run -- an `nn.Sequential` of Linear, ReLU and Tanh layers (NoisyLinear
  with its noise switched off: the mean weights), or a `QNetwork` on vector observations
  (shared layers, advantage and value streams, the dueling combine, logits (B, A, N) of a
  distributional head) -- runs in NumPy on views of its live float32 CPU parameters;
- anything else (pixel encoders, batch norm, noise switched on, other devices or dtypes) runs
  the torch forward under `torch.inference_mode()`, in eval mode when the network has
  batch-norm or dropout layers (its mode restored afterwards).

Either way the output is a torch tensor (`torch.from_numpy`, no copy), so what comes after the
network -- argmax, `categorical_q`, the squashed-Gaussian action, a policy distribution's draw
and log-probability -- has one implementation, the kernel's torch one.

Views, not copies: optimizer steps, target copies and `load_state_dict` write into the
parameters in place, so the NumPy forward always computes with the current weights. The plan is
rebuilt when the network's first parameter (the anchor) is another tensor or its storage moved,
as `.to()`, `.double()`, `load_state_dict(assign=True)` or a new Parameter on that layer do;
each call checks this with one attribute lookup (walking `net.parameters()` would cost more
than the NumPy forward). Storage swapped under one deeper parameter alone is not seen.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import cast

import numpy as np
import torch
from torch import nn

from tidyrl.nets.encoders import obs_tensors
from tidyrl.nets.heads import QNetwork
from tidyrl.nets.noisy import NoisyLinear

ArrayLike = np.ndarray | torch.Tensor | dict[str, np.ndarray] | dict[str, torch.Tensor]
"""A batch of observations: a NumPy array or a tensor (float32 on the CPU: no copy), or one of
them per key of a Dict observation (run through torch, by the network's combined encoder)."""

HostLayer = tuple[np.ndarray, np.ndarray | None] | Callable[[np.ndarray], np.ndarray]
"""A layer of the NumPy forward: (W^T, b) views of a linear layer's parameters, or an
element-wise activation."""

_ACTIVATIONS: dict[type[nn.Module], Callable[[np.ndarray], np.ndarray]] = {
    nn.ReLU: lambda x: np.maximum(x, np.float32(0.0)),
    nn.Tanh: np.tanh,
}

_MODAL = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)
"""Layers whose forward depends on the training mode: acting uses their eval form."""


def _host_tensor(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype == torch.float32 and t.layout == torch.strided


def host_layers(net: nn.Sequential) -> list[HostLayer] | None:
    """NumPy views of the live parameters of a Linear / NoisyLinear / ReLU / Tanh stack; None
    where it has other layers or parameters that are not float32 on the CPU. A NoisyLinear
    contributes its mean weights (its noise-off forward)."""
    layers: list[HostLayer] = []
    for m in net:
        kind = type(m)
        if kind in _ACTIVATIONS:
            layers.append(_ACTIVATIONS[kind])
            continue
        if kind is nn.Linear:
            weight, bias = cast(nn.Linear, m).weight, cast(nn.Linear, m).bias
        elif kind is NoisyLinear:
            weight, bias = cast(NoisyLinear, m).weight_mu, cast(NoisyLinear, m).bias_mu
        else:
            return None
        if not _host_tensor(weight) or (bias is not None and not _host_tensor(bias)):
            return None
        b = None if bias is None else bias.detach().numpy()
        layers.append((weight.detach().numpy().T, b))
    return layers


def host_forward(layers: list[HostLayer], x: np.ndarray) -> np.ndarray:
    """The stack of `host_layers` on a float32 batch `x` (B, in), in NumPy."""
    for layer in layers:
        if isinstance(layer, tuple):
            x = x @ layer[0]  # a new array: the bias can be added in place
            if layer[1] is not None:
                x += layer[1]
        else:
            x = layer(x)
    return x


def _q_network_forward(net: QNetwork) -> Callable[[np.ndarray], np.ndarray] | None:
    """`QNetwork.forward` in NumPy for vector observations (None for pixel encoders)."""
    if not net.flat_input:
        return None
    shared, advantage = host_layers(net.shared), host_layers(net.advantage)
    value = host_layers(net.value) if net.value is not None else None
    if shared is None or advantage is None or (net.value is not None and value is None):
        return None
    n_actions, n_atoms = net.n_actions, net.n_atoms

    def forward(obs: np.ndarray) -> np.ndarray:
        features = host_forward(shared, obs.reshape(len(obs), -1))
        out = host_forward(advantage, features)
        if n_atoms > 1:
            out = out.reshape(-1, n_actions, n_atoms)
        if value is None:
            return out
        v = host_forward(value, features)
        v = v.reshape(-1, 1, n_atoms) if n_atoms > 1 else v
        combined: np.ndarray = v + out - out.mean(1, keepdims=True)  # dueling: V + A - mean A
        return combined

    return forward


def _numpy_forward(net: nn.Module) -> Callable[[np.ndarray], np.ndarray] | None:
    """The network's forward pass in NumPy, or None where it is not a stack this module runs."""
    if type(net) is QNetwork:
        return _q_network_forward(net)
    if type(net) is nn.Sequential:
        layers = host_layers(net)
        if layers is not None:
            return lambda x: host_forward(layers, x)
    return None


def _nothing() -> None:
    return None


class FastPolicy:
    """The forward pass of one network for acting (see the module docstring); made and cached by
    `fast_policy`. It holds the network weakly, so caching it never keeps a network alive."""

    def __init__(self, net: nn.Module) -> None:
        self._net = weakref.ref(net)
        self._owner: Callable[[], nn.Module | None] = _nothing
        """The module holding the anchor parameter (weakly)."""
        self._name = ""
        self._anchor: torch.Tensor | None = None
        self._ptr = 0
        self._numpy: Callable[[np.ndarray], np.ndarray] | None = None
        self._noisy: list[NoisyLinear] = []
        self._modal = False
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self._build(net)

    def _build(self, net: nn.Module) -> None:
        self._owner, self._name, self._anchor = _nothing, "", None
        for module in net.modules():
            for name, param in module.named_parameters(recurse=False):
                self._owner, self._name, self._anchor = weakref.ref(module), name, param
                break
            if self._anchor is not None:
                break
        anchor = self._anchor
        self._ptr = anchor.data_ptr() if anchor is not None else 0
        if anchor is not None:
            self._device = anchor.device
            self._dtype = anchor.dtype if anchor.is_floating_point() else torch.float32
        self._numpy = _numpy_forward(net)
        self._noisy = [m for m in net.modules() if isinstance(m, NoisyLinear)]
        self._modal = any(isinstance(m, _MODAL) for m in net.modules())

    def _check(self) -> nn.Module:
        """The network, after rebuilding the plan if its anchor parameter moved (the registered
        parameter is read from the owner's table: `getattr` would cost more than the rest)."""
        net, owner = self._net(), self._owner()
        anchor = owner._parameters.get(self._name) if owner is not None else None
        if (
            net is None
            or anchor is not self._anchor
            or (anchor is not None and anchor.data_ptr() != self._ptr)
        ):
            if net is None:
                raise ReferenceError("fast_policy: the network is gone; keep a reference to it")
            self._build(net)
        return net

    @property
    def uses_numpy(self) -> bool:
        """Whether a call now runs the NumPy forward (else the torch forward)."""
        self._check()
        return self._numpy is not None and not any(m.use_noise for m in self._noisy)

    def __call__(self, obs: ArrayLike) -> torch.Tensor:
        """The network's output for the batch `obs`, without autograd."""
        net = self._check()
        forward = self._numpy
        if isinstance(obs, dict):
            return self._torch_forward(net, obs)
        if forward is None or (self._noisy and any(m.use_noise for m in self._noisy)):
            return self._torch_forward(net, obs)
        x = obs.numpy(force=True) if isinstance(obs, torch.Tensor) else obs
        return torch.from_numpy(forward(np.asarray(x, dtype=np.float32)))

    def _torch_forward(self, net: nn.Module, obs: ArrayLike) -> torch.Tensor:
        x: torch.Tensor | dict[str, torch.Tensor]
        if isinstance(obs, dict):  # each key in its own dtype: the combined encoder converts
            x = obs_tensors(obs, self._device)
        else:
            x = torch.as_tensor(obs, device=self._device)
            if x.dtype != torch.uint8:  # pixels stay uint8: the encoders scale them
                x = x.to(self._dtype)
        with torch.inference_mode():
            if not (self._modal and net.training):
                return cast(torch.Tensor, net(x))
            net.train(False)
            try:
                return cast(torch.Tensor, net(x))
            finally:
                net.train(True)


_CACHE: weakref.WeakKeyDictionary[nn.Module, FastPolicy] = weakref.WeakKeyDictionary()


def fast_policy(net: nn.Module) -> FastPolicy:
    """`obs -> net(obs)` for acting: the network's output (a tensor) for a batch of
    observations, without autograd, in NumPy where `net` is a stack this module runs and through
    torch otherwise. Cached per network (a dictionary lookup per call), so
    ``fast_policy(self.q)(obs)`` is cheap inside an acting loop."""
    fast = _CACHE.get(net)
    if fast is None:
        fast = _CACHE[net] = FastPolicy(net)
    return fast
