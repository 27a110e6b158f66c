"""Transfer metrics of Taylor & Stone (2009), "Transfer learning for reinforcement learning
domains: a survey", section 2.1, from two learning curves on the same target task: one learner
initialised from a source task ("transfer"), one from scratch.

A curve is a sequence of (step, return) points, as `curve` in a benchmark record. With the
from-scratch learner's final return as the default threshold (how many steps each learner needs
to reach what learning from scratch ends with):

    jumpstart          R_transfer(first point) - R_scratch(first point)
    asymptotic gain    R_transfer(last point) - R_scratch(last point)
    time to threshold  first step whose return >= threshold, per learner (None: never), and
                       the steps saved, t_scratch - t_transfer
    area ratio         (A_transfer - A_scratch) / A_scratch, A the trapezoid area under the
                       curve above `baseline`, over the steps both curves cover

Returns below zero make areas (and so the ratio) depend on where zero is; `baseline` (default:
the lowest return of either curve) fixes that, as Taylor & Stone note the ratio needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Curve = Sequence[tuple[float, float]]
"""(step, return) points in increasing step order."""


def steps_to_threshold(curve: Curve, threshold: float) -> float | None:
    """The first step whose return reaches `threshold` (None if no point does)."""
    return next((step for step, value in curve if value >= threshold), None)


def area_above(curve: Curve, baseline: float, end: float) -> float:
    """Trapezoid area between the curve and `baseline` over steps <= `end`."""
    points = np.array([(s, v) for s, v in curve if s <= end], dtype=np.float64)
    if len(points) < 2:
        return 0.0
    heights = points[:, 1] - baseline
    widths = np.diff(points[:, 0])
    return float(np.sum(widths * (heights[1:] + heights[:-1]) / 2.0))


def transfer_metrics(
    transfer: Curve,
    scratch: Curve,
    threshold: float | None = None,
    baseline: float | None = None,
) -> dict[str, float | None]:
    """Jumpstart, asymptotic gain, time to threshold and area ratio (module docstring)."""
    if not transfer or not scratch:
        raise ValueError("transfer_metrics needs two non-empty curves")
    if threshold is None:
        threshold = scratch[-1][1]
    if baseline is None:
        baseline = min(v for _, v in [*transfer, *scratch])
    end = min(transfer[-1][0], scratch[-1][0])
    t_transfer = steps_to_threshold(transfer, threshold)
    t_scratch = steps_to_threshold(scratch, threshold)
    a_transfer = area_above(transfer, baseline, end)
    a_scratch = area_above(scratch, baseline, end)
    return {
        "jumpstart": transfer[0][1] - scratch[0][1],
        "asymptotic_gain": transfer[-1][1] - scratch[-1][1],
        "threshold": threshold,
        "steps_to_threshold_transfer": t_transfer,
        "steps_to_threshold_scratch": t_scratch,
        "steps_saved": (
            t_scratch - t_transfer if t_transfer is not None and t_scratch is not None else None
        ),
        "area_ratio": (a_transfer - a_scratch) / a_scratch if a_scratch > 0 else None,
    }
