"""Actor and critic networks for stochastic policies over Discrete and Box action spaces.

`ActorCritic` holds two separate MLPs (no shared trunk, as in PPO's MuJoCo setup and SB3's
default MlpPolicy): the actor outputs Categorical logits (Discrete) or the mean of a diagonal
Gaussian with a state-independent learned log-std (Box); the critic outputs V(s). Orthogonal
initialisation with gain sqrt(2) on hidden layers, 0.01 on the policy output and 1 on the value
output (Engstrom et al. 2020; Andrychowicz et al. 2021, "What matters in on-policy RL").

Box actions are produced in a normalized space: where the action bounds are finite the Gaussian
lives on [-1, 1] per dimension, and `to_env_actions` rescales to [low, high] and clips. The stored
(unclipped) action is the one whose log-probability the losses use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.core.distributions import (
    Categorical,
    DiagGaussian,
    Distribution,
    sample_categorical,
    sample_gaussian,
)
from tidyrl.nets.mlp import mlp, orthogonal_init, run_layers


def action_dim(space: gym.Space[Any]) -> int:
    """Network output size for `space`: n logits, or the Box's flat dimension."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise TypeError(f"unsupported action space {space}")


class ActorCritic(nn.Module):
    """pi_theta(a|s) and V_phi(s) as two MLPs; `critic=False` builds the actor alone."""

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.Space[Any],
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        log_std_init: float = 0.0,
        critic: bool = True,
    ) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out = action_dim(action_space)
        hidden_init = orthogonal_init(2**0.5)
        self.actor = mlp(obs_dim, hidden, out, activation, None, hidden_init, orthogonal_init(0.01))
        self.critic = (
            mlp(obs_dim, hidden, 1, activation, None, hidden_init, orthogonal_init(1.0))
            if critic
            else None
        )
        self.log_std = nn.Parameter(torch.full((out,), float(log_std_init)), requires_grad=True)
        if self.discrete:
            self.log_std.requires_grad_(False)

    def distribution(self, obs: torch.Tensor) -> Distribution:
        out = run_layers(self.actor, obs)
        if self.discrete:
            return Categorical(out)
        return DiagGaussian(out, self.log_std)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        assert self.critic is not None, "this network has no critic"
        return run_layers(self.critic, obs).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        """Both heads in one call (what rollout collection uses)."""
        return self.distribution(obs), self.value(obs)

    @torch.no_grad()
    def fused(self) -> FusedActorCritic:
        """A frozen copy of actor and critic as one block-diagonal MLP, for rollout collection.

        Both networks read the same observation, so layer 1 stacks their weights and deeper
        layers are block-diagonal: one forward is half the ops (and Python calls) of two. The
        copy does not follow later updates; collectors rebuild it once per rollout."""
        assert self.critic is not None, "fusing needs a critic"
        actor = [m for m in self.actor if isinstance(m, nn.Linear)]
        critic = [m for m in self.critic if isinstance(m, nn.Linear)]
        layers = []
        for i, (a, c) in enumerate(zip(actor, critic, strict=True)):
            if i == 0:
                weight = torch.cat([a.weight, c.weight])
            else:
                weight = torch.block_diag(a.weight, c.weight)  # type: ignore[no-untyped-call]
            layers.append((weight.t().contiguous(), torch.cat([a.bias, c.bias])))
        activation = next((m for m in self.actor if not isinstance(m, nn.Linear)), nn.Identity())
        return FusedActorCritic(layers, activation, self.discrete, self.log_std.detach().clone())

    def actor_parameters(self) -> list[nn.Parameter]:
        params = list(self.actor.parameters())
        return params if self.discrete else [*params, self.log_std]


class FusedActorCritic:
    """Inference-only actor + critic in one MLP (see `ActorCritic.fused`); same call protocol,
    plus `act_sample`, which runs the whole step on the host in NumPy."""

    def __init__(
        self,
        layers: list[tuple[torch.Tensor, torch.Tensor]],
        activation: nn.Module,
        discrete: bool,
        log_std: torch.Tensor,
    ) -> None:
        self.layers = layers
        self.activation = activation
        self.discrete = discrete
        self.log_std = log_std
        cpu = all(w.device.type == "cpu" for w, _ in layers)
        self._np_activation = _NUMPY_ACTIVATIONS.get(type(activation)) if cpu else None
        self._np_layers = [(w.numpy(), b.numpy()) for w, b in layers] if cpu else []
        self._np_log_std = log_std.numpy() if cpu else None

    def act_sample(
        self, obs: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(actions, log pi(actions), V(s)) for a batch of observations, drawn with `rng`.

        On the CPU the forward pass and the draw run in NumPy: a rollout step's batch is a
        handful of rows, where torch's per-op dispatch (about 8 us an op between environment
        steps) outweighs the arithmetic many times over; in NumPy the step costs about a third.
        """
        if self._np_activation is None:
            dist, values = self(obs)
            actions, logprobs = dist.sample_and_log_prob(rng)
            return actions, logprobs, values
        x = obs.numpy()
        last = len(self._np_layers) - 1
        for i, (weight_t, bias) in enumerate(self._np_layers):
            x = x @ weight_t + bias
            if i < last:
                x = self._np_activation(x)
        head, v = x[:, :-1], np.ascontiguousarray(x[:, -1])
        if self.discrete:
            a, logp = sample_categorical(head, rng)
        else:
            assert self._np_log_std is not None
            a, logp = sample_gaussian(np.ascontiguousarray(head), self._np_log_std, rng)
        return torch.from_numpy(a), torch.from_numpy(logp), torch.from_numpy(v)

    def _forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        last = len(self.layers) - 1
        for i, (weight_t, bias) in enumerate(self.layers):
            x = torch.addmm(bias, x, weight_t)
            if i < last:
                x = self.activation(x)
        return x

    def __call__(self, obs: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        out = self._forward(obs)
        head, value = out[:, :-1], out[:, -1]
        dist: Distribution = (
            Categorical(head) if self.discrete else DiagGaussian(head, self.log_std)
        )
        return dist, value

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self._forward(obs)[:, -1]


_NUMPY_ACTIVATIONS: dict[type[nn.Module], Any] = {
    nn.Tanh: np.tanh,
    nn.ReLU: lambda x: np.maximum(x, 0.0),
}
"""Element-wise activations `FusedActorCritic.act_sample` can run in NumPy."""


class ActionAdapter:
    """Maps policy actions (tensors) to what the env's `step` accepts, and back for storage."""

    def __init__(self, space: gym.Space[Any]) -> None:
        self.space = space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        if self.discrete:
            assert isinstance(space, gym.spaces.Discrete)
            self.start = int(space.start)
        else:
            assert isinstance(space, gym.spaces.Box)
            self.low = space.low.astype(np.float32).reshape(-1)
            self.high = space.high.astype(np.float32).reshape(-1)
            self.bounded = bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))
            self.shape = space.shape
            self.dtype = space.dtype

    def to_env(self, actions: torch.Tensor) -> np.ndarray:
        """Policy actions [N, ...] -> env actions (Discrete: +start; Box: rescale + clip)."""
        a: np.ndarray = actions.numpy()
        if self.discrete:
            return a.astype(np.int64) + self.start
        if self.bounded:
            a = self.low + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)
        else:
            a = np.clip(a, self.low, self.high)
        out: np.ndarray = a.reshape(len(a), *self.shape).astype(self.dtype)
        return out

    def from_env(self, actions: np.ndarray) -> torch.Tensor:
        """Env actions [N, ...] -> policy actions, the inverse of `to_env` inside the bounds
        (Discrete: -start, int64; bounded Box: rescaled to [-1, 1], float32). Demonstrated
        actions pass through it before a log-likelihood or MSE is taken against the policy."""
        a = np.asarray(actions)
        if self.discrete:
            return torch.as_tensor(a.astype(np.int64).reshape(len(a)) - self.start)
        flat = a.reshape(len(a), -1).astype(np.float32)
        if self.bounded:
            flat = (2.0 * (flat - self.low) / (self.high - self.low) - 1.0).astype(np.float32)
        return torch.as_tensor(flat)
