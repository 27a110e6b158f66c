"""A helper thread for the core that torch's intra-op pool leaves idle.

The small networks of RL train fastest on one intra-op thread: with two, every small op pays a
thread hand-off (see `Agent.default_torch_threads`). On a machine with more cores than that, two
*independent* halves of an update can still use a second core, each half running its ops inline
on its own thread: torch releases the GIL inside its kernels, and autograd runs each thread's
backward pass on that thread. The off-policy loops use it for the target network's passes over a
training phase (DQN family) and for SAC's actor half of an update.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import torch

_WORKER: ThreadPoolExecutor | None = None


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (`taskset`, a container's cpuset)
    where the platform tells it, else `os.cpu_count()`. A run pinned to one core of a larger
    machine then gets no helper thread that would only share its own core."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


_CORES = usable_cores()
"""Read once: asking the OS takes ~60 us here, a percent of a SAC update."""


def spare_core() -> ThreadPoolExecutor | None:
    """A one-thread executor when torch's intra-op threads leave a core idle, else None."""
    global _WORKER
    if torch.get_num_threads() >= _CORES:
        return None
    if _WORKER is None:
        _WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidyrl-spare-core")
    return _WORKER
