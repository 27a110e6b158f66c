"""Synchronous rollout collection on Ray actors, behind the on-policy learners' one seam.

An on-policy learner (PPO, A2C, TRPO, the one-step actor-critic) collects each rollout with
``collect_rollout(agent, policy, rollout, io, obs_fn, reward_fn, metrics)``
(`tidyrl.loops.on_policy`). With ``workers=N`` the agent's env is a `RayVecEnv` and that call is
handed to `RayVecEnv.collect_rollout`, which does, per rollout:

1. broadcast: the policy, the observation pre-processing (with its running statistics) and the
   observation function go into Ray's object store once (`ray.put`); each worker reads them
   from there;
2. collect: worker i (`RolloutWorker`, a Ray actor) steps its share of the env copies, copies
   first_i..first_i + n_i - 1 of the run, built by the one env owner (`tidyrl.envs.make.VecEnv`,
   which seeds them as the run's single vector env would), through the same
   `collect_rollout` that runs in-process: same forward pass, same action sampling, same
   truncation bootstrap. It returns its part of the rollout, the returns and lengths of the
   episodes that ended at each step, and the raw observations where the statistics of a
   running observation normalization must follow them;
3. merge: the learner writes each part into its rollout (`Rollout.put`) and replays, step by
   step in the in-process order, what is the learner's: the reward scaling (its running return
   is per copy, its statistics shared, so it runs here over all copies at once), the observation
   statistics' updates and `agent.tick` (counters, logging, evaluation, checkpoint schedule).

Actions are drawn with the learner's own generator when there is one worker (it travels with
the weights and comes back), so one worker gives exactly the in-process run: the same seed gives
the same metrics, bit for bit (tests/test_distributed.py). With N workers, worker i draws from a
generator seeded per rollout from the learner's; the run is then as reproducible as the
in-process one (the rollout does not depend on which worker answers first), but it is not the
in-process run: each worker normalizes observations with its own copy of the statistics during
a rollout.

Faults. A worker whose process dies (killed, out of memory, a lost node) is restarted by Ray
(`max_restarts`) and asked for its part again; its env copies begin new episodes, the learner's
state is untouched. An environment that raises inside a worker stops the run with an
`EnvError` naming the worker and the error (its traceback goes to ``RUN_DIR/worker_error.txt``,
and is the error's cause in Python); the agent then saves its checkpoint as it does for an
in-process env failure, with every worker's envs as they were at the start of the failed
rollout, so that ``tidyrl resume`` continues from the rollout boundary. Every wait for a worker
has a deadline (`RunConfig.worker_timeout`): a worker that hangs stops the run, never the other
way round. A checkpoint holds the state of all copies as one vector env would save it
(`tidyrl.envs.trace.merge_states`), so a run resumes on another cluster, on another number of
workers, or in-process.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch

from tidyrl import runtime
from tidyrl.config import EnvConfig, RunConfig
from tidyrl.data.rollout import Rollout
from tidyrl.distributed.cluster import connect
from tidyrl.envs.make import Ended, Step, VecEnv
from tidyrl.envs.spaces import Obs, stack
from tidyrl.envs.trace import merge_states, split_state
from tidyrl.errors import EnvError
from tidyrl.loops.on_policy import ObsFn, RewardFn, collect_rollout, flat_obs

MAX_RESTARTS = 3
"""Times Ray restarts a worker whose process died, and times its call is repeated."""
STARTUP_TIMEOUT = 300.0
"""Seconds a new worker (a process that imports torch and tidyrl and builds its envs) has to
answer, whatever `worker_timeout` is: a busy machine starts processes slowly."""


def shares(n_envs: int, workers: int) -> list[int]:
    """Env copies per worker: as even as they go, the first ones one more."""
    return [n_envs // workers + (i < n_envs % workers) for i in range(workers)]


@dataclass
class _Broadcast:
    """What every worker reads from the object store each rollout."""

    policy: Any
    adapter: Any
    obs_fn: ObsFn
    record_obs: bool
    """Send back the raw observations the statistics were updated with."""


@dataclass
class _Part:
    """One worker's share of a rollout, and what the learner replays from it."""

    rollout: Rollout
    ended: list[Ended]
    """Per step, the episodes that ended in it (copy order)."""
    raw_obs: list[Obs]
    """Per step, the raw observations passed to the statistics (with `record_obs`)."""
    rng_state: dict[str, Any]


class _Tally:
    """The agent `collect_rollout` sees inside a worker: the worker's envs and generator; its
    ticks only record the episodes that ended, for the learner to replay."""

    def __init__(self, env: VecEnv, rng: np.random.Generator) -> None:
        self.env, self.rng = env, rng
        self.ended: list[Ended] = []

    def tick(
        self,
        step: Step | None = None,
        metrics: dict[str, Any] | None = None,
        n_steps: int | None = None,
    ) -> None:
        self.ended.append(Ended.of([step] if step is not None else []))

    @contextlib.contextmanager
    def collecting(self, metrics: dict[str, Any] | None = None) -> Iterator[None]:
        yield


class RolloutWorker:
    """A Ray actor's state: `n_envs` copies of the run's env (copies first..first + n - 1)."""

    def __init__(self, env_cfg: EnvConfig, n_envs: int, seed: int, first: int) -> None:
        runtime.configure(1)  # one core per worker: its forward passes are over a few copies
        self.env = VecEnv(env_cfg, n_envs, seed, first)
        self.boundary: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None
        """The envs' state when the last rollout began (what a failed rollout leaves)."""

    def describe(self) -> dict[str, Any]:
        """Spaces, first observations and masks, and where this worker runs."""
        import os

        return {
            "observation_space": self.env.single_observation_space,
            "action_space": self.env.single_action_space,
            "obs": self.env.obs,
            "masks": self.env.masks,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
        }

    def collect(self, broadcast: _Broadcast, template: Rollout, rng: np.random.Generator) -> _Part:
        """A rollout of this worker's share, shaped as `template`, collected with the broadcast
        policy; see the module docstring."""
        self.boundary = self.env.state()
        rollout = template.resized(template.n_envs)  # the object store's copy is read-only
        tally = _Tally(self.env, rng)
        raw_obs: list[Obs] = []
        obs_fn = broadcast.obs_fn
        if broadcast.record_obs:
            inner = obs_fn

            def obs_fn(raw: Any, update: bool) -> Any:
                if update:
                    raw_obs.append(raw)
                return inner(raw, update)

        collect_rollout(tally, broadcast.policy, rollout, broadcast.adapter, obs_fn)
        state = dict(rng.bit_generator.state)
        return _Part(rollout, tally.ended, raw_obs, state)

    def state(self, boundary: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The envs' state now, or (`boundary`) when the last rollout began."""
        if boundary and self.boundary is not None:
            return self.boundary
        return self.env.state()

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.env.restore(state, arrays)

    def close(self) -> None:
        self.env.close()


class RayVecEnv:
    """The agent's env when it collects on Ray workers: what the learner reads of a `VecEnv`
    (spaces, copies, masks, state for checkpoints) and `collect_rollout`."""

    worker_class: type[RolloutWorker] = RolloutWorker
    """The Ray actor class of the workers (`tidyrl.distributed.apex` streams transitions)."""

    def __init__(self, cfg: EnvConfig, n_envs: int, run: RunConfig) -> None:
        self.cfg, self.n_envs, self.seed = cfg, n_envs, run.seed
        self.timeout = run.worker_timeout
        self.run_dir = run.run_dir
        self.startup_seconds = connect(run.ray_address)
        """Seconds `ray.init` took (0: this process was connected already)."""
        self.sizes = shares(n_envs, run.workers)
        self.firsts = [sum(self.sizes[:i]) for i in range(run.workers)]
        # each worker reserves a core, or an equal share of the cluster's cores where there
        # are fewer than workers (a laptop), so that Ray spreads them over the nodes
        cluster_cpus = ray.cluster_resources().get("CPU", 1.0)  # type: ignore[no-untyped-call]
        cpus = min(1.0, float(cluster_cpus) / run.workers)
        remote = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0)(self.worker_class)
        # ActorHandles: Ray's annotations do not follow `.remote` through `.options`
        self.workers: list[Any] = [
            remote.options(num_cpus=cpus, scheduling_strategy="SPREAD").remote(
                cfg, n, run.seed, first
            )
            for n, first in zip(self.sizes, self.firsts)
        ]
        self.restarts = 0
        """Calls made again because their worker's process died."""
        self._failed = False
        """A rollout failed: the workers' envs are not at the learner's rollout boundary."""
        self._template: tuple[Rollout, list[Any]] | None = None
        info = self._gather(
            "description",
            lambda i: self.workers[i].describe.remote(),
            max(self.timeout, STARTUP_TIMEOUT),
        )
        self.single_observation_space = info[0]["observation_space"]
        self.single_action_space = info[0]["action_space"]
        self.frame_stacked = False
        """Rows arrive from the workers whole: the learner's replay keeps no frame store."""
        self.obs = stack([o for part in info for o in _rows(part["obs"])])
        masks = [part["masks"] for part in info]
        self.masks = None if masks[0] is None else np.concatenate(masks)
        self.pids = [int(part["pid"]) for part in info]
        """Worker process ids at start (a test kills one)."""
        self.nodes = [str(part["node"]) for part in info]
        """Ray node id of each worker."""

    def collect_rollout(
        self,
        agent: Any,
        policy: Any,
        rollout: Rollout,
        adapter: Any,
        obs_fn: ObsFn = flat_obs,
        reward_fn: RewardFn | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> Rollout:
        """`tidyrl.loops.on_policy.collect_rollout` on the workers (the module docstring)."""
        report = dict(metrics) if metrics else None
        with agent.collecting(report):
            owner = getattr(obs_fn, "__self__", None)
            record = obs_fn is not flat_obs and bool(getattr(owner, "normalize_obs", True))
            broadcast = ray.put(_Broadcast(policy, adapter, obs_fn, record))
            n = len(self.workers)
            before = agent.rng.bit_generator.state
            if n == 1:
                rngs = [agent.rng]
            else:
                seeds = agent.rng.integers(2**63, size=n)
                rngs = [np.random.default_rng(int(s)) for s in seeds]
            templates = self._templates(rollout)
            self._failed = True
            try:
                parts: list[_Part] = self._gather(
                    "rollout",
                    lambda i: self.workers[i].collect.remote(broadcast, templates[i], rngs[i]),
                )
            except BaseException:
                # the checkpoint that follows a failure is the rollout boundary's
                agent.rng.bit_generator.state = before
                raise
            self._failed = False
            if n == 1:
                agent.rng.bit_generator.state = parts[0].rng_state
            for first, part in zip(self.firsts, parts):
                rollout.put(first, part.rollout)
            for t in range(rollout.n_steps):
                if reward_fn is not None:  # the learner's running return, over every copy
                    dones = (rollout.terminated[t] + rollout.truncated[t]).bool().numpy()
                    scaled = reward_fn(rollout.rewards[t].numpy(), dones)
                    rollout.rewards[t] = torch.as_tensor(scaled)
                if record:  # the learner's statistics follow every copy's observations
                    obs_fn(stack([o for p in parts for o in _rows(p.raw_obs[t])]), True)
                agent.tick(Ended.of(p.ended[t] for p in parts), report)
        return rollout

    def _templates(self, rollout: Rollout) -> list[Any]:
        """Object refs of empty rollouts shaped for each worker's share (put once)."""
        if self._template is None or self._template[0] is not rollout:
            by_size = {n: ray.put(rollout.resized(n)) for n in set(self.sizes)}
            self._template = (rollout, [by_size[n] for n in self.sizes])
        return self._template[1]

    def _gather(
        self, what: str, call: Callable[[int], Any], timeout: float | None = None
    ) -> list[Any]:
        """Results of ``call(i)`` (a remote call on worker i) in worker order. A call whose
        worker died is made again once Ray restarted the worker (at most MAX_RESTARTS
        times); an exception inside a worker is an EnvError; no answer within `timeout`
        (default: `worker_timeout`) is an EnvError too."""
        timeout = self.timeout if timeout is None else timeout
        results: list[Any] = [None] * len(self.workers)
        pending = {call(i): i for i in range(len(self.workers))}
        tries = [0] * len(self.workers)
        lost = [False] * len(self.workers)
        deadline = time.monotonic() + timeout
        while pending:
            left = max(deadline - time.monotonic(), 0.0)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=left)
            if not ready:
                late = ", ".join(str(i) for i in sorted(pending.values()))
                raise EnvError(
                    f"worker {late} sent no {what} within {timeout:g} s (worker_timeout) "
                    "- a hung environment or a lost node; raise worker_timeout for slow envs"
                )
            ref = ready[0]
            i = pending.pop(ref)
            try:
                results[i] = ray.get(ref, timeout=timeout)
            except ray.exceptions.RayTaskError as exc:
                raise self._failure(i, what, exc) from exc
            except ray.exceptions.RayActorError as exc:
                restarting = isinstance(exc, ray.exceptions.ActorUnavailableError)
                if not restarting:  # the process died (Ray restarts it)
                    tries[i] += 1
                    deadline = time.monotonic() + max(timeout, STARTUP_TIMEOUT)
                    if tries[i] > MAX_RESTARTS:
                        raise EnvError(
                            f"worker {i} died {tries[i]} times while sending its {what}: "
                            f"{' '.join(str(exc).split())[:200]}"
                        ) from exc
                if not lost[i]:
                    lost[i] = True
                    self.restarts += 1
                    warnings.warn(
                        f"worker {i}'s process died; Ray restarts it and its {what} is asked "
                        "for again (its env copies begin new episodes)",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                if restarting:
                    time.sleep(0.2)  # ask again shortly
                pending[call(i)] = i
        return results

    def _failure(self, i: int, what: str, exc: ray.exceptions.RayTaskError) -> EnvError:
        """The one-line error for an exception raised inside worker i; its traceback goes to
        RUN_DIR/worker_error.txt."""
        self._failed = True  # the checkpoint keeps each worker's last good envs
        copies = f"env copies {self.firsts[i]}..{self.firsts[i] + self.sizes[i] - 1}"
        return worker_failure(self.run_dir, f"worker {i} ({copies})", what, exc)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The state of every copy as one `VecEnv` of them would save it; after a failed
        rollout, the one it began from."""
        failed = self._failed
        parts = self._gather("env state", lambda i: self.workers[i].state.remote(failed))
        return merge_states(parts)

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Replay each worker's copies to the saved state (`VecEnv.restore`)."""
        parts = split_state(state, arrays, self.sizes)
        self._gather("restore", lambda i: self.workers[i].restore.remote(*parts[i]))

    def close(self) -> None:
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = []


def worker_failure(run_dir: Any, who: str, what: str, exc: ray.exceptions.RayTaskError) -> EnvError:
    """The one-line error for an exception raised inside a worker (`who`); its traceback goes
    to RUN_DIR/worker_error.txt."""
    cause = exc.cause if exc.cause is not None else exc
    where = ""
    if run_dir is not None:
        path = Path(run_dir) / "worker_error.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(exc))
        where = f" (traceback in {path})"
    detail = " ".join(str(cause).split())
    return EnvError(f"{who} failed in its {what}: {detail}{where}")


class Stream:
    """Calls in flight to asynchronous workers, one per worker, taken in the order they
    complete (`ray.wait`): Ape-X's batches of transitions, A3C's gradients.

    `receive` gives (worker, result); the result is None when the worker's process died, and
    the caller asks it again (Ray restarts it, up to MAX_RESTARTS times: more deaths are an
    EnvError). An exception inside a worker is `owner._failure`'s EnvError; no answer within
    the owner's timeout (STARTUP_TIMEOUT while a worker restarts) is an EnvError too. The
    owner counts the restarts (`owner.restarts`)."""

    def __init__(self, n_workers: int, what: str, timeout: float, owner: Any) -> None:
        self.what, self.timeout, self.owner = what, timeout, owner
        self.pending: dict[Any, int] = {}
        """In-flight calls: object ref -> worker."""
        self.tries = [0] * n_workers
        """Deaths of each worker's process since its last answer."""
        self.lost = [False] * n_workers
        """Worker k's process died and its call is made again."""

    def send(self, k: int, ref: Any) -> None:
        self.pending[ref] = k

    def receive(self) -> tuple[int, Any]:
        """The first call to complete: (its worker, its result or None when the worker died)."""
        timeout = max(self.timeout, STARTUP_TIMEOUT) if any(self.lost) else self.timeout
        ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        if not ready:
            late = ", ".join(str(k) for k in sorted(self.pending.values()))
            raise EnvError(
                f"worker {late} sent no {self.what} within {timeout:g} s (worker_timeout) - a "
                "hung environment or a lost node; raise worker_timeout for slow envs"
            )
        k = self.pending.pop(ready[0])
        try:
            result = ray.get(ready[0], timeout=timeout)
        except ray.exceptions.RayTaskError as exc:
            raise self.owner._failure(k, self.what, exc) from exc
        except ray.exceptions.RayActorError as exc:
            restarting = isinstance(exc, ray.exceptions.ActorUnavailableError)
            if not restarting:  # the process died (Ray restarts it)
                self.tries[k] += 1
                if self.tries[k] > MAX_RESTARTS:
                    raise EnvError(
                        f"worker {k} died {self.tries[k]} times while sending its {self.what}: "
                        f"{' '.join(str(exc).split())[:200]}"
                    ) from exc
            if not self.lost[k]:
                self.lost[k] = True
                self.owner.restarts += 1
                warnings.warn(
                    f"worker {k}'s process died; Ray restarts it and it is asked for its "
                    f"{self.what} again (its env copies begin new episodes)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            if restarting:
                time.sleep(0.2)  # ask again shortly
            return k, None
        self.tries[k], self.lost[k] = 0, False
        return k, result


def _rows(obs: Obs) -> list[Obs]:
    """A batch of observations as one per copy (dict observations: one dict per copy)."""
    if isinstance(obs, dict):
        n = len(next(iter(obs.values())))
        return [{k: v[i] for k, v in obs.items()} for i in range(n)]
    return list(obs)
