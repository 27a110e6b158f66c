"""The backward algorithm's demonstration pieces: loop cutting and the draw of a start state.

Salimans & Chen (2018), "Learning Montezuma's Revenge from a single demonstration"
(arXiv:1812.03381), start PPO's episodes from states of one demonstration, moving the start
from its end back to the reset (`tidyrl.envs.demo_start`); Go-Explore's phase 2 robustifies its
best trajectory this way (Ecoffet et al. 2019, section 2.2).

* **Loop cutting** (`cut_loops`). The best trajectory of a random exploration wanders: it walks
  into walls, steps back and forth, enters dead ends and returns. Each return to a state met
  before closes a loop; in a deterministic environment the actions after the loop lead from
  the same state to the same places, so the loop can be left out and the demonstration gets
  shorter, with fewer states for the curriculum to cross. A loop is cut only if it earned no
  reward (the demonstration's return stays the same). Equal keys must mean equal states: the
  caller chooses the key (an observation that is the whole state, as in a grid world) and
  checks the cut demonstration by replay. This is this library's preprocessing, not a step of
  the papers.
* **Start draw** (`draw_start`). With the current start k of a demonstration of T actions, an
  episode starts at a state drawn uniformly from the window [k - window, k] (clipped at 0), and,
  with probability `later`, instead uniformly from [k, T - 1]. The released code of Salimans &
  Chen (github.com/openai/atari-reset, `ReplayResetEnv` and `ResetManager`) spreads its workers
  over a range of consecutive starting points below the furthest one, and starts a fraction
  `frac_sample` = 0.2 of episodes at a uniformly drawn later point of the demonstration; the
  window and `later` are these two mechanisms in one draw. (The paper's text was not checked
  for these details here; the source is the released code.)
* **Lag limit** (`behind`). The same code ends an episode once its score falls below the
  demonstration's score 50 steps earlier in the demonstration's time (its `returns[action_nr -
  50]`): an episode that lost the way stops early instead of using the whole time limit, so a
  rollout holds many short attempts from the start rather than a few long failures. Here the
  episode is truncated (a time limit, not a terminal state) once it has earned less than the
  demonstration earned from the same start state to `lag` steps before its current step.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def cut_loops(keys: Sequence[Hashable], rewards: Sequence[float]) -> list[int]:
    """The indices of the actions to keep after cutting the demonstration's reward-free loops.

    `keys[t]` identifies state t (t = 0..T, so T + 1 keys) and `rewards[t]` is the reward of
    action t (from state t to state t + 1). Walking forward, when state t + 1 equals a state
    p kept before and the kept actions from p on earned nothing, those actions are dropped:
    the path goes on from p. The kept actions, replayed in a deterministic environment, visit
    each key at most once and earn the same return."""
    if len(keys) != len(rewards) + 1:
        raise ValueError(f"cut_loops: {len(keys)} keys for {len(rewards)} actions (need one more)")
    kept: list[int] = []  # actions kept so far
    path: list[Hashable] = [keys[0]]  # the states they visit, path[i] before kept[i]
    earned: list[float] = [0.0]  # earned[i]: return of kept[:i]
    where = {keys[0]: 0}  # key -> its position in path
    for t, reward in enumerate(rewards):
        key = keys[t + 1]
        total = earned[-1] + float(reward)
        p = where.get(key)
        if p is not None and total == earned[p]:  # a loop back to path[p] that earned nothing
            for dropped in path[p + 1 :]:
                where.pop(dropped, None)
            del kept[p:], path[p + 1 :], earned[p + 1 :]
            continue
        kept.append(t)
        path.append(key)
        earned.append(total)
        where[key] = len(path) - 1
    return kept


def draw_start(
    rng: np.random.Generator, start: int, length: int, window: int = 0, later: float = 0.0
) -> int:
    """A demonstration state to start an episode at: uniform on [max(start - window, 0), start],
    or, with probability `later`, uniform on [start, length - 1] (module docstring). `length` is
    the demonstration's number of actions T; `start` lies in [0, T - 1]."""
    if not 0 <= start < max(length, 1):
        raise ValueError(f"draw_start: start {start} outside the demonstration [0, {length - 1}]")
    if later > 0.0 and rng.random() < later:
        return int(rng.integers(start, max(length, start + 1)))
    return int(rng.integers(max(start - window, 0), start + 1))


def behind(to_go: np.ndarray, start: int, t: int, episode_return: float, lag: int) -> bool:
    """True when an episode that started at demonstration state `start` and stands at
    demonstration time t (start + its steps) has earned less than the demonstration did from
    `start` to state t - lag: to_go[start] - to_go[t - lag], with `to_go[i]` the demonstration's
    return from state i to its end (t - lag clipped at the end). Never with lag = 0 (off)."""
    i = min(t - lag, len(to_go) - 1)
    if lag <= 0 or i <= start:
        return False
    return episode_return < float(to_go[start] - to_go[i]) - 1e-9
