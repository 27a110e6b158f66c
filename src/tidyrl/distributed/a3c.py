"""A3C's asynchronous gradients on Ray (Mnih et al. 2016, algorithm S3; lecture seed 003's picture:
one global network, several actor-learners), behind `A3C.learn`.

In-process, A3C's workers are processes that apply their gradients to parameters in shared
memory (Hogwild, `tidyrl.loops.async_workers`). With ``workers=N`` they are Ray actors
(`GradientWorker`), on this machine or across a cluster, and the learner holds the global
network:

1. each worker holds an env copy and a local copy of the network (an
   `tidyrl.algos.policy_gradient.a3c.Segment`, seeded as in-process worker k is); asked for a
   gradient with the global parameters (and the observation and return statistics), it loads
   them, acts t_max steps and returns the gradient of `a3c_loss` on its segment
   (`Segment.gradients`: the same code as in-process), with its steps, finished episodes, the
   statistics of the observations and discounted returns it saw and the loss's metrics;
2. the learner takes whichever gradient arrives first (`ray.wait`), applies it to the global
   network with its optimizer (`a3c.apply_gradients`: step 5, the learning rate annealed over
   the run), merges the worker's statistics into the global ones, counts the
   worker's steps and episodes, and sends the new parameters and statistics (through the object
   store) back to that worker alone, which starts its next segment; the other workers go on
   with the parameters they had.

A gradient is thus computed on parameters that may be a few updates old, as in the paper's
asynchronous updates; unlike Hogwild, the updates themselves are applied one at a time. A run is
reproducible per seed up to arrival order: each worker's segments depend only on its seed and
the parameters it was sent, but which gradient arrives first depends on timing.

Faults, as for `tidyrl.distributed.collect`: a worker whose process dies is restarted by Ray and
asked for a gradient again with the current parameters (its env begins a new episode); an env
that raises inside a worker is an `EnvError` naming the worker, with the traceback in
``RUN_DIR/worker_error.txt``, after which the agent saves its checkpoint (the global network and
its optimizer; the workers' envs are not part of an A3C checkpoint in-process either: a
resumed `learn` starts workers with fresh seeds); every wait has the deadline
`RunConfig.worker_timeout`. Gradients still in flight when the run reaches its step target are
dropped.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import ray
import torch

from tidyrl import runtime
from tidyrl.algos.policy_gradient.a3c import Segment, Stats, apply_gradients, worker_seed
from tidyrl.config import EnvConfig
from tidyrl.distributed.cluster import connect
from tidyrl.distributed.collect import MAX_RESTARTS, Stream, worker_failure
from tidyrl.errors import EnvError
from tidyrl.loops.async_workers import WorkerReport


class GradientWorker:
    """A Ray actor: one A3C actor-learner's env and local network (`Segment`)."""

    def __init__(self, env_cfg: EnvConfig, policy: Any, config: Any, seed: int, k: int) -> None:
        runtime.configure(1)  # one core per worker
        self.segment = Segment(env_cfg, policy, config, seed)
        self.k = k

    def pid(self) -> int:
        return os.getpid()

    def gradients(
        self, weights: dict[str, Any]
    ) -> tuple[WorkerReport, list[torch.Tensor | None], Stats]:
        """Load the global parameters and statistics, act a segment and return the gradient of
        its loss (one tensor per parameter, None where it has none) with the worker's report
        and the statistics of the observations and returns it saw."""
        local = self.segment.local
        self.segment.sync(weights["policy"], weights["stats"])
        metrics = self.segment.gradients()
        grads = [None if p.grad is None else p.grad.detach().clone() for p in local.parameters()]
        steps, ended, seen = self.segment.drain()
        return WorkerReport(self.k, steps, ended, metrics), grads, seen


class _Workers:
    """The learner's side: the worker actors and the stream of their gradients."""

    def __init__(self, agent: Any, spec: dict[str, Any]) -> None:
        run = agent.run
        self.run_dir, self.restarts = run.run_dir, 0
        connect(run.ray_address)
        n = run.workers
        cluster_cpus = ray.cluster_resources().get("CPU", 1.0)  # type: ignore[no-untyped-call]
        cpus = min(1.0, float(cluster_cpus) / n)
        remote = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0)(GradientWorker)
        policy = copy.deepcopy(agent.policy).cpu()  # small: passed inline (Ray restarts need it)
        self.workers: list[Any] = [
            remote.options(num_cpus=cpus, scheduling_strategy="SPREAD").remote(
                spec["env"], policy, spec["config"], worker_seed(spec["seed"], k), k
            )
            for k in range(n)
        ]
        self.stream = Stream(n, "gradients", run.worker_timeout, self)
        # a new worker imports torch and builds its env: until it first answers, the stream
        # waits as for a restarting one
        self.stream.lost = [True] * n

    def _failure(self, k: int, what: str, exc: ray.exceptions.RayTaskError) -> EnvError:
        return worker_failure(self.run_dir, f"worker {k} (its env copy)", what, exc)

    def ask(self, k: int, weights: Any) -> None:
        self.stream.send(k, self.workers[k].gradients.remote(weights))

    def close(self) -> None:
        self.stream.pending.clear()
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = []


def learn_on_workers(agent: Any, spec: dict[str, Any]) -> None:
    """A3C's `learn` body with Ray workers (inside `agent.training`): the module docstring."""
    cfg, policy = agent.config, agent.policy
    pool = _Workers(agent, spec)

    def weights() -> Any:
        return ray.put(
            {
                "policy": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
                "stats": agent.stats.state_dict(),
            }
        )

    try:
        current = weights()
        for k in range(len(pool.workers)):
            pool.ask(k, current)
        while not agent.finished:
            k, answer = pool.stream.receive()
            if answer is not None:  # None: the worker died; ask it again
                report, grads, seen = answer
                for param, grad in zip(policy.parameters(), grads):
                    param.grad = None if grad is None else grad.to(param.device)
                apply_gradients(agent.optimizer, cfg, agent.counters["steps"], spec["target"])
                agent.stats.absorb(seen)
                agent.count(report)
                current = weights()
            pool.ask(k, current)  # the new parameters go to this worker alone
    finally:
        pool.close()
