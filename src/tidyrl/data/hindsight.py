"""Hindsight experience replay: goals relabelled with goals that the same episode achieved later.

Andrychowicz et al. (2017), "Hindsight Experience Replay", Algorithm 1 with k relabelled goals
per real one (k = 4 in the paper's and Stable-Baselines3's experiments). For a goal-conditioned
environment (a Dict observation with ``achieved_goal`` and ``desired_goal`` keys, and the
batched functions `compute_reward(achieved_goal, desired_goal, info)` and
`compute_terminated(...)` of Gymnasium-Robotics' `GoalEnv`), a sampled transition
(s || g, a, r, s' || g, terminated) from step t of a finished episode of T steps is, with
probability k / (k + 1), replaced by

    g'           = achieved_goal(s'_u)
    r'           = compute_reward(achieved_goal(s'_t), g', {})
    terminated'  = compute_terminated(achieved_goal(s'_t), g', {})

where the paper's section 4.5 strategies (`STRATEGIES`) choose the step u:

    "future"     u ~ U{t, ..., T - 1}     a goal reached later in the episode, or now (the
                                          paper's best, and the default)
    "final"      u = T - 1                the goal the episode ended on
    "episode"    u ~ U{0, ..., T - 1}     any goal of the episode (of its rows still stored)

with g' written into both the observation's and the next observation's ``desired_goal``.
`truncated` stays as recorded: a time limit does not depend on the goal. So a transition that
reached g' ends its episode when the env says reaching a goal ends it, and the target does not
bootstrap past it, exactly as for the env's own goal: `terminated` and `truncated` stay apart.

Relabelling happens when a minibatch is drawn ("online", as Stable-Baselines3's
HerReplayBuffer does by default), so the stored rows stay the env's own and every draw sees
fresh goals. Rows of an episode that is still running keep their goal: their future is not
known yet. Bookkeeping: with one-step rows, every env step stores one row per env copy, in env
order, so the row of step u of the episode whose step t is row i is row
i + (u - t) * n_envs (mod capacity); each row carries its step t and, once its episode has
ended, the episode's length T (0 before).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tidyrl.config import check_choice, check_range
from tidyrl.errors import ConfigError

GOAL_KEYS = ("achieved_goal", "desired_goal")
"""The Dict keys a goal-conditioned observation must have."""
GOAL_FUNCTIONS = ("compute_reward", "compute_terminated")
"""The batched functions a goal-conditioned environment must have (Gymnasium-Robotics)."""

STRATEGIES = ("future", "final", "episode")
"""How a relabelled goal's step u is chosen (module docstring)."""

GoalFunction = Callable[[np.ndarray, np.ndarray, Any], Any]


def check_hindsight(cfg: Any) -> None:
    """The config fields of hindsight replay: k = `her_future_goals` in [0, 64], and
    `her_strategy` one of STRATEGIES."""
    check_range(cfg, "her_future_goals", 0, 64)
    check_choice(cfg, "her_strategy", STRATEGIES)


def goal_functions(env: Any, env_id: str, keys: list[str] | None) -> tuple[GoalFunction, ...]:
    """`compute_reward` and `compute_terminated` of a goal-conditioned env (its unwrapped
    instance); a one-line ConfigError naming what is missing otherwise."""
    lacks = [f"the Dict key {k}" for k in GOAL_KEYS if k not in (keys or [])]
    base = env.unwrapped
    lacks += [name for name in GOAL_FUNCTIONS if not callable(getattr(base, name, None))]
    if lacks:
        raise ConfigError(
            f"her_future_goals needs a goal-conditioned environment (a Dict observation with "
            f"achieved_goal and desired_goal, and compute_reward / compute_terminated, as in "
            f"Gymnasium-Robotics' GoalEnv); '{env_id}' lacks {', '.join(lacks)}; set "
            "her_future_goals=0, or use e.g. tidyrl/BitFlip-v0"
        )
    return tuple(getattr(base, name) for name in GOAL_FUNCTIONS)


class Hindsight:
    """The episode bookkeeping and the relabelling of a `tidyrl.data.replay.Replay`."""

    FIELDS: dict[str, tuple[tuple[int, ...], Any]] = {
        "her_t": ((), np.int32),
        "her_length": ((), np.int32),
    }
    """The storage columns it adds: each row's step in its episode, and the episode's length
    once it has ended (0 before)."""

    def __init__(
        self,
        future_goals: int,
        capacity: int,
        n_envs: int,
        compute_reward: GoalFunction,
        compute_terminated: GoalFunction,
        strategy: str = "future",
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown hindsight strategy {strategy!r}; valid: {STRATEGIES}")
        self.strategy = strategy
        self.relabel_probability = future_goals / (future_goals + 1)
        """k / (k + 1): the share of finished-episode rows that get a future goal."""
        self.capacity, self.n_envs = capacity, n_envs
        self.compute_reward, self.compute_terminated = compute_reward, compute_terminated
        self.steps = np.zeros(n_envs, dtype=np.int64)
        """The step each env copy's running episode is at."""

    def row_fields(self) -> dict[str, np.ndarray]:
        """The bookkeeping columns of the rows of one env step (one per env copy)."""
        return {"her_t": self.steps.astype(np.int32), "her_length": np.zeros(self.n_envs, np.int32)}

    def stored(self, columns: Mapping[str, np.ndarray], index: np.ndarray, dones: Any) -> None:
        """After one env step's rows went to `index` (env order): advance each episode, and
        give the rows of each episode that ended its length."""
        self.steps += 1
        window = self.capacity // self.n_envs  # rows further back were overwritten
        for env in np.flatnonzero(np.asarray(dones)):
            length = int(self.steps[env])
            back = np.arange(min(length, window))
            columns["her_length"][(index[env] - back * self.n_envs) % self.capacity] = length
            self.steps[env] = 0

    def relabel(
        self,
        columns: Mapping[str, np.ndarray],
        stored: tuple[int, int],
        index: np.ndarray,
        obs: dict[str, np.ndarray],
        next_obs: dict[str, np.ndarray],
        rewards: np.ndarray,
        terminated: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        """Give a share of the sampled rows (`index`; their arrays, copies, changed in place)
        a goal achieved in their episode (`strategy`), and the reward and termination it
        implies. `stored` is the storage's (write cursor, rows held): the "episode" strategy
        draws only from the episode's rows not yet overwritten."""
        t, length = columns["her_t"][index], columns["her_length"][index]
        chosen = (length > 0) & (rng.random(len(index)) < self.relabel_probability)
        if not chosen.any():
            return
        t, length = t[chosen].astype(np.int64), length[chosen].astype(np.int64)
        first = t  # "future": u in [t, T)
        if self.strategy == "final":
            first = length - 1
        elif self.strategy == "episode":  # u in [0, T), back to the oldest row still held
            cursor, size = stored
            age = (cursor - 1 - index[chosen]) % self.capacity  # 0: the newest row
            first = np.maximum(0, t - (size - 1 - age) // self.n_envs)
        u = first + np.floor(rng.random(len(t)) * (length - first)).astype(np.int64)
        rows = (index[chosen] + (u - t) * self.n_envs) % self.capacity
        goals = columns["next_obs.achieved_goal"][rows]
        obs["desired_goal"][chosen] = goals
        next_obs["desired_goal"][chosen] = goals
        achieved = next_obs["achieved_goal"][chosen]
        rewards[chosen] = np.asarray(self.compute_reward(achieved, goals, {}), dtype=np.float32)
        terminated[chosen] = np.asarray(self.compute_terminated(achieved, goals, {}), dtype=bool)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"steps": self.steps.copy()}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.steps = np.asarray(arrays["steps"], dtype=np.int64).copy()


def hindsight_for(agent: Any) -> Hindsight | None:
    """The hindsight relabelling of an off-policy agent's replay (its config's
    `her_future_goals` k and `her_strategy`; k = 0 or absent: None), checked against its env."""
    cfg = agent.config
    future_goals = int(getattr(cfg, "her_future_goals", 0))
    if future_goals == 0:
        return None
    space = agent.observation_space
    keys = list(space.spaces) if isinstance(space, gym.spaces.Dict) else None
    compute_reward, compute_terminated = goal_functions(
        agent.env.envs.envs[0], agent.env_cfg.id, keys
    )
    return Hindsight(
        future_goals,
        cfg.buffer_size,
        cfg.n_envs,
        compute_reward,
        compute_terminated,
        getattr(cfg, "her_strategy", "future"),
    )
