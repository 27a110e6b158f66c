from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
"""The repository's benchmarks folder (suites and peer adapters)."""


@pytest.fixture(autouse=True)
def repository_benchmarks(monkeypatch):
    """Every test here finds the repository's suites, whatever the working directory."""
    monkeypatch.setenv("TIDYRL_BENCHMARKS", str(BENCHMARKS))
    return BENCHMARKS
