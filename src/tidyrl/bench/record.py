"""Benchmark records: one JSON file per (suite, task, library, seed), with provenance."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tidyrl.bench import REPORT_PATH, RESULTS_DIR
from tidyrl.bench.suite import Suite, Task
from tidyrl.runtime import usable_cores

FORMAT = "tidyrl-bench/1"


def slug(text: str) -> str:
    """A file-name-safe version of `text` ("dqn double=True" -> "dqn_double-True")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text.replace(" ", "_")).strip("-_") or "task"


def record_path(root: Path, suite: Suite, task: Task, library: str, seed: int) -> Path:
    return root / suite.name / slug(f"{task.name}__{task.env}") / f"{library}-seed{seed}.json"


def agent_path(root: Path, suite: Suite, task: Task, seed: int) -> Path:
    """Where a source task's run keeps its trained agent (beside its record, git-ignored) for
    the tasks that fine-tune from it."""
    return record_path(root, suite, task, "tidyrl", seed).with_suffix(".agent")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


BENCH_OUTPUTS = (RESULTS_DIR, REPORT_PATH, str(Path(REPORT_PATH).parent / "plots"))
"""What `bench run` and `bench report` write in the repository: changes there are a run's own
results, not a change to the measured code, so they do not make a commit "+dirty"."""


def git_commit(cwd: str | None = None) -> str:
    """Short commit of the working tree, with "+dirty" when its code has uncommitted changes.

    Tracked changes under `BENCH_OUTPUTS` do not count: a suite whose records go to the
    checkout's own ``benchmarks/results`` would otherwise mark every run after its first one.
    """
    excludes = [f":(top,exclude){path}" for path in BENCH_OUTPUTS]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=cwd,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", *excludes],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=cwd,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("+dirty" if dirty else "")


def provenance(extra_packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Where and with what a run was measured."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for package in ("tidyrl", "torch", "gymnasium", "numpy", *extra_packages):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "commit": git_commit(),
        "versions": versions,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def task_dict(task: Task) -> dict[str, Any]:
    data = asdict(task)
    data["name"] = task.name
    data["overrides"] = dict(task.overrides)
    data["metrics"] = task.metrics.__name__ if task.metrics is not None else None
    if task.peer is not None:
        data["peer"] = {**asdict(task.peer), "kwargs": dict(task.peer.kwargs)}
    return data


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Atomic write: a crash never leaves half a JSON file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=float) + "\n")
    os.replace(tmp, path)


def load_records(root: Path, fmt: str = FORMAT) -> list[dict[str, Any]]:
    """Every record of format `fmt` under `root` (other JSON files are ignored)."""
    records = []
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data.get("format") == fmt:
            data["_path"] = str(path)
            records.append(data)
    return records
