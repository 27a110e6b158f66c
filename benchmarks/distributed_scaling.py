"""Scale-out on Ray, measured: Ray's start-up time, env steps/s with 1, 2 and 4 workers against
the in-process run, and the learning curve of PPO on workers against in-process PPO at equal env
steps (docs/distributed.md works the scaling plan out from these numbers).

    .venv/bin/python benchmarks/distributed_scaling.py [--parts startup,throughput,curve,apex-curve]

Each part writes one record (format `tidyrl-distributed/1`) under
benchmarks/results/distributed/. Where Ray may not bind the machine's network (a shared or
sandboxed machine), run it in a loopback-only network namespace:
``unshare -n sh -c 'ip link set lo up && exec "$@"' sh .venv/bin/python benchmarks/...``.

- startup: `ray.init` of a fresh local Ray (a new process each time), then the seconds until a
  run's workers have built their envs and answered (`RayVecEnv` construction).
- throughput: PPO on HalfCheetah-v5 (MuJoCo, CPU-bound stepping) with 4 env copies and rollouts
  of 4 x 512 steps and a single epoch of one minibatch per rollout, so that collection dominates;
  in-process, then on 1, 2 and 4 workers. It reports the env steps/s of the collection alone
  (the time inside `agent.collecting`, which on workers includes the broadcast of the policy,
  the transfer of the rollout and the learner's replay of its ticks) and of the whole run.
- curve: PPO with its CartPole-v1 defaults (8 copies x 32 steps), in-process and on 2 workers,
  evaluated every 5,000 steps on the same seeds.
- apex-curve: DQN with its CartPole-v1 defaults on 2 copies, in-process and as Ape-X on 2
  workers (`tidyrl.distributed.apex`), evaluated every 5,000 steps on the same seeds.
- apex-per-curve: Ape-X DQN on 2 workers, uniform replay against prioritised replay with the
  actors' first priorities.
- a3c-curve: A3C in-process (2 Hogwild processes) against A3C on 2 Ray workers
  (`tidyrl.distributed.a3c`).
- apex-rainbow-curve: Rainbow in-process against Ape-X Rainbow on 2 workers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "distributed"
FORMAT = "tidyrl-distributed/1"


def _record(name: str, body: dict[str, Any], note: str) -> None:
    from tidyrl.bench.record import provenance, write_record

    record = {
        "format": FORMAT,
        "part": name,
        "note": note,
        **body,
        "load_average": os.getloadavg(),  # 1, 5, 15 min at the end: how busy the machine was
        "provenance": provenance(("ray",)),
    }
    write_record(OUT / f"{name}.json", record)
    print(json.dumps({k: v for k, v in record.items() if k != "provenance"})[:2000], flush=True)


def startup(repeats: int) -> None:
    code = (
        "import time, json\n"
        "t = time.perf_counter()\n"
        "import tidyrl\n"
        "from tidyrl.distributed.cluster import connect\n"
        "imported = time.perf_counter() - t\n"
        "init = connect(None)\n"
        "t = time.perf_counter()\n"
        "agent = tidyrl.make('ppo', 'CartPole-v1', n_envs=4, workers=4)\n"
        "workers = time.perf_counter() - t\n"
        "print(json.dumps({'import': imported, 'ray_init': init, 'four_workers_ready': workers}))\n"
    )
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    _record(
        "startup",
        {"runs": runs},
        "seconds: importing tidyrl; ray.init of a fresh local Ray; building a run's 4 workers "
        "(actor processes that import tidyrl and build their envs) until all answered. On a "
        "shared 2-core machine, each process start competing with other jobs",
    )


@contextlib.contextmanager
def _timed_collection(agent: Any, spent: list[float]) -> Iterator[None]:
    """Time every `agent.collecting` block (one per rollout) into `spent`."""
    original = agent.collecting

    @contextlib.contextmanager
    def collecting(metrics: Any = None) -> Iterator[None]:
        with original(metrics):
            start = time.perf_counter()
            try:
                yield
            finally:
                spent.append(time.perf_counter() - start)

    agent.collecting = collecting
    try:
        yield
    finally:
        agent.collecting = original


def throughput(steps: int) -> None:
    import tidyrl

    settings = {"n_envs": 4, "n_steps": 512, "n_epochs": 1, "batch_size": 0}
    rows = []
    for workers in (0, 1, 2, 4):
        agent = tidyrl.make("ppo", "HalfCheetah-v5", seed=0, workers=workers, **settings)
        spent: list[float] = []
        start = time.perf_counter()
        with _timed_collection(agent, spent):
            agent.learn(steps)
        total = time.perf_counter() - start
        rows.append(
            {
                "workers": workers,
                "steps": agent.counters["steps"],
                "collect_steps_per_second": agent.counters["steps"] / sum(spent),
                "train_steps_per_second": agent.counters["steps"] / total,
                "collect_seconds": sum(spent),
                "train_seconds": total,
            }
        )
        agent.close()
        print(rows[-1], flush=True)
    _record(
        "throughput",
        {"env": "HalfCheetah-v5", "algo": "ppo", "settings": settings, "rows": rows},
        "workers 0 is the in-process run. Measured on a machine of 2 cores shared with other "
        "jobs (load average far above 2): the learner and the workers compete for the same "
        "two cores, so this shows the overhead of the Ray path, not its scaling",
    )


BASELINE = ((0, {}), (2, {}))
"""In-process against two workers, with the algorithm's CartPole-v1 settings."""

CURVES: dict[str, tuple[str, dict[str, Any], str, tuple[tuple[int, dict[str, Any]], ...]]] = {
    "curve": (
        "ppo",
        {},
        "PPO with its CartPole-v1 defaults (8 copies x 32 steps); workers 0 is the in-process "
        "run, workers 2 collects on two Ray workers (4 copies each); greedy evaluation of 10 "
        "episodes every 5,000 steps. Shared 2-core machine: the seconds are not a speed result",
        BASELINE,
    ),
    "apex-curve": (
        "dqn",
        {"n_envs": 2},
        "DQN with its CartPole-v1 defaults and 2 env copies; workers 0 is the in-process run "
        "(linear ε schedule), workers 2 is Ape-X: two Ray actors of one copy each with fixed "
        "ε_i = 0.4^(1 + 7 i / (N - 1)) streaming transitions to the learner's (uniform) replay; "
        "greedy evaluation of 10 episodes every 5,000 steps. Shared 2-core machine: the "
        "seconds are not a speed result",
        BASELINE,
    ),
    "apex-per-curve": (
        "dqn",
        {"n_envs": 2},
        "Ape-X DQN on two Ray workers (one CartPole-v1 copy each, fixed ε_i) with DQN's "
        "CartPole-v1 defaults, the learner's replay uniform (prioritized false) or "
        "prioritised (prioritized true: alpha 0.6, beta 0.4 -> 1, each row's first priority "
        "|delta| computed by the actor with dqn.td_errors); greedy evaluation of 10 episodes "
        "every 5,000 steps. Shared 2-core machine: the seconds are not a speed result",
        ((2, {"prioritized": False}), (2, {"prioritized": True})),
    ),
    "a3c-curve": (
        "a3c",
        {},
        "A3C with its CartPole-v1 defaults (t_max 20, shared Adam 1e-3 annealed over the "
        "budget); workers 0 is the in-process run (n_workers 2 Hogwild processes), workers 2 "
        "runs the two actor-learners as Ray actors whose gradients the learner applies as they "
        "arrive (tidyrl.distributed.a3c); greedy evaluation of 10 episodes every 5,000 steps. "
        "Shared 2-core machine: the seconds are not a speed result",
        BASELINE,
    ),
    "apex-rainbow-curve": (
        "rainbow",
        {"n_envs": 2},
        "Rainbow with its CartPole-v1 defaults (n-step 3, prioritised replay, C51, noisy, "
        "dueling, double) and 2 env copies; workers 0 is the in-process run, workers 2 is "
        "Ape-X: two Ray actors, each building its n-step rows and their first priorities "
        "(rainbow.row_losses) itself, with fixed ε_i on top of the noisy layers; greedy "
        "evaluation of 10 episodes every 5,000 steps. Shared 2-core machine: the seconds are "
        "not a speed result",
        BASELINE,
    ),
}
"""Learning-curve parts: record name -> (algorithm, its settings, note, the variants compared:
(workers, settings of the variant))."""


def curve(name: str, steps: int, seeds: list[int]) -> None:
    import tidyrl
    from tidyrl.logging import read_metrics

    algo, settings, note, variants = CURVES[name]
    runs = []
    for seed in seeds:
        for workers, variant in variants:
            with tempfile.TemporaryDirectory() as tmp:
                agent = tidyrl.make(
                    algo,
                    "CartPole-v1",
                    seed=seed,
                    workers=workers,
                    run_dir=tmp,
                    eval_every=5000,
                    eval_episodes=10,
                    **settings,
                    **variant,
                )
                start = time.perf_counter()
                agent.learn(steps)
                seconds = time.perf_counter() - start
                agent.close()
                points = [
                    (int(r["step"]), r["eval_return"])
                    for r in read_metrics(tmp)
                    if "eval_return" in r
                ]
            run = {"seed": seed, "workers": workers, **variant}
            runs.append({**run, "seconds": seconds, "eval_return": points})
            print(runs[-1], flush=True)
    body = {"env": "CartPole-v1", "algo": algo, "steps": steps, "runs": runs}
    _record(name, {**body, "settings": settings} if settings else body, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        default="startup,throughput,curve",
        help="also: apex-curve, apex-per-curve, a3c-curve, apex-rainbow-curve",
    )
    parser.add_argument("--repeats", type=int, default=3, help="start-up measurements")
    parser.add_argument("--throughput-steps", type=int, default=8192)
    parser.add_argument("--curve-steps", type=int, default=40_000)
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "startup" in parts:
        startup(args.repeats)
    if "throughput" in parts:
        throughput(args.throughput_steps)
    for name in CURVES:
        if name in parts:
            curve(name, args.curve_steps, [int(s) for s in args.seeds.split(",")])


if __name__ == "__main__":
    main()
