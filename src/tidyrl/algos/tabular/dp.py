"""Dynamic programming: policy evaluation, policy improvement, policy iteration, value iteration.

Sutton & Barto (2018), chapter 4; lecture seed 001 ("Policy Evaluation", "Policy Improvement",
"Policy Iteration"). Dynamic programming plans with a known model instead of learning from
experience. The model is read from ``env.unwrapped.P`` (Gymnasium toy_text's convention) and
turned into two dense arrays:

    p[s, a, s']   probability of reaching s' from s with action a *and going on* (transitions
                  flagged `terminated` are left out: the episode ends there, nothing to bootstrap)
    r[s, a]       expected immediate reward, sum over outcomes of prob * reward

so that every backup is one line, q = r + gamma * p @ v:

    q_from_v             q(s, a) = r(s, a) + gamma * sum_s' p(s, a, s') v(s')
    policy evaluation    v(s) <- sum_a pi(a|s) q(s, a)              until max_s |change| < theta
    policy improvement   pi'(s) = argmax_a q(s, a)                  (S&B 4.2)
    value iteration      v(s) <- max_a q(s, a)                      until max_s |change| < theta

Policy iteration (S&B 4.3) alternates a full evaluation and an improvement until the policy is
stable; value iteration (S&B 4.4) truncates evaluation to one sweep. Both converge to v* and a
greedy optimal policy. There are no environment steps here: one `learn` step is one iteration
(one evaluate + improve cycle, or one optimality sweep), and `learn` stops early at convergence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from tidyrl.agent import Agent
from tidyrl.config import check_range
from tidyrl.envs.make import make_env
from tidyrl.envs.model import episodic_model


@dataclass(frozen=True)
class PolicyIterationConfig:
    gamma: float = 0.99
    """Discount factor (1.0 is fine on episodic tasks whose policies all terminate)."""
    theta: float = 1e-8
    """Policy evaluation stops once no state value changes by more than theta in a sweep."""
    max_evaluation_sweeps: int = 10_000
    """Cap on the sweeps of one policy evaluation (a policy that never terminates with gamma=1
    has unbounded values)."""

    def __post_init__(self) -> None:
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "theta", 0.0, low_open=True)
        check_range(self, "max_evaluation_sweeps", 1)


@dataclass(frozen=True)
class ValueIterationConfig:
    gamma: float = 0.99
    """Discount factor (1.0 is fine on episodic tasks whose optimal policy terminates)."""
    theta: float = 1e-8
    """Stop once no state value changes by more than theta in a sweep."""

    def __post_init__(self) -> None:
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "theta", 0.0, low_open=True)


class TransitionModel(NamedTuple):
    """Dense arrays of a finite MDP (see the module docstring)."""

    p: np.ndarray
    """(S, A, S) probability of each successor for transitions that do not terminate."""
    r: np.ndarray
    """(S, A) expected immediate reward."""
    terminal: np.ndarray
    """(S,) states entered only by terminating transitions; their rows are zero, so v = 0."""


def transition_model(env: Any) -> TransitionModel:
    """Read ``env.unwrapped.P[s][a] = [(prob, next_state, reward, terminated), ...]`` into arrays
    (`tidyrl.envs.model.episodic_model`, which documents terminal states); planning needs no
    terminating successors, since nothing is bootstrapped past the end of an episode."""
    model = episodic_model(env, "dynamic programming")
    return TransitionModel(model.p, model.r, model.terminal)


def q_from_v(p: np.ndarray, r: np.ndarray, v: np.ndarray, gamma: float) -> np.ndarray:
    """q(s, a) = r(s, a) + gamma * sum_s' p(s, a, s') v(s')   (S&B eq. 4.6)."""
    return r + gamma * (p @ v)


def deterministic_policy(actions: np.ndarray, n_actions: int) -> np.ndarray:
    """The (S, A) probability matrix of a deterministic policy given as (S,) actions."""
    return np.eye(n_actions)[actions]


def policy_evaluation(
    p: np.ndarray,
    r: np.ndarray,
    policy: np.ndarray,
    gamma: float,
    theta: float = 1e-8,
    max_iterations: int = 10_000,
    v: np.ndarray | None = None,
) -> np.ndarray:
    """Iterative policy evaluation (S&B 4.1): v_pi of a (S, A) policy pi(a|s), stochastic or not.

    Each sweep applies the Bellman expectation backup (S&B eq. 4.5) to every state at once,

        v(s) <- sum_a pi(a|s) [r(s, a) + gamma * sum_s' p(s, a, s') v(s')],

    the two-array ("synchronous") version, which S&B note converges as the in-place one does.
    Stops when the largest change is below `theta` or after `max_iterations` sweeps. Starting
    from a previous `v` (policy iteration does) saves sweeps.
    """
    r_pi = (policy * r).sum(axis=1)  # expected reward under pi, (S,)
    p_pi = np.einsum("sa,sat->st", policy, p)  # state-to-state transitions under pi, (S, S)
    v = np.zeros(len(r)) if v is None else np.array(v, dtype=np.float64)
    for _ in range(max_iterations):
        v_new = r_pi + gamma * (p_pi @ v)
        delta = np.abs(v_new - v).max()
        v = v_new
        if delta < theta:
            break
    return v


def policy_improvement(p: np.ndarray, r: np.ndarray, v: np.ndarray, gamma: float) -> np.ndarray:
    """The deterministic policy greedy with respect to v (S&B 4.2, eq. 4.9): argmax_a q(s, a).

    Ties go to the lowest action index.
    """
    return q_from_v(p, r, v, gamma).argmax(axis=1)


def bellman_optimality_backup(
    p: np.ndarray, r: np.ndarray, v: np.ndarray, gamma: float
) -> np.ndarray:
    """One value-iteration sweep (S&B eq. 4.10): v(s) <- max_a q(s, a)."""
    return q_from_v(p, r, v, gamma).max(axis=1)


def _model_of(agent: Agent) -> TransitionModel:
    """The transition model of the agent's environment, read from a fresh copy of it."""
    env = make_env(agent.env_cfg)
    try:
        return transition_model(env)
    finally:
        env.close()


def _init_planner(agent: Any) -> None:
    """Read the model and create v, q and the greedy policy (both planners hold the same state)."""
    agent.model = _model_of(agent)
    n_states, n_actions = agent.model.r.shape
    agent.v = np.zeros(n_states)
    agent.q = np.zeros((n_states, n_actions))
    agent.policy = np.zeros(n_states, dtype=np.int64)
    agent.register_state("v", "q", "policy")


def _plan(agent: Any, total_steps: int) -> Any:
    """The planners' loop: one `learn` step is one iteration; stop at convergence."""
    with agent.training(total_steps):
        while not agent.finished:
            converged, metrics = agent.iterate()
            agent.tick(None, metrics, n_steps=1)
            if converged:  # nothing is left to compute: the run ends here
                agent.stop()
    return agent


class PolicyIteration(Agent):
    """Policy iteration (S&B 4.3): evaluate the policy, make it greedy, until it is stable."""

    Config = PolicyIterationConfig
    algo_id = "policy-iteration"
    observation_spaces = (gym.spaces.Discrete,)
    action_spaces = (gym.spaces.Discrete,)
    PRESETS = {
        # the undiscounted task of Sutton & Barto Example 6.6, as the TD-control preset
        "cliff": {"gamma": 1.0},
    }
    default_steps = 1000
    """At most this many iterations; policy iteration usually stops after a handful."""

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        _init_planner(self)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        # a DP policy is deterministic either way
        return self.policy[np.ravel(obs).astype(np.int64)]

    def iterate(self) -> tuple[bool, dict[str, float]]:
        """One evaluate + improve cycle; returns (converged, metrics)."""
        cfg, (p, r, _) = self.config, self.model
        first = self.counters["updates"] == 0
        n_actions = r.shape[1]
        # the first policy evaluated is the equiprobable random one (S&B Figure 4.1), which
        # ends episodes in the toy-text tasks even with gamma = 1; the later ones are greedy
        policy = (
            np.full_like(r, 1.0 / n_actions)
            if first
            else deterministic_policy(self.policy, n_actions)
        )
        v = policy_evaluation(
            p, r, policy, cfg.gamma, cfg.theta, cfg.max_evaluation_sweeps, v=self.v
        )
        delta = float(np.abs(v - self.v).max())
        new_policy = policy_improvement(p, r, v, cfg.gamma)
        changes = int((new_policy != self.policy).sum())
        self.v, self.policy = v, new_policy
        self.q = q_from_v(p, r, v, cfg.gamma)
        self.counters["updates"] += 1
        # Stable policy: done (S&B 4.3). An unchanged value is also done: by the policy
        # improvement theorem v_pi' = v_pi means v_pi already satisfies the optimality
        # equation; this stops the cycling between equally good actions of S&B Exercise 4.4.
        converged = not first and (changes == 0 or delta < cfg.theta)
        return converged, {"delta": delta, "policy_changes": changes}

    def learn(self, total_steps: int) -> PolicyIteration:
        return _plan(self, total_steps)


class ValueIteration(Agent):
    """Value iteration (S&B 4.4): Bellman optimality sweeps until the values stop changing."""

    Config = ValueIterationConfig
    algo_id = "value-iteration"
    observation_spaces = (gym.spaces.Discrete,)
    action_spaces = (gym.spaces.Discrete,)
    PRESETS = {
        "cliff": {"gamma": 1.0},
    }
    default_steps = 10_000
    """At most this many sweeps; a few hundred suffice on the toy-text tasks at gamma = 0.99."""

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        _init_planner(self)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.policy[np.ravel(obs).astype(np.int64)]

    def iterate(self) -> tuple[bool, dict[str, float]]:
        """One Bellman optimality sweep; returns (converged, metrics)."""
        cfg, (p, r, _) = self.config, self.model
        v = bellman_optimality_backup(p, r, self.v, cfg.gamma)
        delta = float(np.abs(v - self.v).max())
        self.v = v
        # the greedy policy of the last sweep's values (S&B 4.4: output pi(s) = argmax_a q)
        self.q = q_from_v(p, r, v, cfg.gamma)
        new_policy = self.q.argmax(axis=1)
        changes = int((new_policy != self.policy).sum())
        self.policy = new_policy
        self.counters["updates"] += 1
        return delta < cfg.theta, {"delta": delta, "policy_changes": changes}

    def learn(self, total_steps: int) -> ValueIteration:
        return _plan(self, total_steps)
