"""SAC: Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic: Off-Policy Maximum Entropy
Deep Reinforcement Learning with a Stochastic Actor", and "Soft Actor-Critic Algorithms and
Applications", 2018b); lecture seed 003 derives it from RL as inference.

Maximise E[sum_t r_t + alpha * H(pi(.|s_t))] with a tanh-squashed Gaussian policy
a = tanh(mu(s) + sigma(s) * eps) (log-probabilities through `tidyrl.core.squashed`), two critics
Q_1, Q_2 with Polyak-averaged targets Q'_k, and a temperature alpha tuned automatically:

    y            = r + gamma * (1 - terminated) * (min_k Q'_k(s', a') - alpha * log pi(a'|s')),
                   a' ~ pi(.|s')
    critic loss  = 1/2 * sum_k (Q_k(s, a) - y)^2
    actor loss   = alpha * log pi(a~|s) - min_k Q_k(s, a~),  a~ ~ pi(.|s) (reparameterised)
    alpha loss   = -log(alpha) * (log pi(a~|s) + H_target),   H_target = -dim(A)   (2018b, eq. 18)

With ``value_network=True`` it is the first paper's algorithm (2018a, eqs. 5-13): a state-value
network V_psi with a Polyak target V'_psi replaces the target critics,

    y            = r + gamma * (1 - terminated) * V'(s')
    value loss   = 1/2 * (V(s) - (min_k Q_k(s, a~) - alpha * log pi(a~|s)))^2

A truncated episode still bootstraps from its final observation s'.

With a bonus reward plug-in (`reward=curiosity|count|rnd|icm`, `tidyrl.rewards`), as in DQN, each
sampled minibatch first trains the plug-in, which then scores it, C [B], and the target learns
from r + beta C in place of r (beta the plug-in's `intrinsic_coef`; C carries no gradient); every
new transition reaches the plug-in's `observe` once, as it is collected. The plug-in sees the
actions as the replay stores them, in [-1, 1].

`update` computes exactly these losses and lets autograd differentiate them. Speed comes from
seams around them: both critics run as one batched ensemble (`tidyrl.nets.critics.QEnsemble`),
the actor's loss reads the critics with their weights as constants (``frozen=True``, so it
produces no critic weight gradient), ``precision="bf16"`` (or "auto" where the hardware has
native bf16) runs the hidden-to-hidden products in bfloat16, and the critic step and the actor
step, which touch disjoint parameters, run side by side on two cores where one is spare
(`tidyrl.runtime.run_side_by_side`). See docs/algorithms/sac.md and docs/performance.md.
Hyper-parameters default to the paper's (and Stable-Baselines3's): lr 3e-4, batch 256, tau 0.005,
256-256 ReLU. Two details where implementations differ are options: `update_order` (all losses
from the same parameters, or SB3's and Tianshou's critic-then-actor) and `jacobian_eps` (the
exact tanh correction of log pi, or the guarded log(1 - a^2 + eps) of SB3 and the original code);
``--preset sb3-mujoco`` is SB3's update exactly (tests/algos/test_matches_sb3.py).

With ``use_sde`` the pre-squash Gaussian is gSDE's (Raffin et al. 2022; `tidyrl.core.
distributions`): the actor outputs the mean mu(s) = clip(W phi(s) + b, -2, 2) from its last
hidden features phi(s), and a learned matrix log sigma [F, A] gives std_j(s)^2 =
sum_i phi_i(s)^2 sigma_ij^2. The losses sample u = mu(s) + phi(s)^T E with one E = sigma * z
[F, A] for the whole batch (a reparameterised draw: the gradient reaches mu, phi and sigma
through u and through log N(u; mu, std(s)), which is written out in full here because
(u - mu) / std is no longer a constant of the parameters); acting holds one E per env copy for
`sde_sample_freq` steps. Stable-Baselines3's SAC does the same (its clip of 2 on the mean, its
features trained through the std).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import (
    alpha_loss,
    box_bounds,
    encoded_critic,
    encoded_mlp,
    replay_for,
    sde_mean,
    sde_parts,
    sde_policy_action,
    sde_squashed_sample,
    unit_box,
)
from tidyrl.config import check_choice, check_range
from tidyrl.core.squashed import (
    scale_action,
    squashed_gaussian_action,
    squashed_gaussian_sample,
    unscale_action,
)
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.data.hindsight import check_hindsight
from tidyrl.nets.critics import QEnsemble, mlp_forward
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.mlp import mlp
from tidyrl.nets.optim import Adam
from tidyrl.nets.precision import PRECISIONS, Precision, compute_dtype
from tidyrl.rewards import attach, check_reward
from tidyrl.rewards.base import bonus_rewards, observe_step
from tidyrl.runtime import run_side_by_side

UPDATE_ORDERS = ("joint", "sequential")
"""`SACConfig.update_order` choices."""


@dataclass(frozen=True)
class SACConfig:
    n_envs: int = 1
    """Parallel environment copies (one update per copy per vector step)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    her_future_goals: int = 0
    """Hindsight experience replay: k relabelled goals per real goal (4 in the paper; 0: off),
    for goal-conditioned envs (`tidyrl.data.hindsight`)."""
    her_strategy: str = "future"
    """Which achieved goal relabels a row: "future" (later in its episode), "final" or
    "episode" (Andrychowicz et al. 2017, section 4.5)."""
    batch_size: int = 256
    """Transitions per gradient update."""
    learning_starts: int = 1000
    """Steps of uniformly random actions before learning starts."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak rate of the target networks."""
    lr: float = 3e-4
    """Adam learning rate of actor, critics, value network and temperature."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of every network."""
    alpha: float = 1.0
    """Initial temperature (the fixed temperature when autotune is off)."""
    autotune: bool = True
    """Tune alpha so that the policy's entropy tracks target_entropy."""
    target_entropy: float | None = None
    """Entropy target H_target (None: -dim(A))."""
    value_network: bool = False
    """The 2018a variant: a separate state-value network V and its target replace the target
    critics."""
    precision: Precision = "fp32"
    """Hidden-to-hidden matmuls in float32, bfloat16 (mixed precision; parameters stay fp32), or
    "auto": bfloat16 where the hardware multiplies it natively (AVX-512 BF16, AMX, CUDA), else
    float32."""
    gradient_steps: int = 1
    """Gradient updates per environment step."""
    update_order: Literal["joint", "sequential"] = "joint"
    """joint: every loss from the same parameters, then one optimizer step (the authors' code
    steps all networks together); sequential: Stable-Baselines3's order -- the critic step first,
    then the actor and temperature step, whose actor loss reads the just-updated critics."""
    jacobian_eps: float = 0.0
    """0: the exact tanh correction of log pi; > 0: the guarded log(1 - a^2 + jacobian_eps) of
    the original SAC code and Stable-Baselines3 (1e-6), which caps it for saturated actions."""
    use_sde: bool = False
    """Generalised state-dependent exploration (Raffin et al. 2022; module docstring): noise
    phi(s)^T E from the actor's last hidden features, E held for sde_sample_freq steps."""
    sde_sample_freq: int = 64
    """Env steps between new gSDE exploration matrices while acting (Stable-Baselines3 draws
    them once per collection round of train_freq steps; RL-Zoo's gSDE settings use 32 or 64)."""
    log_std_init: float = -3.0
    """Initial log sigma_ij of gSDE's noise scales (use_sde only; Stable-Baselines3's -3)."""
    reward: str = "env"
    """env (the environment's reward), or a bonus plug-in added in the critic's target as
    r + beta C: curiosity, count, rnd, icm (tidyrl.rewards)."""
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """The reward plug-in's settings (its config fields; --set accepts them by name too, e.g.
    --set reward=rnd intrinsic_coef=0.5)."""

    def __post_init__(self) -> None:
        check_reward(self, bonus_only=True)
        check_range(self, "n_envs", 1)
        check_range(self, "buffer_size", 1)
        check_hindsight(self)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "alpha", 0.0, low_open=True)
        check_range(self, "gradient_steps", 1)
        check_range(self, "jacobian_eps", 0.0)
        check_range(self, "sde_sample_freq", 1)
        check_choice(self, "precision", PRECISIONS)
        check_choice(self, "update_order", UPDATE_ORDERS)


def soft_td_target(
    rewards: torch.Tensor,
    bootstrap_mask: torch.Tensor,
    gamma: float,
    v_next: torch.Tensor,
) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * V(s'); V(s') the soft value of the next state."""
    return rewards + gamma * bootstrap_mask * v_next


def critic_loss(q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1/2 * mean squared TD error of each critic (rows of `q`), summed over critics."""
    return 0.5 * (q - y).pow(2).mean(-1).sum()


def actor_loss(q_pi: torch.Tensor, logp_pi: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """E[alpha * log pi(a~|s) - Q(s, a~)]: the KL to the critic's Boltzmann policy."""
    return (alpha * logp_pi - q_pi).mean()


def value_loss(
    v: torch.Tensor, q_pi: torch.Tensor, logp_pi: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """1/2 * (V(s) - (Q(s, a~) - alpha * log pi(a~|s)))^2, target held fixed (2018a, eq. 5)."""
    return 0.5 * (v - (q_pi - alpha * logp_pi).detach()).pow(2).mean()


class SAC(Agent):
    """Soft Actor-Critic for Box action spaces."""

    Config = SACConfig
    algo_id = "sac"
    default_torch_threads = 1  # plus a helper thread for the actor step on a spare core
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    default_steps = 20_000
    ENV_PRESETS = {
        "MountainCarContinuous-v0": "mountaincar-continuous",
        "LunarLanderContinuous-v3": "lunarlander",
        "BipedalWalker-v3": "bipedalwalker",
    }
    PRESETS = {
        # RL-Zoo's per-env settings (hyperparams/sac.yml) over SB3's SAC defaults, which are
        # tidyrl's but for 100 random steps; the zoo's linear decay of LunarLander's lr is not
        # kept (constant 7.3e-4). Its train_freq k with k gradient steps is tidyrl's one update
        # per step, and gSDE draws new matrices every k steps as SB3 does once per round.
        "mountaincar-continuous": {
            "learning_starts": 0,
            "buffer_size": 50_000,
            "batch_size": 512,
            "autotune": False,
            "alpha": 0.1,
            "gamma": 0.9999,
            "tau": 0.01,
            "hidden": (64, 64),
            "use_sde": True,
            "sde_sample_freq": 32,
            "log_std_init": -3.67,
        },
        "lunarlander": {
            "learning_starts": 10_000,
            "lr": 7.3e-4,
            "tau": 0.01,
            "hidden": (400, 300),
        },
        "bipedalwalker": {
            "learning_starts": 10_000,
            "lr": 7.3e-4,
            "buffer_size": 300_000,
            "gamma": 0.98,
            "tau": 0.02,
            "hidden": (400, 300),
            "use_sde": True,
            "sde_sample_freq": 64,
        },
        # Haarnoja et al. 2018a: the state-value network, a fixed temperature, 10k random steps
        "v2018": {"value_network": True, "autotune": False, "alpha": 0.2},
        "mujoco": {"learning_starts": 10_000},
        # Stable-Baselines3's SAC at RL-Zoo's MuJoCo settings, detail for detail
        # (tests/algos/test_matches_sb3.py): its update order and its guarded log-probability
        "sb3-mujoco": {
            "learning_starts": 10_000,
            "update_order": "sequential",
            "jacobian_eps": 1e-6,
        },
        # Tianshou's examples/mujoco/mujoco_sac.py (the source of its MuJoCo benchmark curves):
        # lr 1e-3, a fixed alpha 0.2, its update order and its guard (float32's epsilon)
        "tianshou-mujoco": {
            "learning_starts": 10_000,
            "lr": 1e-3,
            "autotune": False,
            "alpha": 0.2,
            "update_order": "sequential",
            "jacobian_eps": float(np.finfo(np.float32).eps),
        },
        "fast": {"precision": "auto"},
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        space = self.observation_space
        act_dim = self.act_dim = int(np.prod(self.action_space.shape))
        self.dtype = compute_dtype(cfg.precision, self.device)
        self.target_entropy = (
            float(-act_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
        )
        # the actor outputs (mu, log sigma) of the pre-squash Gaussian; with gSDE mu alone
        out = act_dim if cfg.use_sde else 2 * act_dim
        self.actor = encoded_mlp(space, lambda width: mlp(width, cfg.hidden, out))
        self.critic = encoded_critic(
            space, 2, lambda width: QEnsemble(width, act_dim, cfg.hidden, n_critics=2)
        )
        self.critic.compute_dtype = self.dtype
        # a fixed temperature is a constant: no gradient, and the optimizer skips it
        self.log_alpha = nn.Parameter(
            torch.tensor(float(np.log(cfg.alpha))), requires_grad=cfg.autotune
        )
        params = [*self.actor.parameters(), *self.critic.parameters(), self.log_alpha]
        names = ["actor", "critic", "log_alpha"]
        if cfg.use_sde:  # log sigma [F, A], F the width of the actor's last hidden layer
            self.actor_body, self.log_sigma, self.held = sde_parts(
                self.actor, act_dim, cfg.log_std_init, cfg.sde_sample_freq
            )
            params.append(self.log_sigma)
            names.append("log_sigma")
        if cfg.value_network:
            self.value = encoded_mlp(space, lambda width: mlp(width, cfg.hidden, 1))
            self.value_target = copy.deepcopy(self.value).requires_grad_(False)
            params += list(self.value.parameters())
            names += ["value", "value_target"]
        else:
            self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
            names.append("critic_target")
        # one fused Adam over every parameter (they share the learning rate): one kernel call and
        # one pass of the optimizer's Python bookkeeping per update instead of one per network
        self.optimizer = Adam(params, cfg.lr)
        self.replay = replay_for(self)
        self.reward_plugin = attach(self, unit_box(self.action_space))  # None: env reward only
        self.register_state(*names, "optimizer")
        self.register_run_state("replay")
        if cfg.use_sde:
            self.register_run_state("held")

    def pi(
        self, obs: torch.Tensor, deterministic: bool = False, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A squashed-Gaussian action in the unit box and its log-probability (noise `eps`
        drawn here unless given)."""
        if self.config.use_sde:
            return self.sde_pi(obs, deterministic, eps)
        mean, log_std = mlp_forward(self.actor, obs, self.dtype).float().chunk(2, -1)
        return squashed_gaussian_sample(mean, log_std, deterministic, eps, self.config.jacobian_eps)

    def sde_features(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """gSDE's (mu(s), phi(s)): the clipped mean and the actor's last hidden features."""
        return self.sde_mean(mlp_forward(self.actor_body, obs, self.dtype).float())

    def sde_mean(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu(s), phi(s)) from the features: the output layer, clipped to +-SDE_CLIP_MEAN."""
        return sde_mean(self.actor, features), features

    def sde_pi(
        self, obs: Any, deterministic: bool = False, z: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """gSDE's squashed action tanh(u), u = mu(s) + phi(s)^T E with E = sigma * z for the
        whole batch (z [F, A] ~ N(0, I), drawn here unless given), and log pi(tanh(u)|s) under
        N(mu(s), std(s)^2) (module docstring)."""
        mean, features = self.sde_features(obs)
        return sde_squashed_sample(
            mean, features, self.log_sigma, deterministic, z, self.config.jacobian_eps
        )

    def policy(
        self, obs: np.ndarray, deterministic: bool = False, held: bool = False
    ) -> np.ndarray:
        """Actions in the unit box for a batch of observations: the actor's forward through the
        inference seam (`tidyrl.nets.inference.fast_policy`), the noise from torch's generator.
        With gSDE, `held` acts with the training loop's held matrices (one per env copy);
        otherwise each row draws its own noise, N(mu(s), std(s)^2) state by state."""
        if self.config.use_sde:
            matrices = self.held if held else None
            return sde_policy_action(
                self.actor, self.actor_body, self.log_sigma, obs, deterministic, matrices, self.rng
            )
        mean, log_std = fast_policy(self.actor)(obs).chunk(2, -1)
        return squashed_gaussian_action(mean, log_std, deterministic).cpu().numpy()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return scale_action(self.policy(obs, deterministic), self.low, self.high)

    @torch.no_grad()
    def target_q(
        self,
        batch: Transition,
        eps: torch.Tensor | None = None,
        rewards: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """y = r + gamma * (1 - terminated) * V(s'), with the soft value
        V(s') = min_k Q'_k(s', a') - alpha * log pi(a'|s'), a' ~ pi(.|s') drawn with noise
        `eps` (drawn here if None); or V'(s') with the value network."""
        if self.config.value_network:
            v_next = mlp_forward(self.value_target, batch.next_obs, self.dtype)[:, 0]
        else:
            next_actions, logp_next = self.pi(batch.next_obs, eps=eps)
            q_next = self.critic_target(batch.next_obs, next_actions)[..., 0].min(0).values
            v_next = q_next - self.log_alpha.exp() * logp_next
        return soft_td_target(
            batch.rewards if rewards is None else rewards,
            batch.bootstrap_mask,
            self.config.gamma,
            v_next,
        )

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One step on every loss of the module docstring, then the targets track.

        With ``update_order="joint"`` all losses come from the same parameters (as in the
        authors' implementation, which steps all networks together); the critic step and the
        actor step backpropagate into disjoint parameters, so they may run side by side. With
        "sequential" (Stable-Baselines3's order) the critics step first and the actor's loss
        then reads the updated critics. Either way alpha is the value before this update, and
        the noise is drawn first, in Stable-Baselines3's order (eps for a~, then for a'), so
        the random stream does not depend on which thread runs what."""
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        # the noise of a~ and a': per row, or gSDE's one z [F, A] per batch
        shape = self.log_sigma.shape if cfg.use_sde else (len(batch), self.act_dim)
        eps_pi = torch.randn(shape, device=batch.actions.device)
        eps_next = None if cfg.value_network else torch.randn(shape, device=batch.actions.device)
        rewards, reward_metrics = bonus_rewards(self.reward_plugin, batch)  # r (+ beta C)

        def critic_step() -> torch.Tensor:
            y = self.target_q(batch, eps_next, rewards)
            q = self.critic(batch.obs, batch.actions)[..., 0]  # (2, B)
            loss = critic_loss(q, y)
            loss.backward()
            return loss.detach()

        def actor_step() -> tuple[torch.Tensor, torch.Tensor]:
            actions_pi, logp_pi = self.pi(batch.obs, eps=eps_pi)
            # the critics' weights enter as constants: this loss moves the actor only
            q_pi = self.critic(batch.obs, actions_pi, frozen=True)[..., 0].min(0).values
            loss_pi = actor_loss(q_pi, logp_pi, alpha)
            total = loss_pi
            if cfg.autotune:
                total = total + alpha_loss(self.log_alpha, logp_pi, self.target_entropy)
            if cfg.value_network:
                v = mlp_forward(self.value, batch.obs, self.dtype)[:, 0]
                total = total + value_loss(v, q_pi, logp_pi, alpha)
            total.backward()
            return loss_pi.detach(), logp_pi.detach()

        self.optimizer.zero_grad()
        if cfg.update_order == "joint":
            loss_q, (loss_pi, logp_pi) = run_side_by_side(critic_step, actor_step)
        else:  # the critics' step, then the actor's (and alpha's) through the new critics
            loss_q = critic_step()
            self.optimizer.step()  # parameters without a gradient (all but the critics) stay
            self.optimizer.zero_grad()
            loss_pi, logp_pi = actor_step()
        self.optimizer.step()
        if cfg.value_network:
            polyak_update(self.value, self.value_target, cfg.tau)
        else:
            polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "critic_loss": loss_q,
            "actor_loss": loss_pi,
            "alpha": alpha,
            "entropy": -logp_pi.mean(),
            **reward_metrics,
        }

    def learn(self, total_steps: int) -> SAC:
        cfg = self.config
        obs = self.env.obs
        with self.training(total_steps):
            while not self.finished:
                if self.counters["steps"] < cfg.learning_starts:
                    unit = unscale_action(self.env.sample_actions(), self.low, self.high)
                else:
                    unit = self.policy(obs, held=True)
                step = self.env.step(scale_action(unit, self.low, self.high))
                self.replay.add(obs, unit, step)
                observe_step(self.reward_plugin, obs, unit, step)  # each new transition, once
                obs = step.obs
                metrics = None
                if self.counters["steps"] >= cfg.learning_starts:
                    for _ in range(cfg.gradient_steps * self.env.n_envs):
                        metrics = self.update(self.replay.sample(cfg.batch_size, self.rng))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
