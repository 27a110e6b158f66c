"""Pieces shared by the deterministic-policy methods (DDPG, TD3, D4PG, SDDPG) and SAC: the
losses of the deterministic policy gradient that DDPG, TD3 and ddpg-imagination differentiate
unchanged (`td_target`, `critic_loss`, `actor_loss`), network builders from the config's
width / init / batch-norm fields, the Box-bounds check, the unit Box of the stored actions, and
the backward-then-step of one optimizer.

On a Dict observation space (Tuple ones arrive as Dicts: `tidyrl.envs.spaces`) every network
reads the observation through its own `tidyrl.nets.encoders.CombinedEncoder`: the actor (and
SAC's value network) is ``Sequential(encoder, *mlp)``, the critics an `EncodedQEnsemble` with
one encoder per critic. On a Box the networks are the plain MLP / `QEnsemble` as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.core.distributions import (
    HeldExploration,
    StateDependentGaussian,
    state_dependent_log_std,
)
from tidyrl.core.squashed import action_bounds, squashed_gaussian_log_prob
from tidyrl.data.hindsight import hindsight_for
from tidyrl.data.replay import Replay
from tidyrl.errors import ConfigError, EnvError
from tidyrl.nets.cnn import image_layout
from tidyrl.nets.critics import EncodedQEnsemble, QEnsemble, batchnorm_mlp
from tidyrl.nets.encoders import observation_encoder
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.mlp import mlp, uniform_init, xavier_init
from tidyrl.nets.optim import Adam

ZOO_DETERMINISTIC_BOX2D: dict[str, Any] = {
    "gamma": 0.98,
    "buffer_size": 200_000,
    "learning_starts": 10_000,
    "noise": "gaussian",
    "noise_variance_start": 0.01,
    "noise_variance_end": 0.01,
    "actor_lr": 1e-3,
    "critic_lr": 1e-3,
    "hidden": (400, 300),
}
"""RL-Zoo's TD3 and DDPG settings for LunarLanderContinuous and BipedalWalker (hyperparams/td3.yml
and ddpg.yml, the same for both algorithms): gamma 0.98, a 200k replay, 10k random steps,
Gaussian noise of std 0.1, lr 1e-3, 400-300 networks; every other value SB3's default."""

ZOO_DETERMINISTIC_ENV_PRESETS = {
    "MountainCarContinuous-v0": "mountaincar",
    "LunarLanderContinuous-v3": "box2d",
    "BipedalWalker-v3": "box2d",
}
"""The per-env presets DDPG, TD3 and SDDPG choose: RL-Zoo's settings below, by task."""

ZOO_DETERMINISTIC_MOUNTAINCAR: dict[str, Any] = {
    "learning_starts": 100,
    "noise": "ou",
    "noise_variance_start": 0.0025,
    "noise_variance_end": 0.0025,
    "ou_theta": 0.0015,
    "actor_lr": 1e-3,
    "critic_lr": 1e-3,
    "hidden": (400, 300),
}
"""RL-Zoo's TD3 and DDPG settings for MountainCarContinuous: Ornstein-Uhlenbeck noise of sigma 0.5,
lr 1e-3, batch 256, 400-300 networks, SB3's 100 random steps. SB3's OU process steps with
dt = 0.01 (theta 0.15): x += theta (mu - x) dt + sigma sqrt(dt) N(0, 1), which is tidyrl's
dt = 1 recursion with theta dt = 0.0015 and (sigma sqrt(dt))^2 = 0.0025. Its mean reversion
takes hundreds of steps, so the noise acts as a slowly drifting push that carries the car up
the hill before the critic has seen the goal."""


def td_target(
    rewards: torch.Tensor, bootstrap_mask: torch.Tensor, gamma: float, q_next: torch.Tensor
) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * Q'(s', a'); truncation keeps the bootstrap."""
    return rewards + gamma * bootstrap_mask * q_next


def critic_loss(q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared TD error of each critic (rows of `q`), summed over critics."""
    return (q - y).pow(2).mean(-1).sum()


def actor_loss(q_pi: torch.Tensor) -> torch.Tensor:
    """-Q(s, mu(s)): ascend the critic along the actor's actions (TD3: its first critic)."""
    return -q_pi.mean()


def alpha_loss(
    log_alpha: torch.Tensor, logp_pi: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """SAC's temperature loss -log(alpha) * (log pi + H_target) (Haarnoja et al. 2018b, eq. 18):
    raises alpha while the policy's entropy is below target."""
    return -(log_alpha * (logp_pi.detach() + target_entropy)).mean()


SDE_CLIP_MEAN = 2.0
"""gSDE's pre-squash mean is clipped to [-2, 2] (Stable-Baselines3's `clip_mean`): tanh(2) =
0.96, so the mean stays off the saturated ends where the squashing has no gradient."""


def sde_mean(actor: nn.Sequential, features: torch.Tensor) -> torch.Tensor:
    """gSDE's mu(s) from the actor's last hidden features phi(s): its output layer, clipped to
    +-SDE_CLIP_MEAN (SAC and TQC with `use_sde`)."""
    last = actor[-1]
    assert isinstance(last, nn.Linear)
    mean = nn.functional.linear(features, last.weight, last.bias)
    return mean.clamp(-SDE_CLIP_MEAN, SDE_CLIP_MEAN)


def sde_squashed_sample(
    mean: torch.Tensor,
    features: torch.Tensor,
    log_sigma: torch.Tensor,
    deterministic: bool = False,
    z: torch.Tensor | None = None,
    jacobian_eps: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """gSDE's squashed action tanh(u), u = mu(s) + phi(s)^T E with E = sigma * z for the whole
    batch (z [F, A] ~ N(0, I), drawn here unless given), and log pi(tanh(u)|s) under
    N(mu(s), std(s)^2), std_j(s)^2 = sum_i phi_i(s)^2 sigma_ij^2 (sac.py's module docstring)."""
    log_std = state_dependent_log_std(features, log_sigma)
    if deterministic:
        u = mean
    else:
        z = torch.randn(log_sigma.shape, device=mean.device) if z is None else z
        u = mean + features @ (log_sigma.exp() * z)
    logp = squashed_gaussian_log_prob(u, mean, log_std, jacobian_eps)
    return torch.tanh(u), logp


def sde_parts(
    actor: nn.Sequential, act_dim: int, log_std_init: float, sample_freq: int
) -> tuple[nn.Sequential, nn.Parameter, HeldExploration]:
    """gSDE's pieces beside an actor whose output layer gives mu(s): phi(s) (the actor without
    its output layer: the same modules), log sigma [F, A] at `log_std_init` (F the width of the
    last hidden layer), and the exploration matrices acting holds for `sample_freq` steps."""
    features = [m for m in actor if isinstance(m, nn.Linear)][-1].in_features
    body = cast(nn.Sequential, actor[:-1])
    log_sigma = nn.Parameter(torch.full((features, act_dim), log_std_init))
    return body, log_sigma, HeldExploration(sample_freq)


def sde_policy_action(
    actor: nn.Sequential,
    body: nn.Sequential,
    log_sigma: torch.Tensor,
    obs: Any,
    deterministic: bool,
    held: HeldExploration | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Acting with gSDE, through the inference seam: tanh(mu(s)) (deterministic), or tanh of a
    draw of N(mu(s), std(s)^2) with the matrices `held` holds (one per row; None: state by
    state)."""
    with torch.no_grad():
        features = fast_policy(body)(obs)
        mean = sde_mean(actor, features)
        if deterministic:
            return torch.tanh(mean).cpu().numpy()
        matrices = None if held is None else held(log_sigma, len(mean), rng)
        dist = StateDependentGaussian(mean, features, log_sigma, matrices)
        return torch.tanh(dist.sample()).cpu().numpy()


def box_bounds(space: gym.Space[Any], algo: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of a Box action space with finite bounds; EnvError naming `algo` otherwise."""
    assert isinstance(space, gym.spaces.Box)
    try:
        action_bounds(space.low, space.high)
    except ValueError as exc:
        raise EnvError(f"{algo}: {exc}") from exc
    return space.low, space.high


def unit_box(space: gym.Space[Any]) -> gym.spaces.Box:
    """The [-1, 1] Box of `space`'s shape: the scale of the actions the replay stores (what a
    reward plug-in sees, `tidyrl.rewards.attach`)."""
    return gym.spaces.Box(-1.0, 1.0, tuple(space.shape or ()), np.float32)


def hidden_sizes(obs_dim: int, cfg: Any) -> tuple[int, ...]:
    """The configured widths, or the spell chart's (scale x state size, half of that)."""
    if cfg.hidden_scale > 0:
        first = max(1, round(cfg.hidden_scale * obs_dim))
        return (first, max(1, first // 2))
    return tuple(cfg.hidden)


def encoded_mlp(space: gym.Space[Any], build: Callable[[int], nn.Sequential]) -> nn.Sequential:
    """`build(input width)` for a vector Box observation; for a Dict or an image, an encoder
    of its own (`observation_encoder`) in front of it, ``Sequential(encoder,
    *build(encoder.out_dim))``."""
    encoder = observation_encoder(space)
    if encoder is None:
        return build(int(np.prod(space.shape or ())))
    return nn.Sequential(encoder, *build(encoder.out_dim))


def encoded_critic(
    space: gym.Space[Any], n_critics: int, build: Callable[[int], QEnsemble]
) -> QEnsemble | EncodedQEnsemble:
    """`build(input width)` (`n_critics` critics) for a vector Box observation; for a Dict or
    an image, one encoder per critic in front of it (`EncodedQEnsemble`)."""
    encoders = [observation_encoder(space) for _ in range(n_critics)]
    if encoders[0] is None:
        return build(int(np.prod(space.shape or ())))
    modules = [encoder for encoder in encoders if encoder is not None]
    return EncodedQEnsemble(modules, build(modules[0].out_dim))


def replay_for(agent: Any, **options: Any) -> Replay:
    """The agent's replay: `buffer_size` rows of its spaces for its `n_envs` copies, discount
    `gamma`, a frame store where its env stacks frames, hindsight relabelling where its config
    asks for it (`her_future_goals`); `options` go to `Replay` (n-step, prioritized sampling,
    ...)."""
    cfg = agent.config
    return Replay(
        cfg.buffer_size,
        agent.observation_space,
        agent.action_space,
        cfg.n_envs,
        gamma=cfg.gamma,
        frame_stack=agent.env.frame_stacked,
        hindsight=hindsight_for(agent),
        **options,
    )


def _check_batch_norm(space: gym.Space[Any], cfg: Any) -> None:
    if cfg.batch_norm and (isinstance(space, gym.spaces.Dict) or image_layout(space) is not None):
        raise ConfigError(
            "batch_norm=True takes vector Box observations only, not Dict/Tuple ones or images"
        )


def make_actor(space: gym.Space[Any], act_dim: int, cfg: Any) -> nn.Module:
    """mu(s) = tanh(MLP(s)) in [-1, 1]^act_dim (spell-chart init: Xavier, U(-0.3, 0.3) out),
    behind a combined encoder on a Dict observation space."""
    _check_batch_norm(space, cfg)
    spell = cfg.init == "spellchart"
    init, out_init = (xavier_init, uniform_init(0.3)) if spell else (None, None)
    build = batchnorm_mlp if cfg.batch_norm else mlp
    return encoded_mlp(
        space,
        lambda width: build(
            width, hidden_sizes(width, cfg), act_dim, "relu", "tanh", init, out_init
        ),
    )


def make_critic(
    space: gym.Space[Any], act_dim: int, cfg: Any, n_critics: int, out_dim: int = 1
) -> QEnsemble | EncodedQEnsemble:
    """`n_critics` critics with `out_dim` outputs each, evaluated together (`QEnsemble`; one
    combined encoder per critic on a Dict observation space); spell-chart init: Xavier hidden
    layers, U(-0.003, 0.003) output layer."""
    _check_batch_norm(space, cfg)
    spell = cfg.init == "spellchart"
    init, out_init = (xavier_init, uniform_init(0.003)) if spell else (None, None)

    def build(width: int) -> QEnsemble:
        hidden = hidden_sizes(width, cfg)
        return QEnsemble(
            width, act_dim, hidden, n_critics, out_dim, "relu", init, out_init, cfg.batch_norm
        )

    return encoded_critic(space, n_critics, build)


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
