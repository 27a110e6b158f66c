"""User-facing errors.

Every mistake a user can make (an unknown algorithm, environment or config key, an action space an
algorithm cannot handle, non-finite observations, a corrupted checkpoint) raises a `TidyError`
subclass whose message is one line naming the problem and the valid choices. The CLI prints that
line and exits non-zero without a traceback; the Python API lets the exception propagate.

A run that cannot go on (its environment raised, training diverged, the disk filled up) stops with
a `RunError`: one line as well, exit status 1 instead of a user mistake's 2, and the last good
checkpoint kept on disk.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable

USER_MISTAKE = 2
"""Exit status of the CLI for a user's mistake."""
RUN_FAILED = 1
"""Exit status of the CLI for a run that failed while running."""


class TidyError(Exception):
    """Base class of errors caused by user input, reported without a traceback by the CLI."""

    exit_status = USER_MISTAKE


class ConfigError(TidyError, ValueError):
    """Unknown or invalid configuration key or value."""


class EnvError(TidyError):
    """Unknown environment, unsupported space, or non-finite data coming out of an environment."""


class CheckpointError(TidyError):
    """Missing, corrupted or mismatched checkpoint."""


class RunError(TidyError):
    """A run stopped by a failure during training (not by a mistake in its inputs)."""

    exit_status = RUN_FAILED


_USER_FIXABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}
"""Write failures the user fixes by choosing another place (exit 2); the rest (a full disk, an
I/O error) are failures of the run (exit 1)."""


def write_error(exc: OSError, what: str, kept: str = "") -> TidyError:
    """One-line error for an OSError raised while writing `what` (e.g. "the checkpoint in
    'runs/x'"), with `kept` (what is still intact on disk) appended."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    tail = f"; {kept}" if kept else ""
    if exc.errno in _USER_FIXABLE:
        return TidyError(f"cannot write {what}: {reason}{tail}; choose a writable --run-dir")
    return RunError(f"cannot write {what}: {reason}{tail}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> str:
    """One-line message for an unknown name, with a suggestion and the valid choices."""
    choices = sorted(choices)
    hint = did_you_mean(name, choices)
    return f"unknown {kind} '{name}'.{hint} Valid choices: {', '.join(choices)}"
