"""Go-Explore's archive of cells: the best trajectory found to each cell, and visit counts.

Ecoffet et al. (2019), "Go-Explore: a new approach for hard-exploration problems"
(arXiv:1901.10995), section 2.1, and (2021) "First return, then explore" (Nature 590, 580-586).
Phase 1 maps every state it meets to a low-dimensional *cell* and keeps, per cell, the
trajectory (the actions from the reset) that reached it, that trajectory's score and length,
and counts. Two rules make the archive:

* **update** (`is_better`): a new trajectory to a cell replaces the stored one when it scores
  more, or scores the same and is shorter. A cell met for the first time is always added.
* **selection** (`selection_weights`): the cell to return to and explore from is drawn with
  probability proportional to a weight that falls with its counts,

      W(c) = sum_a w_a / (n_a(c) + 1) ** p        a in {seen, chosen}

  where n_seen counts the steps that landed in c and n_chosen the times c was selected. The
  Nature paper's Atari runs weigh a cell by 1 / sqrt(C_seen + 1): w_seen = 1, w_chosen = 0,
  p = 0.5 (the defaults); the 2019 paper also counted times chosen (its released code sums
  weights of the form w / (n + 1) ** p over several counts). Cells whose episode ended there
  (a terminal state) are kept, since they may hold the best score, but never selected: there is
  nothing left to explore from them.

The archive is a `RunState` (a training checkpoint keeps it, so `tidyrl resume` continues phase
1) and saves itself as safetensors + JSON (`save` / `load`), never pickled. Simulator snapshots
(`snapshots`, for returning to a cell without replaying its trajectory) live in memory only: a
loaded archive returns to a cell by replay once and snapshots it then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

Cell = tuple[int, ...]


def is_better(score: float, length: int, old_score: float, old_length: int) -> bool:
    """The update rule: a higher score, or the same score reached in fewer steps."""
    return score > old_score or (score == old_score and length < old_length)


def selection_weights(
    seen: np.ndarray,
    chosen: np.ndarray,
    terminal: np.ndarray,
    w_seen: float = 1.0,
    w_chosen: float = 0.0,
    power: float = 0.5,
) -> np.ndarray:
    """W(c) = w_seen / (n_seen + 1)^p + w_chosen / (n_chosen + 1)^p, 0 for terminal cells."""
    weight = w_seen / (seen + 1.0) ** power + w_chosen / (chosen + 1.0) ** power
    return np.where(terminal, 0.0, weight)


class Archive:
    """Cells, their best trajectories (as action arrays), scores and counts."""

    def __init__(self, action_shape: tuple[int, ...] = (), action_dtype: Any = np.int64) -> None:
        self.action_shape = tuple(action_shape)
        self.action_dtype = np.dtype(action_dtype)
        self.index: dict[Cell, int] = {}
        """Cell -> its row in the lists below."""
        self.cells: list[Cell] = []
        self.scores: list[float] = []
        self.trajectories: list[np.ndarray] = []
        """Per cell: the actions from the reset that reach it, [length, *action_shape]."""
        self.seen: list[int] = []
        self.chosen: list[int] = []
        self.terminal: list[bool] = []
        self.snapshots: list[Any] = []
        """Per cell: (simulator state, observation) to return to it, or None (replay first)."""
        self.found_at: list[int] = []
        """Per cell: the exploration step at which its current score was first reached."""

    def __len__(self) -> int:
        return len(self.cells)

    def offer(
        self,
        cell: Cell,
        score: float,
        actions: Sequence[Any] | np.ndarray,
        terminal: bool,
        step: int = 0,
    ) -> int | None:
        """A step landed in `cell` after `actions` with `score`: count the visit, and store the
        trajectory if the cell is new or `is_better` says so. Returns the cell's row when the
        trajectory was stored (its snapshot is then cleared: the caller sets a fresh one)."""
        row = self.index.get(cell)
        if row is not None:
            self.seen[row] += 1
            if not is_better(score, len(actions), self.scores[row], len(self.trajectories[row])):
                return None
            if score > self.scores[row]:
                self.found_at[row] = int(step)
        else:
            row = len(self.cells)
            self.index[cell] = row
            self.cells.append(cell)
            self.seen.append(1)
            self.chosen.append(0)
            self.scores.append(0.0)
            self.trajectories.append(self._actions(()))
            self.terminal.append(False)
            self.snapshots.append(None)
            self.found_at.append(int(step))
        self.scores[row] = float(score)
        self.trajectories[row] = self._actions(actions)
        self.terminal[row] = bool(terminal)
        self.snapshots[row] = None
        return row

    def _actions(self, actions: Sequence[Any] | np.ndarray) -> np.ndarray:
        return np.asarray(actions, dtype=self.action_dtype).reshape(-1, *self.action_shape)

    def weights(self, w_seen: float = 1.0, w_chosen: float = 0.0, power: float = 0.5) -> np.ndarray:
        return selection_weights(
            np.asarray(self.seen, dtype=np.float64),
            np.asarray(self.chosen, dtype=np.float64),
            np.asarray(self.terminal, dtype=bool),
            w_seen,
            w_chosen,
            power,
        )

    def select(self, rng: np.random.Generator, weights: np.ndarray) -> int:
        """Draw a row with probability proportional to `weights` (all zero: uniformly)."""
        total = float(weights.sum())
        if total <= 0.0:
            return int(rng.integers(len(self.cells)))
        return int(rng.choice(len(weights), p=weights / total))

    def best(self) -> int:
        """The row of the highest score, the shortest trajectory among equals, then the first."""
        order = sorted(
            range(len(self.cells)), key=lambda i: (-self.scores[i], len(self.trajectories[i]), i)
        )
        return order[0]

    # -- RunState and files -------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        lengths = np.array([len(t) for t in self.trajectories], dtype=np.int64)
        width = len(self.cells[0]) if self.cells else 0
        return {
            "cells": np.array(self.cells, dtype=np.int64).reshape(len(self.cells), width),
            "scores": np.array(self.scores, dtype=np.float64),
            "lengths": lengths,
            "actions": (
                np.concatenate(self.trajectories) if self.trajectories else self._actions(())
            ),
            "seen": np.array(self.seen, dtype=np.int64),
            "chosen": np.array(self.chosen, dtype=np.int64),
            "terminal": np.array(self.terminal, dtype=np.uint8),
            "found_at": np.array(self.found_at, dtype=np.int64),
        }

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        cells = [tuple(int(v) for v in row) for row in arrays["cells"]]
        ends = np.cumsum(arrays["lengths"])
        starts = ends - arrays["lengths"]
        actions = np.asarray(arrays["actions"], dtype=self.action_dtype)
        self.cells = cells
        self.index = {c: i for i, c in enumerate(cells)}
        self.scores = [float(s) for s in arrays["scores"]]
        self.trajectories = [actions[a:b].copy() for a, b in zip(starts, ends, strict=True)]
        self.seen = [int(n) for n in arrays["seen"]]
        self.chosen = [int(n) for n in arrays["chosen"]]
        self.terminal = [bool(t) for t in arrays["terminal"]]
        self.found_at = [int(n) for n in arrays["found_at"]]
        self.snapshots = [None] * len(cells)

    def save(self, path: str | Path) -> Path:
        """Write `path/archive.safetensors` and `path/archive.json`; return `path`."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self.state_arrays().items()}
        save_file(arrays, str(root / "archive.safetensors"))
        meta = {
            "cells": len(self),
            "action_shape": list(self.action_shape),
            "action_dtype": self.action_dtype.str,
        }
        (root / "archive.json").write_text(json.dumps(meta, indent=2) + "\n")
        return root

    @classmethod
    def load(cls, path: str | Path) -> Archive:
        """The archive `save` wrote to `path`."""
        root = Path(path)
        meta = json.loads((root / "archive.json").read_text())
        archive = cls(tuple(meta["action_shape"]), np.dtype(meta["action_dtype"]))
        archive.load_state_arrays(load_file(str(root / "archive.safetensors")))
        return archive
