"""Imagination-Augmented Agents (I2A), trained with A2C.

Weber et al. (2017), "Imagination-Augmented Agents for Deep Reinforcement Learning"
(arXiv:1707.06203); lecture seed 000 ("imagination augmented agents: exploration and action
selection in imagined trajectories first"). The policy reads the frame o_t through two paths:

    imagination core   for each action a (one rollout per action), from o_t:
                       o^_1, r^_1 = EM(o_t, a);   o^_k+1, r^_k+1 = EM(o^_k, a^_k),
                       a^_k = argmax pi^(.|o^_k)                         (depth `rollout_depth`)
    rollout encoder    e_a = LSTM(f(o^_D), r^_D), ..., (f(o^_1), r^_1))[-1]   frames in REVERSE
                       order, f a small CNN; the last hidden state summarises the rollout
    aggregator         c_ia = [e_0, e_1, ..., e_{A-1}]                  (concatenation)
    model-free path    c_mf = CNN(o_t)
    heads              h = ReLU(W [c_ia, c_mf]);  pi(.|o_t) = softmax(W_pi h),  V(o_t) = W_v h

EM is the kernel's visual environment model (`tidyrl.models.env_model.VisualEnvModel`: action
planes, residual conv, deconvolution to a residual frame, reward head). As in the paper it is
pre-trained and then held fixed: the first `pretrain_steps` env steps of the run are a
model-free phase in which the rollout policy pi^ (a small CNN actor-critic) learns with A2C and
EM learns from its transitions

    L_em = mean (o_t+1 - EM(o_t, a_t))^2 + model_reward_coef mean (r_t - r^)^2   (`model_loss`);

the rest of the run trains the I2A with A2C on the same env, imagining through the frozen EM.
Its environment steps count towards the run's budget, so "equal steps" comparisons include
them. The policy loss never reaches EM (imagination runs without autograd); pi^ is then
distilled from the I2A policy (the paper's rollout policy):

    L = L_pg + vf_coef L_v - ent_coef H + distill_coef L_dist          (`actor_critic_loss`)
    L_dist = -E[sum_a stopgrad(pi(a|o)) log pi^(a|o)]                   (`distillation_loss`)

The paper's control, the *copy model* (`imagination=copy`), keeps the whole architecture but
replaces EM by a core that returns the current frame o_t and zero reward at every imagined step,
so the agent has the same parameters and compute without any model information.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    PolicyIO,
    actor_critic_loss,
    new_rollout,
)
from tidyrl.config import check_choice, check_range
from tidyrl.core.distributions import Categorical
from tidyrl.data.rollout import RolloutBatch
from tidyrl.errors import ConfigError
from tidyrl.loops.on_policy import collect_rollout
from tidyrl.models.env_model import VisualEnvModel, frame_accuracy, model_loss
from tidyrl.nets.optim import a2c_rmsprop


@dataclass(frozen=True)
class I2AConfig:
    n_envs: int = 16
    """Parallel environments (A2C workers)."""
    n_steps: int = 5
    """Steps per env before each update (the n of the n-step return)."""
    gamma: float = 0.99
    """Discount factor."""
    lr: float = 7e-4
    """RMSprop learning rate of the I2A (and of pi^ in the pre-training phase)."""
    optimizer: str = "rmsprop"
    """rmsprop (A2C's: alpha 0.99, eps 1e-5, torch's form, whose mean square starts at 0) or
    rmsprop-tf (TensorFlow's form, the paper's framework: started at 1, eps inside the root)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (0: off)."""
    normalize_advantages: bool = False
    """Normalize advantages over each rollout (both phases)."""
    imagination: str = "model"
    """model: imagine through the pre-trained environment model; copy: the paper's control, a
    core that repeats the current frame with zero reward."""
    rollout_depth: int = 3
    """Imagined steps per rollout (one rollout per action)."""
    encoder_hidden: int = 256
    """LSTM width of the rollout encoder (the paper's 256)."""
    hidden: int = 256
    """Width of the layer under the policy and value heads."""
    distill_coef: float = 0.01
    """Weight of the distillation loss that trains the rollout policy pi^ towards pi."""
    pretrain_steps: int = 50_000
    """Env steps of the model-free phase that trains pi^ (A2C) and the environment model."""
    model_lr: float = 1e-3
    """Adam learning rate of the environment model."""
    model_epochs: int = 8
    """Environment-model gradient steps per pre-training rollout."""
    model_reward_coef: float = 0.01
    """Weight of the reward head's squared error in L_em. MiniPacman's rewards reach 20 in
    magnitude; unweighted, their error swamps the frame's (a few changed pixels in 855) and the
    model learns nothing but "copy the frame" (docs/algorithms/i2a.md, detail 1)."""
    model_channels: int = 64
    """Conv channels of the environment model."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "n_steps", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "ent_coef", 0.0)
        check_range(self, "vf_coef", 0.0)
        check_range(self, "max_grad_norm", 0.0)
        check_choice(self, "imagination", ("model", "copy"))
        check_choice(self, "optimizer", ("rmsprop", "rmsprop-tf"))
        check_range(self, "rollout_depth", 1)
        check_range(self, "encoder_hidden", 1)
        check_range(self, "hidden", 1)
        check_range(self, "distill_coef", 0.0)
        check_range(self, "pretrain_steps", 0)
        check_range(self, "model_lr", 0.0, low_open=True)
        check_range(self, "model_epochs", 1)
        check_range(self, "model_reward_coef", 0.0)
        check_range(self, "model_channels", 1)


def conv_features(in_channels: int, height: int, width: int) -> tuple[nn.Sequential, int]:
    """A small CNN (16 3x3 filters, stride 1, then 16 3x3 filters, stride 2) and its flat
    output width, for the model-free path and the rollout encoder."""
    net = nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
    )
    return net, 16 * ((height + 1) // 2) * ((width + 1) // 2)


class RolloutPolicy(nn.Module):
    """pi^ with a value head: obs [N, C, H, W] -> [logits | V]; the model-free agent of the
    pre-training phase, then the rollout policy distilled from the I2A."""

    def __init__(self, shape: tuple[int, int, int], n_actions: int) -> None:
        super().__init__()
        self.features, width = conv_features(*shape)
        self.out = nn.Linear(width, n_actions + 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.out(self.features(obs.float()))
        return out


class RolloutEncoder(nn.Module):
    """e = the last hidden state of an LSTM run over (f(o^_k), r^_k), k = D..1."""

    def __init__(self, shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        self.features, width = conv_features(*shape)
        self.lstm = nn.LSTM(width + 1, hidden)

    def forward(self, frames: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """frames [D, N, C, H, W], rewards [D, N] (imagination order) -> e [N, hidden]."""
        depth, n = rewards.shape
        f = self.features(frames.flatten(0, 1)).reshape(depth, n, -1)
        x = torch.cat([f, rewards.unsqueeze(-1)], dim=-1).flip(0)  # the paper's reverse order
        _, (h, _) = self.lstm(x)
        return h[-1]


class I2ANet(nn.Module):
    """The trained part of the I2A: rollout encoder, aggregator, model-free path and heads."""

    def __init__(
        self, shape: tuple[int, int, int], n_actions: int, encoder_hidden: int, hidden: int
    ) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.encoder = RolloutEncoder(shape, encoder_hidden)
        self.model_free, width = conv_features(*shape)
        self.body = nn.Sequential(nn.Linear(n_actions * encoder_hidden + width, hidden), nn.ReLU())
        self.policy = nn.Linear(hidden, n_actions)
        self.value = nn.Linear(hidden, 1)

    def forward(
        self, obs: torch.Tensor, frames: torch.Tensor, rewards: torch.Tensor
    ) -> torch.Tensor:
        """[logits | V], shape [B, A + 1], from obs [B, C, H, W] and the imagined frames
        [D, B*A, ...] and rewards [D, B*A] (rollout a of sample b at column b*A + a)."""
        c_ia = self.encoder(frames, rewards).reshape(obs.shape[0], -1)  # aggregator: concatenation
        c_mf = self.model_free(obs.float())
        h = self.body(torch.cat([c_ia, c_mf], dim=1))
        return torch.cat([self.policy(h), self.value(h)], dim=1)


def imagine(
    obs: torch.Tensor,
    env_model: VisualEnvModel | None,
    rollout_policy: RolloutPolicy,
    n_actions: int,
    depth: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One rollout per action from every obs [B, C, H, W]: frames [D, B*A, C, H, W] and rewards
    [D, B*A]; the first action of rollout a is a, the next ones greedy under pi^. With no
    model (the copy control) every imagined frame is obs and every reward 0."""
    x = obs.float().repeat_interleave(n_actions, dim=0)
    if env_model is None:
        return x.expand(depth, *x.shape), x.new_zeros(depth, x.shape[0])
    actions = torch.arange(n_actions, device=x.device).expand(obs.shape[0], -1).reshape(-1)
    frames, rewards = [], []
    for _ in range(depth):
        x, r = env_model(x, F.one_hot(actions, n_actions).float())
        frames.append(x)
        rewards.append(r)
        actions = rollout_policy(x)[:, :-1].argmax(dim=1)
    return torch.stack(frames), torch.stack(rewards)


def distillation_loss(logits: torch.Tensor, rollout_logits: torch.Tensor) -> torch.Tensor:
    """L_dist = -E[sum_a stopgrad(pi(a|o)) log pi^(a|o)] (cross-entropy from pi to pi^)."""
    target = F.softmax(logits.detach(), dim=1)
    return -(target * F.log_softmax(rollout_logits, dim=1)).sum(dim=1).mean()


class ImaginationAugmented(nn.Module):
    """Flat observations [B, C*H*W] -> [logits | V], shape [B, A + 1]: the imagination core (without
    autograd: neither EM nor pi^ learns from the policy loss) and the trained `I2ANet`. It holds
    the agent's modules, not copies (`tidyrl.export` copies it whole)."""

    def __init__(
        self,
        net: I2ANet,
        rollout_policy: RolloutPolicy,
        env_model: VisualEnvModel | None,
        shape: tuple[int, int, int],
        depth: int,
    ) -> None:
        super().__init__()
        self.net, self.rollout_policy, self.env_model = net, rollout_policy, env_model
        self.shape, self.depth = shape, depth

    def forward(self, flat_obs: torch.Tensor) -> torch.Tensor:
        obs = flat_obs.reshape(-1, *self.shape)
        with torch.no_grad():
            frames, rewards = imagine(
                obs, self.env_model, self.rollout_policy, self.net.n_actions, self.depth
            )
        out: torch.Tensor = self.net(obs, frames, rewards)
        return out


class I2A(Agent):
    Config = I2AConfig
    algo_id = "i2a"
    action_spaces = (gym.spaces.Discrete,)
    observation_spaces = (gym.spaces.Box,)
    observation_rank = 3
    """(C, H, W) frames: the environment model and the CNNs read images."""
    default_torch_threads = 1
    default_steps = 200_000
    PRESETS = {"copy-model": {"imagination": "copy"}}

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        shape = tuple(self.observation_space.shape or ())
        if len(shape) != 3:
            raise ConfigError(
                f"i2a needs (C, H, W) image observations, got shape {shape}; "
                "try tidyrl/MiniPacman-v0 or a MinAtar env"
            )
        self.shape: tuple[int, int, int] = (int(shape[0]), int(shape[1]), int(shape[2]))
        self.n_actions = int(self.action_space.n)
        self.io = PolicyIO(self.observation_space, self.action_space, False)
        self.net = I2ANet(self.shape, self.n_actions, cfg.encoder_hidden, cfg.hidden)
        self.rollout_policy = RolloutPolicy(self.shape, self.n_actions)
        self.env_model = VisualEnvModel(
            self.shape, self.n_actions, frame_channels=self.shape[0], channels=cfg.model_channels
        )
        self.env_model.requires_grad_(False)  # trained only by `pretrain_update`, by hand
        params = [*self.net.parameters(), *self.rollout_policy.parameters()]
        self.optimizer = a2c_rmsprop(params, cfg.lr, cfg.optimizer == "rmsprop-tf")
        self.model_optimizer = torch.optim.Adam(self.env_model.parameters(), lr=cfg.model_lr)
        self.rollout = new_rollout(self, cfg.n_steps, cfg.n_envs, experience=True)
        model = self.env_model if cfg.imagination == "model" else None
        self.acting = ImaginationAugmented(
            self.net, self.rollout_policy, model, self.shape, cfg.rollout_depth
        )
        self.register_state("net", "rollout_policy", "env_model", "optimizer", "model_optimizer")

    def frames(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(len(flat), *self.shape)

    @property
    def pretraining(self) -> bool:
        return self.counters["steps"] < self.config.pretrain_steps

    def fused(self) -> nn.Module:
        """The acting network of the current phase, [logits | V] for collect_rollout."""
        return _PhasePolicy(self) if self.pretraining else self.acting

    def head(self, out: torch.Tensor, mask: torch.Tensor | None = None) -> Categorical:
        return Categorical(out, mask)

    def act(self, obs, deterministic=False):
        x = self.io.obs(obs)
        with torch.inference_mode():
            out = self.acting(x)[:, :-1]  # the I2A, also while pi^ collects the pre-training
            dist = Categorical(out)
            actions = dist.mode() if deterministic else dist.sample()
        return self.io.to_env(actions)

    def update(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        """One A2C step of the I2A and the distillation of pi^."""
        cfg = self.config
        out = self.acting(batch.obs)
        logits, values = out[:, :-1], out[:, -1]
        dist = Categorical(logits)
        policy_loss, v_loss, entropy = actor_critic_loss(
            dist, values, batch, cfg.normalize_advantages
        )
        rollout_logits = self.rollout_policy(self.frames(batch.obs))[:, :-1]
        distill = distillation_loss(logits, rollout_logits)
        loss = policy_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
        loss = loss + cfg.distill_coef * distill
        self._step(self.optimizer, loss)
        return {
            "policy_loss": policy_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": entropy.detach(),
            "distill_loss": distill.detach(),
        }

    def pretrain_update(
        self,
        batch: RolloutBatch,
        obs: torch.Tensor,
        actions: torch.Tensor,
        next_obs: torch.Tensor,
        rewards: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """One A2C step of pi^ on its own rollout, then `model_epochs` steps of L_em on the
        rollout's transitions (obs, actions, next_obs, rewards); the frame accuracy is measured
        before the model sees them."""
        cfg = self.config
        out = self.rollout_policy(self.frames(batch.obs))
        policy_loss, v_loss, entropy = actor_critic_loss(
            Categorical(out[:, :-1]), out[:, -1], batch, cfg.normalize_advantages
        )
        self._step(self.optimizer, policy_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy)
        a = F.one_hot(actions.long(), self.n_actions).float()
        with torch.no_grad():
            accuracy = frame_accuracy(self.env_model(obs, a)[0], next_obs)
        self.env_model.requires_grad_(True)
        for _ in range(cfg.model_epochs):
            pred, reward_pred = self.env_model(obs, a)
            m_loss = model_loss(pred, next_obs, reward_pred, rewards, cfg.model_reward_coef)
            self.model_optimizer.zero_grad(set_to_none=True)
            m_loss.backward()
            self.model_optimizer.step()
        self.model_optimizer.zero_grad(set_to_none=True)
        self.env_model.requires_grad_(False)
        return {
            "policy_loss": policy_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": entropy.detach(),
            "model_loss": m_loss.detach(),
            "model_frame_accuracy": accuracy,
        }

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        optimizer.step()

    def _transitions(self) -> tuple[torch.Tensor, ...]:
        e = self.rollout.experience()
        rewards = self.rollout.rewards.reshape(-1)
        return self.frames(e.obs), e.actions, self.frames(e.next_obs), rewards

    def learn(self, total_steps: int) -> I2A:
        cfg = self.config
        metrics: dict[str, Any] = {}
        with self.training(total_steps):
            while not self.finished:
                pretraining = self.pretraining
                collect_rollout(self, self, self.rollout, self.io, self.io.obs, None, metrics)
                advantages, returns = self.rollout.advantages(cfg.gamma, 1.0)
                batch = self.rollout.flatten(advantages, returns)
                if pretraining:
                    metrics = self.pretrain_update(batch, *self._transitions())
                else:
                    metrics = self.update(batch)
                self.counters["updates"] += 1
        return self

    def update_probe(self) -> Callable[[], object]:
        advantages, returns = self.rollout.advantages(self.config.gamma, 1.0)
        batch = self.rollout.flatten(advantages, returns)
        return lambda: self.update(batch)


class _PhasePolicy(nn.Module):
    """obs -> [logits | V] of pi^, the acting network of the pre-training phase."""

    def __init__(self, agent: I2A) -> None:
        super().__init__()
        self.agent = agent

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.agent.rollout_policy(self.agent.frames(obs))
        return out
