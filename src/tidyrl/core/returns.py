"""Returns and advantages for policy-gradient methods.

Symbols: r_t reward, gamma discount, lambda the GAE parameter, V(s_t) = `values[t]`, and
V(s'_t) = `next_values[t]`, the value of the *true* successor of s_t. Keeping V(s'_t) explicit is
what makes truncation right: where an episode was cut by a time limit, s'_t is the final
observation (not the next episode's reset observation) and the return bootstraps from it; where
it terminated, nothing is bootstrapped. `data.rollout.Rollout.next_values` builds this array.

    discounted return      G_0 = sum_t gamma^t r_t (+ gamma^T V(s_T) when cut, not terminated)
    reward-to-go           G_t = r_t + gamma G_{t+1}          (Williams 1992; causality, seed 004)
    TD error               delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)
    GAE                    A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}
                           (Schulman et al. 2016, "High-dimensional continuous control using
                           generalized advantage estimation", eq. 16)
    lambda-return          R_t = A_t + V(s_t)   (the critic's regression target)

Dreamer's lambda-return over an imagined trajectory s_0 .. s_H (Hafner et al. 2020, "Dream to
Control", eq. 6; DreamerV3, Hafner et al. 2023, eq. 7) is the same recursion with a predicted
continue probability c_t (1 - P(s_{t+1} terminal)) in place of both masks:

    R_t = r_t + gamma c_t ((1 - lambda) v(s_{t+1}) + lambda R_{t+1}),   R_H = v(s_H),

where r_t and c_t are predicted for the step s_t -> s_{t+1}; `lambda_returns` computes it as GAE
with terminated = dones = 1 - c_t (the two are the same recursion: R_t = A_t + v(s_t)).

A non-episodic stream (RND's intrinsic return, Burda et al. 2018, section 2.3) is GAE with
terminated = done = 0 everywhere and V(s'_t) the next row's value, reset observation or not
(`non_episodic_gae`).

GAE with lambda = 1 is the n-step return of A2C/A3C minus V(s_t) (bootstrapped at the rollout's
end); lambda = 0 is the one-step TD error of the online actor-critic.

n-step returns inside stored sequences (R2D2, Kapturowski et al. 2019, sec. 2.3; the rows of
`tidyrl.data.sequence_replay`: row i holds x_i, the reward r_i received on arriving there, and
is_first_i / is_terminal_i), for the action taken at row i:

    G_i = sum_{k=1}^{j} gamma^(k-1) r_{i+k} + gamma^j (1 - is_terminal_{i+j}) V(x_{i+j})
    j   = min(n, rows left in the sequence, steps to the end of x_i's episode)

An episode ends at a terminal row (nothing is bootstrapped) or at the row before an is_first row
(a truncated episode: its last row is the true final observation, and G bootstraps from it).
The row before an is_first row took no action, so it has no target (`mask` 0).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch


def discounted_return(rewards: npt.ArrayLike, gamma: float, bootstrap: float = 0.0) -> float:
    """sum_t gamma^t r_t + gamma^T * bootstrap, for the rewards of one episode (REINFORCE
    without reward-to-go weights every log-probability by this number)."""
    r = np.asarray(rewards, dtype=np.float64)
    discounts = gamma ** np.arange(len(r) + 1)
    return float(r @ discounts[:-1] + discounts[-1] * bootstrap)


def reward_to_go(
    rewards: npt.ArrayLike, gamma: float, bootstrap: float = 0.0
) -> npt.NDArray[np.float64]:
    """G_t = sum_{t' >= t} gamma^(t' - t) r_t' (+ gamma^(T - t) * bootstrap) for one episode.

    `bootstrap` is V(s_T) for an episode cut by a time limit and 0 for a terminated one.
    """
    r = np.asarray(rewards, dtype=np.float64)
    out = np.empty_like(r)
    running = float(bootstrap)
    for t in range(len(r) - 1, -1, -1):
        running = r[t] + gamma * running
        out[t] = running
    return out


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimates and lambda-returns over a time-major rollout [T, N].

    `terminated` and `dones` (terminated or truncated) are 0/1 float tensors. At a truncated
    step, delta bootstraps from `next_values` (V of the final observation) and the recursion
    stops there, because the next row belongs to a new episode. Returns (advantages, returns).
    """
    not_terminal = 1.0 - terminated
    deltas = rewards + gamma * not_terminal * next_values - values
    carry = gamma * lam * (1.0 - dones)
    advantages = torch.empty_like(deltas)
    running = torch.zeros_like(deltas[0])
    for t in range(deltas.shape[0] - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages, advantages + values


def non_episodic_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(gamma, lambda) and lambda-returns of a reward stream that never ends, over a
    time-major rollout [T, N]: Burda et al. (2018), section 2.3, treat the intrinsic return as
    non-episodic, so no step is terminal and no episode end cuts the recursion. V(s_{t+1}) is
    the next row's value (after an episode end, the new episode's first state) and
    `last_values` [N] = V(s_T) bootstraps the last row. Returns (advantages, returns)."""
    next_values = torch.cat([values[1:], last_values.unsqueeze(0)])
    never = torch.zeros_like(rewards)
    return gae(rewards, values, next_values, never, never, gamma, lam)


def lambda_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    continues: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """R_0 .. R_{H-1} of the module docstring, time-major: `rewards` and `continues` [H, ...] for
    the steps s_t -> s_{t+1}, `values` [H + 1, ...] = v(s_0) .. v(s_H). v(s_0) does not enter the
    returns (it cancels), only the baseline of GAE's form."""
    stops = 1.0 - continues
    _, returns = gae(rewards, values[:-1], values[1:], stops, stops, gamma, lam)
    return returns


def sequence_n_step_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    is_first: torch.Tensor,
    is_terminal: torch.Tensor,
    gamma: float,
    n: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """G_i and its mask for rows i = 0 .. T - 2 of time-major sequences [T, ...] (the module
    docstring's n-step returns): `rewards[i]` = r_i, `values[i]` = V(x_i), 0/1 float flags.
    Returns (G [T - 1, ...], mask [T - 1, ...]); mask_i = 1 - is_first_{i+1}."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    length = rewards.shape[0]
    last = length - 1
    ends = is_terminal.clone()
    ends[:-1] = torch.maximum(ends[:-1], is_first[1:])
    ends[-1] = 1.0  # the sequence's last row: bootstrap there at the latest
    rows = torch.arange(last, device=rewards.device)
    returns = torch.zeros_like(rewards[:-1])
    discount = torch.ones_like(returns)
    open_ = torch.ones_like(returns)  # still summing rewards
    for k in range(1, n + 1):
        idx = (rows + k).clamp(max=last)  # an open row never passes `last`: ends[last] = 1
        returns = returns + open_ * discount * rewards[idx]
        discount = discount * gamma
        stop = open_ * (ends[idx] if k < n else torch.ones_like(open_))
        returns = returns + stop * discount * (1.0 - is_terminal[idx]) * values[idx]
        open_ = open_ * (1.0 - stop)
    return returns, 1.0 - is_first[1:]


def normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / (std + eps): PPO's per-minibatch advantage normalization. A single value
    has no spread and becomes 0 (its unbiased std would be NaN and poison the update)."""
    if x.numel() < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std() + eps)
