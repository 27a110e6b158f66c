"""Pieces shared by the deterministic-policy methods (DDPG, TD3, D4PG, SDDPG) and SAC: network
builders from the config's width / init / batch-norm fields, the Box-bounds check, and the
backward-then-step of one optimizer."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.core.squashed import action_bounds
from tidyrl.errors import EnvError
from tidyrl.nets.critics import QEnsemble, batchnorm_mlp
from tidyrl.nets.mlp import mlp, uniform_init, xavier_init
from tidyrl.nets.optim import Adam


def box_bounds(space: gym.Space[Any], algo: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of a Box action space with finite bounds; EnvError naming `algo` otherwise."""
    assert isinstance(space, gym.spaces.Box)
    try:
        action_bounds(space.low, space.high)
    except ValueError as exc:
        raise EnvError(f"{algo}: {exc}") from exc
    return space.low, space.high


def hidden_sizes(obs_dim: int, cfg: Any) -> tuple[int, ...]:
    """The configured widths, or the spell chart's (scale x state size, half of that)."""
    if cfg.hidden_scale > 0:
        first = max(1, round(cfg.hidden_scale * obs_dim))
        return (first, max(1, first // 2))
    return tuple(cfg.hidden)


def make_actor(obs_dim: int, act_dim: int, cfg: Any) -> nn.Module:
    """mu(s) = tanh(MLP(s)) in [-1, 1]^act_dim (spell-chart init: Xavier, U(-0.3, 0.3) out)."""
    hidden = hidden_sizes(obs_dim, cfg)
    spell = cfg.init == "spellchart"
    init, out_init = (xavier_init, uniform_init(0.3)) if spell else (None, None)
    build = batchnorm_mlp if cfg.batch_norm else mlp
    return build(obs_dim, hidden, act_dim, "relu", "tanh", init, out_init)


def make_critic(
    obs_dim: int, act_dim: int, cfg: Any, n_critics: int, out_dim: int = 1
) -> QEnsemble:
    """`n_critics` critics with `out_dim` outputs each, evaluated together (`QEnsemble`);
    spell-chart init: Xavier hidden layers, U(-0.003, 0.003) output layer."""
    hidden = hidden_sizes(obs_dim, cfg)
    spell = cfg.init == "spellchart"
    init, out_init = (xavier_init, uniform_init(0.003)) if spell else (None, None)
    return QEnsemble(
        obs_dim, act_dim, hidden, n_critics, out_dim, "relu", init, out_init, cfg.batch_norm
    )


def backward_step(optimizer: Adam, loss: torch.Tensor) -> None:
    """Backward into `optimizer`'s own parameters only, then one Adam step.

    Naming the parameters (``backward(inputs=...)``) means the actor loss, which reaches the
    actor through the critic, neither computes nor pollutes the critic's weight gradients. The
    optimizer clips the global gradient norm itself when built with ``max_grad_norm`` > 0.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=params)
    optimizer.step()
