"""Schedules over training progress (exploration epsilon, noise scale, PER beta, learning rate)."""

from __future__ import annotations


def linear_schedule(start: float, end: float, duration: int, step: int) -> float:
    """`start` at step 0, moving linearly to `end` at `duration`, then constant.

    DQN's epsilon (1 -> 0.1 over 1M frames, Mnih et al. 2015), PER's beta (0.4 -> 1) and the
    spell chart's exploration-noise variance (1 -> 0.3 over 1M steps) are all this shape.
    """
    if duration <= 0:
        return end
    fraction = min(max(step / duration, 0.0), 1.0)
    return start + fraction * (end - start)


def remaining_fraction(steps: int, target: int) -> float:
    """1 - steps / target, clipped to [0, 1]: the share of the run still to go.

    Linear annealing to 0 (PPO's learning rate and clip range, Schulman et al. 2017; A2C's and
    A3C's learning rate in OpenAI Baselines and Mnih et al. 2016) multiplies the initial value by
    it. The target is the whole run's, so a resumed run continues the schedule."""
    return min(max(1.0 - steps / max(target, 1), 0.0), 1.0)


def crossed(before: int, after: int, every: int) -> bool:
    """True when a multiple of `every` lies in (before, after]: a periodic event is due after
    the step counter moved from `before` to `after` (n_envs steps at a time)."""
    return every > 0 and after // every > before // every
