"""Benchmark suites declared in code.

A `Suite` is a list of `Task`s run over the same seeds. A task names a tidyrl algorithm, an env, a
step budget and the eval-return threshold that counts as "solved"; it may name a `Peer` (a
Stable-Baselines3 / sb3-contrib class with hyper-parameters identical to tidyrl's) that the
harness trains in the same run, alternating the two libraries run by run.

Suites are declared outside the package, in the repository's ``benchmarks/suites/<family>.py``
as a module-level ``SUITES`` list (found by `tidyrl.bench.folder`).
"""

from __future__ import annotations

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
        """`bench run --task TEXT`: TEXT (any case) is in "name env"; empty matches all."""
        return text.lower() in f"{self.name} {self.env}".lower()

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
