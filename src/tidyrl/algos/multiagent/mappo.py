"""MAPPO and IPPO: PPO for every agent of a cooperative game, with a centralised or an
independent value function.

Yu et al. (2022), "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games"
(arXiv:2103.01955) for MAPPO; de Witt et al. (2020), "Is Independent Learning All You Need in
the StarCraft Multi-Agent Challenge?" (arXiv:2011.09533) for IPPO. Agent i has a stochastic
policy pi_i(a_i|o_i) on its own observation (decentralised execution) and a value function that
sees either the joint observation x = (o_1, ..., o_N) (MAPPO: V_i(x)) or only o_i (IPPO:
V_i(o_i)). Each agent's advantages are GAE(gamma, lambda) over its own rewards r_i and flags:

    delta_t^i = r_t^i + gamma * (1 - terminated_t^i) * V_i(x'_t) - V_i(x_t)
    A_t^i     = delta_t^i + gamma * lambda * (1 - done_t^i) * A_{t+1}^i,   R_t^i = A_t^i + V_i(x_t)

and every network minimises PPO's objective over the samples it serves (the losses are
`clipped_surrogate` and `value_loss` of `policy_gradient/common.py`, shared unchanged with
`ppo`):

    L = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)] + c_v E[max((V - R)^2, (V_clip - R)^2)]
        - c_e E[H(pi(.|o))],           r = pi(a|o) / pi_old(a|o),  V_clip = V_old + clip(V - V_old)

Departed agents: an agent that left its episode early (the adapter's ``acted = False``) makes no
decision, so its rows are dropped before the losses (`acted_samples`) and the expectations run
over real decisions only; its termination cuts its GAE recursion, and a truncated agent
bootstraps from the value of its final observation. `share_parameters=true` makes one actor and
one critic serve every agent (the paper's default for MPE), each input extended by the agent's
one-hot id: the samples of all agents pool into one batch. Otherwise each agent has its own
networks and the loss is the sum of the agents' losses. `normalize_values=true` is the paper's
value normalisation: the critic regresses returns standardised by running statistics of the
returns (`core.normalize.RunningMeanStd`; the paper uses an exponential moving average), and its
outputs are de-normalised before GAE. The registry's `ippo` id is this class with
`centralized_value=false` fixed.

Defaults are the paper's MPE settings (its Table 10-11 and the reference code's
train_mpe_spread.sh): lr 7e-4 for actor and critic, 10 epochs of one minibatch, clip 0.2 on the
ratio and on the value, entropy 0.01, value coefficient 1, gradient-norm clip 10, gamma 0.99,
lambda 0.95, two 64-unit tanh layers, orthogonal init with output gain 0.01, Adam eps 1e-5,
shared parameters, value normalisation, 128 environment copies x 25 steps per rollout. Not
taken: the paper's recurrent (rMAPPO) variant, the layer-norm on inputs, and the Huber value
loss (delta 10: on normalised targets, errors above 10 standard deviations are rare, so it is
the squared error halved; `vf_coef` takes that factor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.multiagent.common import check_shared_spaces, one_hot_ids, with_id
from tidyrl.algos.policy_gradient.common import (
    action_shape,
    clipped_surrogate,
    ratio_diagnostics,
    value_loss,
)
from tidyrl.config import check_range
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.data.rollout import Rollout, RolloutBatch
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.mlp import Activation, mlp, orthogonal_init, run_layers
from tidyrl.nets.optim import Adam
from tidyrl.nets.policy import ActionAdapter, ActorCritic


@dataclass(frozen=True)
class MAPPOConfig:
    n_envs: int = 128
    """Parallel environment copies (the paper's rollout threads)."""
    n_steps: int = 25
    """Steps per copy per rollout (rollout size = n_envs * n_steps joint steps)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    n_minibatches: int = 1
    """Minibatches each network's samples are split into per epoch."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    lr: float = 7e-4
    """Adam learning rate of the actors."""
    critic_lr: float = 7e-4
    """Adam learning rate of the critics."""
    clip_range: float = 0.2
    """Clip range eps of the probability ratio."""
    clip_value: float = 0.2
    """Clip the value update to +-clip_value around the old value (0: no value clipping)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient c_e."""
    vf_coef: float = 1.0
    """Value-loss coefficient c_v."""
    max_grad_norm: float = 10.0
    """Clip the actors' and the critics' global gradient norms to this (0: off)."""
    normalize_advantages: bool = True
    """Normalize advantages per minibatch."""
    normalize_values: bool = True
    """Critics regress returns standardised by running statistics (value normalisation)."""
    centralized_value: bool = True
    """Value functions see every agent's observation (MAPPO); false: their own only (IPPO)."""
    share_parameters: bool = True
    """One actor and one critic for all agents (identical spaces), with a one-hot agent id."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actors and of the critics."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policies (Box actions)."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "n_steps", 1)
        check_range(self, "n_epochs", 1)
        check_range(self, "n_minibatches", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "critic_lr", 0.0, low_open=True)
        check_range(self, "clip_range", 0.0, low_open=True)
        check_range(self, "clip_value", 0.0)
        check_range(self, "ent_coef", 0.0)
        check_range(self, "vf_coef", 0.0)
        check_range(self, "max_grad_norm", 0.0)


@dataclass(frozen=True)
class AgentBatch:
    """One network's samples: the policy's minibatch (`obs` = the actor's input) and the value
    function's input for the same rows."""

    policy: RolloutBatch
    critic_obs: torch.Tensor

    def __len__(self) -> int:
        return len(self.policy)

    def index(self, idx: torch.Tensor) -> AgentBatch:
        return AgentBatch(self.policy.index(idx), self.critic_obs[idx])


def acted_samples(
    rollout: Rollout,
    acted: torch.Tensor,
    critic_obs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
) -> AgentBatch:
    """One agent's rollout, flattened, keeping only the rows where it acted ([T, N] `acted`):
    an agent that left its episode early has no decision to score, so its rows never reach a
    loss's mean."""
    keep = acted.reshape(-1).bool()
    flat = rollout.flatten(advantages, returns)
    return AgentBatch(flat.index(keep), critic_obs.reshape(len(keep), -1)[keep])


def mappo_objective(
    pg_loss: torch.Tensor,
    v_loss: torch.Tensor,
    entropy: torch.Tensor,
    vf_coef: float,
    ent_coef: float,
) -> torch.Tensor:
    """L = clipped-surrogate loss + c_v * value loss - c_e * entropy (one network's samples)."""
    return pg_loss + vf_coef * v_loss - ent_coef * entropy


class MAPPO(Agent):
    """MAPPO (centralised value) and IPPO (independent values) over PettingZoo parallel envs."""

    Config = MAPPOConfig
    algo_id = "mappo"
    multiagent = True
    action_spaces = (gym.spaces.Box, gym.spaces.Discrete)
    default_steps = 500_000
    default_torch_threads = 1

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        agents = self.agent_ids
        obs_spaces, act_spaces = self.env.observation_spaces, self.env.action_spaces
        if cfg.share_parameters:
            check_shared_spaces(self)
        self.obs_dims = {a: int(np.prod(obs_spaces[a].shape)) for a in agents}
        n_nets = 1 if cfg.share_parameters else len(agents)
        self.net_of = {a: 0 if cfg.share_parameters else i for i, a in enumerate(agents)}
        self.served = [[a for a in agents if self.net_of[a] == k] for k in range(n_nets)]
        """The agents whose samples each network learns from (all of them when shared)."""
        self.agent_id = one_hot_ids(agents) if cfg.share_parameters else dict.fromkeys(agents)
        id_dim = len(agents) if cfg.share_parameters else 0
        joint_dim = sum(self.obs_dims.values())
        self.critic_dims = {
            a: joint_dim if cfg.centralized_value else self.obs_dims[a] for a in agents
        }
        self.actors = nn.ModuleList(
            ActorCritic(
                self.obs_dims[a] + id_dim,
                act_spaces[a],
                cfg.hidden,
                cfg.activation,
                cfg.log_std_init,
                critic=False,
            )
            for a in agents[:n_nets]
        )
        self.critics = nn.ModuleList(
            mlp(
                self.critic_dims[a] + id_dim,
                cfg.hidden,
                1,
                cfg.activation,
                None,
                orthogonal_init(2**0.5),
                orthogonal_init(1.0),
            )
            for a in agents[:n_nets]
        )
        self.value_norms = nn.ModuleList(RunningMeanStd(()) for _ in range(n_nets))
        self.actor_opt = Adam(
            self.actors.parameters(), cfg.lr, eps=1e-5, max_grad_norm=cfg.max_grad_norm
        )
        self.critic_opt = Adam(
            self.critics.parameters(), cfg.critic_lr, eps=1e-5, max_grad_norm=cfg.max_grad_norm
        )
        self.adapters = {a: ActionAdapter(act_spaces[a]) for a in agents}
        t, n = cfg.n_steps, cfg.n_envs
        self.rollouts = {
            a: Rollout(
                t,
                n,
                (self.obs_dims[a],),
                action_shape(act_spaces[a]),
                isinstance(act_spaces[a], gym.spaces.Discrete),
            )
            for a in agents
        }
        self.acted = {a: torch.zeros(t, n) for a in agents}
        self.critic_obs = {a: torch.zeros(t, n, self.critic_dims[a]) for a in agents}
        self.register_state("actors", "critics", "value_norms", "actor_opt", "critic_opt")

    # -- inputs -------------------------------------------------------------------------------
    def _tensors(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {
            a: torch.as_tensor(o, dtype=torch.float32).reshape(len(o), -1) for a, o in obs.items()
        }

    def critic_inputs(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each value function's input: the joint observation x (MAPPO) or o_i (IPPO)."""
        if not self.config.centralized_value:
            return dict(obs)
        joint = torch.cat([obs[a] for a in self.agent_ids], -1)
        return dict.fromkeys(self.agent_ids, joint)

    @torch.no_grad()
    def values(self, critic_in: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """V_i on the return scale (de-normalised when the critics learn normalised targets)."""
        out = {}
        for agent, x in critic_in.items():
            k = self.net_of[agent]
            v = fast_policy(self.critics[k])(with_id(x, self.agent_id[agent]))[:, 0]
            out[agent] = self.value_norms[k].denormalize(v) if self.config.normalize_values else v
        return out

    # -- acting -------------------------------------------------------------------------------
    def distribution(self, agent: str, obs: torch.Tensor) -> Any:
        """pi_i(.|o_i) for acting (no autograd)."""
        actor: ActorCritic = self.actors[self.net_of[agent]]  # type: ignore[assignment]
        return actor.act_distribution(with_id(obs, self.agent_id[agent]))

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = False) -> dict[str, Any]:  # type: ignore[override]
        """Each agent's action from its own observation only (decentralised execution): the
        mode when deterministic, else a sample."""
        out = {}
        for agent, o in self._tensors(obs).items():
            dist = self.distribution(agent, o)
            with torch.inference_mode():
                actions = dist.mode() if deterministic else dist.sample()
            out[agent] = self.adapters[agent].to_env(actions)
        return out

    def collect(self, metrics: dict[str, Any]) -> None:
        """Fill every agent's rollout with n_steps joint steps of the current policies."""
        env = self.env
        with self.collecting(metrics):
            obs = self._tensors(env.obs)
            for t in range(self.config.n_steps):
                critic_in = self.critic_inputs(obs)
                values = self.values(critic_in)
                env_actions, sampled = {}, {}
                for agent, o in obs.items():
                    with torch.inference_mode():
                        sampled[agent] = self.distribution(agent, o).sample_and_log_prob(self.rng)
                    env_actions[agent] = self.adapters[agent].to_env(sampled[agent][0])
                step = env.step(env_actions)
                truncated = any(step.truncated[a].any() for a in self.agent_ids)
                final = self.values(self.critic_inputs(self._tensors(step.next_obs)))
                for agent, o in obs.items():
                    rollout = self.rollouts[agent]
                    actions, logprobs = sampled[agent]
                    rollout.store(
                        t,
                        o,
                        actions,
                        logprobs,
                        values[agent],
                        step.rewards[agent],
                        step.terminated[agent],
                        step.truncated[agent],
                    )
                    cut = torch.from_numpy(step.truncated[agent])
                    rollout.final_values[t] = (
                        torch.where(cut, final[agent], 0.0) if truncated else 0.0
                    )
                    self.acted[agent][t] = torch.from_numpy(step.acted[agent])
                    self.critic_obs[agent][t] = critic_in[agent]
                obs = self._tensors(step.obs)
                self.tick(step, metrics)
            last = self.values(self.critic_inputs(obs))
            for agent in self.agent_ids:
                self.rollouts[agent].last_values.copy_(last[agent])

    # -- learning -----------------------------------------------------------------------------
    def batches(self, update_stats: bool = True) -> list[AgentBatch]:
        """Each network's samples from the last rollout: GAE per agent, the rows where the agent
        acted, its one-hot id appended when shared, and values and returns normalised (after
        merging this rollout's returns into the statistics) when normalize_values."""
        cfg = self.config
        out = []
        for k, agents in enumerate(self.served):
            parts = []
            for agent in agents:
                advantages, returns = self.rollouts[agent].advantages(cfg.gamma, cfg.gae_lambda)
                b = acted_samples(
                    self.rollouts[agent],
                    self.acted[agent],
                    self.critic_obs[agent],
                    advantages,
                    returns,
                )
                one_hot = self.agent_id[agent]
                parts.append(
                    AgentBatch(
                        RolloutBatch(
                            with_id(b.policy.obs, one_hot),
                            b.policy.actions,
                            b.policy.logprobs,
                            b.policy.values,
                            b.policy.advantages,
                            b.policy.returns,
                        ),
                        with_id(b.critic_obs, one_hot),
                    )
                )
            p = [x.policy for x in parts]
            values, returns = torch.cat([x.values for x in p]), torch.cat([x.returns for x in p])
            if cfg.normalize_values:
                norm = self.value_norms[k]
                if update_stats and len(returns):
                    norm.update(returns)
                values, returns = norm.normalize(values), norm.normalize(returns)
            policy = RolloutBatch(
                torch.cat([x.obs for x in p]),
                torch.cat([x.actions for x in p]),
                torch.cat([x.logprobs for x in p]),
                values,
                torch.cat([x.advantages for x in p]),
                returns,
            )
            out.append(AgentBatch(policy, torch.cat([x.critic_obs for x in parts])))
        return out

    def update(self, batches: list[AgentBatch], clip: float) -> dict[str, torch.Tensor]:
        """One gradient step of every network on its minibatch (actors and critics have their
        own Adam and gradient clip); returns the losses as tensors (no .item())."""
        cfg = self.config
        losses, pg_losses, v_losses, entropies, kls, fractions = [], [], [], [], [], []
        for k, batch in enumerate(batches):
            actor: ActorCritic = self.actors[k]  # type: ignore[assignment]
            dist = actor.distribution(batch.policy.obs)
            values = run_layers(self.critics[k], batch.critic_obs).squeeze(-1)
            pg_loss, log_ratio, ratio = clipped_surrogate(
                dist, batch.policy, clip, cfg.normalize_advantages
            )
            v_loss = value_loss(values, batch.policy, cfg.clip_value)
            entropy = dist.entropy().mean()
            losses.append(mappo_objective(pg_loss, v_loss, entropy, cfg.vf_coef, cfg.ent_coef))
            approx_kl, clip_fraction = ratio_diagnostics(log_ratio, ratio, clip)
            pg_losses.append(pg_loss.detach())
            v_losses.append(v_loss.detach())
            entropies.append(entropy.detach())
            kls.append(approx_kl)
            fractions.append(clip_fraction)
        self.actor_opt.zero_grad()
        self.critic_opt.zero_grad()
        torch.stack(losses).sum().backward()
        self.actor_opt.step()  # each clips its own global gradient norm first
        self.critic_opt.step()
        return {
            "policy_loss": torch.stack(pg_losses).sum(),
            "value_loss": torch.stack(v_losses).sum(),
            "entropy": torch.stack(entropies).mean(),
            "approx_kl": torch.stack(kls).mean(),
            "clip_fraction": torch.stack(fractions).mean(),
        }

    def minibatches(self, data: list[AgentBatch]) -> list[list[AgentBatch]]:
        """Each network's samples split into n_minibatches random parts, one list per step."""
        m = self.config.n_minibatches
        if m == 1:
            return [data]
        splits = [torch.randperm(len(b)).tensor_split(m) for b in data]
        return [[b.index(s[i]) for b, s in zip(data, splits, strict=True)] for i in range(m)]

    def learn(self, total_steps: int) -> MAPPO:
        cfg = self.config
        metrics: dict[str, Any] = {}
        with self.training(total_steps):
            while not self.finished:
                self.collect(metrics)
                data = self.batches()
                if not any(len(b) for b in data):
                    continue
                for _ in range(cfg.n_epochs):
                    for minibatch in self.minibatches(data):
                        out = self.update(minibatch, cfg.clip_range)
                        self.counters["updates"] += 1
                metrics = dict(out)
        return self

    def update_probe(self) -> Any:
        """One bare update on the last rollout's samples (None before any rollout)."""
        data = self.batches(update_stats=False)
        if not all(len(b) for b in data):
            return None
        return lambda: self.update(data, self.config.clip_range)
