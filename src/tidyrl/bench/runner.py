"""Run benchmark suites: every (task, seed, library) job in a fresh process, in parallel.

Each job trains one agent (tidyrl or the task's peer), evaluates it on the task's schedule,
measures the ceilings (raw env stepping with random actions in the same vectorization, and the
bare update rate from `Agent.update_probe`) and writes one JSON record (see `record.py`).

Wall times are training-loop time only: evaluation and checkpoint time are measured and
subtracted, for tidyrl and peers alike. Jobs of one task alternate which library goes first, so
machine noise falls on both; with ``jobs=2`` a tidyrl run and its peer run side by side.
"""

from __future__ import annotations

import resource
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from tidyrl.bench import RESULTS_DIR
from tidyrl.bench.folder import benchmarks_dir, get_suite, peers
from tidyrl.bench.record import (
    FORMAT,
    agent_path,
    provenance,
    record_path,
    task_dict,
    write_record,
)
from tidyrl.bench.suite import Suite, Task
from tidyrl.runtime import usable_cores

RAW_SECONDS = 2.0
"""Seconds of random-action stepping for the env ceiling (longer if no episode has ended)."""
PROBE_SECONDS = 1.0
"""Seconds of repeated bare updates for the update ceiling."""
EXPERT_EPISODES = 100
"""Greedy episodes over which a task's expert return is measured."""


@dataclass(frozen=True)
class Job:
    suite: str
    task_index: int
    seed: int
    library: str
    """"tidyrl" or "peer"."""
    threads: int
    out: str
    command: str
    benchmarks: str = ""
    """The benchmarks folder its suite and peers come from ("" for the default)."""


PEER_PACKAGES = ("stable-baselines3", "sb3-contrib", "minatar")
"""Versions recorded in a peer run's provenance."""


def plan(
    suite: Suite, seeds: Iterable[int], task_filter: str, peers: bool, peers_only: bool = False
) -> list[Job]:
    """Jobs in run order: per task, per seed, tidyrl and peer alternating who goes first
    (`peers_only`: just the peer runs, to add a peer beside tidyrl records already made)."""
    jobs: list[tuple[int, int, str]] = []
    for index, task in enumerate(suite.tasks):
        if not task.matches(task_filter):
            continue
        for k, seed in enumerate(seeds):
            libraries = ["tidyrl"] + (["peer"] if peers and task.peer is not None else [])
            if k % 2:
                libraries.reverse()
            if peers_only:
                libraries = [library for library in libraries if library == "peer"]
            jobs += [(index, seed, library) for library in libraries]
    return [Job(suite.name, i, s, lib, 1, "", "") for i, s, lib in jobs]


def run_suite(
    suite: Suite,
    seeds: Iterable[int] | None = None,
    task_filter: str = "",
    peers: bool = True,
    jobs: int | None = None,
    peers_only: bool = False,
    threads: int | None = None,
    out: Path | str = RESULTS_DIR,
    echo: Callable[[str], None] = print,
    benchmarks: Path | str | None = None,
) -> list[dict[str, Any]]:
    """Run the suite's jobs with `jobs` processes at once; return the records written. Each
    job's process finds the suite again by name in `benchmarks` (see `tidyrl.bench.folder`)."""
    seeds = tuple(suite.seeds if seeds is None else seeds)
    cores = usable_cores()
    jobs = max(1, jobs or cores)
    threads = max(1, threads or cores // jobs)
    command = "tidyrl bench " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv else ""
    folder = str(benchmarks_dir(benchmarks))
    planned = [
        Job(j.suite, j.task_index, j.seed, j.library, threads, str(out), command.strip(), folder)
        for j in plan(suite, seeds, task_filter, peers, peers_only)
    ]
    if not planned:
        return []
    echo(f"{suite.name}: {len(planned)} runs, {jobs} at a time, {threads} torch thread(s) each")
    records: list[dict[str, Any]] = []
    context = get_context("spawn")  # a fresh interpreter per job: clean RSS, no shared state
    # one job per process (3.11+), so each record's peak RSS is its own run's
    fresh: dict[str, Any] = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    # a fine-tuned task starts from its source task's agent: stage by stage, sources first
    stages = sorted({suite.stage(suite.tasks[j.task_index]) for j in planned})
    for stage in stages:
        batch = [j for j in planned if suite.stage(suite.tasks[j.task_index]) == stage]
        with ProcessPoolExecutor(jobs, mp_context=context, **fresh) as pool:
            futures = {pool.submit(run_job, job): job for job in batch}
            for future in as_completed(futures):
                record = future.result()
                records.append(record)
                echo(summary_line(record))
    return records


def summary_line(record: dict[str, Any]) -> str:
    task = record["task"]
    name = f"{task['name']} {task['env']}"
    who = record["library"] if record["library"] == "tidyrl" else record["peer_name"]
    if "error" in record:
        return f"  FAILED {name} [{who} seed {record['seed']}]: {record['error']}"
    final = record["final_eval"]
    ttt = record["time_to_threshold"]
    reached = f", threshold at {ttt['steps']:,} steps" if ttt else ""
    return (
        f"  {name} [{who} seed {record['seed']}]: eval {final['mean_return']:.1f} "
        f"± {final['std_return']:.1f}, {record['train_wall_s']:.1f} s, "
        f"{record['env_steps_per_s']:,.0f} steps/s{reached}"
    )


def run_job(job: Job) -> dict[str, Any]:
    """One job in this (fresh) process: resolve its suite by name, then `execute` it. The
    process ends with the `bench run` that started it (`runtime.exit_with_parent`)."""
    from tidyrl import runtime

    runtime.exit_with_parent()
    folder = job.benchmarks or None
    suite = get_suite(job.suite, folder)
    return execute(
        suite, job.task_index, job.seed, job.library, job.threads, job.out, job.command, folder
    )


def execute(
    suite: Suite,
    task_index: int,
    seed: int,
    which: str,
    threads: int = 1,
    out: str | Path = RESULTS_DIR,
    command: str = "",
    benchmarks: str | Path | None = None,
) -> dict[str, Any]:
    """Train task `task_index` of `suite` with tidyrl (`which="tidyrl"`) or its peer
    (`which="peer"`, adapters from the `benchmarks` folder's peers.py); write and return the
    record. A failure is recorded, not raised."""
    import torch

    from tidyrl import runtime

    runtime.configure(threads)  # the job's thread count; an algorithm's own default may differ
    task = suite.tasks[task_index]
    library = "tidyrl" if which == "tidyrl" else (task.peer.library if task.peer else "peer")
    record: dict[str, Any] = {
        "format": FORMAT,
        "suite": suite.name,
        "family": suite.family,
        "task": task_dict(task),
        "library": library,
        "peer_name": f"{library} {task.peer.algo}" if task.peer and which != "tidyrl" else "",
        "seed": seed,
        "torch_threads": threads,
        "command": command,
        "provenance": provenance(PEER_PACKAGES if which != "tidyrl" else ()),
    }
    try:
        if which == "tidyrl":
            keep = agent_path(Path(out), suite, task, seed) if task.name in suite.sources else None
            source = None
            if task.init_from:
                source = agent_path(Path(out), suite, suite.task(task.init_from), seed)
                record["transfer"] = source_info(source, task.init_from)
            start = task.name in suite.start_evaluated
            record.update(run_tidyrl(task, seed, init_from=source, keep=keep, eval_at_start=start))
            record["torch_threads"] = torch.get_num_threads()  # an algorithm may set its own
        else:
            record.update(peers(benchmarks).run_peer(task, seed))
    except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write_record(record_path(Path(out), suite, task, library, seed), record)
    return record


class ExcludedTime:
    """Wraps methods so their time is excluded from the training wall time."""

    def __init__(self) -> None:
        self.total = 0.0
        self.at_start: list[float] = []
        """Excluded seconds accumulated before each wrapped call started."""

    def wrap(self, fn: Callable[..., Any], mark: bool = False) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if mark:
                self.at_start.append(self.total)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start

        return timed


def source_info(path: Path, name: str) -> dict[str, Any]:
    """What a fine-tuned record notes of its source: the task, the agent's path and step count
    and the checksum of its weights (RuntimeError when the source task has not been run)."""
    import json

    meta = path / "checkpoint" / "meta.json"
    if not meta.is_file():
        raise RuntimeError(
            f"source task {name!r} kept no agent at '{path}': run it first (bench run runs "
            "sources before the tasks that fine-tune from them)"
        )
    data = json.loads(meta.read_text())
    return {
        "source_task": name,
        "source_agent": str(path),
        "source_steps": int(data["counters"]["steps"]),
        "source_sha256": data["sha256"],
    }


def run_tidyrl(
    task: Task,
    seed: int,
    init_from: Path | None = None,
    keep: Path | None = None,
    eval_at_start: bool = False,
) -> dict[str, Any]:
    """Train `task` with tidyrl (from the agent saved at `init_from`, if given), saving the
    trained agent to `keep` (if given); `eval_at_start` adds a greedy evaluation at step 0."""
    import tidyrl
    from tidyrl.api import choose_preset
    from tidyrl.logging import read_metrics

    transfer = {"init_from": str(init_from)} if init_from is not None else {}
    with tempfile.TemporaryDirectory(prefix="tidyrl-bench-") as run_dir:
        agent = tidyrl.make(
            task.algo,
            task.env,
            seed=seed,
            preset=task.preset,
            run_dir=run_dir,
            **{
                "eval_every": task.eval_interval,
                "eval_episodes": task.eval_episodes,
                "checkpoint_every": task.steps * 100,
                "progress": False,
                "tensorboard": False,
                **transfer,
                **task.overrides,
            },
        )
        excluded = ExcludedTime()
        agent.evaluate = excluded.wrap(agent.evaluate, mark=True)
        agent.checkpoint = excluded.wrap(agent.checkpoint)
        curve = []
        if eval_at_start:
            stats = agent.evaluate(
                episodes=task.eval_episodes, deterministic=agent.run.eval_deterministic
            )
            point = {"step": 0, "wall_s": 0.0, "mean_return": stats["mean_return"]}
            curve.append({**point, "std_return": stats["std_return"], **_success(stats)})
        before_learning = excluded.total  # the step-0 evaluation lies outside the timing
        start = time.perf_counter()
        agent.learn(task.steps)
        total_wall = time.perf_counter() - start
        rows = read_metrics(Path(run_dir) / "metrics.csv")
        if keep is not None:
            agent.save(keep)
    train_wall = max(total_wall - (excluded.total - before_learning), 1e-9)
    evals = [r for r in rows if "eval_return" in r]
    curve += [
        {
            "step": int(r["step"]),
            "wall_s": round(r["wall_time"] - (before - before_learning), 3),
            "mean_return": r["eval_return"],
            "std_return": r.get("eval_return_std", 0.0),
            **_success({"success_rate": r.get("eval_success_rate")}),
        }
        for r, before in zip(evals, excluded.at_start[len(curve) :], strict=False)
    ]
    train_curve = [
        {"step": int(r["step"]), "episode_return": r["episode_return"]}
        for r in rows
        if "episode_return" in r
    ]
    steps = agent.counters["steps"]
    updates = agent.counters["updates"]
    result = finish(task, curve, train_curve, steps, updates, train_wall, total_wall)
    result["ceilings"] = ceilings(agent)
    result["preset"] = choose_preset(task.algo, task.preset, task.env)  # as `train` chose it
    if task.expert:
        result["ceilings"]["expert_return"] = expert_return(task.expert, seed)
        result["ceilings"]["expert_episodes"] = EXPERT_EPISODES
    if task.metrics is not None:
        result["metrics"] = {k: float(v) for k, v in task.metrics(agent).items()}
    agent.close()
    return result


def _success(stats: dict[str, Any]) -> dict[str, float]:
    """An evaluation's success rate as a record field, where the environment reports success
    (`tidyrl.envs.make.SUCCESS_KEYS`); nothing otherwise."""
    rate = stats.get("success_rate")
    return {} if rate is None else {"success_rate": float(rate)}


def expert_return(path: str, seed: int) -> float:
    """Mean greedy return of the saved agent at `path` over `EXPERT_EPISODES` episodes."""
    import tidyrl

    expert = tidyrl.load(path)
    try:
        return float(expert.evaluate(episodes=EXPERT_EPISODES, seed=seed)["mean_return"])
    finally:
        expert.close()


def finish(
    task: Task,
    curve: list[dict[str, Any]],
    train_curve: list[dict[str, Any]],
    steps: int,
    updates: int,
    train_wall: float,
    total_wall: float,
) -> dict[str, Any]:
    """The measurements shared by tidyrl and peer records."""
    if not curve:
        raise RuntimeError("the run produced no evaluation")
    final = curve[-1]
    reached = None
    if task.threshold is not None:
        reached = next((p for p in curve if p["mean_return"] >= task.threshold), None)
    return {
        "steps": steps,
        "updates": updates,
        "train_wall_s": round(train_wall, 3),
        "total_wall_s": round(total_wall, 3),
        "env_steps_per_s": round(steps / train_wall, 1),
        "update_steps_per_s": round(updates / train_wall, 1),
        "final_eval": {
            "episodes": task.eval_episodes,
            "mean_return": final["mean_return"],
            "std_return": final["std_return"],
            **_success(final),
        },
        "best_eval": max(p["mean_return"] for p in curve),
        "solved": reached is not None,
        "time_to_threshold": (
            {"steps": reached["step"], "wall_s": reached["wall_s"]} if reached else None
        ),
        "curve": curve,
        "train_curve": train_curve,
    }


def ceilings(agent: Any) -> dict[str, Any]:
    """Raw env stepping (random actions, the agent's vectorization) and the bare update rate."""
    from tidyrl.envs.make import VecEnv

    if getattr(agent, "multiagent", False):
        return multiagent_ceilings(agent)
    vec = VecEnv(agent.env_cfg, n_envs=agent.env.n_envs, seed=agent.run.seed + 7)
    raw = vec.envs
    raw.action_space.seed(agent.run.seed)
    returns = np.zeros(vec.n_envs)

    def step() -> list[float]:
        nonlocal returns
        _, rewards, terminated, truncated, _ = raw.step(raw.action_space.sample())
        returns += rewards
        done = np.logical_or(terminated, truncated)
        finished: list[float] = returns[done].tolist() if done.any() else []
        returns[done] = 0.0
        return finished

    result = random_stepping(step, vec.n_envs)
    vec.close()
    return result | probe_rate(agent)


def multiagent_ceilings(agent: Any) -> dict[str, Any]:
    """`ceilings` of a multi-agent agent: its adapter stepped with uniformly random actions
    (the random team return) and the bare update rate."""
    from tidyrl.envs.multiagent import MultiAgentVecEnv

    vec = MultiAgentVecEnv(agent.env_cfg, n_envs=agent.env.n_envs, seed=agent.run.seed + 7)
    result = random_stepping(lambda: vec.step(vec.sample_actions()).episode_returns, vec.n_envs)
    vec.close()
    return result | probe_rate(agent)


def random_stepping(step: Callable[[], list[float]], n_envs: int) -> dict[str, Any]:
    """Call `step` (one random-action step of `n_envs` copies, returning the returns of the
    episodes it ended) for RAW_SECONDS, and at least until an episode ended (at most 10 x
    RAW_SECONDS): the raw steps per second and the random policy's mean return."""
    finished: list[float] = []
    steps = 0
    start = time.perf_counter()
    while True:
        finished += step()
        steps += n_envs
        elapsed = time.perf_counter() - start
        if elapsed >= RAW_SECONDS and (finished or elapsed >= 10 * RAW_SECONDS):
            break
    return {
        "raw_env_steps_per_s": round(steps / elapsed, 1),
        "random_return": float(np.mean(finished)) if finished else None,
        "random_episodes": len(finished),
    }


def probe_rate(agent: Any) -> dict[str, Any]:
    """Bare updates per second of `agent.update_probe()` (None without one)."""
    result: dict[str, Any] = {"update_probe_per_s": None}
    probe = agent.update_probe()
    if probe is not None:
        for _ in range(3):  # warm-up (allocator, lazy init)
            probe()
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < PROBE_SECONDS or calls < 5:
            probe()
            calls += 1
        result["update_probe_per_s"] = round(calls / elapsed, 1)
    return result
