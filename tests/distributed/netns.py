"""Run a Python module inside a loopback-only network namespace.

Ray binds the machine's network address and opens ports; a test that starts it runs in a new
network namespace (``unshare -n``) whose only interface is its own loopback, so it neither
reaches nor disturbs the host's network, and runs where the host has none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def unavailable() -> str | None:
    """Why no such namespace can be made here (None: it can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs the unshare and ip commands (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()[:120]}"
    return None


def run_module(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m module args...`` in a fresh loopback-only network namespace, with this
    checkout's src/ and root first on the path (the Ray workers inherit it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.setdefault("OMP_NUM_THREADS", "1")
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["RAY_IGNORE_UNHANDLED_ERRORS"] = "1"
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    return subprocess.run(
        [*command, sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
