"""MADDPG: Multi-Agent Deep Deterministic Policy Gradient (Lowe et al. 2017, "Multi-Agent
Actor-Critic for Mixed Cooperative-Competitive Environments", arXiv:1706.02275); lecture seed 001,
part II ("Implementing MADDPG Agent"), on top of its DDPG.

Centralised training, decentralised execution. Agent i has a deterministic actor mu_i(o_i) that
sees only its own observation, and a critic Q_i(x, a_1, ..., a_N) that sees every agent's
observation x = (o_1, ..., o_N) and action (paper eq. 5-6):

    y_i          = r_i + gamma * (1 - terminated_i) * Q_i'(x', a_1', ..., a_N'),  a_j' = mu_j'(o_j')
    critic loss  = sum_i (y_i - Q_i(x, a_1, ..., a_N))^2
    actor loss   = sum_i -Q_i(x, a_1, ..., mu_i(o_i), ..., a_N) + c * mean(u_i^2)
    targets      theta' <- tau * theta + (1 - tau) * theta'

The actor loss moves only mu_i (the other actions come from the replay); u_i is the actor's raw
output (pre-tanh, or the logits), whose square the reference code penalises with c = 1e-3.
Discrete actions use the Gumbel-softmax relaxation (paper section 4.2): the actor's one-hot
action a_i = softmax((u_i + g) / temperature) is differentiable in u_i; the environment receives
the argmax, and the replay its one-hot (`soft_actions=true`: the soft sample itself, as the
reference code stores it). Continuous actions are tanh(u_i), rescaled to the env's bounds,
plus Gaussian or Ornstein-Uhlenbeck exploration noise; `box_actions=gumbel-softmax` acts on a
Box the reference code's way instead (on the original MPE it hands the env the Gumbel-softmax
sample itself, a 5-vector of forces): a = softmax((u_i + g) / temperature), stored as 2 a - 1
in the unit box, its Gumbel noise the only exploration.

`centralized_critic=false` gives each critic only Q_i(o_i, a_i): independent DDPG learners, the
paper's baseline. `local_critic_agents` does that for some agents only (names or name prefixes,
e.g. `adversary`): one team learns as DDPG while the other learns as MADDPG in the same run, as
the paper's competitive comparisons were trained (the reference code's `--adv-policy ddpg` and
`--good-policy ddpg`). `share_parameters=true` makes one actor and one critic serve every
agent (each input gets the agent's one-hot id). An agent that left its episode early
contributes zeros and no transition of its own (`tidyrl.envs.multiagent`); a next action a_j' is
zero where agent j terminated.

Defaults are the paper's MPE settings and its reference code's (openai/maddpg,
experiments/train.py and maddpg/trainer/maddpg.py): Adam at lr 1e-2, gamma 0.95, batch 1024,
two 64-unit ReLU layers, tau 0.01, gradient-norm clipping 0.5, one update every 100 steps once
1024 x 25 transitions are stored. `--preset seed001` is seed 001's DDPG instead: 128-128 layers,
batch-normalised actor, a critic that joins the actions after its first layer, OU noise,
tau 0.001, clipping at 1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.multiagent.common import (
    PerAgentRunState,
    check_shared_spaces,
    one_hot_ids,
    with_id,
)
from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.core.estimators import gumbel_softmax, sample_gumbel
from tidyrl.core.noise import ExplorationNoise
from tidyrl.core.squashed import scale_action, unscale_action
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.data.replay import JointReplay
from tidyrl.errors import ConfigError
from tidyrl.nets.critics import batchnorm_mlp
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.mlp import mlp
from tidyrl.nets.optim import Adam, clip_global_norm


@dataclass(frozen=True)
class MADDPGConfig:
    n_envs: int = 1
    """Parallel environment copies."""
    buffer_size: int = 1_000_000
    """Replay capacity in joint transitions."""
    batch_size: int = 1024
    """Joint transitions per gradient update."""
    learning_starts: int = 25_600
    """Steps of uniformly random actions before learning starts (reference: batch x 25)."""
    update_every: int = 100
    """Environment steps between updates (each update: one critic and one actor step per
    agent)."""
    gamma: float = 0.95
    """Discount factor."""
    tau: float = 0.01
    """Polyak rate of the target networks."""
    actor_lr: float = 1e-2
    """Adam learning rate of the actors."""
    critic_lr: float = 1e-2
    """Adam learning rate of the critics."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of actors and critics."""
    batch_norm: bool = False
    """Batch-normalise the actors (input and hidden layers) and the critics' first layer."""
    action_join: Literal["input", "hidden"] = "input"
    """Where the critic takes the actions: with the observations, or after its first layer
    (seed 001)."""
    max_grad_norm: float = 0.5
    """Clip each agent's actor and critic gradients to this norm (0: no clipping)."""
    centralized_critic: bool = True
    """Critics see every agent's observation and action (MADDPG); false: independent DDPG."""
    local_critic_agents: tuple[str, ...] = ()
    """Agents (names, or prefixes such as `adversary`) whose critic sees only their own
    observation and action, Q_i(o_i, a_i): those agents learn as DDPG, the rest as MADDPG."""
    share_parameters: bool = False
    """One actor and one critic for all agents (identical spaces), with a one-hot agent id."""
    action_reg: float = 1e-3
    """Weight c of the actor's penalty on its squared raw outputs."""
    gumbel_temperature: float = 1.0
    """Temperature of the Gumbel-softmax relaxation (Discrete action spaces)."""
    soft_actions: bool = False
    """Discrete actions: store the Gumbel-softmax sample whose argmax the env receives (the
    reference code's replay holds the soft sample), so the critic learns on the relaxed actions
    the actor's loss feeds it; false stores the one-hot of that argmax."""
    box_actions: Literal["tanh", "gumbel-softmax"] = "tanh"
    """Box action spaces: tanh(u) plus exploration noise (DDPG's way), or the reference code's
    way with MPE's 5-vector of forces: a Gumbel-softmax sample softmax((u + g) / T), a point of
    the simplex read as a point of the box, whose own Gumbel noise is the exploration (acting
    greedily: softmax(u / T))."""
    noise: Literal["gaussian", "ou"] = "gaussian"
    """Exploration noise of continuous actions (box_actions=tanh): Gaussian, or an
    Ornstein-Uhlenbeck process."""
    noise_variance_start: float = 0.01
    """Variance of the noise (sigma^2 of the OU process) at step 0, in the unit action box."""
    noise_variance_end: float = 0.01
    """Variance after noise_decay_steps (linear decay in between)."""
    noise_decay_steps: int = 1_000_000
    """Steps over which the noise variance decays."""
    ou_theta: float = 0.15
    """Mean-reversion rate of the OU process."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "buffer_size", 1)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "update_every", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_range(self, "actor_lr", 0.0, low_open=True)
        check_range(self, "critic_lr", 0.0, low_open=True)
        check_hidden(self)
        check_choice(self, "action_join", ("input", "hidden"))
        if self.action_join == "hidden" and len(self.hidden) < 2:
            raise ConfigError(
                f"MADDPGConfig.hidden={self.hidden!r}: action_join=hidden needs two or more "
                "layer widths (the actions join after the first)"
            )
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "action_reg", 0.0)
        check_range(self, "gumbel_temperature", 0.0, low_open=True)
        check_choice(self, "box_actions", ("tanh", "gumbel-softmax"))
        check_choice(self, "noise", ("gaussian", "ou"))
        check_range(self, "noise_variance_start", 0.0)
        check_range(self, "noise_variance_end", 0.0)
        check_range(self, "noise_decay_steps", 0)
        check_range(self, "ou_theta", 0.0, low_open=True)


def local_critics(
    agents: list[str], centralized: bool, local_agents: tuple[str, ...]
) -> dict[str, bool]:
    """Which agents learn with a local critic Q_i(o_i, a_i): all of them without a centralised
    critic, else those named (or prefixed) in `local_agents`; a name that matches no agent is
    an error that lists the agents."""
    for name in local_agents:
        if not any(a.startswith(name) for a in agents):
            raise ConfigError(
                f"MADDPGConfig.local_critic_agents: {name!r} names no agent of this env "
                f"(its agents: {', '.join(agents)})"
            )
    return {a: not centralized or any(a.startswith(name) for name in local_agents) for a in agents}


class Critic(nn.Module):
    """Q(x, a) -> (B,): MLP([x, a]), or seed 001's layout MLP([BN(relu(W x)), a]) where the
    actions join after the first layer."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], join: str, batch_norm: bool
    ) -> None:
        super().__init__()
        self.encode: nn.Module | None = None
        if join == "hidden":
            layers: list[nn.Module] = [nn.Linear(obs_dim, hidden[0]), nn.ReLU()]
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden[0]))
            self.encode = nn.Sequential(*layers)
            self.head = mlp(hidden[0] + act_dim, hidden[1:], 1)
        else:
            build = batchnorm_mlp if batch_norm else mlp
            self.head = build(obs_dim + act_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        h = self.encode(obs) if self.encode is not None else obs
        q: torch.Tensor = self.head(torch.cat([h, actions], -1))[:, 0]
        return q


def td_target(
    rewards: torch.Tensor, bootstrap_mask: torch.Tensor, gamma: float, q_next: torch.Tensor
) -> torch.Tensor:
    """y_i = r_i + gamma * (1 - terminated_i) * Q_i'(x', a'); truncation keeps the bootstrap."""
    return rewards + gamma * bootstrap_mask * q_next


def critic_loss(q: torch.Tensor, y: torch.Tensor, acted: torch.Tensor) -> torch.Tensor:
    """Mean squared TD error over the rows where the agent acted (weight 1; 0 elsewhere)."""
    return (acted * (q - y).pow(2)).sum() / acted.sum().clamp(min=1.0)


def actor_loss(
    q_pi: torch.Tensor, raw: torch.Tensor, acted: torch.Tensor, action_reg: float
) -> torch.Tensor:
    """-Q_i(x, ..., mu_i(o_i), ...) over the rows where the agent acted, plus c * mean(u_i^2)."""
    pg = -(acted * q_pi).sum() / acted.sum().clamp(min=1.0)
    return pg + action_reg * raw.pow(2).mean()


def relaxed_action(
    raw: torch.Tensor,
    discrete: bool,
    temperature: float,
    gumbels: torch.Tensor | None = None,
    simplex: bool = False,
) -> torch.Tensor:
    """The differentiable action the critic sees: a Gumbel-softmax sample p of the logits
    (`simplex`: on a Box, stored in the unit box as 2 p - 1), or tanh(u) in the unit box."""
    if discrete:
        return gumbel_softmax(raw, temperature, gumbels=gumbels)
    if simplex:
        return simplex_to_unit(gumbel_softmax(raw, temperature, gumbels=gumbels))
    return torch.tanh(raw)


def simplex_to_unit(p: torch.Tensor) -> torch.Tensor:
    """A point p of [0, 1]^k as the unit box [-1, 1]^k stores it: 2 p - 1 (scale_action maps
    it back to low + p (high - low), p itself on MPE's [0, 1] forces)."""
    return 2.0 * p - 1.0


def backward_step(optimizer: Adam, nets: list[nn.Module], loss: torch.Tensor, clip: float) -> None:
    """Backward into the parameters of `nets` only, clip each net's gradient norm on its own
    (each agent's, as the reference code clips per agent), then one Adam step."""
    params = [p for net in nets for p in net.parameters()]
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=params)
    for net in nets:
        clip_global_norm(net.parameters(), clip)
    optimizer.step()


class MADDPG(Agent):
    """MADDPG (and independent DDPG learners) over PettingZoo parallel environments."""

    Config = MADDPGConfig
    algo_id = "maddpg"
    multiagent = True
    action_spaces = (gym.spaces.Box, gym.spaces.Discrete)
    default_steps = 500_000
    default_torch_threads = 1
    PRESETS = {
        # seed 001's DDPG: BN actor, action after the critic's first layer, OU(0.15, 0.2)
        "seed001": {
            "hidden": (128, 128),
            "batch_norm": True,
            "action_join": "hidden",
            "noise": "ou",
            "noise_variance_start": 0.04,
            "noise_variance_end": 0.04,
            "tau": 0.001,
            "max_grad_norm": 1.0,
            "actor_lr": 1e-4,
            "critic_lr": 1e-3,
        },
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        agents = self.agent_ids
        spaces = self.env.observation_spaces, self.env.action_spaces
        self.obs_dims = {a: int(np.prod(spaces[0][a].shape)) for a in agents}
        self.discrete = {a: isinstance(spaces[1][a], gym.spaces.Discrete) for a in agents}
        self.simplex = {
            a: not self.discrete[a] and cfg.box_actions == "gumbel-softmax" for a in agents
        }
        self.act_dims = {
            a: int(s.n) if self.discrete[a] else int(np.prod(s.shape)) for a, s in spaces[1].items()
        }
        self.local = local_critics(agents, cfg.centralized_critic, cfg.local_critic_agents)
        if cfg.share_parameters:
            check_shared_spaces(self)
            if len(set(self.local.values())) > 1:
                raise ConfigError(
                    "MADDPGConfig: share_parameters=true needs one critic layout for every "
                    "agent; drop local_critic_agents or set share_parameters=false"
                )
        n_nets = 1 if cfg.share_parameters else len(agents)
        self.net_of = {a: 0 if cfg.share_parameters else i for i, a in enumerate(agents)}
        id_dim = len(agents) if cfg.share_parameters else 0
        self.actors = nn.ModuleList(
            self._actor(self.obs_dims[a] + id_dim, self.act_dims[a]) for a in agents[:n_nets]
        )
        every_obs, every_act = sum(self.obs_dims.values()), sum(self.act_dims.values())
        obs_in = {a: (self.obs_dims[a] if self.local[a] else every_obs) + id_dim for a in agents}
        act_in = {a: self.act_dims[a] if self.local[a] else every_act for a in agents}
        self.critics = nn.ModuleList(
            Critic(obs_in[a], act_in[a], cfg.hidden, cfg.action_join, cfg.batch_norm)
            for a in agents[:n_nets]
        )
        self.actor_targets = copy.deepcopy(self.actors).requires_grad_(False)
        self.critic_targets = copy.deepcopy(self.critics).requires_grad_(False)
        self.actor_opt = Adam(self.actors.parameters(), cfg.actor_lr)
        self.critic_opt = Adam(self.critics.parameters(), cfg.critic_lr)
        self.agent_id = one_hot_ids(agents)
        self.replay = JointReplay(cfg.buffer_size, spaces[0], self.act_dims)
        self.noise = PerAgentRunState(
            {
                a: ExplorationNoise(
                    cfg.noise,
                    (cfg.n_envs, self.act_dims[a]),
                    self.rng,
                    cfg.noise_variance_start,
                    cfg.noise_variance_end,
                    cfg.noise_decay_steps,
                    cfg.ou_theta,
                )
                for a in agents
                if not self.discrete[a] and not self.simplex[a]
            }
        )
        self.register_state(
            "actors", "critics", "actor_targets", "critic_targets", "actor_opt", "critic_opt"
        )
        self.register_run_state("replay", "noise")

    def _actor(self, obs_dim: int, act_dim: int) -> nn.Sequential:
        """u = MLP(o): raw actions (pre-tanh) or logits."""
        build = batchnorm_mlp if self.config.batch_norm else mlp
        return build(obs_dim, self.config.hidden, act_dim)

    def _with_id(self, agent: str, obs: torch.Tensor) -> torch.Tensor:
        """The agent's network input: its observation, plus its one-hot id when shared."""
        return with_id(obs, self.agent_id[agent] if self.config.share_parameters else None)

    # -- acting -------------------------------------------------------------------------------
    def raw_actions(self, agent: str, obs: np.ndarray) -> np.ndarray:
        """u_i = MLP(o_i) for a batch of the agent's observations (no gradients)."""
        x = self._with_id(agent, torch.as_tensor(obs, dtype=torch.float32))
        return fast_policy(self.actors[self.net_of[agent]])(x).cpu().numpy()

    def to_env(self, agent: str, stored: np.ndarray) -> np.ndarray:
        """The env's action for the stored one (one-hot -> index; unit box -> env bounds)."""
        space = self.env.action_spaces[agent]
        if self.discrete[agent]:
            return stored.argmax(-1) + int(space.start)
        return scale_action(stored, space.low, space.high).reshape(-1, *space.shape)

    def from_env(self, agent: str, actions: np.ndarray) -> np.ndarray:
        """The stored action (one-hot, or the unit box) for env actions."""
        space = self.env.action_spaces[agent]
        if self.discrete[agent]:
            index = np.asarray(actions, dtype=np.int64) - int(space.start)
            return np.eye(self.act_dims[agent], dtype=np.float32)[index]
        unit = unscale_action(actions, space.low, space.high)
        return unit.reshape(len(unit), -1).astype(np.float32)

    def explore(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Stored actions with exploration: a categorical sample of softmax(u) (the argmax of
        u + Gumbel noise; its one-hot, or with `soft_actions` the Gumbel-softmax sample), the
        Gumbel-softmax sample itself on a Box with `box_actions=gumbel-softmax`, or tanh(u)
        plus noise clipped to the unit box."""
        stored = {}
        for agent, o in obs.items():
            raw = self.raw_actions(agent, o)
            if self.discrete[agent] or self.simplex[agent]:
                perturbed = torch.as_tensor(raw) + sample_gumbel(raw.shape)
                if self.discrete[agent] and not self.config.soft_actions:
                    choice = perturbed.argmax(-1).numpy()
                    stored[agent] = np.eye(self.act_dims[agent], dtype=np.float32)[choice]
                    continue
                # softmax((u + g) / T): its argmax is the discrete choice; on a Box, the action
                soft = torch.softmax(perturbed / self.config.gumbel_temperature, dim=-1)
                if self.simplex[agent]:
                    soft = simplex_to_unit(soft)
                stored[agent] = soft.numpy().astype(np.float32)
            else:
                noise = self.noise[agent].sample(self.counters["steps"], len(raw))
                stored[agent] = np.clip(np.tanh(raw) + noise, -1.0, 1.0).astype(np.float32)
        return stored

    def act(self, obs: dict[str, np.ndarray], deterministic: bool = False) -> dict[str, Any]:  # type: ignore[override]
        """Each agent's action from its own observation only (decentralised execution)."""
        if not deterministic:
            return {a: self.to_env(a, s) for a, s in self.explore(obs).items()}
        out = {}
        for agent, o in obs.items():
            raw = self.raw_actions(agent, o)
            if self.discrete[agent]:
                out[agent] = raw.argmax(-1) + int(self.env.action_spaces[agent].start)
            elif self.simplex[agent]:
                p = torch.softmax(torch.as_tensor(raw) / self.config.gumbel_temperature, dim=-1)
                out[agent] = self.to_env(agent, simplex_to_unit(p).numpy())
            else:
                out[agent] = self.to_env(agent, np.tanh(raw))
        return out

    # -- learning -----------------------------------------------------------------------------
    def critic_value(
        self, critics: nn.ModuleList, agent: str, obs: dict[str, Any], actions: dict[str, Any]
    ) -> torch.Tensor:
        """Q_i(x, a_1..a_N) (centralised) or Q_i(o_i, a_i) (a local critic)."""
        if self.local[agent]:
            x, a_all = obs[agent], actions[agent]
        else:
            x = torch.cat([obs[a] for a in self.agent_ids], -1)
            a_all = torch.cat([actions[a] for a in self.agent_ids], -1)
        critic: Critic = critics[self.net_of[agent]]  # type: ignore[assignment]
        return critic(self._with_id(agent, x), a_all)

    @torch.no_grad()
    def target_q(self, batch: dict[str, Transition]) -> dict[str, torch.Tensor]:
        """y_i = r_i + gamma * (1 - terminated_i) * Q_i'(x', mu_1'(o_1'), ..., mu_N'(o_N'))."""
        cfg = self.config
        next_obs = {a: b.next_obs for a, b in batch.items()}
        next_actions = {}
        for agent, b in batch.items():
            actor = self.actor_targets[self.net_of[agent]]
            raw = actor(self._with_id(agent, b.next_obs))
            action = relaxed_action(
                raw, self.discrete[agent], cfg.gumbel_temperature, simplex=self.simplex[agent]
            )
            # an agent that terminated (or had already left) takes no next action: zeros
            still_in = (b.weights * b.bootstrap_mask).unsqueeze(-1)
            next_actions[agent] = still_in * action
        return {
            agent: td_target(
                b.rewards,
                b.bootstrap_mask,
                cfg.gamma,
                self.critic_value(self.critic_targets, agent, next_obs, next_actions),
            )
            for agent, b in batch.items()
        }

    def update(self, batch: dict[str, Transition]) -> dict[str, torch.Tensor]:
        """One critic step and one actor step for every agent on the same joint rows; then the
        targets track."""
        cfg = self.config
        obs = {a: b.obs for a, b in batch.items()}
        actions = {a: b.actions for a, b in batch.items()}
        y = self.target_q(batch)
        q = {a: self.critic_value(self.critics, a, obs, actions) for a in batch}
        loss_q = sum(critic_loss(q[a], y[a], batch[a].weights) for a in batch)
        assert isinstance(loss_q, torch.Tensor)
        backward_step(self.critic_opt, list(self.critics), loss_q, cfg.max_grad_norm)
        losses_pi = []
        for agent, b in batch.items():
            raw = self.actors[self.net_of[agent]](self._with_id(agent, b.obs))
            own = relaxed_action(
                raw, self.discrete[agent], cfg.gumbel_temperature, simplex=self.simplex[agent]
            )
            q_pi = self.critic_value(self.critics, agent, obs, {**actions, agent: own})
            losses_pi.append(actor_loss(q_pi, raw, b.weights, cfg.action_reg))
        loss_pi = torch.stack(losses_pi).sum()
        backward_step(self.actor_opt, list(self.actors), loss_pi, cfg.max_grad_norm)
        polyak_update(self.actors, self.actor_targets, cfg.tau)
        polyak_update(self.critics, self.critic_targets, cfg.tau)
        return {
            "critic_loss": loss_q.detach(),
            "actor_loss": loss_pi.detach(),
            "q": torch.stack([v.mean() for v in q.values()]).mean().detach(),
        }

    def learn(self, total_steps: int) -> MADDPG:
        cfg = self.config
        obs = self.env.obs
        with self.training(total_steps):
            while not self.finished:
                steps = self.counters["steps"]
                if steps < cfg.learning_starts:
                    env_actions = self.env.sample_actions()
                    stored = {a: self.from_env(a, x) for a, x in env_actions.items()}
                else:
                    stored = self.explore(obs)
                    env_actions = {a: self.to_env(a, s) for a, s in stored.items()}
                step = self.env.step(env_actions)
                self.replay.add(obs, stored, step)
                for noise in self.noise.values():
                    noise.reset(step.dones)
                obs = step.obs
                metrics = None
                after = steps + self.env.n_envs
                if after >= cfg.learning_starts:
                    due = after // cfg.update_every - steps // cfg.update_every
                    for _ in range(due):
                        metrics = self.update(self.replay.sample(cfg.batch_size, self.rng))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
