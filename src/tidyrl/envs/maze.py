"""A generated maze with a goal-only reward: Go-Explore's larger deterministic sparse task.

The layout is a perfect maze (one path between any two corridor cells) carved by a randomized
depth-first search ("recursive backtracker") on a `size` x `size` lattice of rooms, drawn once
from `layout_seed`, so every reset gives the same maze. The grid is (2 size + 1)^2 squares:
rooms at odd coordinates, walls between them, an outer wall. The agent starts in the top-left
room and the episode terminates with reward 1 when it enters the bottom-right room; every other
step pays 0. Observations are the square's index (row-major, Discrete); actions follow
FrozenLake's convention (0 left, 1 down, 2 right, 3 up), and a move into a wall stays put.

The environment implements the `get_state` / `set_state` protocol of `tidyrl.envs.restore`
(its state is the agent's square), as a user environment would.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tidyrl.errors import EnvError

MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))
"""Action -> (row change, column change): left, down, right, up."""


def carve(size: int, seed: int) -> np.ndarray:
    """Open squares (True) of a perfect maze on a size x size lattice of rooms."""
    rng = np.random.default_rng(seed)
    n = 2 * size + 1
    grid = np.zeros((n, n), dtype=bool)
    visited = np.zeros((size, size), dtype=bool)
    stack = [(0, 0)]
    visited[0, 0] = True
    grid[1, 1] = True
    while stack:
        r, c = stack[-1]
        options = [
            (r + dr, c + dc)
            for dr, dc in MOVES
            if 0 <= r + dr < size and 0 <= c + dc < size and not visited[r + dr, c + dc]
        ]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        visited[nr, nc] = True
        grid[2 * nr + 1, 2 * nc + 1] = True
        grid[r + nr + 1, c + nc + 1] = True  # the wall between the two rooms
        stack.append((nr, nc))
    return grid


class MazeEnv(gym.Env[np.int64, np.int64]):
    """Reach the bottom-right room of a generated maze (reward 1 there, 0 elsewhere)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self, size: int = 10, layout_seed: int = 0, render_mode: str | None = None
    ) -> None:
        if size < 2:
            raise EnvError(f"MazeEnv: size must be at least 2, got {size}")
        self.grid = carve(size, layout_seed)
        self.n = int(self.grid.shape[0])
        self.observation_space = gym.spaces.Discrete(self.n * self.n)
        self.action_space = gym.spaces.Discrete(4)
        self.render_mode = render_mode
        self.start: int = self.n + 1  # square (1, 1)
        self.goal: int = self.n * (self.n - 2) + self.n - 2  # square (n - 2, n - 2)
        self.s: int = self.start

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self.s = self.start
        return np.int64(self.s), {}

    def step(self, action: Any) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        dr, dc = MOVES[int(action)]
        r, c = divmod(self.s, self.n)
        if self.grid[r + dr, c + dc]:
            self.s = (r + dr) * self.n + c + dc
        reached = self.s == self.goal
        return np.int64(self.s), float(reached), reached, False, {}

    def get_state(self) -> int:
        return self.s

    def set_state(self, state: int) -> None:
        self.s = int(state)

    def render(self) -> str:
        rows = []
        for r in range(self.n):
            row = ""
            for c in range(self.n):
                k = r * self.n + c
                row += (
                    "A"
                    if k == self.s
                    else "G"
                    if k == self.goal
                    else (" " if self.grid[r, c] else "#")
                )
            rows.append(row)
        return "\n".join(rows)
