"""Learning curves from run directories: `tidyrl plot RUN_DIR... --out curves.png`.

Runs that share algorithm, environment and config (everything but the seed) form one group; a
group of several seeds is drawn as the mean with a shaded band of one standard deviation (and the
min-max range faintly), interpolated on a common step grid; a single run is drawn as a line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tidyrl.errors import TidyError
from tidyrl.logging import METRICS_FILE, read_metrics

DEFAULT_METRICS = ("eval_return", "episode_return")


def _label(config: dict[str, Any]) -> str:
    return f"{config.get('algo', '?')} on {config.get('env', {}).get('id', '?')}"


def _group_key(config: dict[str, Any]) -> str:
    stripped = json.loads(json.dumps(config))
    run = stripped.get("run", {})
    for key in ("seed", "run_dir", "progress", "tensorboard"):
        run.pop(key, None)
    stripped.pop("target_steps", None)
    return json.dumps(stripped, sort_keys=True)


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, float]]]:
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_FILE).is_file():
        raise TidyError(f"'{run_dir}' is not a run directory: it has no {METRICS_FILE}")
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return config, read_metrics(run_dir / METRICS_FILE)


def pick_metric(runs: list[list[dict[str, float]]], metric: str | None) -> str:
    available = set().union(*(set(row) for rows in runs for row in rows))
    if metric is not None:
        if metric not in available:
            raise TidyError(
                f"no run logged metric '{metric}'; logged: {', '.join(sorted(available))}"
            )
        return metric
    for name in DEFAULT_METRICS:
        if all(sum(1 for row in rows if name in row) >= 2 for rows in runs):
            return name
    for name in DEFAULT_METRICS:
        if name in available:
            return name
    raise TidyError(
        "the runs logged no returns yet; pass --metric with one of: " + ", ".join(sorted(available))
    )


def curve(rows: list[dict[str, float]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(row["step"], row[metric]) for row in rows if metric in row and "step" in row]
    if not points:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*points)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def aggregate(
    curves: list[tuple[np.ndarray, np.ndarray]], points: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std, min and max of several curves on a common grid (up to the shortest run)."""
    end = min(steps[-1] for steps, _ in curves)
    start = max(steps[0] for steps, _ in curves)
    grid = np.linspace(start, end, points) if end > start else np.array([end])
    stacked = np.stack([np.interp(grid, s, v) for s, v in curves])
    return grid, stacked.mean(0), stacked.std(0), stacked.min(0), stacked.max(0)


def plot_runs(
    run_dirs: list[str | Path],
    out: str | Path,
    metric: str | None = None,
    title: str | None = None,
    label: Callable[[dict[str, Any]], str] | None = None,
) -> Path:
    """Render the learning curves of `run_dirs` to a PNG at `out`; return its path. `label`
    names a group from its runs' config.json (default: "ALGO on ENV"), e.g. by the values a
    sweep varied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not run_dirs:
        raise TidyError("give at least one run directory")
    loaded = [load_run(d) for d in run_dirs]
    name = pick_metric([rows for _, rows in loaded], metric)
    groups: dict[str, list[tuple[dict[str, Any], list[dict[str, float]]]]] = defaultdict(list)
    for config, rows in loaded:
        groups[_group_key(config)].append((config, rows))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for members in groups.values():
        curves = [c for c in (curve(rows, name) for _, rows in members) if len(c[0])]
        if not curves:
            continue
        name_of = (label or _label)(members[0][0])
        if len(curves) == 1:
            ax.plot(*curves[0], label=name_of, lw=1.6)
            continue
        grid, mean, std, lo, hi = aggregate(curves)
        (line,) = ax.plot(grid, mean, lw=1.8, label=f"{name_of} (mean of {len(curves)} seeds)")
        ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.25, lw=0)
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.08, lw=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(name.replace("_", " "))
    ax.set_title(title or f"{name.replace('_', ' ')} vs steps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
