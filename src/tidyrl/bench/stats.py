"""Aggregate statistics for benchmark reports, after Agarwal et al. (2021), "Deep RL at the Edge
of the Statistical Precipice" (the rliable method): the interquartile mean (IQM) of normalized
scores pooled over tasks and seeds, with stratified-bootstrap percentile confidence intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def interquartile_mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean of the middle 50% of `values` (the 25% trimmed mean, fractional at the edges).

    With n values, the lowest and highest n/4 are discarded; when n/4 is not an integer the
    boundary values count with the remaining fraction, as in scipy.stats.trim_mean's continuous
    analogue used by rliable. Example: IQM([1, 2, 3, 4]) = mean of 2 and 3 = 2.5.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    if n == 0:
        raise ValueError("interquartile_mean of no values")
    cut = n / 4.0
    # weight of each sorted value: 1 inside, 0 outside, fractional at the two boundaries
    positions = np.arange(n)
    weights = np.clip(np.minimum(positions + 1 - cut, n - cut - positions), 0.0, 1.0)
    return float((weights * x).sum() / weights.sum())


def normalized_score(value: float, random: float, target: float) -> float:
    """(value - random) / (target - random): 0 is the random policy, 1 the task's threshold."""
    if target == random:
        raise ValueError("normalized_score needs target != random")
    return (value - random) / (target - random)


def stratified_bootstrap_ci(
    scores: Sequence[Sequence[float]],
    statistic: Callable[[np.ndarray], float] = interquartile_mean,
    repetitions: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point, low, high) of `statistic` over all scores; `scores[t]` are task t's per-seed
    scores, resampled with replacement within each task (stratified), percentile interval."""
    tasks = [np.asarray(s, dtype=np.float64) for s in scores if len(s)]
    if not tasks:
        raise ValueError("no scores to bootstrap")
    point = statistic(np.concatenate(tasks))
    rng = np.random.default_rng(seed)
    draws = np.empty(repetitions)
    for r in range(repetitions):
        draws[r] = statistic(np.concatenate([t[rng.integers(0, t.size, t.size)] for t in tasks]))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(point), float(low), float(high)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    repetitions: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean over seeds."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_mean_ci of no values")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (repetitions, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(x.mean()), float(low), float(high)
