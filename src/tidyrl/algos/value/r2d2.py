"""R2D2: recurrent DQN trained from replayed sequences (Kapturowski et al. 2019, "Recurrent
Experience Replay in Distributed Reinforcement Learning", ICLR), for partially observable tasks.
Lecture seeds 001 (DQN) and 003 (Double, Dueling, prioritized replay) give the parts it builds on.

Q_theta(h_t, a) reads a summary h_t of the episode so far: an LSTM over encoded observations,

    (h_t, c_t) = LSTM(enc(x_t), (1 - is_first_t) * (h_{t-1}, c_{t-1}))
    Q_theta(h_t, .) = V(h_t) + A(h_t, .) - mean_a A(h_t, a)          (dueling head)

and is trained on stored sequences x_0 .. x_{m-1} (`burn_in` + `unroll` rows, a new one every
`period` rows: `tidyrl.data.sequence_replay`) that start from the *stored state* s_0, the
actor's (h, c) when it read x_0. The first `burn_in` rows only refresh that state, without a
gradient (*burn-in*, sec. 3): online and target networks each unroll them from s_0, and the
loss covers the remaining `unroll` rows. With the invertible value rescaling
h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x (`tidyrl.core.value_rescaling`) and the n-step
double-Q return of the stored rows (`tidyrl.core.returns.sequence_n_step_returns`):

    a*_t    = argmax_a Q_theta(h_t, a)                                 online net selects
    V_t     = h^-1( Q_theta'(h'_t, a*_t) )                             target net evaluates
    G_t     = sum_{k=1}^{j} gamma^(k-1) r_{t+k} + gamma^j (1 - terminated) V_{t+j}
    y_t     = h(G_t)
    delta_t = y_t - Q_theta(h_t, a_t)
    L       = mean_b [ sum_t mask_t 0.5 delta_t^2 / sum_t mask_t ]
    p_b     = eta max_t |delta_t| + (1 - eta) mean_t |delta_t|         sequence priority (eta 0.9)

j = min(n, rows left, steps to the episode's end). A *truncated* episode bootstraps from its
true final observation (stored as the episode's last row); a *terminated* one does not. mask_t
is 0 on the final row of each episode (no action was taken there) and on the burn-in rows.
Sequences are drawn with P(b) ~ p_b^alpha, alpha = 0.9, and no importance weights (sec. 2.3:
"we also found no benefit from using the importance weighting"). The target network is copied
every `target_update_every` updates.

Acting is ε-greedy on Q_theta(h_t, .); ε decays linearly from `epsilon_start` to `epsilon_end`
over `exploration_fraction` of the budget (R2D2's 256 actors each keep a fixed Ape-X ε instead).
The acting state is kept across `act`/`predict` calls and reset where episodes start
(`reset_memory`, as `recurrent-ppo`); the training envs' state is run state, so a resumed run
continues with the memory of its envs' current episodes.

The paper's settings (Table 2; Atari/DMLab, 256 actors): LSTM 512 after a conv torso, dueling
head, sequences of 80 (+40 burn-in) overlapping by 40, n = 5, gamma 0.997, eps 1e-3, eta and
alpha 0.9, batch 64, Adam lr 1e-4 and eps 1e-3, target copy every 2500 updates, 4M observations
of replay. Scaled down here for one CPU and small tasks: LSTM 64 after one 64-unit layer,
sequences of 8 burn-in + 16 rows every 8 rows, gamma 0.99, lr 1e-3, target every 100 updates,
100k rows, one update every 8 env steps; batch 64, n, eta, alpha and eps as in the paper. Adam's
epsilon is 1e-6: with the paper's 1e-3 the gradients of unit-scale rewards (the T-maze's +-1)
are so much smaller than epsilon that the steps shrink and the memory is not learned in the
budget (docs/algorithms/r2d2.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.config import check_range
from tidyrl.core.exploration import epsilon_greedy
from tidyrl.core.losses import squared
from tidyrl.core.returns import sequence_n_step_returns
from tidyrl.core.schedules import crossed, linear_schedule
from tidyrl.core.targets import update_target
from tidyrl.core.value_rescaling import RESCALE_EPS, value_rescale, value_rescale_inverse
from tidyrl.data.samplers import sequence_priority
from tidyrl.data.sequence_replay import SequenceBatch, SequenceReplay
from tidyrl.envs.make import Step
from tidyrl.envs.spaces import rows
from tidyrl.errors import ConfigError
from tidyrl.nets.heads import QNetwork
from tidyrl.nets.optim import make_optimizer
from tidyrl.nets.recurrent import LSTMMemory, unroll


@dataclass(frozen=True)
class R2D2Config:
    lstm_hidden: int = 64
    """LSTM units (512 in the paper)."""
    hidden: int = 64
    """Width of the encoder layer before the LSTM and of each dueling stream after it."""
    dueling: bool = True
    """Dueling value/advantage streams (as in the paper)."""
    burn_in: int = 8
    """Rows at a sequence's start that only refresh the stored state (no loss, no gradient)."""
    unroll: int = 16
    """Rows after the burn-in that the loss covers."""
    period: int = 8
    """Rows between the starts of adjacent stored sequences (unroll / 2: they overlap by half)."""
    n_step: int = 5
    """n of the n-step return."""
    gamma: float = 0.99
    """Discount factor."""
    rescale_eps: float = RESCALE_EPS
    """eps of the value rescaling h (0 is refused: h would have no closed-form inverse here)."""
    eta: float = 0.9
    """Sequence priority mix: eta max |delta| + (1 - eta) mean |delta|."""
    alpha: float = 0.9
    """Priority exponent (P ~ p^alpha)."""
    lr: float = 1e-3
    """Adam learning rate."""
    adam_eps: float = 1e-6
    """Adam epsilon (1e-3 in the paper, which stalls the small gradients of rewards near 1)."""
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm (0: no clipping)."""
    batch_size: int = 64
    """Sequences per minibatch."""
    buffer_size: int = 100_000
    """Replay capacity in rows (observations)."""
    learning_starts: int = 1_000
    """Env steps of collection before the first update."""
    train_freq: int = 8
    """Env steps between training phases."""
    gradient_steps: int = 1
    """Gradient updates per training phase."""
    target_update_every: int = 100
    """Updates between hard target-network copies (2500 in the paper)."""
    epsilon_start: float = 1.0
    """ε at the start of training."""
    epsilon_end: float = 0.05
    """ε after the decay."""
    exploration_fraction: float = 0.2
    """Fraction of the training budget over which ε decays."""
    n_envs: int = 1
    """Parallel environments."""

    def __post_init__(self) -> None:
        for name in ("lstm_hidden", "hidden", "unroll", "period", "n_step", "batch_size"):
            check_range(self, name, 1)
        check_range(self, "burn_in", 0)
        if self.unroll < 2:
            raise ConfigError(f"R2D2Config.unroll={self.unroll} must be at least 2")
        if self.period > self.seq_len:
            raise ConfigError(
                f"R2D2Config.period={self.period} must be at most burn_in + unroll = "
                f"{self.seq_len} (adjacent sequences would leave rows out)"
            )
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "rescale_eps", 0.0, low_open=True)
        check_range(self, "eta", 0.0, 1.0)
        check_range(self, "alpha", 0.0)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "adam_eps", 0.0, low_open=True)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "buffer_size", 1)
        per_env = self.buffer_size // self.n_envs
        if per_env - per_env % self.period < self.seq_len:  # the ring holds whole slots
            raise ConfigError(
                f"R2D2Config.buffer_size={self.buffer_size} must hold at least one sequence "
                f"(burn_in + unroll = {self.seq_len} rows) per env copy"
            )
        check_range(self, "learning_starts", 0)
        check_range(self, "train_freq", 1)
        check_range(self, "gradient_steps", 1)
        check_range(self, "target_update_every", 1)
        check_range(self, "epsilon_start", 0.0, 1.0)
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "exploration_fraction", 0.0, 1.0)
        check_range(self, "n_envs", 1)

    @property
    def seq_len(self) -> int:
        """Rows of a stored sequence: burn_in + unroll."""
        return self.burn_in + self.unroll


class RecurrentQNetwork(nn.Module):
    """enc(x) = ReLU(W x + b), an LSTM over it, and a (dueling) Q head on its output."""

    def __init__(
        self, obs_dim: int, n_actions: int, hidden: int, lstm_hidden: int, dueling: bool
    ) -> None:
        super().__init__()
        self.lstm_hidden = lstm_hidden
        self.encoder = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU())
        self.lstm = nn.LSTM(hidden, lstm_hidden)
        features = gym.spaces.Box(-np.inf, np.inf, (lstm_hidden,), np.float32)
        self.head = QNetwork(features, n_actions, (hidden,), dueling)

    def initial_state(self, n: int) -> torch.Tensor:
        """Zero memory (h, c) for n sequences [2, n, H]."""
        return torch.zeros(2, n, self.lstm_hidden)

    def forward(
        self, obs: torch.Tensor, starts: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Q over time-major sequences obs [L, B, D] with episode-start flags [L, B] from
        `state` [2, B, H]: (Q [L, B, A], final state)."""
        out, state = unroll(self.lstm, self.encoder(obs), starts, state)
        q = self.head(out.reshape(-1, self.lstm_hidden))
        return q.reshape(*out.shape[:2], -1), state

    def burn_in(self, obs: torch.Tensor, starts: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The state after reading obs [L, B, D] from `state` (no Q values, no gradient)."""
        with torch.no_grad():
            return unroll(self.lstm, self.encoder(obs), starts, state)[1]


def r2d2_targets(
    batch: dict[str, torch.Tensor],
    q_online: torch.Tensor,
    q_target: torch.Tensor,
    gamma: float,
    n: int,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """y_t = h(G_t) with V_t = h^-1(Q'(h'_t, argmax_a Q(h_t, a))) for rows t = 0 .. L - 2 of the
    unrolled part (time-major [L, B] fields of `batch`; Q [L, B, A]), and the mask."""
    best = q_online.argmax(dim=-1, keepdim=True)
    values = value_rescale_inverse(q_target.gather(-1, best).squeeze(-1), eps)
    returns, mask = sequence_n_step_returns(
        batch["rewards"], values, batch["is_first"], batch["is_terminal"], gamma, n
    )
    return value_rescale(returns, eps), mask


def compute_loss_q(
    q_taken: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """L = mean_b [sum_t mask 0.5 delta^2 / sum_t mask] over sequences [T, B], and delta."""
    delta = target - q_taken
    per_sequence = (mask * squared(delta)).sum(0) / mask.sum(0).clamp(min=1.0)
    return per_sequence.mean(), delta


def time_major(batch: SequenceBatch) -> dict[str, torch.Tensor]:
    """The per-row fields of a sampled batch [B, T, ...] as [T, B, ...]; actions as indices."""
    return {
        "obs": batch.obs.float().transpose(0, 1),
        "actions": batch.actions.argmax(-1).transpose(0, 1),
        "rewards": batch.rewards.transpose(0, 1),
        "is_first": batch.is_first.transpose(0, 1),
        "is_terminal": batch.is_terminal.transpose(0, 1),
    }


class R2D2(Agent):
    """Recurrent DQN from stored sequences with stored state and burn-in (see the docstring)."""

    Config = R2D2Config
    algo_id = "r2d2"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Discrete,)
    observation_spaces = (gym.spaces.Box,)
    default_steps = 50_000
    recurrent = True
    """Acting needs the memory of earlier steps (export refuses it; see `act`)."""

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.n_actions = int(self.action_space.n)
        self.obs_dim = int(np.prod(self.observation_space.shape or (1,)))

        def network() -> RecurrentQNetwork:
            return RecurrentQNetwork(
                self.obs_dim, self.n_actions, cfg.hidden, cfg.lstm_hidden, cfg.dueling
            ).to(self.device)

        self.q, self.q_target = network(), network()
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optimizer = make_optimizer(
            "adam", self.q.parameters(), cfg.lr, cfg.adam_eps, cfg.max_grad_norm
        )
        self.replay = SequenceReplay(
            cfg.buffer_size,
            gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32),
            self.n_actions,
            cfg.n_envs,
            self.device,
            state_shape=(2, cfg.lstm_hidden),
            seq_len=cfg.seq_len,
            period=cfg.period,
            alpha=cfg.alpha,
        )
        self.memory = LSTMMemory(self.q.initial_state(cfg.n_envs), cfg.n_envs)
        self.epsilon = cfg.epsilon_start
        self._act_state: torch.Tensor | None = None
        self.register_state("q", "q_target", "optimizer")
        self.register_run_state("replay", "memory")

    # -- acting -------------------------------------------------------------------------------
    def reset_memory(self) -> None:
        """Forget the acting memory: the next `act`/`predict` starts new episodes."""
        self._act_state = None

    def step_q(
        self, obs, starts: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Q(h_t, .) [N, A] of one step for N envs and the state after it."""
        x = torch.as_tensor(np.asarray(obs, np.float32).reshape(-1, self.obs_dim)).to(self.device)
        with torch.no_grad():
            q, state = self.q(x.unsqueeze(0), starts.unsqueeze(0).to(self.device), state)
        return q[0], state

    def act(self, obs, deterministic: bool = False) -> np.ndarray:
        """ε-greedy actions (greedy when deterministic), each row continuing the memory of the
        previous call's row (zero memory after `reset_memory` or when the batch size changes).
        Callers reset it where episodes start; `tidyrl.loops.evaluate` does."""
        n = rows(obs)
        state = self._act_state
        if state is None or state.shape[1] != n:
            state = self.q.initial_state(n).to(self.device)
        q, self._act_state = self.step_q(obs, torch.zeros(n), state)
        epsilon = 0.0 if deterministic else self.epsilon
        greedy = q.argmax(-1).cpu().numpy()
        return epsilon_greedy(lambda: greedy, n, epsilon, self.n_actions, self.rng)

    def collect_step(self) -> Step:
        """One ε-greedy step of the training envs into the replay, with the states the actor
        read each observation with; returns the env step."""
        memory = self.memory
        q, state = self.step_q(self.env.obs, memory.starts, memory.state.to(self.device))
        greedy = q.argmax(-1).cpu().numpy()
        n = self.config.n_envs
        actions = epsilon_greedy(lambda: greedy, n, self.epsilon, self.n_actions, self.rng)
        step = self.env.step(actions)
        codes = np.eye(self.n_actions, dtype=np.float32)[actions]
        self.replay.add(codes, step, states=state.transpose(0, 1).cpu().numpy())
        memory.state = state.cpu()
        memory.starts = torch.as_tensor(step.dones, dtype=torch.float32)
        return step

    # -- update -------------------------------------------------------------------------------
    def loss(self, batch: SequenceBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """L of the docstring on a batch of stored sequences: (L, delta [L - 1, B], mask)."""
        cfg = self.config
        seq = time_major(batch)
        assert batch.states is not None
        stored = batch.states.transpose(0, 1).contiguous()  # [2, B, H]
        k = cfg.burn_in
        online_state = target_state = stored
        if k:  # burn-in: refresh the stored state, no gradient
            online_state = self.q.burn_in(seq["obs"][:k], seq["is_first"][:k], stored)
            target_state = self.q_target.burn_in(seq["obs"][:k], seq["is_first"][:k], stored)
        part = {name: value[k:] for name, value in seq.items()}
        q_all, _ = self.q(part["obs"], part["is_first"], online_state)
        with torch.no_grad():
            q_next, _ = self.q_target(part["obs"], part["is_first"], target_state)
            target, mask = r2d2_targets(
                part, q_all.detach(), q_next, cfg.gamma, cfg.n_step, cfg.rescale_eps
            )
        # the action taken at row t is stored with row t + 1 (the row it led to)
        taken = part["actions"][1:].unsqueeze(-1)
        q_taken = q_all[:-1].gather(-1, taken).squeeze(-1)
        loss, delta = compute_loss_q(q_taken, target, mask)
        return loss, delta, mask

    def update(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """One gradient step on L; returns the sequences' new priorities p_b too."""
        loss, delta, mask = self.loss(batch)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()  # clips the gradient norm to max_grad_norm first
        priorities = sequence_priority(
            delta.detach().cpu().numpy(), mask.cpu().numpy(), self.config.eta
        )
        return {"loss": loss.detach(), "priorities": torch.from_numpy(priorities)}

    def learn(self, total_steps: int) -> R2D2:
        cfg = self.config
        metrics: dict[str, object] = self.last_metrics
        if not self.replay.started:
            self.replay.start(np.asarray(self.env.obs, np.float32).reshape(cfg.n_envs, -1))
        with self.training(total_steps):
            decay = int(cfg.exploration_fraction * self.counters["target"])
            while not self.finished:
                before = self.counters["steps"]
                self.epsilon = linear_schedule(cfg.epsilon_start, cfg.epsilon_end, decay, before)
                step = self.collect_step()
                after = before + cfg.n_envs
                ready = after > cfg.learning_starts and self.replay.can_sample_sequences()
                if ready and crossed(before, after, cfg.train_freq):
                    for _ in range(cfg.gradient_steps):
                        batch = self.replay.sample_sequences(cfg.batch_size, self.rng)
                        out = self.update(batch)
                        assert batch.index is not None
                        self.replay.update_priorities(batch.index, out.pop("priorities").numpy())
                        self.counters["updates"] += 1
                        if self.counters["updates"] % cfg.target_update_every == 0:
                            update_target(self.q, self.q_target, 1.0)
                    metrics = dict(out)
                metrics["epsilon"] = self.epsilon
                self.tick(step, metrics)
        return self

    def update_probe(self) -> Callable[[], object] | None:
        if not self.replay.can_sample_sequences():
            return None
        batch = self.replay.sample_sequences(self.config.batch_size, np.random.default_rng(0))
        return lambda: self.update(batch)
