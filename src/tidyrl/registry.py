"""Algorithm registry: id -> (module, class, fixed config values).

One table drives `tidyrl.make`, the CLI, `tidyrl list`, the smoke tests and the README's algorithm
table. Modules are imported lazily so `tidyrl --help` stays fast. An id may fix config fields of a
shared class: `sarsa`, `q-learning` and `expected-sarsa` are one TD-control class whose `target`
differs (a variant that changes one term is a flag, not a subclass).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from tidyrl.errors import ConfigError, unknown

if TYPE_CHECKING:  # agent imports gymnasium and torch; the registry stays light at run time
    from tidyrl.agent import Agent


@dataclass(frozen=True)
class Entry:
    module: str
    cls: str
    family: str
    summary: str
    fixed: dict[str, Any] = field(default_factory=dict)


ALGORITHMS: dict[str, Entry] = {
    "policy-iteration": Entry(
        "tidyrl.algos.tabular.dp",
        "PolicyIteration",
        "tabular",
        "Policy iteration: evaluate, improve greedily, repeat (needs the transition model)",
    ),
    "value-iteration": Entry(
        "tidyrl.algos.tabular.dp",
        "ValueIteration",
        "tabular",
        "Value iteration: Bellman optimality backups (needs the transition model)",
    ),
    "mc-control": Entry(
        "tidyrl.algos.tabular.monte_carlo",
        "MCControl",
        "tabular",
        "First-visit Monte Carlo control with decaying epsilon-greedy exploration",
    ),
    "sarsa": Entry(
        "tidyrl.algos.tabular.td",
        "TDControl",
        "tabular",
        "SARSA: on-policy TD control",
        {"target": "sarsa"},
    ),
    "q-learning": Entry(
        "tidyrl.algos.tabular.td",
        "TDControl",
        "tabular",
        "Q-learning: off-policy TD control (Sarsamax)",
        {"target": "q-learning"},
    ),
    "expected-sarsa": Entry(
        "tidyrl.algos.tabular.td",
        "TDControl",
        "tabular",
        "Expected SARSA: TD control on the policy's expected next value",
        {"target": "expected-sarsa"},
    ),
    "dqn": Entry(
        "tidyrl.algos.value.dqn",
        "DQN",
        "value",
        "Deep Q-Network with replay and a target network; double and dueling flags",
    ),
    "c51": Entry(
        "tidyrl.algos.value.c51",
        "C51",
        "value",
        "Categorical distributional DQN (51 atoms, projected Bellman target)",
    ),
    "qr-dqn": Entry(
        "tidyrl.algos.value.qr_dqn",
        "QRDQN",
        "value",
        "Quantile-regression DQN (QR-DQN): N return quantiles fitted by the quantile Huber loss",
    ),
    "rainbow": Entry(
        "tidyrl.algos.value.rainbow",
        "Rainbow",
        "value",
        "Rainbow: dueling + noisy + n-step + PER + double + C51, each switchable",
    ),
    "r2d2": Entry(
        "tidyrl.algos.value.r2d2",
        "R2D2",
        "value",
        "Recurrent DQN (R2D2): LSTM Q, stored-state sequence replay with burn-in, rescaled n-step",
    ),
    "soft-q": Entry(
        "tidyrl.algos.value.soft_q",
        "SoftQ",
        "value",
        "Soft Q-learning: log-sum-exp backup with temperature alpha, Boltzmann policy",
    ),
    "reinforce": Entry(
        "tidyrl.algos.policy_gradient.reinforce",
        "REINFORCE",
        "policy-gradient",
        "REINFORCE: Monte Carlo policy gradient (reward-to-go; baseline none/mean/value)",
    ),
    "actor-critic": Entry(
        "tidyrl.algos.policy_gradient.actor_critic",
        "ActorCritic",
        "policy-gradient",
        "Online one-step advantage actor-critic (TD error as the advantage)",
    ),
    "a2c": Entry(
        "tidyrl.algos.policy_gradient.a2c",
        "A2C",
        "policy-gradient",
        "Advantage actor-critic, synchronous: n-step returns over several envs, optional GAE",
    ),
    "i2a": Entry(
        "tidyrl.algos.policy_gradient.i2a",
        "I2A",
        "policy-gradient",
        "Imagination-augmented agent: rollouts of a pre-trained env model, encoded, with A2C",
    ),
    "a3c": Entry(
        "tidyrl.algos.policy_gradient.a3c",
        "A3C",
        "policy-gradient",
        "Asynchronous advantage actor-critic: workers update shared parameters (Hogwild)",
    ),
    "trpo": Entry(
        "tidyrl.algos.policy_gradient.trpo",
        "TRPO",
        "policy-gradient",
        "Trust region policy optimization: natural gradient by CG + KL line search",
    ),
    "ppo": Entry(
        "tidyrl.algos.policy_gradient.ppo",
        "PPO",
        "policy-gradient",
        "Proximal policy optimization: clipped surrogate, GAE, minibatch epochs",
    ),
    "recurrent-ppo": Entry(
        "tidyrl.algos.policy_gradient.recurrent_ppo",
        "RecurrentPPO",
        "policy-gradient",
        "PPO with LSTM actor and critic: episode-start resets, truncated-BPTT sequence batches",
    ),
    "ars": Entry(
        "tidyrl.algos.policy_gradient.ars",
        "ARS",
        "policy-gradient",
        "Augmented Random Search: a linear policy stepped along antithetic finite differences of "
        "episode returns, top-b directions, normalised states",
    ),
    "ddpg": Entry(
        "tidyrl.algos.actor_critic.ddpg",
        "DDPG",
        "actor-critic",
        "Deep Deterministic Policy Gradient (OU or decaying Gaussian noise; spell-chart preset)",
    ),
    "td3": Entry(
        "tidyrl.algos.actor_critic.td3",
        "TD3",
        "actor-critic",
        "Twin Delayed DDPG: clipped double-Q, target smoothing, delayed actor",
    ),
    "sac": Entry(
        "tidyrl.algos.actor_critic.sac",
        "SAC",
        "actor-critic",
        "Soft Actor-Critic: twin Q, tanh-Gaussian policy, automatic entropy tuning",
    ),
    "tqc": Entry(
        "tidyrl.algos.actor_critic.tqc",
        "TQC",
        "actor-critic",
        "Truncated Quantile Critics: SAC with quantile critics, the pooled top atoms dropped",
    ),
    "d4pg": Entry(
        "tidyrl.algos.actor_critic.d4pg",
        "D4PG",
        "actor-critic",
        "Distributed Distributional DDPG: categorical critic, n-step, optional PER",
    ),
    "sddpg": Entry(
        "tidyrl.algos.actor_critic.sddpg",
        "SDDPG",
        "actor-critic",
        "Sampled DDPG: quantile critic trained with the Wasserstein (quantile Huber) loss",
    ),
    "ddpg-imagination": Entry(
        "tidyrl.algos.actor_critic.ddpg_imagination",
        "DDPGImagination",
        "actor-critic",
        "DDPG with an environment model: entropy of imagined states in the actor loss or the "
        "critic's target",
    ),
    "maddpg": Entry(
        "tidyrl.algos.multiagent.maddpg",
        "MADDPG",
        "multi-agent",
        "Multi-agent DDPG: centralised critics, decentralised actors (PettingZoo parallel envs)",
    ),
    "mappo": Entry(
        "tidyrl.algos.multiagent.mappo",
        "MAPPO",
        "multi-agent",
        "Multi-agent PPO: per-agent policies, centralised value on the joint observation",
    ),
    "ippo": Entry(
        "tidyrl.algos.multiagent.mappo",
        "MAPPO",
        "multi-agent",
        "Independent PPO: per-agent policies and values on each agent's own observation",
        {"centralized_value": False},
    ),
    "go-explore": Entry(
        "tidyrl.algos.exploration.go_explore",
        "GoExplore",
        "exploration",
        "Go-Explore: archive of cells, return by restoring state, explore; backward-algorithm PPO",
    ),
    "bc": Entry(
        "tidyrl.algos.imitation.bc",
        "BC",
        "imitation",
        "Behaviour cloning: supervised policy from demonstrations (log-likelihood or MSE)",
    ),
    "dagger": Entry(
        "tidyrl.algos.imitation.dagger",
        "DAgger",
        "imitation",
        "DAgger: roll out the learner, label its states with the expert, aggregate, re-clone",
    ),
    "gail": Entry(
        "tidyrl.algos.policy_gradient.ppo",
        "PPO",
        "imitation",
        "GAIL: PPO on a discriminator's reward learned from demonstrations (reward=gail)",
        {"reward": "gail"},
    ),
    "maxent-irl": Entry(
        "tidyrl.algos.imitation.maxent_irl",
        "MaxEntIRL",
        "imitation",
        "Maximum-entropy IRL: reward from demonstrations by visitation matching; deep flag",
    ),
    "world-models": Entry(
        "tidyrl.algos.model_based.world_models",
        "WorldModels",
        "model-based",
        "World Models: VAE (V), MDN-RNN (M), linear controller (C) by CMA-ES; dream training",
    ),
    "dreamer": Entry(
        "tidyrl.algos.model_based.dreamer",
        "Dreamer",
        "model-based",
        "DreamerV3: RSSM world model, actor-critic in imagination (symlog, two-hot, KL balance)",
    ),
}


def names() -> list[str]:
    return list(ALGORITHMS)


def entry(name: str) -> Entry:
    if name not in ALGORITHMS:
        raise ConfigError(unknown("algorithm", name, ALGORITHMS))
    return ALGORITHMS[name]


def lookup(name: str) -> tuple[type[Agent], dict[str, Any]]:
    """The Agent class for `name` and the config values the id fixes."""
    e = entry(name)
    cls = cast("type[Agent]", getattr(importlib.import_module(e.module), e.cls))
    return cls, dict(e.fixed)


def presets(name: str) -> dict[str, dict[str, Any]]:
    cls, _ = lookup(name)
    return dict(getattr(cls, "PRESETS", {}))
