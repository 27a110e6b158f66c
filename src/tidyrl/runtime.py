"""Process-level speed settings: the one place where tidyrl changes global state.

Small RL networks train fastest with settings that belong to the whole process, not to one
algorithm: the number of torch intra-op threads, flushing denormal floats to zero, glibc's
malloc thresholds, and a helper thread for the core that torch leaves idle. This module owns all
of them. `tidyrl.make`, `tidyrl.load`, the CLI and the benchmark runner call `configure`; code
that builds an agent class directly gets torch's defaults unless it calls `configure` itself.
What each setting buys is measured in docs/performance.md (scripts in benchmarks/).

- threads: with two intra-op threads every small op pays a thread hand-off, so the small-MLP
  learners declare ``Agent.default_torch_threads = 1``; wide products (CNNs) use every core.
- denormals: |x| < 1.2e-38 (Adam's second moments of tiny gradients, say) take a slow microcode
  path on x86 CPUs; flushing them changes no result that matters for training.
- malloc: an update allocates and frees the same few megabytes every step; fixing glibc's mmap
  and trim thresholds lets the loop reuse its pages instead of faulting fresh ones in.
- `run_side_by_side(first, second)`: two independent steps of an update (SAC's critic and actor
  steps) on two cores, each with its own autograd graph; torch releases the GIL in its kernels.
- `exit_with_parent()`: a child process (a benchmark job, an A3C worker, a CMA-ES evaluator)
  ends when the process that started it does, even when that one was killed outright and could
  not stop its children; otherwise a killed `tidyrl bench run` leaves its job training on,
  holding a core for as long as the run.
- `memory_limit()`, `memory_available()`: the memory a run may plan for (the machine's, or a
  container's limit) and what is free now; an agent checks its replay buffer against them
  before training (`tidyrl.agent.check_replay_memory`).
- `headless_rendering()`: MuJoCo's offscreen EGL backend unless the user chose one (MUJOCO_GL),
  set before dm_control first loads its renderer (which reads the variable once, at import).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import platform
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

import torch

if TYPE_CHECKING:
    from tidyrl.config import RunConfig

A = TypeVar("A")
B = TypeVar("B")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""glibc's `mallopt` parameter numbers (malloc.h)."""
MMAP_THRESHOLD = 32 << 20
"""Blocks from this size up get their own mapping (glibc's own ceiling for this threshold)."""
TRIM_THRESHOLD = 128 << 20
"""Free memory at the top of the heap that stays mapped."""

_malloc_done = False
_helper: ThreadPoolExecutor | None = None


def configure(
    threads: int | None = None,
    *,
    default_threads: int = 0,
    flush_denormal: bool = True,
    keep_freed_memory: bool = True,
) -> None:
    """Apply tidyrl's process settings (idempotent; the one documented call for API users who
    build agent classes directly).

    `threads`: torch intra-op threads (None: `default_threads`, the algorithm's choice; 0: leave
    torch's setting alone). `flush_denormal`: flush denormal floats to zero. `keep_freed_memory`:
    fix glibc's malloc thresholds (a no-op off glibc)."""
    if flush_denormal:
        torch.set_flush_denormal(True)
    if keep_freed_memory:
        keep_freed_memory_in_process()
    n = default_threads if threads is None else threads
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def configure_for(agent_class: type, run: RunConfig) -> None:
    """`configure` with a run's settings and the algorithm's default thread count (what
    `tidyrl.make`, `tidyrl.load` and the CLI call before an agent trains)."""
    configure(
        run.torch_threads,
        default_threads=getattr(agent_class, "default_torch_threads", 0),
        keep_freed_memory=run.keep_freed_memory,
    )


def keep_freed_memory_in_process() -> bool:
    """Set glibc's mmap and trim thresholds once per process; True where they are set.

    Both thresholds together: setting only one switches off glibc's own adjustment of the other,
    which was worse than setting neither (benchmarks/malloc_profile.py)."""
    global _malloc_done
    if _malloc_done:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    ok = bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and ok
    _malloc_done = ok
    return ok


def exit_with_parent(status: int = 1) -> bool:
    """In a multiprocessing child: end this process with `status` as soon as its parent process
    ends, however it ended. A daemon thread waits on the parent's sentinel (no polling). Returns
    False, doing nothing, in a process that multiprocessing did not start."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return False
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(status)  # no cleanup to wait for: the run's partial results die with it

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
    return True


def headless_rendering() -> None:
    """MUJOCO_GL=egl unless already set: renders pixels without a display."""
    os.environ.setdefault("MUJOCO_GL", "egl")


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (`taskset`, a container's cpuset)
    where the platform tells it, else `os.cpu_count()`."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def memory_limit() -> int | None:
    """Bytes of memory this process may fill: the machine's physical memory, or its cgroup's
    (a container's) `memory.max` where that is lower; None where the platform tells neither."""
    limits = []
    with contextlib.suppress(AttributeError, ValueError, OSError):
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            text = f.read().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    return min(limits) if limits else None


def memory_available() -> int | None:
    """Bytes the kernel could give this process now without swapping (Linux's MemAvailable);
    None where the platform does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


_CORES = usable_cores()
"""Read once: asking the OS on every update would be a visible share of a small update."""


def spare_core() -> ThreadPoolExecutor | None:
    """A one-thread executor when torch's intra-op threads leave a core idle, else None."""
    global _helper
    if torch.get_num_threads() >= _CORES:
        return None
    if _helper is None:
        _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidyrl-side")
    return _helper


def run_side_by_side(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """``(first(), second())``: `second` on a helper thread while this thread runs `first` when
    a core is spare, else one after the other (first, then second).

    The two must be independent: neither may read what the other writes (e.g. two losses'
    backward passes into disjoint parameters). Random draws inside them would arrive in an order
    that depends on timing; draw them before and pass them in."""
    worker = spare_core()
    if worker is None:
        return first(), second()
    pending = worker.submit(second)
    try:
        a = first()
    finally:  # never leave the helper writing after an error here
        wait([pending])
    return a, pending.result()
