"""Run logging: a live progress bar, metrics.csv (always), TensorBoard (when installed).

`metrics.csv` has one row per log event with `step`, `wall_time` and named metrics. When a row
brings a column the file does not have yet, the file is rewritten with the wider header, so the
CSV is always rectangular and readable by any tool.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"
TIMING_COLUMNS = ("wall_time", "steps_per_second")
"""Columns that depend on the wall clock; everything else is reproducible for a fixed seed."""


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics.csv as dicts of floats (empty cells are left out)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    rows: list[dict[str, float]] = []
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row = {}
            for key, value in raw.items():
                if value not in (None, ""):
                    try:
                        row[key] = float(value)
                    except ValueError:
                        continue
            rows.append(row)
    return rows


class CsvWriter:
    """Append-only CSV whose header grows when new columns appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] = []
        if path.exists() and path.stat().st_size > 0:
            with open(path, newline="") as fh:
                reader = csv.reader(fh)
                self.columns = next(reader, [])

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (a resumed run replays them from its checkpoint)."""
        if not self.path.exists():
            return
        with open(self.path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        kept = [r for r in rows if r.get("step") and float(r["step"]) <= step]
        if len(kept) != len(rows):
            self._rewrite(kept)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def write(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self.columns]
        if new:
            old_rows: list[dict[str, Any]] = []
            if self.path.exists():
                with open(self.path, newline="") as fh:
                    old_rows = list(csv.DictReader(fh))
            self.columns += new
            self._rewrite(old_rows)
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.columns).writerow(
                {k: _fmt(v) for k, v in row.items()}
            )


def _fmt(value: Any) -> Any:
    """Whole floats as integers (step counts read naturally); the rest as Python prints it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return value


class RunLogger:
    """Progress bar + CSV + TensorBoard for one `learn` call."""

    def __init__(
        self,
        run_dir: str | Path | None,
        total: int,
        initial: int = 0,
        progress: bool = False,
        tensorboard: bool = True,
    ) -> None:
        self.closed = False
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.csv: CsvWriter | None = None
        self.tb = None
        self.rows: list[dict[str, Any]] = []
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.csv = CsvWriter(self.run_dir / METRICS_FILE)
            self.csv.truncate_after(initial)
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self.tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=initial)
                except ImportError:
                    self.tb = None
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                smoothing=0.05,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}<{remaining}, {rate_fmt}]{postfix}",
            )
        self._shown = initial
        self._next_postfix = 0.0
        self._eval_text = ""

    def advance(self, steps: int, recent_returns: Sequence[float]) -> None:
        """Move the bar to `steps`; twice a second, show the mean of the recent episode returns
        (and the last evaluation) after the rate and ETA."""
        if self.bar is None:
            return
        self.bar.update(steps - self._shown)
        self._shown = steps
        now = time.monotonic()
        if recent_returns and now >= self._next_postfix:
            self._next_postfix = now + 0.5
            mean = sum(recent_returns) / len(recent_returns)
            self.bar.set_postfix_str(f"return {mean:.4g}{self._eval_text}", refresh=False)

    def row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.csv is not None:
            self.csv.write(row)
        if self.tb is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, step)
        if "eval_return" in row:
            self._eval_text = f", eval {row['eval_return']:.4g}"

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        self.closed = True
