"""User-facing errors.

Every mistake a user can make (an unknown algorithm, environment or config key, an action space an
algorithm cannot handle, non-finite observations, a corrupted checkpoint) raises a `TidyError`
subclass whose message is one line naming the problem and the valid choices. The CLI prints that
line and exits non-zero without a traceback; the Python API lets the exception propagate.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TidyError(Exception):
    """Base class of errors caused by user input, reported without a traceback by the CLI."""


class ConfigError(TidyError, ValueError):
    """Unknown or invalid configuration key or value."""


class EnvError(TidyError):
    """Unknown environment, unsupported space, or non-finite data coming out of an environment."""


class CheckpointError(TidyError):
    """Missing, corrupted or mismatched checkpoint."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> str:
    """One-line message for an unknown name, with a suggestion and the valid choices."""
    choices = sorted(choices)
    hint = did_you_mean(name, choices)
    return f"unknown {kind} '{name}'.{hint} Valid choices: {', '.join(choices)}"
