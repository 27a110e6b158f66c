"""Generative adversarial imitation learning: a discriminator's reward in place of the env's.

Ho & Ermon (2016), "Generative adversarial imitation learning"; lecture seed 003 (imitation and
inverse RL). A discriminator D(s, a) in (0, 1), here the probability that (s, a) came from the
expert, is trained to tell the expert's demonstrated pairs from the learner's own by binary
cross-entropy,

    L_D = -E_expert[log D(s, a)] - E_policy[log(1 - D(s, a))]          (Ho & Ermon, eq. 17)
          + lambda_gp E_x^[(||grad_x^ logit D(x^)||_2 - 1)^2]           optional gradient penalty

with x^ = u x_expert + (1 - u) x_policy, u ~ U(0, 1) per pair (Gulrajani et al. 2017, the penalty
Kostrikov et al. 2019 use with lambda_gp = 10 to keep D from saturating). The learner (PPO or
TRPO, `reward=gail`) then maximizes the return of a reward computed from D, chosen by `form`:

    gail    r = -log(1 - D(s, a)) = softplus(logit)         always > 0 (the paper's cost log D_pi,
                                                            with D_pi = 1 - D the policy's class)
    log-d   r =  log D(s, a)      = -softplus(-logit)       always < 0
    airl    r =  log D - log(1 - D) = logit                 any sign (Fu et al. 2018, AIRL's form;
                                                            the sum of the other two)

each computed from the logit for numerical stability. With an optimal discriminator
D = rho_E / (rho_E + rho_pi), the airl form is log rho_E(s, a) - log rho_pi(s, a), whose expected
value under the policy is -KL(rho_pi || rho_E).

Terminal handling (Kostrikov et al. 2019, "Discriminator-Actor-Critic", section 4.2). The learner
keeps `terminated` and `truncated` apart exactly as it does for environment rewards: a truncated
step (a time limit) bootstraps from V(final observation), so a cut episode is not mistaken for a
terminal one; a terminated step is scored by D like any other, and nothing is added after it:
the return from a terminal state on is 0, i.e. the implicit absorbing state has reward 0. That
choice is the form's bias, which DAC's learned absorbing-state reward removes: with `gail`
(r > 0) every extra step pays, so the learner is pushed to survive (right for CartPole, where the
expert never terminates); with `log-d` (r < 0) every step costs, so ending an episode early pays
(wrong for survival tasks, right for reach-the-goal tasks); `airl`'s sign follows D and carries
no fixed survival bias. On tasks without termination (Pendulum-v1 ends by time limit only) the
three forms differ only by their shape.

The discriminator reads the raw observation and the action the env received (a one-hot vector
for Discrete actions; Box actions mapped to [-1, 1] by the policy's `ActionAdapter.from_env`),
so expert and learner pairs are compared in the same units. It never sees an environment reward.
An image Box observation goes through a CNN (`ImageBranch`, which scales uint8 frames) before the
MLP; its input x, where the gradient penalty interpolates, is [pixels scaled to [0, 1], phi(a)].
A Dict observation (the learner's and the demonstrations' alike) is read through the plug-ins'
flat view (`tidyrl.rewards.base.DictView`: images scaled to [0, 1], Discrete keys one-hot), so
x = [view(s), phi(a)] and the MLP reads it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.data.demos import Demos, demos_for, require_demos
from tidyrl.nets.cnn import image_layout
from tidyrl.nets.encoders import ImageBranch, image_scale
from tidyrl.nets.mlp import Activation, mlp, run_layers
from tidyrl.nets.optim import Adam
from tidyrl.nets.policy import ActionAdapter
from tidyrl.rewards.base import ExperienceLike, RewardPlugin

FORMS = ("gail", "log-d", "airl")
"""Reward forms computed from the discriminator (module docstring)."""


@dataclass(frozen=True)
class GAILConfig:
    demos: str = ""
    """Demonstrations: a file (or Minari dataset directory) written by `tidyrl demos collect`."""
    demo_episodes: int = 0
    """Use only the first N episodes of the demonstrations (0: all of them)."""
    form: str = "gail"
    """Reward from D: gail (-log(1-D)), log-d (log D) or airl (log D - log(1-D))."""
    disc_lr: float = 3e-4
    """Adam learning rate of the discriminator."""
    disc_epochs: int = 1
    """Discriminator passes over each batch of the learner's experience (each rollout)."""
    disc_batch_size: int = 256
    """Learner pairs per discriminator step, with as many expert pairs (0: the whole batch)."""
    grad_penalty: float = 0.0
    """Gradient-penalty coefficient lambda_gp (0: off; Kostrikov et al. use 10)."""
    disc_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the discriminator."""
    disc_activation: Activation = "tanh"
    """Hidden activation of the discriminator."""

    def __post_init__(self) -> None:
        require_demos(self)
        check_range(self, "demo_episodes", 0)
        check_choice(self, "form", FORMS)
        check_range(self, "disc_lr", 0.0, low_open=True)
        check_range(self, "disc_epochs", 1)
        check_range(self, "disc_batch_size", 0)
        check_range(self, "grad_penalty", 0.0)
        check_hidden(self, "disc_hidden")


def discriminator_loss(expert_logits: torch.Tensor, policy_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -E_expert[log D] - E_policy[log(1 - D)], D = sigmoid(logit): binary cross-entropy
    with label 1 for expert pairs and 0 for the learner's."""
    expert = F.binary_cross_entropy_with_logits(expert_logits, torch.ones_like(expert_logits))
    policy = F.binary_cross_entropy_with_logits(policy_logits, torch.zeros_like(policy_logits))
    return expert + policy


def gradient_penalty(
    logit_fn: Callable[[torch.Tensor], torch.Tensor],
    expert_x: torch.Tensor,
    policy_x: torch.Tensor,
    u: torch.Tensor,
) -> torch.Tensor:
    """E[(||grad_x logit(x^)||_2 - 1)^2] at x^ = u x_expert + (1 - u) x_policy, u [B, 1]."""
    mixed = (u * expert_x + (1.0 - u) * policy_x).detach().requires_grad_(True)
    grad: torch.Tensor = torch.autograd.grad(logit_fn(mixed).sum(), mixed, create_graph=True)[0]
    penalty: torch.Tensor = (grad.norm(dim=1) - 1.0).square().mean()
    return penalty


def adversarial_reward(logits: torch.Tensor, form: str) -> torch.Tensor:
    """The reward of each pair from its discriminator logit, in the chosen `form`."""
    if form == "gail":
        return F.softplus(logits)  # -log(1 - sigmoid(x))
    if form == "log-d":
        return -F.softplus(-logits)  # log sigmoid(x)
    if form == "airl":
        return logits  # log sigmoid(x) - log(1 - sigmoid(x))
    raise ValueError(f"unknown reward form {form!r}; valid: {', '.join(FORMS)}")


class Discriminator(nn.Module):
    """logit D(s, a): an MLP over [observation, action features], the observation flattened or,
    for an image Box, through a CNN first."""

    def __init__(
        self, observation_space: gym.Space[Any], action_space: gym.Space[Any], cfg: GAILConfig
    ) -> None:
        super().__init__()
        self.adapter = ActionAdapter(action_space)
        if self.adapter.discrete:
            assert isinstance(action_space, gym.spaces.Discrete)
            self.n_actions = int(action_space.n)
            action_dim = self.n_actions
        else:
            action_dim = int(np.prod(action_space.shape or (1,)))
        self.obs_shape = tuple(observation_space.shape or (1,))
        self.obs_dim = int(np.prod(self.obs_shape))
        self.image: ImageBranch | None = None
        self.obs_scale = 1.0
        if isinstance(observation_space, gym.spaces.Box) and image_layout(observation_space):
            # x holds the pixels scaled (uint8: to [0, 1]), so that the gradient penalty's unit
            # norm is measured in the units the CNN reads
            self.obs_scale = image_scale(observation_space)
            self.image = ImageBranch(observation_space, prescaled=True)
        width = self.image.out_dim if self.image is not None else self.obs_dim
        self.net = mlp(width + action_dim, cfg.disc_hidden, 1, cfg.disc_activation)

    def features(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """[s, phi(a)]: phi one-hot for Discrete actions, the [-1, 1] policy scale for Box; an
        image's pixels flattened and scaled as its CNN reads them (uint8: to [0, 1])."""
        a = self.adapter.from_env(actions.numpy())
        phi = F.one_hot(a, self.n_actions).float() if self.adapter.discrete else a
        return torch.cat([obs.reshape(len(obs), -1).float() * self.obs_scale, phi], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image is not None:  # x = [raw pixels, phi(a)]: the pixels through the CNN
            frames = x[:, : self.obs_dim].reshape(len(x), *self.obs_shape)
            x = torch.cat([self.image(frames), x[:, self.obs_dim :]], dim=1)
        return run_layers(self.net, x).squeeze(-1)


class GAIL(RewardPlugin):
    """The GAIL reward plug-in: `update` trains D on a rollout against as many expert pairs,
    `reward` scores a batch with the chosen form."""

    Config = GAILConfig
    name = "gail"

    config: GAILConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # config, spaces, env id, generator
        config = self.config
        self.discriminator = Discriminator(self.observation_space, self.action_space, config)
        self.optimizer = Adam(self.discriminator.parameters(), lr=config.disc_lr)
        self._demos: Demos | None = None

    @property
    def demos(self) -> Demos:
        """The demonstrations, read on first use (a saved agent acts without its demos file)
        and checked against the env's spaces."""
        if self._demos is None:
            self._demos = demos_for(
                self.config, self.env_observation_space, self.action_space, self.env_id
            )
        return self._demos

    def state_objects(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator, "optimizer": self.optimizer}

    def features(self, obs: Any, actions: torch.Tensor) -> torch.Tensor:
        """The discriminator's input x = [s, phi(a)] (`Discriminator.features`), a Dict
        observation through the flat view first."""
        return self.discriminator.features(
            obs if self.view is None else self.view.encode(obs), actions
        )

    @torch.no_grad()
    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        logits = self.discriminator(self.features(batch.obs, batch.actions))
        return adversarial_reward(logits, self.config.form)

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """`disc_epochs` passes of discriminator steps over `batch` in minibatches of
        `disc_batch_size`, each against a fresh uniform draw of as many expert pairs."""
        cfg = self.config
        policy_x = self.features(batch.obs, batch.actions)
        size = len(policy_x)
        step = cfg.disc_batch_size or size
        for _ in range(cfg.disc_epochs):
            order = torch.randperm(size)
            for start in range(0, size, step):
                x_pi = policy_x[order[start : start + step]]
                expert = self.demos.sample(len(x_pi), self.rng)
                x_e = self.features(expert.obs, expert.actions)
                metrics = self.step(x_e, x_pi)
        return metrics

    def step(self, expert_x: torch.Tensor, policy_x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One Adam step on L_D (plus the gradient penalty when lambda_gp > 0)."""
        disc = self.discriminator
        expert_logits, policy_logits = disc(expert_x), disc(policy_x)
        loss = discriminator_loss(expert_logits, policy_logits)
        metrics = {"discriminator_loss": loss.detach()}
        if self.config.grad_penalty > 0:
            u = torch.rand(len(expert_x), 1)
            penalty = gradient_penalty(disc, expert_x, policy_x, u)
            loss = loss + self.config.grad_penalty * penalty
            metrics["gradient_penalty"] = penalty.detach()
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        with torch.no_grad():  # how often D classifies each side right
            metrics["expert_accuracy"] = (expert_logits > 0).float().mean()
            metrics["policy_accuracy"] = (policy_logits < 0).float().mean()
        return metrics
