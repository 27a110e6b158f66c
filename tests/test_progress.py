"""Progress and help (issue 28, item 8): the progress display ends on the run's true total, a
stderr that is not a terminal (a log file, a pipe) gets whole lines instead of carriage-return
frames, and the help shows the run-level settings and each algorithm's default step count."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest

import tidyrl
from tests.helpers import run_tidyrl
from tidyrl import cli


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


RUN_SETTINGS = ("device", "torch_threads", "eval_every", "eval_episodes", "checkpoint_every")


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    assert info.value.code == 0
    return capsys.readouterr().out


def test_train_help_shows_the_run_settings(capsys):
    text = help_text(capsys, "train", "--help")
    for name in RUN_SETTINGS:
        assert f"\n  {name} = " in text, name
    assert "Torch device: cpu, cuda, or auto" in text
    assert "default --steps and config: tidyrl list ALGO" in text
    text = help_text(capsys, "train", "dqn", "--help")
    assert "dqn: default --steps 50,000" in text


def test_list_algo_shows_default_steps_and_run_settings(capsys):
    assert cli.main(["list", "ppo"]) == 0
    text = capsys.readouterr().out
    assert "\ndefault --steps: 100,000\n" in text
    after = text.split("run settings, for every algorithm (--set KEY=VALUE):")[1]
    for name in RUN_SETTINGS:
        assert f"\n  {name} = " in after, name
    assert "\n  torch_threads = None (ppo: 1)\n" in after  # what None means for ppo
    assert cli.main(["list", "sac", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["default_steps"] == 20_000
    assert set(RUN_SETTINGS) <= {s["name"] for s in info["run"]}
