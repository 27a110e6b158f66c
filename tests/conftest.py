"""Shared fixtures. Importing `tests.helpers` registers the tiny test environments."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.helpers  # noqa: F401  (registers the tidytest/* environments)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A fresh, not yet existing run directory."""
    return tmp_path / "run"
