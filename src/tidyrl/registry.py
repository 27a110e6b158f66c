"""Algorithm registry: id -> (module, class, fixed config values).

One table drives `tidyrl.make`, the CLI, `tidyrl list`, the smoke tests and the README's algorithm
table. Modules are imported lazily so `tidyrl --help` stays fast. An id may fix config fields of a
shared class: `sarsa`, `q-learning` and `expected-sarsa` are one TD-control class whose `target`
differs (a variant that changes one term is a flag, not a subclass).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from tidyrl.errors import ConfigError, unknown

if TYPE_CHECKING:  # agent imports gymnasium and torch; the registry stays light at run time
    from tidyrl.agent import Agent


@dataclass(frozen=True)
class Entry:
    module: str
    cls: str
    family: str
    summary: str
    fixed: dict[str, Any] = field(default_factory=dict)


ALGORITHMS: dict[str, Entry] = {
    "policy-iteration": Entry(
        "tidyrl.algos.tabular.dp",
        "PolicyIteration",
        "tabular",
        "Policy iteration: evaluate, improve greedily, repeat (needs the transition model)",
    ),
    "value-iteration": Entry(
        "tidyrl.algos.tabular.dp",
        "ValueIteration",
        "tabular",
        "Value iteration: Bellman optimality backups (needs the transition model)",
    ),
    "mc-control": Entry(
        "tidyrl.algos.tabular.monte_carlo",
        "MCControl",
        "tabular",
        "First-visit Monte Carlo control with decaying epsilon-greedy exploration",
    ),
    "sarsa": Entry(
        "tidyrl.algos.tabular.td",
        "TDControl",
        "tabular",
        "SARSA: on-policy TD control",
        {"target": "sarsa"},
    ),
    "q-learning": Entry(
        "tidyrl.algos.tabular.td",
        "TDControl",
        "tabular",
        "Q-learning: off-policy TD control (Sarsamax)",
        {"target": "q-learning"},
    ),
    "expected-sarsa": Entry(
        "tidyrl.algos.tabular.td",
        "TDControl",
        "tabular",
        "Expected SARSA: TD control on the policy's expected next value",
        {"target": "expected-sarsa"},
    ),
}


def names() -> list[str]:
    return list(ALGORITHMS)


def entry(name: str) -> Entry:
    if name not in ALGORITHMS:
        raise ConfigError(unknown("algorithm", name, ALGORITHMS))
    return ALGORITHMS[name]


def lookup(name: str) -> tuple[type[Agent], dict[str, Any]]:
    """The Agent class for `name` and the config values the id fixes."""
    e = entry(name)
    cls = cast("type[Agent]", getattr(importlib.import_module(e.module), e.cls))
    return cls, dict(e.fixed)


def presets(name: str) -> dict[str, dict[str, Any]]:
    cls, _ = lookup(name)
    return dict(getattr(cls, "PRESETS", {}))
