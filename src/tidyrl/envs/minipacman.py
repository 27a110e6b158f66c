"""MiniPacman: the test bed of Imagination-Augmented Agents (Weber et al. 2017, arXiv:1707.06203,
section 4.3 and appendix C), as a Gymnasium environment.

The player (Pacman) moves through a 15 x 19 maze that holds food and two power pills while
ghosts chase it. Eating a power pill makes the ghosts edible for `PILL_DURATION` steps, during
which they flee and move at half speed. Touching a ghost kills the player (the episode ends)
unless the ghosts are edible, in which case the ghost is eaten. A *level* ends when the mode's
goal is reached (all food, all ghosts, all pills, or a timer); the next level refills the maze,
re-places everyone, adds a ghost every second level and speeds the ghosts up. The same dynamics
serve five tasks that differ only in their reward table and in what ends a level (the paper's
table of rewards per event):

    mode     step  food  power pill  eat ghost  killed   level ends when
    regular  0     1     2           5          0        all food is eaten
    avoid    0.1   -0.1  -5          -10        -20      128 steps have passed
    hunt     0     0     1           10         -20      all ghosts are eaten
    ambush   0     -0.1  0           10         -20      all ghosts are eaten
    rush     0     -0.1  10          0          0        all power pills are eaten

Actions (5): 0 stay, 1 right, 2 up, 3 left, 4 down; a move into a wall leaves the player where
it is. Ghosts move with probability `speed` per step (0.5 on level 1, +0.1 per level, halved while
edible): in a corridor they follow it, at a junction they never reverse and head for the player
(away from it while edible), except with probability 0.05 when they take a random exit. New
ghosts appear at least `SAFE_DISTANCE` cells (Chebyshev) from the player.

Observation (the choice made here): a channels-first RGB frame, float32 (3, 15, 19) with every
channel 0 or 1, so each cell is one of 7 colours -- empty black, wall white, food blue, power
pill cyan, player green, ghost red, edible ghost yellow (priority in that reverse order). The
paper's frames are RGB too; its edible ghosts fade with the remaining power time, here they are
one colour, so a frame is exactly one of 7^(15*19) and "frame accuracy" is well defined
(`palette_index`). Episodes terminate only when the player dies; the registered ids truncate at
1000 steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

MAZE = (
    "###################",
    "#...#.........#...#",
    "#.#.#.#######.#.#.#",
    "#.................#",
    "#.#.#.#######.#.#.#",
    "#.#.............#.#",
    "#.####.#####.####.#",
    "#......#####......#",
    "#.####.#####.####.#",
    "#.#.............#.#",
    "#.#.#.#######.#.#.#",
    "#.................#",
    "#.#.#.#######.#.#.#",
    "#...#.........#...#",
    "###################",
)
"""The paper's 15 x 19 maze: '#' wall, '.' free."""
WALLS = np.array([[c == "#" for c in row] for row in MAZE])
HEIGHT, WIDTH = WALLS.shape
MOVES = np.array([[0, 0], [0, 1], [-1, 0], [0, -1], [1, 0]])
"""Row/column change of each action: stay, right, up, left, down."""
REVERSE = {1: 3, 2: 4, 3: 1, 4: 2}
N_PILLS = 2
PILL_DURATION = 20
SAFE_DISTANCE = 5
GHOST_SPEED = 0.5
GHOST_SPEED_STEP = 0.1
GHOST_NOISE = 0.05
AVOID_LEVEL_STEPS = 128

COLOURS = np.array(
    [
        [0, 0, 0],  # empty
        [1, 1, 1],  # wall
        [0, 0, 1],  # food
        [0, 1, 1],  # power pill
        [0, 1, 0],  # player
        [1, 0, 0],  # ghost
        [1, 1, 0],  # edible ghost
    ],
    dtype=np.float32,
)
"""The 7 cell colours (RGB), indexed by the cell's class."""


@dataclass(frozen=True)
class Rewards:
    """One mode's reward per event and the goal that ends a level."""

    step: float
    food: float
    pill: float
    ghost: float
    death: float
    level_goal: str
    """'food', 'ghosts', 'pills' (all eaten) or 'timer' (AVOID_LEVEL_STEPS steps)."""


MODES: dict[str, Rewards] = {
    "regular": Rewards(0.0, 1.0, 2.0, 5.0, 0.0, "food"),
    "avoid": Rewards(0.1, -0.1, -5.0, -10.0, -20.0, "timer"),
    "hunt": Rewards(0.0, 0.0, 1.0, 10.0, -20.0, "ghosts"),
    "ambush": Rewards(0.0, -0.1, 0.0, 10.0, -20.0, "ghosts"),
    "rush": Rewards(0.0, -0.1, 10.0, 0.0, 0.0, "pills"),
}


def palette_index(frames: np.ndarray) -> np.ndarray:
    """Cell classes [..., H, W] (indices into `COLOURS`) of channels-first frames [..., 3, H, W],
    each channel rounded to 0 or 1 first (so a model's real-valued prediction gets the class of
    the nearest colour corner; corners outside the palette get -1)."""
    bits = (np.asarray(frames) > 0.5).astype(np.int64)
    code = bits[..., 0, :, :] * 4 + bits[..., 1, :, :] * 2 + bits[..., 2, :, :]
    lookup = np.full(8, -1, dtype=np.int64)
    for i, (r, g, b) in enumerate(COLOURS.astype(np.int64)):
        lookup[r * 4 + g * 2 + b] = i
    return lookup[code]


class MiniPacmanEnv(gym.Env[np.ndarray, np.int64]):
    """MiniPacman with one of the five reward tables (`mode`)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, mode: str = "regular", render_mode: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {sorted(MODES)}")
        self.mode = mode
        self.rewards = MODES[mode]
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3, HEIGHT, WIDTH), np.float32)
        self.action_space = gym.spaces.Discrete(len(MOVES))
        self._free = np.argwhere(~WALLS)
        self.player = np.zeros(2, dtype=np.int64)
        self.ghosts: list[tuple[np.ndarray, int]] = []
        """(position, direction 1-4) of each ghost still on the board."""
        self.food = np.zeros_like(WALLS)
        self.pills: list[np.ndarray] = []
        self.power = 0
        self.level = 1
        self.timer = 0

    def _random_cell(self, far_from: np.ndarray | None = None) -> np.ndarray:
        cells = self._free
        if far_from is not None:
            cells = cells[np.abs(cells - far_from).max(axis=1) >= SAFE_DISTANCE]
        return cells[self.np_random.integers(len(cells))].copy()

    def _start_level(self, level: int) -> None:
        self.level = level
        self.timer = 0
        self.power = 0
        self.food = ~WALLS
        self.pills = [self._random_cell() for _ in range(N_PILLS)]
        self.player = self._random_cell()
        n_ghosts = 1 + (level - 1) // 2
        self.ghosts = [
            (self._random_cell(self.player), int(self.np_random.integers(1, 5)))
            for _ in range(n_ghosts)
        ]

    @property
    def ghost_speed(self) -> float:
        speed = GHOST_SPEED + GHOST_SPEED_STEP * (self.level - 1)
        return speed * 0.5 if self.power > 0 else speed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._start_level(1)
        return self._frame(), self._info()

    def _move(self, pos: np.ndarray, action: int) -> np.ndarray:
        new = pos + MOVES[action]
        return pos if WALLS[new[0], new[1]] else new

    def _ghost_direction(self, pos: np.ndarray, direction: int) -> int:
        exits = [a for a in range(1, 5) if not WALLS[tuple(pos + MOVES[a])]]
        if len(exits) == 1:
            return exits[0]
        if len(exits) == 2:  # a corridor (or a corner): keep going, never turn back
            return (
                direction
                if direction in exits
                else next(a for a in exits if a != REVERSE[direction])
            )
        exits = [a for a in exits if a != REVERSE[direction]]
        if self.np_random.random() < GHOST_NOISE and self.power == 0:
            return exits[int(self.np_random.integers(len(exits)))]
        to_player = (self.player - pos).astype(np.float64)
        norm = np.linalg.norm(to_player)
        if norm == 0:
            return exits[0]
        alignment = [float(MOVES[a] @ to_player) / norm for a in exits]
        best = int(np.argmin(alignment)) if self.power > 0 else int(np.argmax(alignment))
        return exits[best]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        r = self.rewards
        reward = r.step
        self.timer += 1
        self.power = max(0, self.power - 1)
        self.player = self._move(self.player, int(action))
        row, col = self.player
        if self.food[row, col]:
            self.food[row, col] = False
            reward += r.food
        for i, pill in enumerate(self.pills):
            if (pill == self.player).all():
                del self.pills[i]
                reward += r.pill
                self.power = PILL_DURATION
                break
        dead = False
        survivors = []
        for pos, direction in self.ghosts:
            # a ghost meets the player if it stands on the player's new cell, or moves onto it
            met = (pos == self.player).all()
            if not met and self.np_random.random() < self.ghost_speed:
                direction = self._ghost_direction(pos, direction)
                pos = self._move(pos, direction)
                met = (pos == self.player).all()
            if met and self.power > 0:
                reward += r.ghost
                continue
            if met:
                dead = True
            survivors.append((pos, direction))
        self.ghosts = survivors
        if dead:
            reward += r.death
        elif self._level_done():
            self._start_level(self.level + 1)
        return self._frame(), float(reward), dead, False, self._info()

    def _level_done(self) -> bool:
        goal = self.rewards.level_goal
        if goal == "food":
            return not self.food.any()
        if goal == "ghosts":
            return not self.ghosts
        if goal == "pills":
            return not self.pills
        return self.timer >= AVOID_LEVEL_STEPS

    def cells(self) -> np.ndarray:
        """The cell classes [H, W] (indices into `COLOURS`) of the current state."""
        grid = WALLS.astype(np.int64)
        grid[self.food] = 2
        for pill in self.pills:
            grid[pill[0], pill[1]] = 3
        grid[self.player[0], self.player[1]] = 4
        for pos, _ in self.ghosts:
            grid[pos[0], pos[1]] = 6 if self.power > 0 else 5
        return grid

    def _frame(self) -> np.ndarray:
        return np.ascontiguousarray(COLOURS[self.cells()].transpose(2, 0, 1))

    def _info(self) -> dict[str, Any]:
        return {"level": self.level, "power": self.power, "ghosts": len(self.ghosts)}

    def render(self) -> np.ndarray:
        """An RGB uint8 image [H*8, W*8, 3] of the current frame."""
        image = (COLOURS[self.cells()] * 255).astype(np.uint8)
        return np.kron(image, np.ones((8, 8, 1), dtype=np.uint8))
