"""Evaluate many independent items in worker processes (an evolution strategy's population).

An evolution strategy scores each candidate of a generation by running it, and the candidates
do not depend on each other: the scores are a parallel map. `ProcessPool` owns the process side
of that, so an algorithm writes only two module-level functions:

    setup(payload)   builds, once per worker, what every evaluation reads (networks rebuilt
                     from arrays, say), into a module-level variable
    work(item)       scores one item with it and returns the result

`ProcessPool(setup, payload, work, n_workers).map(items)` returns ``[work(i) for i in items]`` in
order. Workers start with `spawn` (a fresh interpreter: nothing of the parent's threads or
torch state is inherited), each with one torch thread (`tidyrl.runtime.configure(1)`), and live
until the pool is closed, so the payload crosses the process boundary once per pool, not once
per item. With ``n_workers=0`` everything runs in the calling process, in the same order, which
gives the same results (each item carries its own seeds).

An exception in `work` reaches the caller of `map` (a `tidyrl.errors.TidyError` keeps its
one-line message). The same contract maps onto Ray unchanged (`setup` in an actor's
constructor, `work` as its method, `map` over the actors).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from tidyrl import runtime

T = TypeVar("T")
R = TypeVar("R")


def _start_worker(setup: Callable[[Any], None], payload: Any) -> None:
    runtime.exit_with_parent()  # a killed main process takes its workers with it
    runtime.configure(1)  # one thread per worker: the workers share the cores
    setup(payload)


class ProcessPool(Generic[T, R]):
    """`n_workers` spawned processes that each run `setup(payload)` once, then `work` on items."""

    def __init__(
        self,
        setup: Callable[[Any], None],
        payload: Any,
        work: Callable[[T], R],
        n_workers: int,
    ) -> None:
        if n_workers < 0:
            raise ValueError(f"n_workers must be at least 0, got {n_workers}")
        self.work = work
        self.n_workers = n_workers
        self._pool: Any = None
        if n_workers == 0:
            setup(payload)
        else:
            ctx = mp.get_context("spawn")
            self._pool = ctx.Pool(n_workers, initializer=_start_worker, initargs=(setup, payload))

    def map(self, items: Sequence[T]) -> list[R]:
        """``[work(item) for item in items]``, computed by the workers, in order."""
        if self._pool is None:
            return [self.work(item) for item in items]
        results: list[R] = self._pool.map(self.work, items, chunksize=1)
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> ProcessPool[T, R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
