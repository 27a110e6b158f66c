"""Keep freed memory in the process: glibc's malloc settings for a training loop.

A training update allocates and frees the same few megabytes every step: activations, their
gradients, weight gradients (a 256 x 256 float32 gradient is 256 KiB). glibc serves a request
above its mmap threshold (128 KiB at start) with a fresh `mmap` and returns memory at the top
of the heap to the kernel once more than the trim threshold (128 KiB) is free there. Either way
the next update gets pages the kernel must fault in and zero again: a SAC update on Pendulum
(batch 256, 256-256 networks) took ~900 minor page faults. glibc raises both thresholds by
itself as it sees large blocks freed, but only up to a point, and training kept faulting.

`keep_freed_memory` fixes both thresholds (`mallopt(M_MMAP_THRESHOLD, 32 MiB)` and
`mallopt(M_TRIM_THRESHOLD, 128 MiB)`), so a training loop reuses its own pages:

    SAC, Pendulum-v1, 4,000 steps with 3,000 updates (bf16, one thread plus the helper), five
    interleaved pairs: defaults 2.2-2.5 M minor faults, 21.5 s (mean); both set 67 k, 18.6 s.

(`benchmarks/malloc_profile.py` repeats the measurement). The cost: up to 128 MiB that the
process has freed may stay mapped, and blocks below 32 MiB come from the heap (replay buffers
are larger and still get their own mappings). Setting only one of the two thresholds was worse
than neither (it switches off glibc's own adjustment of the other): 12 M faults with the trim
threshold alone.

Called when an agent is built (`Agent.__init__`) unless `RunConfig.keep_freed_memory` is off;
a no-op off glibc (macOS, Windows, musl). Process-wide, like `torch.set_num_threads`.
"""

from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""glibc's `mallopt` parameter numbers (malloc.h)."""

MMAP_THRESHOLD = 32 << 20
"""Blocks from this size up get their own mapping (glibc's own ceiling for this threshold)."""
TRIM_THRESHOLD = 128 << 20
"""Free memory at the top of the heap that stays mapped."""

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); True where they are set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    ok = bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and ok
    _done = ok
    return ok
