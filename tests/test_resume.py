"""Resume (DESIGN.md section 7, layer 8): an interrupted run continues from its checkpoint to its
target, and its metrics stay one row per step, in order."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tidyrl
from tests.helpers import subprocess_env
from tidyrl import cli
from tidyrl.agent import Agent
from tidyrl.logging import read_metrics


def steps_logged(run_dir: Path) -> list[int]:
    return [int(row["step"]) for row in read_metrics(run_dir)]


def assert_strictly_increasing(steps: list[int]) -> None:
    assert steps, "metrics.csv has no rows"
    assert all(a < b for a, b in zip(steps, steps[1:])), steps


def test_interrupted_run_resumes_to_its_target(run_dir, monkeypatch):
    real_tick = Agent.tick

    def tick_then_interrupt(self, *args, **kwargs):
        real_tick(self, *args, **kwargs)
        if self.counters["steps"] == 2000:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run

    with monkeypatch.context() as m:
        m.setattr(Agent, "tick", tick_then_interrupt)
        code = cli.main(
            [
                "train",
                "q-learning",
                "FrozenLake-v1",
                "--steps",
                "4000",
                "--run-dir",
                str(run_dir),
                "--set",
                "checkpoint_every=500",
                "log_every=250",
                "--quiet",
            ]
        )
    assert code == 130
    interrupted = tidyrl.load(run_dir)
    assert interrupted.counters["steps"] == 2000 and interrupted.counters["target"] == 4000
    assert json.loads((run_dir / "config.json").read_text())["target_steps"] == 4000
    assert steps_logged(run_dir)[-1] == 2000

    assert cli.main(["resume", str(run_dir), "--quiet"]) == 0
    steps = steps_logged(run_dir)
    assert_strictly_increasing(steps)
    assert steps == list(range(250, 4001, 250))
    rows = read_metrics(run_dir)
    assert "eval_return" in rows[-1]
    final = tidyrl.load(run_dir)
    assert final.counters["steps"] == 4000 and final.counters["target"] == 4000
    assert final.counters["updates"] == 4000
    # resuming a finished run changes nothing
    assert cli.main(["resume", str(run_dir), "--quiet"]) == 0
    assert steps_logged(run_dir) == steps


def test_resume_drops_rows_logged_after_the_checkpoint(run_dir):
    """A killed run may have logged past its last checkpoint; resume replays those steps."""
    agent = tidyrl.make(
        "q-learning",
        "FrozenLake-v1",
        run_dir=run_dir,
        log_every=100,
        checkpoint_every=1000,
        tensorboard=False,
    )
    agent.learn(2000)
    ckpt_steps = agent.counters["steps"]
    with open(run_dir / "metrics.csv", "a") as fh:  # rows a killed process wrote after it
        fh.write(f"{ckpt_steps + 100},0.1,1,1,1\n{ckpt_steps + 200},0.2,1,1,1\n")
    assert cli.main(["resume", str(run_dir), "--steps", "3000", "--quiet"]) == 0
    steps = steps_logged(run_dir)
    assert_strictly_increasing(steps)
    assert steps[-1] == 3000


def test_resume_of_a_directory_without_a_run_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tidyrl: error:") and "no config.json" in err


def _meta_steps(run_dir: Path) -> int:
    try:
        meta = json.loads((run_dir / "checkpoint" / "meta.json").read_text())
    except (OSError, ValueError):  # not written yet, or replaced while we read
        return -1
    return int(meta["counters"]["steps"])


def test_killed_process_resumes(tmp_path):
    run_dir = tmp_path / "D"
    env = subprocess_env()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidyrl",
            "train",
            "q-learning",
            "Taxi-v4",
            "--steps",
            "400000",
            "--set",
            "checkpoint_every=20000",
            "--run-dir",
            str(run_dir),
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _meta_steps(run_dir) < 20000:
            if proc.poll() is not None:
                pytest.fail(f"training exited early ({proc.returncode}): {proc.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint with 20000 steps within 60 s")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = tidyrl.load(run_dir).counters["steps"]
    assert 20000 <= killed_at < 400000

    resumed = subprocess.run(
        [sys.executable, "-m", "tidyrl", "resume", str(run_dir), "--steps", "60000", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    final = tidyrl.load(run_dir)
    assert final.counters["steps"] == 60000
    assert final.counters["target"] == 60000
    steps = steps_logged(run_dir)
    assert_strictly_increasing(steps)
    assert steps[-1] == 60000
