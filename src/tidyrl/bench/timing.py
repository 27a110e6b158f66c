"""Micro-timing for the per-update profiles in benchmarks/ (`*_update_profile.py`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(
    fn: Callable[[], object], repeats: int, clock: Callable[[], float] = time.thread_time
) -> float:
    """Median milliseconds of `repeats` calls of `fn` after `repeats // 10` (at least 10)
    warm-up calls. The default clock is this thread's CPU time (torch runs single-threaded in
    the profiles): on a shared machine, wall time mostly measures the other tenants."""
    for _ in range(max(10, repeats // 10)):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1e3 * statistics.median(times)
