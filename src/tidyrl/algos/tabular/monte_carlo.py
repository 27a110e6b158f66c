"""Monte Carlo control: on-policy first-visit MC control for epsilon-soft policies.

Sutton & Barto (2018), section 5.4 (the boxed algorithm), with the incremental mean of 2.4 and
the constant-alpha variant of 6.1; lecture seed 001 ("Monte Carlo Methods"). The agent plays a
whole episode with the epsilon-greedy policy of its Q-table, then walks the episode backwards
accumulating the return

    G_t = R_{t+1} + gamma * G_{t+1},        G_T = 0,

and, for the first visit of each pair (S_t, A_t) in the episode only, moves Q towards it:

    N(s, a) <- N(s, a) + 1
    Q(s, a) <- Q(s, a) + (G_t - Q(s, a)) / N(s, a)      sample average (alpha = None)
    Q(s, a) <- Q(s, a) + alpha * (G_t - Q(s, a))        constant alpha (recency-weighted)

Policy improvement is implicit: the next episode acts epsilon-greedily on the new Q.

The default is the constant step size (alpha = 0.05), not S&B's sample average: in control the
policy, hence the distribution of returns, keeps changing, and an average over all past returns
remembers the early random-policy returns forever (S&B 2.5 recommend a constant step size for
such nonstationary targets). Measured here: on deterministic FrozenLake the averaged greedy
policy was optimal for 7 of 10 seeds after 20,000 steps (the constant step size: 10 of 10), on
slippery FrozenLake after 100,000 steps it succeeded in 13-30 % of episodes (constant: 58-72 %).
The `sample-average` preset restores the box. Epsilon
decays linearly from `epsilon_start` to `epsilon_end` over `epsilon_fraction` of the run, or,
with ``epsilon_schedule="glie"``, as epsilon_k = epsilon_start / k in episode k (the lecture's
epsilon_i = 1/i), which is greedy in the limit with infinite exploration (GLIE, S&B 5.4).

Monte Carlo does not bootstrap. An episode cut by a time limit (truncated) therefore contributes
the sum of the rewards it saw: the return of the time-limited task, which undervalues (for
positive rewards) states whose episode was cut. TD control would bootstrap from the last state
instead; MC has nothing to bootstrap from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

from tidyrl.agent import Agent
from tidyrl.algos.tabular.common import linear_decay, table_actions
from tidyrl.config import check_range


@dataclass(frozen=True)
class MCControlConfig:
    gamma: float = 0.99
    """Discount factor."""
    alpha: float | None = 0.05
    """Constant step size; None averages the returns (step size 1 / N(s, a), S&B's box)."""
    epsilon_schedule: Literal["linear", "glie"] = "linear"
    """linear: epsilon_start -> epsilon_end over epsilon_fraction of the run; glie:
    epsilon_start / k in episode k (epsilon_end and epsilon_fraction are then unused)."""
    epsilon_start: float = 1.0
    """Exploration rate at the start of training."""
    epsilon_end: float = 0.05
    """Exploration rate after the linear decay."""
    epsilon_fraction: float = 0.5
    """Fraction of the `learn` budget over which epsilon decays linearly."""
    q_init: float = 0.0
    """Initial value of every Q(s, a)."""

    def __post_init__(self) -> None:
        check_range(self, "gamma", 0.0, 1.0)
        if self.alpha is not None:
            check_range(self, "alpha", 0.0, 1.0, low_open=True)
        check_range(self, "epsilon_start", 0.0, 1.0)
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "epsilon_fraction", 0.0, 1.0, low_open=True)


def discounted_returns(rewards: list[float], gamma: float) -> np.ndarray:
    """G_t = R_{t+1} + gamma * G_{t+1} for every t of one episode, G_T = 0 (S&B eq. 3.9)."""
    returns = np.zeros(len(rewards))
    g = 0.0
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * g
        returns[t] = g
    return returns


def first_visits(states: list[int], actions: list[int]) -> np.ndarray:
    """Mask of the time steps t at which (S_t, A_t) occurs for the first time in the episode."""
    seen: set[tuple[int, int]] = set()
    mask = np.zeros(len(states), dtype=bool)
    for t, pair in enumerate(zip(states, actions)):
        if pair not in seen:
            seen.add(pair)
            mask[t] = True
    return mask


class MCControl(Agent):
    """On-policy first-visit Monte Carlo control with an epsilon-greedy policy (S&B 5.4)."""

    Config = MCControlConfig
    algo_id = "mc-control"
    observation_spaces = (gym.spaces.Discrete,)
    action_spaces = (gym.spaces.Discrete,)
    PRESETS = {
        # Sutton & Barto's box exactly: Q(s, a) is the average of every return seen
        "sample-average": {"alpha": None},
        # the lecture's schedule epsilon_i = 1 / i with sample averages: GLIE MC control
        "glie": {"epsilon_schedule": "glie", "epsilon_start": 1.0, "alpha": None},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        n_states, n_actions = int(self.observation_space.n), int(self.action_space.n)
        self.q = np.full((n_states, n_actions), self.config.q_init, dtype=np.float64)
        self.visits = np.zeros((n_states, n_actions), dtype=np.int64)
        """N(s, a): first visits counted so far (the denominator of the sample average)."""
        self.epsilon = self.config.epsilon_start
        self.episode: tuple[list[int], list[int], list[float]] = ([], [], [])
        """States, actions and rewards of the episode being played."""
        self.register_state("q", "visits")

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return table_actions(self.q, obs, self.epsilon, self.rng, deterministic)

    def update(self, states: list[int], actions: list[int], rewards: list[float]) -> float:
        """First-visit MC update from one finished episode; returns the mean |G - Q| before it."""
        returns = discounted_returns(rewards, self.config.gamma)
        errors = []
        for t in np.flatnonzero(first_visits(states, actions)):
            s, a = states[t], actions[t]
            self.visits[s, a] += 1
            alpha = self.config.alpha
            step_size = alpha if alpha is not None else 1.0 / self.visits[s, a]
            error = returns[t] - self.q[s, a]
            self.q[s, a] += step_size * error
            errors.append(abs(error))
        return float(np.mean(errors))

    def current_epsilon(self) -> float:
        cfg = self.config
        if cfg.epsilon_schedule == "glie":
            return cfg.epsilon_start / (self.counters["episodes"] + 1)
        # the schedule spans the whole run (counters["target"]), so a resume continues it
        progress = self.counters["steps"] / (cfg.epsilon_fraction * self.counters["target"])
        return linear_decay(cfg.epsilon_start, cfg.epsilon_end, progress)

    def learn(self, total_steps: int) -> MCControl:
        states, actions, rewards = self.episode
        obs = int(self.env.obs[0])
        mc_error = float("nan")  # until the first episode ends
        with self.training(total_steps):
            while not self.finished:
                self.epsilon = self.current_epsilon()
                action = int(self.act(np.array([obs]))[0])
                step = self.env.step(np.array([action]))
                states.append(obs)
                actions.append(action)
                rewards.append(float(step.rewards[0]))
                if step.dones[0]:  # terminated or truncated: either way the episode is complete
                    mc_error = self.update(states, actions, rewards)
                    self.counters["updates"] += 1
                    states.clear()
                    actions.clear()
                    rewards.clear()
                    obs = int(step.obs[0])  # the first observation of the next episode
                else:
                    obs = int(step.next_obs[0])
                self.tick(step, {"mc_error": mc_error, "epsilon": self.epsilon})
        return self

    def greedy_policy(self) -> np.ndarray:
        """argmax_a Q(s, a) for every state."""
        return self.q.argmax(axis=1)
