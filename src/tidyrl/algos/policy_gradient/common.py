"""Helpers shared by the policy-gradient files (kept apart so they never import each other).

`PolicyIO` turns raw env observations into network inputs (flattening, and optional running
observation normalization whose statistics are a registrable module; a Dict observation becomes
one tensor per key, for the networks' combined encoders) and network actions into env actions;
`act` is the one acting rule of every stochastic-policy agent: the mode when deterministic
(drawing no randomness, so evaluation never changes what training does next), a sample otherwise
(both over the valid actions of an action mask, when given).

A2C's actor-critic loss (`actor_critic_loss`, equations in `a2c.py`'s docstring) lives here
because `a2c` and `i2a` (A2C over the imagination-augmented network) both differentiate it.

PPO's clipped-surrogate and value losses (`clipped_surrogate`, `value_loss`, `ratio_diagnostics`;
their equations are in `ppo.py`'s docstring) live here because several learners differentiate
them unchanged: `ppo`, `recurrent-ppo` and the multi-agent `mappo` / `ippo`
(`tidyrl.algos.multiagent.mappo`). `ppo_step`, `ppo_schedules` and `ppo_epochs` are the update
step, schedules and epoch loop that `ppo` and `recurrent-ppo` share (they differ in how pi and V
are computed over a minibatch: per step, or over sequences).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.core.distributions import Distribution
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.core.returns import normalize
from tidyrl.core.schedules import remaining_fraction
from tidyrl.data.rollout import Rollout, RolloutBatch
from tidyrl.envs.spaces import columns
from tidyrl.errors import ConfigError
from tidyrl.nets.cnn import image_layout
from tidyrl.nets.encoders import obs_tensors
from tidyrl.nets.policy import ActionAdapter, ActorCritic


class PolicyIO:
    """Observation pre-processing and action post-processing for one agent."""

    def __init__(
        self,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
        normalize_obs: bool | None,
        images: bool = False,
    ) -> None:
        self.structured = isinstance(observation_space, gym.spaces.Dict)
        """Dict observations: one tensor per key, no flattening and no normalization."""
        self.image = images and image_layout(observation_space) is not None
        """An image Box read by a CNN (`images`: the algorithm builds one): kept in its shape,
        not flattened, not normalized (the CNN scales it)."""
        if normalize_obs is None:  # a config's "auto": vectors only
            normalize_obs = not (self.structured or self.image)
        if (self.structured or self.image) and normalize_obs:
            kind = "a Dict observation's keys are" if self.structured else "an image is"
            raise ConfigError(
                f"normalize_obs=True works on vector Box observations; {kind} scaled by the "
                "network's encoder (set normalize_obs=False)"
            )
        self.space = observation_space
        self.obs_dim = 0 if self.structured else int(np.prod(observation_space.shape or (1,)))
        self.adapter = ActionAdapter(action_space)
        self.normalize_obs = normalize_obs
        self.obs_norm = RunningMeanStd((self.obs_dim,))
        self.obs_shape = tuple(observation_space.shape or ()) if self.image else (self.obs_dim,)
        """One network input of a Box observation (flat, or an image in its shape)."""

    def obs(self, raw: Any, update: bool = False) -> Any:
        """Network input for a batch of raw observations: a float32 tensor [N, obs_dim], or a
        dict of tensors (one per key) for a Dict observation."""
        if self.structured:
            return obs_tensors(raw)
        if self.image:
            return torch.as_tensor(np.asarray(raw))
        x = torch.as_tensor(np.asarray(raw), dtype=torch.float32).reshape(len(raw), -1)
        if not self.normalize_obs:
            return x
        if update:
            self.obs_norm.update(x)
        return self.obs_norm.normalize(x)

    def to_env(self, actions: torch.Tensor) -> np.ndarray:
        return self.adapter.to_env(actions)


def act(
    policy: ActorCritic,
    io: PolicyIO,
    obs: Any,
    deterministic: bool,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Env actions for a batch of observations: the mode, or a sample, of pi(.|s) (over the
    valid actions of `mask`, when given)."""
    masks = None if mask is None else torch.as_tensor(mask, dtype=torch.bool)
    dist = policy.act_distribution(io.obs(obs), masks)
    with torch.inference_mode():
        actions = dist.mode() if deterministic else dist.sample()
    return io.to_env(actions)


ACTION_SPACES: tuple[type[gym.Space[Any]], ...] = (
    gym.spaces.Discrete,
    gym.spaces.MultiDiscrete,
    gym.spaces.MultiBinary,
    gym.spaces.Box,
)
"""The action spaces of the stochastic policies of `tidyrl.nets.policy.ActorCritic`."""
OBSERVATION_SPACES: tuple[type[gym.Space[Any]], ...] = (gym.spaces.Box, gym.spaces.Dict)
"""Box observations (flattened; an image through a CNN where the algorithm asks `build_policy`
for `images`: PPO, A2C, TRPO), and Dict ones (Tuple ones arrive as Dicts) through the combined
encoder, for the algorithms whose rollouts store them per key (PPO, A2C, TRPO) and the
behaviour cloners, whose demonstrations and datasets do (BC, DAgger)."""


def action_shape(space: gym.Space[Any]) -> tuple[int, ...]:
    """Shape of one stored action: () for Discrete, (k,) for the k sub-actions of a
    MultiDiscrete or MultiBinary space, (dim,) for Box."""
    return () if isinstance(space, gym.spaces.Discrete) else (int(np.prod(space.shape)),)


def check_sde_sample_freq(cfg: Any) -> None:
    """A config's gSDE `sde_sample_freq` is a number of steps >= 1, or -1 (once per rollout)."""
    if cfg.sde_sample_freq == 0 or cfg.sde_sample_freq < -1:
        raise ConfigError(
            f"{type(cfg).__name__}.sde_sample_freq={cfg.sde_sample_freq} is not a sampling "
            "interval; set it to a number of steps >= 1, or -1 (one exploration matrix per "
            "rollout)"
        )


def build_policy(
    agent: Any, cfg: Any, critic: bool = True, images: bool = False
) -> tuple[PolicyIO, ActorCritic]:
    """The agent's observation/action I/O and its actor(-critic) network from the config fields
    `hidden`, `activation`, `log_std_init` (and `normalize_obs`, PPO's `two_value_heads`:
    extrinsic and intrinsic value heads, and its gSDE fields `use_sde`, `sde_sample_freq`, and
    `ortho_init`, when present). With `images`, an image Box observation goes through a CNN
    per network (`PolicyIO.image`) instead of being flattened into the MLPs."""
    if getattr(cfg, "use_sde", False) and not isinstance(agent.action_space, gym.spaces.Box):
        raise ConfigError(
            f"use_sde=True explores continuous (Box) actions, not {agent.action_space}; "
            "set use_sde=false"
        )
    normalize_obs = getattr(cfg, "normalize_obs", False)
    io = PolicyIO(agent.observation_space, agent.action_space, normalize_obs, images)
    policy = ActorCritic(
        io.obs_dim,
        agent.action_space,
        cfg.hidden,
        cfg.activation,
        cfg.log_std_init,
        critic,
        observation_space=agent.observation_space if io.structured or io.image else None,
        n_values=2 if getattr(cfg, "two_value_heads", False) else 1,
        sde=getattr(cfg, "use_sde", False),
        sde_sample_freq=getattr(cfg, "sde_sample_freq", -1),
        ortho_init=getattr(cfg, "ortho_init", True),
    )
    return io, policy


def new_rollout(
    agent: Any, n_steps: int, n_envs: int, experience: bool = False, intrinsic: bool = False
) -> Rollout:
    """Rollout storage shaped for the agent's (flattened, or per-key) observations and actions,
    with room for action masks when the environment gives them (and, with `experience`, the raw
    experience a reward plug-in scores; with `intrinsic`, a second value stream for its
    rewards)."""
    io, space = agent.io, agent.action_space
    obs = columns(io.space) if io.structured else io.obs_shape
    masks = agent.env.masks
    mask_width = None if masks is None else masks.shape[1]
    return Rollout(
        n_steps,
        n_envs,
        obs,
        action_shape(space),
        io.adapter.discrete,
        mask_width=mask_width,
        experience=experience,
        intrinsic=intrinsic,
    )


def actor_critic_loss(
    dist: Distribution, values: torch.Tensor, batch: RolloutBatch, normalize_adv: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(-E[log pi(a|s) A], E[(V - R)^2], E[H]) with A treated as a constant."""
    adv = normalize(batch.advantages) if normalize_adv else batch.advantages
    policy_loss = -(dist.log_prob(batch.actions) * adv).mean()
    v_loss = ((values - batch.returns) ** 2).mean()
    return policy_loss, v_loss, dist.entropy().mean()


def clipped_surrogate(
    dist: Distribution, batch: RolloutBatch, clip: float, normalize_adv: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-E[min(r A, clip(r) A)], log r (for the diagnostics) and r."""
    log_ratio = dist.log_prob(batch.actions) - batch.logprobs
    ratio = log_ratio.exp()
    adv = normalize(batch.advantages) if normalize_adv else batch.advantages
    surrogate = torch.min(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv)
    return -surrogate.mean(), log_ratio.detach(), ratio.detach()


@torch.no_grad()
def ratio_diagnostics(
    log_ratio: torch.Tensor, ratio: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The approximate KL E[(r - 1) - log r] (Schulman's low-variance estimator) and the
    fraction of samples whose ratio lies outside the clip range."""
    approx_kl = ((ratio - 1.0) - log_ratio).mean()
    clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return approx_kl, clip_fraction


def value_loss(values: torch.Tensor, batch: RolloutBatch, clip_value: float) -> torch.Tensor:
    """E[(V - R)^2], or with clipping E[max((V - R)^2, (V_old + clip(V - V_old) - R)^2)].

    With K value heads (values, returns [B, K]: PPO's extrinsic and intrinsic heads) the sum
    over heads of each head's loss, sum_k E[(V_k - R_k)^2] (Burda et al. 2018's RND code sums
    the two heads' value losses); one head's [B] is the one-term sum."""
    squared = (values - batch.returns) ** 2
    if clip_value > 0:
        clipped = batch.values + (values - batch.values).clamp(-clip_value, clip_value)
        squared = torch.max(squared, (clipped - batch.returns) ** 2)
    return squared.mean(dim=0).sum()


def ppo_schedules(agent: Any) -> tuple[float, float]:
    """PPO's learning rate and clip range for the next rollout, each annealed linearly to 0 over
    the run when its `anneal_*` field is set (`counters["target"]`, so a resume continues the
    schedule); the optimizer's learning rate is set to it."""
    cfg = agent.config
    remaining = remaining_fraction(agent.counters["steps"], agent.counters["target"])
    lr = cfg.lr * remaining if cfg.anneal_lr else cfg.lr
    clip = cfg.clip_range * remaining if cfg.anneal_clip else cfg.clip_range
    for group in agent.optimizer.param_groups:
        group["lr"] = lr
    return lr, clip


def ppo_step(
    agent: Any,
    dist: Distribution,
    values: torch.Tensor,
    batch: RolloutBatch,
    clip: float,
    normalize_adv: bool,
    diagnostics: bool,
) -> dict[str, torch.Tensor]:
    """One gradient step of PPO's loss L = clipped surrogate + c_v value loss - c_e entropy
    (`ppo.py`'s docstring) on the minibatch whose policy and values the caller computed; returns
    the losses as tensors, and the approximate KL, clip fraction and entropy with
    `diagnostics`. The entropy is computed only where its coefficient or the diagnostics need it
    (with c_e = 0 it adds nothing to the gradient)."""
    cfg = agent.config
    pg_loss, log_ratio, ratio = clipped_surrogate(dist, batch, clip, normalize_adv)
    v_loss = value_loss(values, batch, cfg.clip_value)
    loss = pg_loss + cfg.vf_coef * v_loss
    entropy = None
    if cfg.ent_coef > 0:
        entropy = dist.entropy().mean()
        loss = loss - cfg.ent_coef * entropy
    agent.optimizer.zero_grad()
    loss.backward()
    agent.optimizer.step()  # clips the global gradient norm to max_grad_norm first
    metrics = {"policy_loss": pg_loss.detach(), "value_loss": v_loss.detach()}
    if diagnostics:
        approx_kl, clip_fraction = ratio_diagnostics(log_ratio, ratio, clip)
        with torch.no_grad():
            metrics["entropy"] = (dist.entropy().mean() if entropy is None else entropy).detach()
        metrics.update(approx_kl=approx_kl, clip_fraction=clip_fraction)
    return metrics


def ppo_epochs(
    agent: Any,
    n_items: int,
    per_batch: int,
    minibatch: Callable[[torch.Tensor | None], Any],
    clip: float,
) -> dict[str, torch.Tensor]:
    """PPO's `n_epochs` passes over a rollout of `n_items` samples (steps, or sequences) in
    shuffled minibatches of `per_batch` (`minibatch(indices)` builds one; None: the whole
    rollout, which needs no shuffling as the loss is a mean), each one `agent.update`; stops
    early when the approximate KL exceeds 1.5 * target_kl. Returns the last update's metrics
    (the diagnostics are computed only where they are read)."""
    cfg = agent.config
    whole = per_batch >= n_items
    out: dict[str, torch.Tensor] = {}
    for epoch in range(cfg.n_epochs):
        order = None if whole else torch.randperm(n_items)
        for start in range(0, n_items, per_batch):
            batch = minibatch(None if order is None else order[start : start + per_batch])
            last = epoch == cfg.n_epochs - 1 and start + per_batch >= n_items
            out = agent.update(
                batch,
                clip,
                normalize_adv=cfg.normalize_advantages and not whole,
                diagnostics=cfg.target_kl > 0 or last,
            )
            agent.counters["updates"] += 1
            if cfg.target_kl > 0 and out["approx_kl"].item() > 1.5 * cfg.target_kl:
                return out
    return out


ZOO_PPO = {
    "batch_size": 64,
    "n_epochs": 10,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "lr": 3e-4,
    "anneal_lr": False,
    "anneal_clip": False,
}
"""Stable-Baselines3's PPO defaults, on which RL-Zoo's per-env settings are written."""

ZOO_PPO_CLASSIC = {
    "acrobot": {
        **ZOO_PPO,
        "n_envs": 16,
        "n_steps": 256,
        "n_epochs": 4,
        "gae_lambda": 0.94,
        "normalize_obs": True,
        "normalize_reward": True,
    },
    "mountaincar": {
        **ZOO_PPO,
        "n_envs": 16,
        "n_steps": 16,
        "n_epochs": 4,
        "gae_lambda": 0.98,
        "normalize_obs": True,
        "normalize_reward": True,
    },
    "lunarlander": {
        **ZOO_PPO,
        "n_envs": 16,
        "n_steps": 1024,
        "n_epochs": 4,
        "gamma": 0.999,
        "gae_lambda": 0.98,
        "ent_coef": 0.01,
        "normalize_obs": False,
    },
}
"""RL-Zoo's Acrobot-v1, MountainCar-v0 and LunarLander-v2 rows, the same in its ppo.yml and
ppo_lstm.yml (the latter's for the velocity-free variants), over SB3's PPO defaults."""
