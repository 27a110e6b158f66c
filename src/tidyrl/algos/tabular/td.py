"""Temporal-difference control: SARSA, Q-learning (Sarsamax) and Expected SARSA.

Sutton & Barto (2018), sections 6.4-6.6; lecture seed 001 ("Temporal Difference Methods").
All three update Q(s, a) towards a one-step target and differ in one term only, the value of the
next state:

    delta = r + gamma * (1 - terminated) * G(s') - Q(s, a)
    Q(s, a) <- Q(s, a) + alpha * delta

    sarsa           G(s') = Q(s', a')                  a' the action the policy takes next
    q-learning      G(s') = max_a Q(s', a)
    expected-sarsa  G(s') = sum_a pi(a|s') Q(s', a)    pi the epsilon-greedy policy

On truncation (a time limit) the target still bootstraps from the final observation s'; only
`terminated` zeroes the future value. Exploration is epsilon-greedy, with epsilon decayed
linearly from `epsilon_start` to `epsilon_end` over `epsilon_fraction` of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

from tidyrl.agent import Agent
from tidyrl.algos.tabular.common import epsilon_greedy_probs, linear_decay, table_actions
from tidyrl.config import check_range


@dataclass(frozen=True)
class TDControlConfig:
    target: Literal["sarsa", "q-learning", "expected-sarsa"] = "q-learning"
    """Which next-state value the TD target uses (fixed by the algorithm id)."""
    alpha: float = 0.1
    """Step size of the TD update."""
    gamma: float = 0.99
    """Discount factor."""
    epsilon_start: float = 1.0
    """Exploration rate at the start of training."""
    epsilon_end: float = 0.05
    """Exploration rate after the decay."""
    epsilon_fraction: float = 0.5
    """Fraction of the `learn` budget over which epsilon decays linearly."""
    q_init: float = 0.0
    """Initial value of every Q(s, a)."""

    def __post_init__(self) -> None:
        check_range(self, "alpha", 0.0, 1.0, low_open=True)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "epsilon_start", 0.0, 1.0)
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "epsilon_fraction", 0.0, 1.0, low_open=True)


def td_target(reward: float, terminated: bool, gamma: float, next_value: float) -> float:
    """r + gamma * G(s'), with no bootstrap past a terminal state."""
    return reward + (0.0 if terminated else gamma * next_value)


def next_state_value(target: str, q_next: np.ndarray, next_action: int, epsilon: float) -> float:
    """G(s') for the three TD-control variants (see the module docstring)."""
    if target == "sarsa":
        return float(q_next[next_action])
    if target == "q-learning":
        return float(q_next.max())
    return float(epsilon_greedy_probs(q_next, epsilon) @ q_next)


class TDControl(Agent):
    """Tabular TD control; the algorithm id fixes `target` (sarsa, q-learning, expected-sarsa)."""

    Config = TDControlConfig
    algo_id = "q-learning"
    observation_spaces = (gym.spaces.Discrete,)
    action_spaces = (gym.spaces.Discrete,)
    PRESETS = {
        # Sutton & Barto Example 6.6 (cliff walking): alpha 0.5, epsilon 0.1, undiscounted
        "cliff": {"alpha": 0.5, "gamma": 1.0, "epsilon_start": 0.1, "epsilon_end": 0.1},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        n_states, n_actions = int(self.observation_space.n), int(self.action_space.n)
        self.q = np.full((n_states, n_actions), self.config.q_init, dtype=np.float64)
        self.epsilon = self.config.epsilon_start
        self.register_state("q")

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return table_actions(self.q, obs, self.epsilon, self.rng, deterministic)

    def update(self, s: int, a: int, r: float, terminated: bool, s_next: int, a_next: int) -> float:
        """One TD update of Q(s, a); returns the TD error delta."""
        g = next_state_value(self.config.target, self.q[s_next], a_next, self.epsilon)
        delta = td_target(r, terminated, self.config.gamma, g) - self.q[s, a]
        self.q[s, a] += self.config.alpha * delta
        return float(delta)

    def learn(self, total_steps: int) -> TDControl:
        cfg = self.config
        obs = int(self.env.obs[0])
        action = int(self.act(np.array([obs]))[0])
        with self.training(total_steps):
            while not self.finished:
                # the schedule spans the whole run (counters["target"]), so a resume continues it
                progress = self.counters["steps"] / (cfg.epsilon_fraction * self.counters["target"])
                self.epsilon = linear_decay(cfg.epsilon_start, cfg.epsilon_end, progress)
                step = self.env.step(np.array([action]))
                s_next = int(step.next_obs[0])
                # SARSA needs a' before updating; it becomes the action taken next (on-policy)
                a_next = int(self.act(np.array([s_next]))[0])
                delta = self.update(
                    obs, action, float(step.rewards[0]), bool(step.terminated[0]), s_next, a_next
                )
                self.counters["updates"] += 1
                if step.dones[0]:  # a new episode starts from the reset observation
                    obs = int(step.obs[0])
                    action = int(self.act(np.array([obs]))[0])
                else:
                    obs, action = s_next, a_next
                self.tick(step, {"td_error": abs(delta), "epsilon": self.epsilon})
        return self

    def greedy_policy(self) -> np.ndarray:
        """argmax_a Q(s, a) for every state."""
        return self.q.argmax(axis=1)
