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
from typing import Any, TextIO

from tidyrl.errors import write_error

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
        try:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=self.columns)
                writer.writeheader()
                writer.writerows(rows)
            tmp.replace(self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the old file is intact; leave no partial copy
            raise

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
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.csv = CsvWriter(self.run_dir / METRICS_FILE)
                self.csv.truncate_after(initial)
            except OSError as exc:
                raise write_error(exc, f"'{self.run_dir / METRICS_FILE}'") from exc
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self.tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=initial)
                except ImportError:
                    self.tb = None
        self.bar: Any = None
        if progress:
            self.bar = make_progress(total, initial, sys.stderr)
        self._shown = initial
        self._next_postfix = 0.0
        self._eval_text = ""

    def advance(self, steps: int, recent_returns: Sequence[float]) -> None:
        """Move the bar to `steps`; twice a second, show the mean of the recent episode returns
        (and the last evaluation) after the rate and ETA."""
        if self.bar is None:
            return
        if steps > self.bar.total:  # a vector step or a rollout overshot the target: tqdm
            self.bar.total = steps  # would show "50.2k/?" past its total
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
            try:
                self.csv.write(row)
            except OSError as exc:
                raise write_error(exc, f"'{self.csv.path}'") from exc
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

    def close(self, final_steps: int | None = None) -> None:
        """Close the bar (ending it on `final_steps`, the run's true total, when the run
        completed: more than planned after a last vector step, fewer when a planner converged
        early), TensorBoard and the logger."""
        if self.bar is not None:
            if final_steps is not None:
                self.bar.total = final_steps
                self.bar.update(final_steps - self._shown)
                self._shown = final_steps
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        self.closed = True


BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"
LINE_FORMAT = "{percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"


def make_progress(total: int, initial: int, stream: TextIO) -> Any:
    """A live tqdm bar where `stream` is a terminal; `LineProgress` (whole lines, no carriage
    returns) where it is a file or a pipe, so logs hold no redrawn frames."""
    from tqdm import tqdm

    if stream.isatty():
        return tqdm(
            total=total,
            initial=initial,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            file=stream,
            mininterval=0.5,
            smoothing=0.05,
            bar_format=BAR_FORMAT,
        )
    return LineProgress(total, initial, stream)


class LineProgress:
    """The progress bar's interface (`update`, `set_postfix_str`, `write`, `close`, `total`)
    printing one plain line each time another `percent` of the run is done, and a last line
    when it closes on a total it had not printed."""

    def __init__(self, total: int, initial: int, stream: TextIO, percent: int = 10) -> None:
        self.total, self.n, self.initial = total, initial, initial
        self.stream = stream
        self.percent = percent
        self.postfix = ""
        self._t0 = time.monotonic()
        self._printed = -1
        self._next = self._threshold_after(initial)

    def _threshold_after(self, n: int) -> float:
        """The first multiple of `percent`% of the total that lies above `n`."""
        step = max(self.total * self.percent / 100, 1)
        return (n // step + 1) * step

    def update(self, delta: int) -> None:
        self.n += delta
        if self.n >= self._next:
            if self.n < self.total:  # the last line is the one `close` prints, on the true total
                self._line()
            self._next = self._threshold_after(self.n)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = text

    def write(self, text: str, file: TextIO | None = None) -> None:
        print(text, file=file or self.stream, flush=True)

    def _line(self) -> None:
        from tqdm import tqdm

        elapsed = time.monotonic() - self._t0
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else None
        text = tqdm.format_meter(
            self.n,
            max(self.total, self.n),
            elapsed,
            unit="step",
            unit_scale=True,
            rate=rate,
            postfix=self.postfix or None,
            bar_format=LINE_FORMAT,
            initial=self.initial,
        )
        print(text, file=self.stream, flush=True)
        self._printed = self.n

    def close(self) -> None:
        if self._printed != self.n and self.n >= self.total:  # not for an interrupted run
            self._line()
