"""Tabular chapter benchmark: every tabular algorithm on the toy-text tasks, several seeds.

    python benchmarks/tabular.py                 # all tasks, seeds 0 1 2
    python benchmarks/tabular.py --only cliff    # tasks whose name contains "cliff"
    python benchmarks/tabular.py --report        # the Markdown table from the stored JSON

For each task it records, per seed: steps, wall time of `learn`, evaluation return (mean ± std
over the task's evaluation episodes, greedy) and the DP optimum of the same task (value
and writes one JSON per task under benchmarks/results/tabular/; `--report` turns the stored JSON
into the Markdown table of benchmarks/RESULTS.md (steps actually run: planners stop at
convergence, so theirs are iterations).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import tidyrl

OUT = Path(__file__).parent / "results" / "tabular"
DET_LAKE = {"env_kwargs": {"is_slippery": False}}


@dataclass
class Task:
    name: str
    algo: str
    env: str
    steps: int
    eval_episodes: int = 10
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


TASKS = [
    *[
        Task(f"{a} FrozenLake4x4-det", a, "FrozenLake-v1", 20_000, overrides=DET_LAKE)
        for a in ("mc-control", "sarsa", "q-learning", "expected-sarsa")
    ],
    *[
        Task(f"{a} FrozenLake4x4-det", a, "FrozenLake-v1", 100, overrides=DET_LAKE)
        for a in ("policy-iteration", "value-iteration")
    ],
    *[
        Task(
            f"{a} FrozenLake4x4-slippery",
            a,
            "FrozenLake-v1",
            300_000,
            eval_episodes=1000,
            overrides={"alpha": 0.05},
        )
        for a in ("sarsa", "q-learning", "expected-sarsa")
    ],
    Task(
        "mc-control FrozenLake4x4-slippery",
        "mc-control",
        "FrozenLake-v1",
        300_000,
        eval_episodes=1000,
    ),
    *[
        Task(f"{a} FrozenLake4x4-slippery", a, "FrozenLake-v1", 1000, eval_episodes=1000)
        for a in ("policy-iteration", "value-iteration")
    ],
    *[
        Task(
            f"{a} FrozenLake8x8-slippery",
            a,
            "FrozenLake-v1",
            1000,
            eval_episodes=1000,
            overrides={"env_kwargs": {"map_name": "8x8"}},
        )
        for a in ("policy-iteration", "value-iteration")
    ],
    *[
        Task(f"{a} CliffWalking", a, "CliffWalking-v1", 30_000, eval_episodes=1, preset="cliff")
        for a in ("sarsa", "q-learning", "expected-sarsa")
    ],
    # alpha 0.5 leaves SARSA's estimates noisy enough that a greedy snapshot can loop; the
    # smaller step size of the test suite gives the textbook safe path for every seed
    Task(
        "sarsa CliffWalking alpha=0.2",
        "sarsa",
        "CliffWalking-v1",
        30_000,
        eval_episodes=1,
        preset="cliff",
        overrides={"alpha": 0.2},
    ),
    *[
        Task(f"{a} CliffWalking", a, "CliffWalking-v1", 1000, eval_episodes=1)
        for a in ("policy-iteration", "value-iteration")
    ],
    *[
        Task(f"{a} Taxi", a, "Taxi-v4", 200_000, eval_episodes=100, overrides={"alpha": 0.1})
        for a in ("sarsa", "q-learning", "expected-sarsa")
    ],
    Task("mc-control Taxi", "mc-control", "Taxi-v4", 500_000, eval_episodes=100),
    *[
        Task(f"{a} Taxi", a, "Taxi-v4", 1000, eval_episodes=100)
        for a in ("policy-iteration", "value-iteration")
    ],
    *[
        Task(f"{a} GridWorld", a, "tidyrl/GridWorld-v0", 10_000)
        for a in ("mc-control", "sarsa", "q-learning", "expected-sarsa")
    ],
    *[
        Task(f"{a} GridWorld", a, "tidyrl/GridWorld-v0", 100)
        for a in ("policy-iteration", "value-iteration")
    ],
]


def provenance() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "commit": commit,
        "tidyrl": tidyrl.__version__,
        "cpu": cpu,
        "python": platform.python_version(),
    }


def run_task(task: Task, seed: int) -> dict[str, Any]:
    agent = tidyrl.make(task.algo, task.env, seed=seed, preset=task.preset, **task.overrides)
    start = time.perf_counter()
    agent.learn(task.steps)
    wall = time.perf_counter() - start
    stats = agent.evaluate(episodes=task.eval_episodes)
    return {"seed": seed, "steps": agent.counters["steps"], "wall_s": round(wall, 2), **stats}


def json_path(task: Task) -> Path:
    return OUT / f"{task.name.replace(' ', '_').replace('/', '-')}.json"


def table_row(record: dict[str, Any]) -> str:
    runs = record["runs"]
    steps = sorted({r["steps"] for r in runs})
    steps_text = " / ".join(f"{s:,}" for s in steps)
    returns = " / ".join(f"{r['mean_return']:.3f} ± {r['std_return']:.2f}" for r in runs)
    episodes = runs[0]["episodes"]
    wall = np.mean([r["wall_s"] for r in runs])
    return f"| {record['task']} | {steps_text} | {wall:.2f} | {episodes} | {returns} |"


HEADER = (
    "| task | steps | wall s (mean) | eval episodes | greedy eval return per seed "
    "(mean ± std) |\n|---|---|---|---|---|"
)


def report() -> None:
    print(HEADER)
    for task in TASKS:
        if json_path(task).is_file():
            print(table_row(json.loads(json_path(task).read_text())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", default="")
    parser.add_argument("--report", action="store_true", help="print the table from stored JSON")
    args = parser.parse_args()
    if args.report:
        report()
        return
    OUT.mkdir(parents=True, exist_ok=True)
    meta = provenance()
    print(HEADER)
    for task in TASKS:
        if args.only.lower() not in task.name.lower():
            continue
        runs = [run_task(task, seed) for seed in args.seeds]
        record = {
            "task": task.name,
            "algo": task.algo,
            "env": task.env,
            "budget": task.steps,
            "overrides": task.overrides,
            "preset": task.preset,
            "runs": runs,
            **meta,
        }
        json_path(task).write_text(json.dumps(record, indent=2))
        print(table_row(record), flush=True)


if __name__ == "__main__":
    main()
