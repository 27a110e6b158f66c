"""The progress display (issue 28, item 8): it ends on the run's true total, and a stderr that is
not a terminal (a log file, a pipe) gets whole lines instead of carriage-return frames."""

from __future__ import annotations

import io
import re
import sys

import pytest

import tidyrl
from tests.helpers import run_tidyrl


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so the live tqdm bar is used."""

    def isatty(self) -> bool:
        return True


def last_frame(text: str) -> str:
    return [f for f in re.split(r"[\r\n]", text) if f.strip()][-1]


@pytest.mark.parametrize(
    "algo, env, steps, total",
    [
        # 8 envs x 32 steps per rollout: the last rollout ends past the requested 3,000
        ("ppo", "CartPole-v1", 3000, "3.07k"),
        # value iteration converges long before its budget of 10,000 sweeps
        ("value-iteration", "FrozenLake-v1", None, "438"),
    ],
)
def test_the_bar_ends_on_the_true_total(monkeypatch, algo, env, steps, total):
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    agent = tidyrl.make(algo, env, progress=True, tensorboard=False)
    agent.learn(steps or type(agent).default_steps)
    frame = last_frame(stream.getvalue())
    assert "100%" in frame and f"{total}/{total}" in frame, frame
    assert "?" not in frame


def test_no_carriage_returns_when_stderr_is_not_a_terminal(tmp_path):
    result = run_tidyrl(
        "train", "ppo", "CartPole-v1", "--steps", "10000", "--run-dir", "r", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line.split("%")[0].strip() for line in lines] == [
        "10",
        "20",
        "30",
        "40",
        "50",
        "60",
        "70",
        "80",
        "90",
        "100",
    ]
    assert lines[-1].startswith("100% 10.2k/10.2k [")
    assert "step/s]" in lines[-1] and ", return " in lines[-1]
