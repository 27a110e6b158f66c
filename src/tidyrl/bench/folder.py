"""The repository's `benchmarks/` folder: where `tidyrl bench` finds its suites and peers.

Suites and peer adapters are benchmark code, not library code, so they live beside the records
they produce rather than in the package:

    benchmarks/suites/<family>.py   a module-level ``SUITES`` list of `Suite`s per family
    benchmarks/peers.py             `peer_unavailable(library)` and `run_peer(task, seed)`

The folder is ``--benchmarks DIR`` where the command line has it, else ``$TIDYRL_BENCHMARKS``,
else ``./benchmarks`` (so the commands work from the repository root, as `make` runs them).
Its files are imported by path with importlib; every ``suites/*.py`` not starting with an
underscore is collected, so a family adds its suites without touching shared files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from tidyrl.bench.suite import Suite
from tidyrl.errors import ConfigError, unknown

ENV_VAR = "TIDYRL_BENCHMARKS"
"""Environment variable naming the benchmarks folder (when no --benchmarks is given)."""
DEFAULT_DIR = "benchmarks"
"""The folder's default, relative to the working directory."""


def benchmarks_dir(path: str | Path | None = None) -> Path:
    """`path`, else $TIDYRL_BENCHMARKS, else ./benchmarks; a `ConfigError` naming both ways to
    choose it when the folder has no ``suites/`` in it."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_DIR)
    if not (chosen / "suites").is_dir():
        raise ConfigError(
            f"no benchmark suites at {str(chosen / 'suites')!r}: run from the repository root, "
            f"or name the benchmarks folder with --benchmarks DIR or {ENV_VAR}=DIR"
        )
    return chosen


def _load(path: Path) -> ModuleType:
    """Import the file at `path` once per process, under a name unique to its location."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"_tidyrl_benchmarks_{digest}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def all_suites(root: str | Path | None = None) -> dict[str, Suite]:
    """Suite name -> suite, collected from every ``suites/*.py`` of the benchmarks folder."""
    folder = benchmarks_dir(root) / "suites"
    suites: dict[str, Suite] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for suite in getattr(_load(path), "SUITES", []):
            if suite.name in suites:
                raise RuntimeError(f"benchmark suite {suite.name!r} is declared twice")
            suites[suite.name] = suite
    return suites


def get_suite(name: str, root: str | Path | None = None) -> Suite:
    """The suite called `name`; a `ConfigError` naming the valid suites when there is none."""
    suites = all_suites(root)
    if name not in suites:
        raise ConfigError(unknown("benchmark suite", name, suites))
    return suites[name]


def peers(root: str | Path | None = None) -> ModuleType:
    """The peer adapters, ``peers.py`` of the benchmarks folder."""
    path = benchmarks_dir(root) / "peers.py"
    if not path.is_file():
        raise ConfigError(f"no peer adapters at {str(path)!r} (the benchmarks folder's peers.py)")
    return _load(path)
