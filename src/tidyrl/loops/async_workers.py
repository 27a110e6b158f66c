"""Asynchronous workers that update shared parameters (A3C's execution model).

Mnih et al. (2016) run several actor-learner threads, each with its own environment, that compute
gradients on a local copy of the network and apply them, without locks, to parameters shared by
all (Hogwild!, Recht et al. 2011). This module owns the *process* side of that, so an algorithm
only writes its worker body:

    def worker(worker_id: int, spec: Any, shared: Mapping[str, Any], channel: WorkerChannel):
        while not channel.stopped:
            ...                                   # sync, collect, compute grads, apply to shared
            channel.report(steps, ended, metrics)     # ended: the episodes that ended

`AsyncWorkerPool` starts `n_workers` such bodies as `torch.multiprocessing` processes (fork where
the OS has it: a worker starts in milliseconds instead of re-importing torch as spawn does; the
agents keep torch at one intra-op thread, which makes forking safe), hands them `shared`
(modules and tensors in shared memory: no copy, every worker sees every update) and collects
their reports in the main process, which keeps all bookkeeping (step counting, logging,
evaluation, checkpoints).

On Ray (`tidyrl.distributed.a3c`, ``--workers N``) the workers are Ray actors that return their
gradients instead of applying them, and the main process, which holds the global network,
applies each as it arrives and sends fresh parameters back to that worker alone: the worker's
story (A3C's `Segment`) is the same, the process management is Ray's.
"""

from __future__ import annotations

import queue
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch.multiprocessing as mp

from tidyrl import errors, runtime
from tidyrl.envs.make import Ended


@dataclass
class WorkerReport:
    """What a worker sends after each segment of work."""

    worker: int
    steps: int
    ended: Ended = field(default_factory=Ended)
    """The episodes that ended in these steps (returns, lengths, successes)."""
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    """A worker's traceback when it failed (the pool re-raises it in the main process)."""
    error_type: str | None = None
    """The class name of a `tidyrl.errors.TidyError` the worker raised (its `error` is then the
    one-line message), so the main process raises the same kind of one-line error."""


class WorkerChannel:
    """A worker's link to the main process: report progress, learn when to stop."""

    def __init__(self, worker: int, reports: Any, stop: Any) -> None:
        self.worker = worker
        self._reports = reports
        self._stop = stop

    @property
    def stopped(self) -> bool:
        return bool(self._stop.is_set())

    def report(
        self, steps: int, ended: Ended | None = None, metrics: dict[str, float] | None = None
    ) -> None:
        self._reports.put(WorkerReport(self.worker, steps, ended or Ended(), metrics or {}))

    def fail(self, error: str, error_type: str | None = None) -> None:
        self._reports.put(WorkerReport(self.worker, 0, error=error, error_type=error_type))


WorkerFn = Callable[[int, Any, Mapping[str, Any], WorkerChannel], None]


def _run_worker(
    target: WorkerFn, worker: int, spec: Any, shared: Mapping[str, Any], channel: WorkerChannel
) -> None:
    runtime.exit_with_parent()  # a killed main process takes its workers with it
    try:
        target(worker, spec, shared, channel)
    except errors.TidyError as exc:  # a user-facing failure (an env raised): its one line
        channel.fail(str(exc), type(exc).__name__)
    except BaseException:  # report, so the main process fails with the worker's traceback
        channel.fail(traceback.format_exc())


class WorkerError(RuntimeError):
    """A worker process failed; the message holds its traceback."""


class AsyncWorkerPool:
    """`n_workers` processes running `target(worker_id, spec, shared, channel)`.

    Use as a context manager: entering starts the workers, leaving stops and joins them. `spec`
    and `shared` must be picklable; tensors and modules in `shared` should be in shared memory
    (`module.share_memory()`, `tensor.share_memory_()`), then workers update them in place.
    """

    def __init__(
        self,
        target: WorkerFn,
        n_workers: int,
        spec: Any,
        shared: Mapping[str, Any],
        start_method: str | None = None,
    ) -> None:
        if n_workers < 1:
            raise ValueError(f"n_workers must be at least 1, got {n_workers}")
        self.target = target
        self.n_workers = n_workers
        self.spec = spec
        self.shared = shared
        if start_method is None:  # fork starts in milliseconds; spawn re-imports torch per worker
            start_method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        self._ctx = mp.get_context(start_method)
        self._reports: Any = self._ctx.Queue()
        self._stop: Any = self._ctx.Event()
        self._procs: list[Any] = []

    def start(self) -> None:
        for worker in range(self.n_workers):
            channel = WorkerChannel(worker, self._reports, self._stop)
            proc = self._ctx.Process(  # type: ignore[attr-defined]
                target=_run_worker,
                args=(self.target, worker, self.spec, self.shared, channel),
                daemon=True,
            )
            proc.start()
            self._procs.append(proc)

    def reports(self, timeout: float = 1.0) -> list[WorkerReport]:
        """Reports that arrived (waiting up to `timeout` for the first); raises WorkerError when
        a worker failed or died."""
        out: list[WorkerReport] = []
        try:
            out.append(self._reports.get(timeout=timeout))
            while True:
                out.append(self._reports.get_nowait())
        except queue.Empty:
            pass
        for report in out:
            if report.error is not None and report.error_type is not None:
                kind = getattr(errors, report.error_type, errors.TidyError)
                raise kind(f"{report.error} (in worker {report.worker})")
            if report.error is not None:
                raise WorkerError(f"worker {report.worker} failed:\n{report.error}")
        if not out:
            dead = [p.exitcode for p in self._procs if not p.is_alive() and p.exitcode != 0]
            if dead and not self._stop.is_set():
                raise WorkerError(f"a worker process died (exit codes {dead})")
        return out

    def stop(self, timeout: float = 30.0) -> list[WorkerReport]:
        """Signal every worker to stop after its current segment, join them and return the
        reports they sent meanwhile (their updates are already applied)."""
        self._stop.set()
        late: list[WorkerReport] = []
        for proc in self._procs:
            while proc.is_alive():
                late += self._drain()
                proc.join(timeout=0.05)
                timeout -= 0.05
                if timeout <= 0:
                    proc.terminate()
                    proc.join()
        late += self._drain()
        self._procs = []
        return [r for r in late if r.error is None]

    def _drain(self) -> list[WorkerReport]:
        out: list[WorkerReport] = []
        try:
            while True:
                out.append(self._reports.get_nowait())
        except queue.Empty:
            return out

    def __enter__(self) -> AsyncWorkerPool:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._procs:
            self.stop()
