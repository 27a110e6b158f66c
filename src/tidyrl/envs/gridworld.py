"""The lectures' gridworld, with its transition model exposed for dynamic programming.

Lecture seed 003 ("Using rewards") describes a 4x4 grid whose cells are numbered 1..16:

    Sparse reward env: if you reach location 16, you get +1 reward, otherwise 0.
    Dense reward env:  reward = 1 / sqrt(x^2 + y^2)

Here the cells are the states 0..size*size-1 in row-major order (lecture cell k is state k - 1):
the agent starts in the top-left corner (cell 1, state 0) and the episode terminates when it
enters the bottom-right corner (cell 16, state 15). The four actions follow FrozenLake's
convention: 0 left, 1 down, 2 right, 3 up. A move into a wall leaves the agent where it is.

Rewards depend on the cell entered, s':

    sparse   r = 1 if s' is the goal, else 0
    dense    r = 1 / max(d(s'), 1),   d(s') = sqrt(dx^2 + dy^2), (dx, dy) = s' - goal in cells

The lecture's (x, y) is read as the offset of the cell from the goal. Its formula is undefined at
the goal itself (d = 0); we cap the distance at 1, so entering the goal pays 1, as much as being
next to it. Rewards then lie in (0, 1] and the reward function is defined everywhere. No constant
goal bonus could fix what follows, because the value of loitering, sum_k gamma^k = 1 / (1 - gamma),
depends on the learner's discount and not on the environment: a reward that depends only on
distance is not potential-based shaping, F(s, s') = gamma * Phi(s') - Phi(s), so it changes the
optimal policy (Ng, Harada & Russell 1999, "Policy invariance under reward transformations").
With gamma near 1 the optimal policy of the dense env walks next to the goal and bumps into the
wall there forever, collecting 1 per step, instead of entering the goal and ending the episode.
The sparse env is the task; the dense one is the lecture's cautionary example.

With `slip > 0` the move goes, with probability `slip`, in one of the three other directions
chosen uniformly at random (as FrozenLake's slippery ice, which slips to the two perpendicular
directions only).

The model is exposed in Gymnasium toy_text's convention (FrozenLake, CliffWalking, Taxi):
``env.unwrapped.P[s][a]`` is a list of ``(prob, next_state, reward, terminated)`` tuples. The goal
is absorbing: every action there loops to itself with reward 0 and ``terminated=True``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tidyrl.errors import EnvError, unknown

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
MOVES = {LEFT: (0, -1), DOWN: (1, 0), RIGHT: (0, 1), UP: (-1, 0)}
"""Action -> (row change, column change)."""
ACTION_NAMES = ("Left", "Down", "Right", "Up")
REWARDS = ("sparse", "dense")

CELL_PX = 64
FLOOR = (235, 235, 235)
LINE = (90, 90, 90)
START = (170, 200, 240)
GOAL = (80, 190, 90)
AGENT = (220, 50, 50)

Transition = tuple[float, int, float, bool]


class GridWorldEnv(gym.Env):
    """A size x size grid from the top-left start to the bottom-right goal (lecture seed 003)."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        render_mode: str | None = None,
        size: int = 4,
        reward: str = "sparse",
        slip: float = 0.0,
    ) -> None:
        if size < 2:
            raise EnvError(f"GridWorldEnv: size must be at least 2, got {size}")
        if reward not in REWARDS:
            raise EnvError(f"GridWorldEnv: {unknown('reward', reward, REWARDS)}")
        if not 0.0 <= slip <= 1.0:
            raise EnvError(f"GridWorldEnv: slip must be in [0, 1], got {slip}")
        modes = self.metadata["render_modes"]
        if render_mode is not None and render_mode not in modes:
            raise EnvError(f"GridWorldEnv: {unknown('render_mode', render_mode, modes)}")
        self.size, self.reward_type, self.slip = size, reward, slip
        self.render_mode = render_mode
        self.n_states = size * size
        self.start, self.goal = 0, self.n_states - 1
        self.observation_space = gym.spaces.Discrete(self.n_states)
        self.action_space = gym.spaces.Discrete(4)
        self.P: dict[int, dict[int, list[Transition]]] = {
            s: {a: self._outcomes(s, a) for a in range(4)} for s in range(self.n_states)
        }
        self.s = self.start
        self.last_action: int | None = None

    # -- the model ------------------------------------------------------------------------------
    def move(self, s: int, direction: int) -> int:
        """The cell reached from `s` by moving in `direction`; walls keep the agent in place."""
        row, col = divmod(s, self.size)
        d_row, d_col = MOVES[direction]
        row = min(max(row + d_row, 0), self.size - 1)
        col = min(max(col + d_col, 0), self.size - 1)
        return row * self.size + col

    def reward(self, s_next: int) -> float:
        """r(s') of the sparse or dense reward (module docstring)."""
        if self.reward_type == "sparse":
            return 1.0 if s_next == self.goal else 0.0
        row, col = divmod(s_next, self.size)
        d_row, d_col = row - (self.size - 1), col - (self.size - 1)
        return 1.0 / max(float(np.hypot(d_row, d_col)), 1.0)

    def _outcomes(self, s: int, a: int) -> list[Transition]:
        if s == self.goal:  # absorbing terminal state, as FrozenLake's holes and goal
            return [(1.0, s, 0.0, True)]
        outcomes = []
        for direction in range(4):
            prob = 1.0 - self.slip if direction == a else self.slip / 3.0
            if prob > 0.0:
                s_next = self.move(s, direction)
                outcomes.append((prob, s_next, self.reward(s_next), s_next == self.goal))
        return outcomes

    # -- the Gymnasium API ----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.s, self.last_action = self.start, None
        return int(self.s), {"prob": 1.0}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        outcomes = self.P[self.s][int(action)]
        probs = np.array([o[0] for o in outcomes])
        i = int(self.np_random.choice(len(outcomes), p=probs)) if len(outcomes) > 1 else 0
        prob, s_next, reward, terminated = outcomes[i]
        self.s, self.last_action = s_next, int(action)
        return int(s_next), float(reward), bool(terminated), False, {"prob": float(prob)}

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return self._render_text()
        if self.render_mode == "rgb_array":
            return self._render_rgb()
        return None

    def _render_text(self) -> str:
        rows = []
        for row in range(self.size):
            cells = []
            for col in range(self.size):
                s = row * self.size + col
                mark = "A" if s == self.s else "G" if s == self.goal else "S" if s == 0 else "."
                cells.append(mark)
            rows.append(" ".join(cells))
        header = f"({ACTION_NAMES[self.last_action]})\n" if self.last_action is not None else ""
        return header + "\n".join(rows) + "\n"

    def _render_rgb(self) -> np.ndarray:
        """An (size*64, size*64, 3) uint8 image drawn with NumPy: floor, start, goal, agent."""
        side = self.size * CELL_PX
        image = np.empty((side, side, 3), dtype=np.uint8)
        image[:] = FLOOR
        if self.reward_type == "dense":  # tint every cell by its reward, darker = closer
            for s in range(self.n_states):
                row, col = divmod(s, self.size)
                shade = int(235 - 80 * self.reward(s))
                image[row * CELL_PX : (row + 1) * CELL_PX, col * CELL_PX : (col + 1) * CELL_PX] = (
                    shade,
                    shade,
                    235,
                )
        for s, colour in ((self.start, START), (self.goal, GOAL)):
            row, col = divmod(s, self.size)
            image[row * CELL_PX : (row + 1) * CELL_PX, col * CELL_PX : (col + 1) * CELL_PX] = colour
        image[::CELL_PX, :] = LINE
        image[:, ::CELL_PX] = LINE
        image[-1, :] = LINE
        image[:, -1] = LINE
        row, col = divmod(self.s, self.size)
        ys, xs = np.mgrid[0:CELL_PX, 0:CELL_PX]
        centre = (CELL_PX - 1) / 2
        disc = (ys - centre) ** 2 + (xs - centre) ** 2 <= (0.3 * CELL_PX) ** 2
        cell = image[row * CELL_PX : (row + 1) * CELL_PX, col * CELL_PX : (col + 1) * CELL_PX]
        cell[disc] = AGENT
        return image
