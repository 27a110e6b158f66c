"""Every module in this package contributes a module-level ``SUITES`` list (one per family)."""

from __future__ import annotations

import importlib
import pkgutil

from tidyrl.bench.suite import Suite
from tidyrl.errors import ConfigError, unknown


def all_suites() -> dict[str, Suite]:
    """Suite name -> suite, collected from every module of this package."""
    suites: dict[str, Suite] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for suite in getattr(module, "SUITES", []):
            if suite.name in suites:
                raise RuntimeError(f"benchmark suite {suite.name!r} is declared twice")
            suites[suite.name] = suite
    return suites


def get_suite(name: str) -> Suite:
    suites = all_suites()
    if name not in suites:
        raise ConfigError(unknown("benchmark suite", name, suites))
    return suites[name]
