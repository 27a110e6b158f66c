"""Recurrent PPO: PPO-clip with LSTM actor and critic, for partially observable tasks.

The losses are PPO's, unchanged (`clipped_surrogate`, `value_loss` of `policy_gradient/common.py`;
equations in `ppo.py`'s docstring): with r_t = pi_theta(a_t|h_t) / pi_old(a_t|h_t), where the
policy now conditions on a summary h_t of the episode's history instead of on s_t alone,

    L = - E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)] + c_v E[(V(h_t) - R_t)^2]
        - c_e E[H(pi_theta(.|h_t))]

What is new is how h_t is computed, in training exactly as in acting:

    (h_t, c_t) = LSTM(o_t, (1 - e_t) * (h_{t-1}, c_{t-1}))

with e_t = 1 at an episode's first step (the previous step ended with `terminated` or
`truncated`), so memory never crosses an episode boundary (Hochreiter & Schmidhuber 1997;
the recurrent PPO of Pleines et al. 2022 and sb3-contrib's RecurrentPPO). Actor and critic have
separate LSTMs (sb3-contrib's defaults: one layer, no shared state), each followed by an MLP;
the distribution heads are `nets.policy.ActorCritic`'s, built on the LSTM output.

Training data are sequences. During collection the (h, c) in force before the reset mask at the
first step of every `bptt_len`-step chunk of each env is stored; an update re-runs both LSTMs
over each chunk from that stored state, applying the same episode-start masks inside the chunk,
and back-propagates through at most `bptt_len` steps (truncated BPTT). At the first epoch the
recomputed log-probabilities equal the rollout's, so the ratio starts at 1. Minibatches are
whole chunks drawn at random.

Defaults are RL-Zoo's CartPoleNoVel-v1 setting for sb3-contrib's RecurrentPPO (hyperparams/
ppo_lstm.yml: 8 envs x 32 steps, the whole 256-step rollout as one minibatch, 20 epochs, gamma
0.98, lambda 0.8, lr 1e-3 -> 0, clip 0.2 -> 0, LSTM 64 units, one 64-unit ReLU layer after it
for each of actor and critic, observation normalization); `lstm_hidden=256` is sb3-contrib's
library default. Here a rollout chunk is one env's whole 32-step rollout (bptt_len = n_steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    ACTION_SPACES,
    ZOO_PPO_CLASSIC,
    PolicyIO,
    action_shape,
    ppo_epochs,
    ppo_schedules,
    ppo_step,
)
from tidyrl.config import check_range
from tidyrl.core.distributions import Distribution
from tidyrl.core.normalize import RewardScaler, RunningMeanStd
from tidyrl.core.returns import normalize
from tidyrl.data.rollout import Rollout, RolloutBatch
from tidyrl.errors import ConfigError
from tidyrl.nets.encoders import ImageBranch
from tidyrl.nets.mlp import Activation, run_layers
from tidyrl.nets.optim import Adam
from tidyrl.nets.policy import ActorCritic
from tidyrl.nets.recurrent import LSTMMemory, unroll


@dataclass(frozen=True)
class RecurrentPPOConfig:
    n_envs: int = 8
    """Parallel environments."""
    n_steps: int = 32
    """Steps per env per rollout (rollout size = n_envs * n_steps)."""
    bptt_len: int = 0
    """Sequence length of truncated back-propagation through time, a divisor of n_steps (0: the
    whole n_steps-step rollout of each env)."""
    batch_size: int = 0
    """Minibatch size in steps, a multiple of the sequence length dividing n_envs * n_steps (0:
    the whole rollout, one minibatch)."""
    n_epochs: int = 20
    """Passes over each rollout."""
    gamma: float = 0.98
    """Discount factor."""
    gae_lambda: float = 0.8
    """GAE lambda."""
    lr: float = 1e-3
    """Adam learning rate (annealed linearly to 0 when anneal_lr)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    clip_range: float = 0.2
    """Clip range eps of the probability ratio."""
    anneal_clip: bool = True
    """Decay the clip range linearly to 0 over the run."""
    clip_value: float = 0.0
    """Clip the value update to +-clip_value around the old value (0: no value clipping)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient c_e."""
    vf_coef: float = 0.5
    """Value-loss coefficient c_v."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (0: off)."""
    normalize_advantages: bool = True
    """Normalize advantages per minibatch."""
    target_kl: float = 0.0
    """Stop the epochs early when approx. KL > 1.5 * target_kl (0: never)."""
    normalize_obs: bool | None = None
    """Running mean/std observation normalization (RL-Zoo's `normalize: True`; None: on for
    vector observations, off for an image, which the CNNs scale)."""
    normalize_reward: bool = False
    """Scale rewards by the std of a running discounted return."""
    lstm_hidden: int = 64
    """Units of each LSTM (the actor's and the critic's)."""
    hidden: tuple[int, ...] = (64,)
    """Hidden widths of the MLP after each LSTM."""
    activation: Activation = "relu"
    """Hidden activation of those MLPs."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "n_epochs", "lstm_hidden"):
            check_range(self, name, 1)
        check_range(self, "bptt_len", 0, self.n_steps)
        if self.n_steps % self.seq_len:
            raise ConfigError(
                f"RecurrentPPOConfig.bptt_len={self.bptt_len} must divide n_steps={self.n_steps} "
                "(or be 0: the whole rollout)"
            )
        check_range(self, "batch_size", 0, self.n_envs * self.n_steps)
        size = self.n_envs * self.n_steps
        if self.minibatch_size % self.seq_len or size % self.minibatch_size:
            raise ConfigError(
                f"RecurrentPPOConfig.batch_size={self.batch_size} must be a multiple of the "
                f"sequence length {self.seq_len} (bptt_len, or n_steps when it is 0) dividing "
                f"n_envs * n_steps = {size} (or 0: the whole rollout)"
            )
        for name in ("gamma", "gae_lambda"):
            check_range(self, name, 0.0, 1.0)
        for name in ("lr", "clip_range"):
            check_range(self, name, 0.0, low_open=True)
        for name in ("clip_value", "ent_coef", "vf_coef", "max_grad_norm", "target_kl"):
            check_range(self, name, 0.0)

    @property
    def minibatch_size(self) -> int:
        """The batch_size in use: the whole rollout when batch_size is 0."""
        return self.batch_size or self.n_envs * self.n_steps

    @property
    def seq_len(self) -> int:
        """The bptt_len in use: n_steps when bptt_len is 0."""
        return self.bptt_len or self.n_steps

    @property
    def sequences_per_batch(self) -> int:
        """Chunks per minibatch."""
        return self.minibatch_size // self.seq_len


class LSTMActorCritic(nn.Module):
    """pi(a|h) and V(h) with a separate one-layer LSTM for actor and critic, each followed by
    the MLP and head of an `ActorCritic` built on the LSTM's output. An image observation
    (`image_space`) goes through a CNN of its own in front of each LSTM (sb3-contrib's
    `CnnLstmPolicy`); a vector goes in as it is.

    The recurrent state is one tensor [4, N, H]: actor h, actor c, critic h, critic c."""

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.Space[Any],
        lstm_hidden: int,
        hidden: tuple[int, ...],
        activation: str,
        log_std_init: float,
        image_space: gym.Space[Any] | None = None,
    ) -> None:
        super().__init__()
        self.lstm_hidden = lstm_hidden
        self.actor_encoder = ImageBranch(image_space) if image_space is not None else None
        self.critic_encoder = ImageBranch(image_space) if image_space is not None else None
        width = self.actor_encoder.out_dim if self.actor_encoder is not None else obs_dim
        self.actor_lstm = nn.LSTM(width, lstm_hidden)
        self.critic_lstm = nn.LSTM(width, lstm_hidden)
        self.body = ActorCritic(lstm_hidden, action_space, hidden, activation, log_std_init)

    @staticmethod
    def encode(encoder: ImageBranch | None, obs: torch.Tensor) -> torch.Tensor:
        """An LSTM's inputs [L, B, D] for observations [L, B, ...] (the CNN's features of each
        frame, or the vectors themselves)."""
        if encoder is None:
            return obs
        return encoder(obs.flatten(0, 1)).reshape(*obs.shape[:2], -1)

    def initial_state(self, n: int) -> torch.Tensor:
        """Zero memory for n envs."""
        return torch.zeros(4, n, self.lstm_hidden)

    def recur(
        self, obs: torch.Tensor, starts: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both LSTMs over sequences: obs [L, B, D], starts [L, B] (1 where o_t is an episode's
        first observation: the state is zeroed before reading it), initial state [4, B, H].
        Returns the actor's and the critic's outputs [L, B, H] and the final state
        (`tidyrl.nets.recurrent.unroll` for each LSTM)."""
        actor_in = self.encode(self.actor_encoder, obs)
        critic_in = self.encode(self.critic_encoder, obs)
        actor, actor_state = unroll(self.actor_lstm, actor_in, starts, state[0:2])
        critic, critic_state = unroll(self.critic_lstm, critic_in, starts, state[2:4])
        return actor, critic, torch.cat([actor_state, critic_state])

    def heads(self, actor: torch.Tensor, critic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor MLP's output and V from LSTM outputs [..., H]."""
        assert self.body.critic is not None
        out = run_layers(self.body.actor, actor)
        return out, run_layers(self.body.critic, critic).squeeze(-1)

    def step(
        self, obs: torch.Tensor, starts: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One time step for N envs (obs [N, D], starts [N]): (actor output [N, out], V [N],
        next state)."""
        actor, critic, state = self.recur(obs.unsqueeze(0), starts.unsqueeze(0), state)
        out, value = self.heads(actor[0], critic[0])
        return out, value, state

    def value(self, obs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """V(h) of observations read from `state` (no reset), e.g. a truncated episode's final
        observation after the step that led to it."""
        x = self.encode(self.critic_encoder, obs.unsqueeze(0))
        v, _ = self.critic_lstm(x, (state[2:3], state[3:4]))
        assert self.body.critic is not None
        return run_layers(self.body.critic, v[0]).squeeze(-1)

    def sequence(
        self, obs: torch.Tensor, starts: torch.Tensor, state: torch.Tensor, mask: Any = None
    ) -> tuple[Distribution, torch.Tensor]:
        """pi and V over sequences (as `recur`); the distribution and values cover the L * B
        steps time-major."""
        actor, critic, _ = self.recur(obs, starts, state)
        h = self.lstm_hidden
        out, values = self.heads(actor.reshape(-1, h), critic.reshape(-1, h))
        return self.body.head(out, mask), values


def chunks(x: torch.Tensor, seq_len: int) -> torch.Tensor:
    """[T, N, ...] -> [L, (T / L) * N, ...]: the rollout of each env cut into T / L chunks of
    L consecutive steps, chunk-major (chunk k of env n is column k * N + n)."""
    t, n = x.shape[:2]
    rest = x.shape[2:]
    return x.reshape(t // seq_len, seq_len, n, *rest).transpose(0, 1).reshape(seq_len, -1, *rest)


SB3_CONTRIB_LSTM = {"lstm_hidden": 256, "hidden": (64, 64), "activation": "tanh"}
"""sb3-contrib's RecurrentPPO network, which RL-Zoo's rows other than CartPoleNoVel-v1 keep: a
256-unit LSTM for each of actor and critic, then SB3's 64-64 tanh MLP. With the smaller network
of the defaults the `lunarlander` settings do not learn the task (docs/algorithms/
recurrent-ppo.md)."""

SMALL_LSTM = {**SB3_CONTRIB_LSTM, "lstm_hidden": 64}
"""sb3-contrib's network with a 64-unit LSTM (the defaults' width; 256 is only sb3-contrib's
library default, which RL-Zoo's rows do not tune). With the 256-unit LSTM the `mountaincar`
settings never reached the flag in 400k steps (3 seeds) and one `acrobot` seed of three never
swung up; with 64 units every seed of both reached its goal within 50k steps
(docs/algorithms/recurrent-ppo.md)."""


class RecurrentPPO(Agent):
    Config = RecurrentPPOConfig
    algo_id = "recurrent-ppo"
    action_spaces = ACTION_SPACES
    observation_spaces = (gym.spaces.Box,)
    default_torch_threads = 1
    default_steps = 100_000
    recurrent = True
    """Acting needs the memory of earlier steps (export refuses it; see `act`)."""
    ENV_PRESETS = {
        "Acrobot-v1": "acrobot",
        "MountainCar-v0": "mountaincar",
        "LunarLander-v3": "lunarlander",
        "LunarLanderContinuous-v3": "lunarlander",
    }
    PRESETS = {
        "cartpole": {},
        # RL-Zoo's settings for sb3-contrib's RecurrentPPO (hyperparams/ppo_lstm.yml, the same
        # rows as PPO's: `ZOO_PPO_CLASSIC`) with sb3-contrib's network (`SB3_CONTRIB_LSTM`;
        # a 64-unit LSTM on Acrobot and MountainCar, `SMALL_LSTM`).
        # sb3-contrib cuts minibatches of `batch_size` steps out of the episodes' sequences;
        # here a minibatch is whole 32-step chunks (`bptt_len`; MountainCar's 16-step rollout
        # is one chunk), the same count of steps per gradient step.
        "acrobot": {**ZOO_PPO_CLASSIC["acrobot"], **SMALL_LSTM, "bptt_len": 32},
        "mountaincar": {**ZOO_PPO_CLASSIC["mountaincar"], **SMALL_LSTM},
        "lunarlander": {**ZOO_PPO_CLASSIC["lunarlander"], **SB3_CONTRIB_LSTM, "bptt_len": 32},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        space = self.observation_space
        self.io = PolicyIO(space, self.action_space, cfg.normalize_obs, images=True)
        self.policy = LSTMActorCritic(
            self.io.obs_dim,
            self.action_space,
            cfg.lstm_hidden,
            tuple(cfg.hidden),
            cfg.activation,
            cfg.log_std_init,
            image_space=space if self.io.image else None,
        )
        self.optimizer = Adam(
            self.policy.parameters(), lr=cfg.lr, eps=1e-5, max_grad_norm=cfg.max_grad_norm
        )
        self.obs_norm = self.io.obs_norm
        self.reward_norm = RunningMeanStd(())
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma, self.reward_norm)
        self.rollout = Rollout(
            cfg.n_steps,
            cfg.n_envs,
            self.io.obs_shape,
            action_shape(self.action_space),
            self.io.adapter.discrete,
        )
        self.starts = torch.zeros(cfg.n_steps, cfg.n_envs)
        """e_t of each rollout step: 1 at an episode's first observation."""
        self.chunk_states = torch.zeros(cfg.n_steps // cfg.seq_len, 4, cfg.n_envs, cfg.lstm_hidden)
        """The state (before the reset mask) at the first step of each chunk [K, 4, N, H]."""
        self.memory = LSTMMemory(self.policy.initial_state(cfg.n_envs), cfg.n_envs)
        self._act_state: torch.Tensor | None = None
        self.register_state("policy", "optimizer", "obs_norm", "reward_norm")
        self.register_run_state("reward_scaler", "memory")

    # -- acting -------------------------------------------------------------------------------
    def reset_memory(self) -> None:
        """Forget the acting memory: the next `act`/`predict` starts new episodes."""
        self._act_state = None

    def act(self, obs, deterministic=False):
        """Actions for a batch of observations, one per env copy, each continuing the memory of
        the previous call's row (zero memory after `reset_memory` or when the batch size
        changes). Callers reset it where episodes start; `tidyrl.loops.evaluate` does."""
        x = self.io.obs(obs)
        n = x.shape[0]
        state = self._act_state
        if state is None or state.shape[1] != n:
            state = self.policy.initial_state(n)
        with torch.inference_mode():
            out, _, state = self.policy.step(x, torch.zeros(n), state)
            dist = self.policy.body.head(out)
            actions = dist.mode() if deterministic else dist.sample()
        self._act_state = state
        return self.io.to_env(actions)

    # -- collection ---------------------------------------------------------------------------
    def collect(self, reward_fn: Callable[..., np.ndarray] | None, metrics: dict[str, Any]) -> None:
        """Fill the rollout, the episode-start flags and the chunk-initial states."""
        cfg, env, rollout, memory = self.config, self.env, self.rollout, self.memory
        net = self.policy
        with self.collecting(dict(metrics) if metrics else None), torch.inference_mode():
            obs = self.io.obs(env.obs)
            for t in range(cfg.n_steps):
                if t % cfg.seq_len == 0:
                    self.chunk_states[t // cfg.seq_len] = memory.state
                self.starts[t] = memory.starts
                out, values, state = net.step(obs, memory.starts, memory.state)
                head = net.body.head(out)
                actions, logprobs = head.sample_and_log_prob(self.rng)
                step = env.step(self.io.to_env(actions))
                rewards = step.rewards if reward_fn is None else reward_fn(step.rewards, step.dones)
                rollout.store(
                    t, obs, actions, logprobs, values, rewards, step.terminated, step.truncated
                )
                if step.truncated.any():  # V of the final observation, from this episode's memory
                    cut = torch.from_numpy(np.flatnonzero(step.truncated))
                    final = self.io.obs(np.asarray(step.next_obs)[cut.numpy()])
                    rollout.final_values[t] = 0.0
                    rollout.final_values[t, cut] = net.value(final, state[:, cut])
                memory.state = state
                memory.starts = torch.as_tensor(step.dones, dtype=torch.float32)
                obs = self.io.obs(step.obs, True)
                self.tick(step, metrics or None)
            _, last, _ = net.step(obs, memory.starts, memory.state)
            rollout.last_values.copy_(last)

    # -- update -------------------------------------------------------------------------------
    def update(
        self,
        seq: dict[str, torch.Tensor],
        clip: float,
        normalize_adv: bool | None = None,
        diagnostics: bool = True,
    ) -> dict[str, torch.Tensor]:
        """One gradient step on a minibatch of sequences (`sequences` fields, [L, B, ...] with
        the initial state [4, B, H]); PPO's losses on the L * B recomputed steps."""
        cfg = self.config
        if normalize_adv is None:
            normalize_adv = cfg.normalize_advantages
        dist, values = self.policy.sequence(seq["obs"], seq["starts"], seq["state"])
        size = seq["logprobs"].numel()
        batch = RolloutBatch(
            None,
            seq["actions"].reshape(size, *seq["actions"].shape[2:]),
            seq["logprobs"].reshape(size),
            seq["values"].reshape(size),
            seq["advantages"].reshape(size),
            seq["returns"].reshape(size),
        )
        return ppo_step(self, dist, values, batch, clip, normalize_adv, diagnostics)

    def sequences(self, advantages: torch.Tensor, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rollout as chunks: every per-step field [L, C, ...] (C = chunks of all envs) and
        each chunk's initial state [4, C, H]."""
        cfg, r = self.config, self.rollout
        fields = {
            "obs": r.obs,
            "actions": r.actions,
            "logprobs": r.logprobs,
            "values": r.values,
            "advantages": advantages,
            "returns": returns,
            "starts": self.starts,
        }
        seq = {k: chunks(v, cfg.seq_len) for k, v in fields.items()}
        seq["state"] = self.chunk_states.transpose(0, 1).reshape(4, -1, cfg.lstm_hidden)
        return seq

    def learn(self, total_steps: int) -> RecurrentPPO:
        cfg = self.config
        reward_fn = self.reward_scaler if cfg.normalize_reward else None
        metrics: dict[str, Any] = {}
        n_chunks = cfg.n_envs * cfg.n_steps // cfg.seq_len
        with self.training(total_steps):
            while not self.finished:
                lr, clip = ppo_schedules(self)
                self.collect(reward_fn, metrics)
                advantages, returns = self.rollout.advantages(cfg.gamma, cfg.gae_lambda)
                if cfg.sequences_per_batch >= n_chunks and cfg.normalize_advantages:
                    advantages = normalize(advantages)  # the same minibatch every epoch
                data = self.sequences(advantages, returns)
                out = ppo_epochs(
                    self,
                    n_chunks,
                    cfg.sequences_per_batch,
                    lambda idx, data=data: (
                        data if idx is None else {k: v[:, idx] for k, v in data.items()}
                    ),  # state: [4, C, H]
                    clip,
                )
                metrics = {**out, "lr": lr, "clip_range": clip}
        return self

    def update_probe(self) -> Callable[[], object]:
        cfg = self.config
        advantages, returns = self.rollout.advantages(cfg.gamma, cfg.gae_lambda)
        data = self.sequences(advantages, returns)
        idx = torch.arange(cfg.sequences_per_batch)
        batch = {k: v[:, idx] for k, v in data.items()}
        return lambda: self.update(batch, cfg.clip_range)
