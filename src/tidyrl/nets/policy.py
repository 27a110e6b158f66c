"""Actor and critic networks for stochastic policies over Discrete, MultiDiscrete, MultiBinary
and Box action spaces.

`ActorCritic` holds two separate MLPs (no shared trunk, as in PPO's MuJoCo setup and SB3's
default MlpPolicy): the actor outputs Categorical logits (Discrete), one block of logits per
sub-action (MultiDiscrete: independent categoricals), one logit per bit (MultiBinary: independent
Bernoullis) or the mean of a diagonal Gaussian with a state-independent learned log-std (Box);
the critic outputs V(s). With a Dict observation space each network reads the observation through
its own `tidyrl.nets.encoders.CombinedEncoder`, with an image Box through its own CNN (actor and
critic still share nothing). Orthogonal
initialisation with gain sqrt(2) on hidden layers, 0.01 on the policy output and 1 on the value
output (Engstrom et al. 2020; Andrychowicz et al. 2021, "What matters in on-policy RL"), unless
`ortho_init` is off (PyTorch's default initialisation).

With `sde` (Box actions) the Gaussian is gSDE's (`tidyrl.core.distributions.
StateDependentGaussian`): its std follows the actor's last hidden features phi(s) through a
learned [F, A] matrix of log noise scales, and rollouts act with exploration matrices E held for
`sde_sample_freq` steps (`resample_noise`), a = mu(s) + phi(s)^T E. The features enter the std
detached (Stable-Baselines3's PPO: the noise does not train the actor's hidden layers).

Box actions are produced in a normalized space: where the action bounds are finite the Gaussian
lives on [-1, 1] per dimension, and `to_env_actions` rescales to [low, high] and clips. The stored
(unclipped) action is the one whose log-probability the losses use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.core.distributions import (
    Bernoulli,
    Categorical,
    DiagGaussian,
    Distribution,
    MultiCategorical,
    StateDependentGaussian,
    exploration_matrices,
)
from tidyrl.nets.encoders import CombinedEncoder, ImageBranch, observation_encoder
from tidyrl.nets.inference import ArrayLike, fast_policy
from tidyrl.nets.mlp import mlp, orthogonal_init, run_layers


def action_dim(space: gym.Space[Any]) -> int:
    """Network output size for `space`: n logits (Discrete), sum(nvec) logits (MultiDiscrete),
    one logit per bit (MultiBinary), or the Box's flat dimension."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, gym.spaces.MultiBinary | gym.spaces.Box):
        return int(np.prod(space.shape))
    raise TypeError(f"unsupported action space {space}")


def integer_actions(space: gym.Space[Any]) -> bool:
    """Actions are integers (Discrete, MultiDiscrete, MultiBinary), not a Box's floats."""
    kinds = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
    return isinstance(space, kinds)


class ActorCritic(nn.Module):
    """pi_theta(a|s) and V_phi(s) as two MLPs; `critic=False` builds the actor alone.
    `observation_space`: a Dict space or an image Box, read by one encoder per network (a
    combined encoder or a CNN, `tidyrl.nets.encoders.observation_encoder`; `obs_dim` is then
    unused). `n_values` > 1: the critic has that many value heads, one output unit
    each on its shared hidden layers (PPO's extrinsic and intrinsic values, Burda et al. 2018),
    and `value` returns [B, n_values] instead of [B]."""

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.Space[Any],
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        log_std_init: float = 0.0,
        critic: bool = True,
        observation_space: gym.Space[Any] | None = None,
        n_values: int = 1,
        sde: bool = False,
        sde_sample_freq: int = -1,
        ortho_init: bool = True,
    ) -> None:
        super().__init__()
        self.n_values = n_values
        """Value heads of the critic: the last `n_values` columns of `fused`'s output."""
        self.actor_encoder: CombinedEncoder | ImageBranch | None = None
        self.critic_encoder: CombinedEncoder | ImageBranch | None = None
        if observation_space is not None:
            self.actor_encoder = observation_encoder(observation_space)
            if self.actor_encoder is None:
                raise ValueError(f"no encoder reads {observation_space}: pass obs_dim alone")
            self.critic_encoder = observation_encoder(observation_space) if critic else None
            obs_dim = self.actor_encoder.out_dim
        self.discrete = integer_actions(action_space)
        """Integer actions (no Gaussian, no log std)."""
        self.nvec: tuple[int, ...] | None = None
        """Sub-action sizes of a MultiDiscrete space (None otherwise)."""
        if isinstance(action_space, gym.spaces.MultiDiscrete):
            self.nvec = tuple(int(n) for n in action_space.nvec.reshape(-1))
        self.binary = isinstance(action_space, gym.spaces.MultiBinary)
        out = action_dim(action_space)
        # ortho_init=False: PyTorch's default Linear initialisation (SB3's `ortho_init=False`)
        hidden_init = orthogonal_init(2**0.5) if ortho_init else None
        actor_init = orthogonal_init(0.01) if ortho_init else None
        critic_init = orthogonal_init(1.0) if ortho_init else None
        self.actor = mlp(obs_dim, hidden, out, activation, None, hidden_init, actor_init)
        self.critic = (
            mlp(obs_dim, hidden, n_values, activation, None, hidden_init, critic_init)
            if critic
            else None
        )
        self.sde = sde and not self.discrete
        """gSDE exploration (module docstring); `log_std` is then log sigma [F, A]."""
        self.sde_sample_freq = sde_sample_freq
        """Rollout steps between new exploration matrices (-1: one per rollout)."""
        self.sde_noise: torch.Tensor | None = None
        """The exploration matrices E [N, F, A] that rollouts act with (gSDE)."""
        shape = (hidden[-1] if hidden else obs_dim, out) if self.sde else (out,)
        self.log_std = nn.Parameter(torch.full(shape, float(log_std_init)), requires_grad=True)
        if self.discrete:
            self.log_std.requires_grad_(False)

    def head(self, out: torch.Tensor, mask: torch.Tensor | None = None) -> Distribution:
        """pi(.|s) from the actor network's output: Categorical logits (masked by the action
        mask, when given), one Categorical per sub-action, Bernoulli logits, or the Gaussian's
        mean (with the state-independent log std)."""
        if self.nvec is not None:
            return MultiCategorical(out, self.nvec, mask)
        if self.binary:
            return Bernoulli(out)
        if self.discrete:
            return Categorical(out, mask)
        if self.sde:  # out = [mu | phi]
            act_dim = self.log_std.shape[1]
            mean, features = out[:, :act_dim], out[:, act_dim:].detach()
            return StateDependentGaussian(mean, features, self.log_std, self.sde_noise)
        return DiagGaussian(out, self.log_std)

    def distribution(self, obs: Any, mask: torch.Tensor | None = None) -> Distribution:
        if self.actor_encoder is not None:
            obs = self.actor_encoder(obs)
        return self.head(self.actor_out(obs), mask)

    def actor_out(self, x: torch.Tensor) -> torch.Tensor:
        """What `head` reads, from encoded observations: the actor's output, followed with gSDE
        by its last hidden features, [mu | phi]."""
        if not self.sde:
            return run_layers(self.actor, x)
        body, last = cast(nn.Sequential, self.actor[:-1]), cast(nn.Sequential, self.actor[-1:])
        features = run_layers(body, x)
        return torch.cat([run_layers(last, features), features], -1)

    def resample_noise(self, n: int, rng: np.random.Generator) -> None:
        """Draw the exploration matrices of `n` env copies (gSDE), from `rng`."""
        self.sde_noise = exploration_matrices(self.log_std, n, rng)

    def act_distribution(self, obs: ArrayLike, mask: torch.Tensor | None = None) -> Distribution:
        """pi(.|s) for acting, without autograd: the actor's forward pass through the inference
        seam (`tidyrl.nets.inference.fast_policy`: in NumPy on the CPU for an MLP)."""
        if self.actor_encoder is not None or self.sde:
            with torch.inference_mode():
                return self.distribution(obs, mask)
        out = fast_policy(self.actor)(obs)
        with torch.inference_mode():
            return self.head(out, mask)

    def value(self, obs: Any) -> torch.Tensor:
        assert self.critic is not None, "this network has no critic"
        if self.critic_encoder is not None:
            obs = self.critic_encoder(obs)
        return run_layers(self.critic, obs).squeeze(-1)

    def forward(
        self, obs: Any, mask: torch.Tensor | None = None
    ) -> tuple[Distribution, torch.Tensor]:
        """Both heads in one call (what the losses use)."""
        return self.distribution(obs, mask), self.value(obs)

    @torch.no_grad()
    def fused(self) -> nn.Module:
        """A frozen copy of actor and critic as one MLP whose output is [actor output | V(s)],
        for rollout collection (`head` turns the first part into pi(.|s); V(s) is the last
        `n_values` columns).

        Both networks read the same observation, so layer 1 stacks their weights and deeper
        layers are block-diagonal: one forward is half the ops (and calls) of two. With gSDE the
        actor's last layer gains identity rows, so its part of the output is [mu | phi]. The copy
        does not follow later updates; collectors make one per rollout. With combined encoders
        (Dict observations) there is nothing to fuse: the module runs both networks as they are
        (their parameters do not change while a rollout is collected)."""
        assert self.critic is not None, "fusing needs a critic"
        if self.actor_encoder is not None:
            return _BothHeads(self)
        actor = [m for m in self.actor if isinstance(m, nn.Linear)]
        critic = [m for m in self.critic if isinstance(m, nn.Linear)]
        activation = next(
            (type(m) for m in self.actor if not isinstance(m, nn.Linear)), nn.Identity
        )
        layers: list[nn.Module] = []
        for i, (a, c) in enumerate(zip(actor, critic, strict=True)):
            a_weight: torch.Tensor = a.weight
            a_bias: torch.Tensor = a.bias
            if self.sde and i == len(actor) - 1:  # identity rows pass phi on: [mu | phi]
                eye = torch.eye(a.in_features, dtype=a_weight.dtype, device=a_weight.device)
                a_weight, a_bias = torch.cat([a_weight, eye]), torch.cat([a_bias, eye[0] * 0])
            if i == 0:
                weight = torch.cat([a_weight, c.weight])
            else:
                weight = torch.block_diag(a_weight, c.weight)  # type: ignore[no-untyped-call]
            # skip_init: no random initialisation, so fusing draws nothing from torch's generator
            linear = nn.utils.skip_init(  # type: ignore[no-untyped-call]
                nn.Linear, weight.shape[1], weight.shape[0], device=weight.device
            )
            linear.weight.copy_(weight)
            linear.bias.copy_(torch.cat([a_bias, c.bias]))
            layers += [linear, activation()]
        return nn.Sequential(*layers[:-1]).requires_grad_(False)

    def critic_parameters(self) -> list[nn.Parameter]:
        """The parameters of V_phi: the critic MLP and its encoder."""
        assert self.critic is not None, "this network has no critic"
        params = list(self.critic.parameters())
        if self.critic_encoder is not None:
            params += list(self.critic_encoder.parameters())
        return params

    def output_layers(self) -> list[nn.Module]:
        """The last Linear of the actor and of the critic: the heads `--freeze encoder` keeps
        trainable (with `log_std`, a parameter of this module itself)."""
        nets = [self.actor] if self.critic is None else [self.actor, self.critic]
        return [[m for m in net if isinstance(m, nn.Linear)][-1] for net in nets]

    def actor_parameters(self) -> list[nn.Parameter]:
        """The policy's trainable parameters: the actor MLP, its encoder and `log_std` (without
        those `--freeze encoder` froze, and without a Discrete policy's unused `log_std`)."""
        params = [*self.actor.parameters(), self.log_std]
        if self.actor_encoder is not None:
            params += list(self.actor_encoder.parameters())
        return [p for p in params if p.requires_grad]


class _BothHeads(nn.Module):
    """[actor output | V(s)] of an `ActorCritic` with encoders, for rollout collection."""

    def __init__(self, policy: ActorCritic) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        p = self.policy
        assert p.actor_encoder is not None and p.critic_encoder is not None
        actor = p.actor_out(p.actor_encoder(obs))
        return torch.cat([actor, p.value(obs).reshape(len(actor), -1)], -1)


class ActionAdapter:
    """Maps policy actions (tensors) to what the env's `step` accepts, and back for storage."""

    def __init__(self, space: gym.Space[Any]) -> None:
        self.space = space
        self.discrete = integer_actions(space)
        self.shape: tuple[int, ...] = tuple(space.shape or ())
        self.dtype = space.dtype
        if isinstance(space, gym.spaces.Discrete):
            self.start: int | np.ndarray = int(space.start)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            self.start = space.start.reshape(-1)
        elif self.discrete:  # MultiBinary
            self.start = 0
        else:
            assert isinstance(space, gym.spaces.Box)
            self.low = space.low.astype(np.float32).reshape(-1)
            self.high = space.high.astype(np.float32).reshape(-1)
            self.bounded = bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def to_env(self, actions: torch.Tensor) -> np.ndarray:
        """Policy actions [N, ...] -> env actions (Discrete, MultiDiscrete: +start; MultiBinary:
        as they are; Box: rescale + clip)."""
        a: np.ndarray = actions.numpy()
        if isinstance(self.space, gym.spaces.Discrete):
            return a.astype(np.int64) + self.start
        if self.discrete:
            out_int: np.ndarray = (a + self.start).reshape(len(a), *self.shape).astype(self.dtype)
            return out_int
        if self.bounded:
            a = self.low + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)
        else:
            a = np.clip(a, self.low, self.high)
        out: np.ndarray = a.reshape(len(a), *self.shape).astype(self.dtype)
        return out

    def from_env(self, actions: np.ndarray) -> torch.Tensor:
        """Env actions [N, ...] -> policy actions, the inverse of `to_env` inside the bounds
        (Discrete: -start, int64; MultiDiscrete, MultiBinary: [N, k] int64 minus start; bounded
        Box: rescaled to [-1, 1], float32). Demonstrated actions pass through it before a
        log-likelihood or MSE is taken against the policy."""
        a = np.asarray(actions)
        if isinstance(self.space, gym.spaces.Discrete):
            return torch.as_tensor(a.astype(np.int64).reshape(len(a)) - self.start)
        if self.discrete:
            return torch.as_tensor(a.astype(np.int64).reshape(len(a), -1) - self.start)
        flat = a.reshape(len(a), -1).astype(np.float32)
        if self.bounded:
            flat = (2.0 * (flat - self.low) / (self.high - self.low) - 1.0).astype(np.float32)
        return torch.as_tensor(flat)
