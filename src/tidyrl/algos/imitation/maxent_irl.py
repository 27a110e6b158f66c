"""Maximum-entropy inverse reinforcement learning on finite MDPs with known dynamics.

Ziebart, Maas, Bagnell & Dey (2008), "Maximum entropy inverse reinforcement learning" (linear
rewards); Wulfmeier, Ondruska & Posner (2015), "Maximum entropy deep inverse reinforcement
learning" (a reward network, `deep=true`); lecture seed 003 ("Inverse RL": P(tau | O, psi) is
proportional to P(tau) exp(r_psi(tau)); grad L = E_demos[grad r_psi(tau)] - E_{P(tau|O,psi)}[grad
r_psi(tau)]). The reward is a function of the state, r_psi(s) = psi . phi(s) with one-hot
features phi by default (one free reward per state), or r_theta(s) = f_theta(phi(s)) for a small
MLP. With discount gamma < 1 and the model of `tidyrl.envs.model.episodic_model`
(p: transitions that go on, p_end: transitions that end the episode), one iteration is:

    soft value iteration (backward pass; the soft Bellman equations of the lecture's
    "RL as inference", with Q including the reward of the state entered when an episode ends):
        Q(s, a) = r(s) + gamma sum_s' [p(s, a, s') V(s') + p_end(s, a, s') r(s')]
        V(s)    = log sum_a exp Q(s, a)
        pi(a|s) = exp(Q(s, a) - V(s))
    expected state visitation (forward pass), mu(s) = sum_t gamma^t P(s_t = s), s_0 ~ p0:
        D_0 = p0,  D_{t+1}(s') = gamma sum_{s,a} D_t(s) pi(a|s) p(s, a, s')
        mu = sum_t D_t + gamma sum_t sum_{s,a} D_t(s) pi(a|s) p_end(s, a, .)   (arrivals at the end)
        whose sum is one linear solve: mu_go_on = (I - gamma P_pi^T)^-1 p0
    the gradient of the demonstrations' log-likelihood (dual objective L = mu_D . r - p0 . V):
        dL/dr(s) = mu_D(s) - mu(s),     dL/dpsi = Phi^T (mu_D - mu)              (Ziebart eq. 6)
        dL/dtheta = sum_s (mu_D(s) - mu(s)) dr_theta(s)/dtheta                   (Wulfmeier eq. 11)

mu_D is the same discounted count over the demonstrations' states, s_0 .. s_T, the state reached
by the last action included. Both gradients are the autograd gradient of one surrogate,
`maxent_surrogate_loss` = -(mu_D - mu) . r, which `update` minimizes with Adam. At the optimum
the soft-optimal policy visits states as the demonstrations do (mu = mu_D): the logged
`visitation_error` is max_s |mu_D(s) - mu(s)|, and `learn` stops once it is below `tolerance`.

One `learn` step is one iteration (backward pass, forward pass, gradient step); no environment
step is taken. The learned reward table (`reward`), the soft Q-values and the soft-optimal
policy on that reward (`policy`, (S, A) probabilities) are the agent's state; `predict` and
`evaluate` act with that policy (its most probable action by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.imitation.common import read_demos, require_demos
from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.data.demos import Demos
from tidyrl.envs.make import make_env
from tidyrl.envs.model import EpisodicModel, episodic_model
from tidyrl.errors import EnvError
from tidyrl.nets.mlp import mlp

FEATURES = ("one-hot", "coordinates")


@dataclass(frozen=True)
class MaxEntIRLConfig:
    demos: str = ""
    """Demonstrations: a file (or Minari dataset directory) written by `tidyrl demos collect`."""
    demo_episodes: int = 0
    """Use only the first N episodes of the demonstrations (0: all of them)."""
    gamma: float = 0.99
    """Discount of the soft Bellman equations and of the visitation counts (below 1)."""
    lr: float = 1.0
    """Adam learning rate of the reward parameters."""
    deep: bool = False
    """Reward as an MLP of the features (Wulfmeier et al. 2015) instead of linear in them."""
    features: str = "one-hot"
    """one-hot (a reward per state), or coordinates (row and column scaled to [0, 1]; grid
    environments)."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden widths of the reward MLP (deep only)."""
    tolerance: float = 1e-3
    """Stop once max_s |mu_D(s) - mu(s)| is below this."""
    soft_tolerance: float = 1e-10
    """Soft value iteration runs until no state value changes by more than this."""

    def __post_init__(self) -> None:
        require_demos(self)
        check_range(self, "demo_episodes", 0)
        check_range(self, "gamma", 0.0, 1.0, high_open=True)
        check_range(self, "lr", 0.0, low_open=True)
        check_choice(self, "features", FEATURES)
        check_hidden(self)
        check_range(self, "tolerance", 0.0, low_open=True)
        check_range(self, "soft_tolerance", 0.0, low_open=True)


def soft_value_iteration(
    reward: np.ndarray,
    p: np.ndarray,
    p_end: np.ndarray,
    gamma: float,
    tol: float = 1e-10,
    v: np.ndarray | None = None,
    max_iterations: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Q, V, pi) of the soft Bellman equations for the state reward r(s) (module docstring),
    iterated from `v` (zeros by default) until max_s |V_new(s) - V(s)| < tol."""
    v = np.zeros(len(reward)) if v is None else np.array(v, dtype=np.float64)
    ends = gamma * (p_end @ reward)  # reward of the state an episode ends in, (S, A)
    for _ in range(max_iterations):
        q = reward[:, None] + ends + gamma * (p @ v)
        v_new = np.logaddexp.reduce(q, axis=1)
        delta = np.abs(v_new - v).max()
        v = v_new
        if delta < tol:
            break
    q = reward[:, None] + ends + gamma * (p @ v)
    v = np.logaddexp.reduce(q, axis=1)
    return q, v, np.exp(q - v[:, None])


def state_visitation(
    policy: np.ndarray, p: np.ndarray, p_end: np.ndarray, p0: np.ndarray, gamma: float
) -> np.ndarray:
    """mu(s) = sum_t gamma^t P(s_t = s) under `policy` from s_0 ~ p0, arrivals at the end of an
    episode included: the forward pass summed in closed form (module docstring)."""
    p_pi = np.einsum("sa,sat->st", policy, p)
    p_end_pi = np.einsum("sa,sat->st", policy, p_end)
    going_on = np.linalg.solve(np.eye(len(p0)) - gamma * p_pi.T, p0)
    return going_on + gamma * (p_end_pi.T @ going_on)


def demo_visitation(episodes: list[np.ndarray], n_states: int, gamma: float) -> np.ndarray:
    """mu_D(s) = 1/M sum_episodes sum_t gamma^t 1[s_t = s] over each episode's states s_0..s_T."""
    mu = np.zeros(n_states)
    for states in episodes:
        np.add.at(mu, states, gamma ** np.arange(len(states)))
    return mu / len(episodes)


def maxent_gradient(features: np.ndarray, mu_demo: np.ndarray, mu_policy: np.ndarray) -> np.ndarray:
    """dL/dpsi = Phi^T (mu_D - mu) for the linear reward r = Phi psi (Ziebart et al. eq. 6)."""
    return features.T @ (mu_demo - mu_policy)


def maxent_objective(
    reward: np.ndarray, mu_demo: np.ndarray, v: np.ndarray, p0: np.ndarray
) -> float:
    """L = mu_D . r - p0 . V: the demonstrations' (discounted) log-likelihood under the soft
    policy of r, whose gradient in r is mu_D - mu (for deterministic dynamics it is exactly
    sum over demonstrated steps of gamma^t log pi(a_t|s_t), averaged over episodes)."""
    return float(mu_demo @ reward - p0 @ v)


def maxent_surrogate_loss(
    rewards: torch.Tensor, mu_demo: torch.Tensor, mu_policy: torch.Tensor
) -> torch.Tensor:
    """-(mu_D - mu) . r_theta: its gradient is -dL/dtheta through any reward model."""
    return -((mu_demo - mu_policy) * rewards).sum()


def state_features(env: Any, kind: str) -> np.ndarray:
    """(S, K) features phi(s): the identity (one-hot), or (row, col) / (rows - 1, cols - 1) of
    grid environments (tidyrl's GridWorld, FrozenLake, CliffWalking)."""
    unwrapped = env.unwrapped
    n_states = int(unwrapped.observation_space.n)
    if kind == "one-hot":
        return np.eye(n_states)
    if hasattr(unwrapped, "size"):
        rows = cols = int(unwrapped.size)
    elif hasattr(unwrapped, "nrow"):
        rows, cols = int(unwrapped.nrow), int(unwrapped.ncol)
    elif hasattr(unwrapped, "shape"):
        rows, cols = (int(n) for n in unwrapped.shape)
    else:
        raise EnvError(
            f"features=coordinates needs a grid environment (GridWorld, FrozenLake, "
            f"CliffWalking); {env.spec.id if env.spec else env} is not one: use features=one-hot"
        )
    row, col = np.divmod(np.arange(n_states), cols)
    return np.stack([row / max(rows - 1, 1), col / max(cols - 1, 1)], axis=1)


class MaxEntIRL(Agent):
    Config = MaxEntIRLConfig
    algo_id = "maxent-irl"
    observation_spaces = (gym.spaces.Discrete,)
    action_spaces = (gym.spaces.Discrete,)
    default_torch_threads = 1
    default_steps = 2_000
    """At most this many iterations; `learn` stops once the visitations match."""
    PRESETS = {
        # a reward MLP takes smaller steps than the table of one-hot rewards
        "deep": {"deep": True, "lr": 0.01},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        model_env = make_env(self.env_cfg)
        try:
            self.model: EpisodicModel = episodic_model(model_env, "maxent-irl")
            self.features = state_features(model_env, cfg.features)
        finally:
            model_env.close()
        n_states, n_actions = self.model.r.shape
        phi = torch.as_tensor(self.features, dtype=torch.float32)
        self.phi = phi
        if cfg.deep:
            self.reward_net = mlp(phi.shape[1], cfg.hidden, 1, "relu")
        else:  # r = Phi psi, psi = 0 at the start: the uniform policy
            self.reward_net = nn.Sequential(nn.Linear(phi.shape[1], 1, bias=False))
            nn.init.zeros_(self.reward_net[0].weight)
        self.optimizer = torch.optim.Adam(self.reward_net.parameters(), lr=cfg.lr)
        self.reward = np.zeros(n_states)
        self.v = np.zeros(n_states)
        self.q = np.zeros((n_states, n_actions))
        self.policy = np.full((n_states, n_actions), 1.0 / n_actions)
        self._demos: tuple[np.ndarray, np.ndarray] | None = None
        self.register_state("reward_net", "optimizer", "reward", "v", "q", "policy")

    @property
    def demos(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu_D, p0) of the demonstrations, read on first use and checked against the env."""
        if self._demos is None:
            self._demos = self.demo_statistics(read_demos(self))
        return self._demos

    def demo_statistics(self, demos: Demos) -> tuple[np.ndarray, np.ndarray]:
        """mu_D and the empirical start distribution p0 of `demos`."""
        n_states = len(self.reward)
        episodes = [
            np.append(demos.obs[a:b], demos.last_obs[e]).astype(np.int64)
            for e, (a, b) in enumerate(demos.episode_bounds())
        ]
        p0 = np.bincount([states[0] for states in episodes], minlength=n_states) / len(episodes)
        return demo_visitation(episodes, n_states, self.config.gamma), p0

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        states = np.ravel(obs).astype(np.int64)
        if deterministic:
            return self.policy[states].argmax(axis=1)
        cdf = self.policy[states].cumsum(axis=1)
        u = self.rng.random((len(states), 1))
        return np.minimum((cdf <= u).sum(axis=1), self.policy.shape[1] - 1)

    def update(self) -> dict[str, float]:
        """One MaxEnt iteration: backward pass, forward pass, one gradient step on the reward."""
        cfg, (p, p_end, _, _) = self.config, self.model
        mu_demo, p0 = self.demos
        rewards = self.reward_net(self.phi).squeeze(-1)
        reward = rewards.detach().double().numpy()
        q, v, policy = soft_value_iteration(reward, p, p_end, cfg.gamma, cfg.soft_tolerance, self.v)
        mu = state_visitation(policy, p, p_end, p0, cfg.gamma)
        loss = maxent_surrogate_loss(
            rewards,
            torch.as_tensor(mu_demo, dtype=torch.float32),
            torch.as_tensor(mu, dtype=torch.float32),
        )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.reward, self.v, self.q, self.policy = reward, v, q, policy
        return {
            "visitation_error": float(np.abs(mu_demo - mu).max()),
            "log_likelihood": maxent_objective(reward, mu_demo, v, p0),
        }

    def learn(self, total_steps: int) -> MaxEntIRL:
        with self.training(total_steps):
            while not self.finished:
                metrics = self.update()
                self.counters["updates"] += 1
                self.tick(None, metrics, n_steps=1)
                if metrics["visitation_error"] < self.config.tolerance:
                    self.stop()
        return self
