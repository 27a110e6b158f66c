"""Benchmark suites declared in code.

A `Suite` is a list of `Task`s run over the same seeds. A task names a tidyrl algorithm, an env, a
step budget and the eval-return threshold that counts as "solved"; it may name a `Peer` (a
Stable-Baselines3 / sb3-contrib class with hyper-parameters identical to tidyrl's) that the
harness trains in the same run, alternating the two libraries run by run.

Suites are declared outside the package, in the repository's ``benchmarks/suites/<family>.py``
as a module-level ``SUITES`` list (found by `tidyrl.bench.folder`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Peer:
    """A peer library's implementation of the same task, with identical hyper-parameters."""

    algo: str
    """Class name in the peer library, e.g. "DQN", "PPO", "SAC", "QRDQN"."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Constructor keyword arguments (JSON values; `policy_kwargs` may hold `net_arch` and an
    `activation_fn` given by name, e.g. "ReLU", "Tanh")."""
    library: str = "sb3"
    """"sb3" (stable_baselines3), "sb3-contrib" (sb3_contrib), or "minatar-examples" (the
    MinAtar authors' reference script; `algo` "dqn", see ``benchmarks/peers.py``)."""
    policy: str = "MlpPolicy"
    n_envs: int = 1
    """Number of envs in the peer's DummyVecEnv (match tidyrl's n_envs)."""
    normalize: Mapping[str, Any] | None = None
    """VecNormalize keyword arguments when the tidyrl config normalizes observations/rewards."""


@dataclass(frozen=True)
class Task:
    """One (algorithm, env, budget) cell of a suite."""

    algo: str
    env: str
    steps: int
    threshold: float | None = None
    """Eval mean return that counts as solved (time-to-threshold is measured against it)."""
    preset: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Config values (algorithm or run fields), as for `tidyrl.make(**overrides)`."""
    label: str = ""
    """Row name in reports (defaults to the algorithm id plus its overrides)."""
    eval_every: int = 0
    """Evaluate every N steps for the return curve (0: steps // 10)."""
    eval_episodes: int = 10
    peer: Peer | None = None
    reference: str = ""
    """Published result at the same budget, quoted in the report (with its source)."""
    min_solved: int | None = None
    """Seeds that must reach `threshold` for the suite to pass (default: a majority)."""
    expert: str = ""
    """A saved agent (run directory) whose greedy return each record measures too, beside the
    random return, for the expert-normalised score (R - R_random) / (R_expert - R_random)."""
    metrics: Callable[[Any], Mapping[str, float]] | None = None
    """Task-specific measurements of the trained agent (e.g. MPE's landmark distance and
    collisions), stored in the record under `metrics` and tabled by the report."""
    init_from: str = ""
    """Name of the suite task (same algorithm) whose run of the same seed this task fine-tunes
    (`tidyrl.make(init_from=...)`); the harness runs that task first and keeps its agent."""
    baseline: str = ""
    """Name of the suite task learning the same target from scratch: the report sets this
    task's curve against it with Taylor & Stone's transfer metrics (`tidyrl.bench.transfer`)."""

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        parts = [self.algo]
        if self.preset:
            parts.append(f"--preset {self.preset}")
        parts += [f"{k}={v}" for k, v in self.overrides.items()]
        return " ".join(parts)

    def matches(self, text: str) -> bool:
        """`bench run --task TEXT`: TEXT (any case) is in "name env", starting at a word (so
        `ddpg` is not `sddpg`, nor `ppo` `recurrent-ppo`); empty matches all."""
        return (
            re.search(r"(?:^|\s)" + re.escape(text.lower()), f"{self.name} {self.env}".lower())
            is not None
        )

    @property
    def eval_interval(self) -> int:
        return self.eval_every or max(1, self.steps // 10)


@dataclass(frozen=True)
class Suite:
    """Tasks run together over `seeds`; `family` groups the report's tables."""

    name: str
    family: str
    tasks: tuple[Task, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    description: str = ""

    def __post_init__(self) -> None:
        names = [t.name for t in self.tasks]
        for task in self.tasks:
            for role in ("init_from", "baseline"):
                other = getattr(task, role)
                if other and other not in names:
                    raise ValueError(
                        f"suite {self.name!r}: task {task.name!r} has {role}={other!r}, which "
                        f"is no task of the suite ({', '.join(names)})"
                    )
            if task.init_from and self.task(task.init_from).algo != task.algo:
                raise ValueError(
                    f"suite {self.name!r}: task {task.name!r} ({task.algo}) cannot start from "
                    f"{task.init_from!r}, a {self.task(task.init_from).algo} task"
                )
            self.stage(task)

    def task(self, name: str) -> Task:
        """The task called `name` (KeyError if none is)."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    @property
    def sources(self) -> set[str]:
        """Names of the tasks another task fine-tunes from: their runs keep their agents."""
        return {t.init_from for t in self.tasks if t.init_from}

    @property
    def start_evaluated(self) -> set[str]:
        """Names of the tasks whose curve starts with an evaluation at step 0: fine-tuned tasks
        and their baselines (the jump-start compares the two there)."""
        return {t.name for t in self.tasks if t.init_from} | {
            t.baseline for t in self.tasks if t.baseline
        }

    def stage(self, task: Task) -> int:
        """0 for a task learning from scratch, 1 + its source's stage for a fine-tuned one."""
        chain = [task.name]
        while task.init_from:
            task = self.task(task.init_from)
            if task.name in chain:
                raise ValueError(
                    f"suite {self.name!r}: init_from goes round in a circle: "
                    + " -> ".join([*chain, task.name])
                )
            chain.append(task.name)
        return len(chain) - 1
