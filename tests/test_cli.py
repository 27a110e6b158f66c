"""The command line (DESIGN.md section 6): user mistakes give one line and no traceback; the happy
paths write what the contract says.

Error cases run `python -m tidyrl` in a subprocess, so that everything the user would see on
stderr (warnings included) is checked; happy paths mostly call `tidyrl.cli.main` in-process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import NS, missing_algorithm_modules, run_tidyrl, subprocess_env
from tidyrl import cli, plotting, registry
from tidyrl.logging import read_metrics


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Non-zero exit, stderr exactly one 'tidyrl: error:' line naming `fragments`, no traceback."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tidyrl: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli") / "fl"
    code = cli.main(
        [
            "train",
            "q-learning",
            "FrozenLake-v1",
            "--steps",
            "2000",
            "--seed",
            "1",
            "--run-dir",
            str(run_dir),
            "--quiet",
        ]
    )
    assert code == 0
    return run_dir


USER_ERRORS = {
    "unknown-algo": (
        ["train", "q-lerning", "FrozenLake-v1"],
        ["unknown algorithm 'q-lerning'", "Did you mean 'q-learning'?", "Valid choices:", "sarsa"],
    ),
    "unknown-env": (
        ["train", "q-learning", "CartPol-v1"],
        ["unknown environment 'CartPol-v1'", "Did you mean 'CartPole-v1'?"],
    ),
    "unknown-key": (
        ["train", "q-learning", "FrozenLake-v1", "--set", "alpah=0.1"],
        ["unknown config key", "'alpah'", "Did you mean 'alpha'?", "Valid choices:", "gamma"],
    ),
    "out-of-range": (
        ["train", "q-learning", "FrozenLake-v1", "--set", "alpha=2"],
        ["TDControlConfig.alpha=2.0 is out of range", "(0, 1]"],
    ),
    "not-a-number": (
        ["train", "q-learning", "FrozenLake-v1", "--set", "gamma=abc"],
        ["TDControlConfig.gamma", "expected a number", "'abc'"],
    ),
    "not-an-assignment": (
        ["train", "q-learning", "FrozenLake-v1", "--set", "alpha"],
        ["KEY=VALUE", "'alpha'"],
    ),
    "continuous-env": (
        ["train", "q-learning", "Pendulum-v1"],
        ["q-learning needs a Discrete", "Box"],
    ),
    "wide-box": (
        ["train", "sarsa", f"tests.helpers:{NS}/WideBox-v0"],
        ["sarsa needs a Discrete", "Box"],
    ),
    "deprecated-env": (["train", "q-learning", "Taxi-v3"], ["Taxi-v3", "deprecated", "Taxi-v4"]),
    "bad-module": (
        ["train", "q-learning", "no_such_module_xyz:Foo-v0"],
        ["cannot import module 'no_such_module_xyz'"],
    ),
    "unknown-preset": (
        ["train", "q-learning", "FrozenLake-v1", "--preset", "clif"],
        ["unknown preset for q-learning 'clif'", "Did you mean 'cliff'?", "Valid choices: cliff"],
    ),
    "n-envs": (
        ["train", "q-learning", "FrozenLake-v1", "--n-envs", "4"],
        ["q-learning runs a single environment", "--n-envs"],
    ),
    "zero-steps": (
        ["train", "q-learning", "FrozenLake-v1", "--steps", "0"],
        ["--steps must be at least 1"],
    ),
    "eval-missing": (
        ["eval", "no/such/path"],
        ["no checkpoint at 'no/such/path'", "does not exist"],
    ),
    "resume-missing": (["resume", "no/such/run"], ["'no/such/run' is not a run directory"]),
    "nan-reward": (
        ["train", "q-learning", f"tests.helpers:{NS}/NaNReward-v0", "--steps", "100", "--quiet"],
        ["non-finite reward", "NaNReward-v0'"],
    ),
}
# every case runs in-process (cheap); what a user's terminal shows, warnings included, is also
# checked in a real process for the cases that touch environments or checkpoints and for the
# config errors the contract names
IN_SUBPROCESS = [
    "unknown-algo",
    "unknown-env",
    "unknown-key",
    "out-of-range",
    "continuous-env",
    "wide-box",
    "deprecated-env",
    "nan-reward",
    "eval-missing",
]


@pytest.mark.parametrize("case", USER_ERRORS)
def test_user_errors_are_one_line_in_process(tmp_path, monkeypatch, capsys, case):
    args, fragments = USER_ERRORS[case]
    monkeypatch.chdir(tmp_path)
    code = cli.main(args)
    out, err = capsys.readouterr()
    result = subprocess.CompletedProcess(args, code, out, err)
    assert_one_line_error(result, *fragments)
    assert code == cli.EXIT_USER_ERROR
    if args[0] == "train" and "NaN" not in args[2]:  # rejected before a run directory is made
        assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", IN_SUBPROCESS)
def test_user_errors_are_one_line_in_a_terminal(tmp_path, case):
    args, fragments = USER_ERRORS[case]
    result = run_tidyrl(*args, cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert result.returncode == cli.EXIT_USER_ERROR


def test_nan_observation_during_training_is_one_line(tmp_path):
    """No registered algorithm takes Box observations yet, so a test-only random agent stands in
    for them (registered inside the subprocess only)."""
    code = (
        "import sys; from tests.helpers import run_cli_with_test_agent as main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train",
            "test-random",
            f"tests.helpers:{NS}/NaNObs-v0",
            "--steps",
            "100",
            "--run-dir",
            str(tmp_path / "run"),
            "--quiet",
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(result, "non-finite observation", "NaNObs-v0'")


def test_corrupted_checkpoint_for_eval(tmp_path, trained_run, capsys):
    run_dir = tmp_path / "broken"
    shutil.copytree(trained_run, run_dir)
    tensors = run_dir / "checkpoint" / "state.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:100])
    assert_one_line_error(
        run_tidyrl("eval", str(run_dir), cwd=tmp_path), "corrupted checkpoint", "checksum"
    )
    (run_dir / "checkpoint" / "meta.json").write_text("{oops")
    code = cli.main(["eval", str(run_dir)])
    out, err = capsys.readouterr()
    assert_one_line_error(
        subprocess.CompletedProcess([], code, out, err), "corrupted checkpoint", "not valid JSON"
    )


def test_train_into_an_existing_run_dir(trained_run, capsys):
    code = cli.main(["train", "q-learning", "FrozenLake-v1", "--run-dir", str(trained_run)])
    out, err = capsys.readouterr()
    assert_one_line_error(
        subprocess.CompletedProcess([], code, out, err), "already holds a run", "tidyrl resume"
    )
    assert read_metrics(trained_run)[-1]["step"] == 2000  # untouched


def test_quiet_train_prints_nothing(tmp_path):
    result = run_tidyrl(
        "train",
        "q-learning",
        "FrozenLake-v1",
        "--steps",
        "1500",
        "--run-dir",
        "r",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == ""
    assert (tmp_path / "r" / "checkpoint" / "meta.json").is_file()


def test_train_shows_progress_on_stderr(run_dir, capsys):
    assert (
        cli.main(
            ["train", "q-learning", "FrozenLake-v1", "--steps", "1500", "--run-dir", str(run_dir)]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "100%" in err and "1.50k/1.50k" in err
    assert out.startswith("trained q-learning on FrozenLake-v1 for 1500 steps")


def test_train_writes_a_run_directory(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["algo"] == "q-learning"
    assert config["env"]["id"] == "FrozenLake-v1"
    assert config["run"]["seed"] == 1
    assert config["config"]["target"] == "q-learning"
    assert config["target_steps"] == 2000
    header = (trained_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["step", "wall_time"]
    rows = read_metrics(trained_run)
    assert [r["step"] for r in rows] == [1000, 2000]
    assert "eval_return" in rows[-1]
    assert (trained_run / "checkpoint" / "meta.json").is_file()
    assert (trained_run / "checkpoint" / "state.safetensors").is_file()


def test_eval_json_prints_one_object(trained_run, capsys):
    assert cli.main(["eval", str(trained_run), "--episodes", "4", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1
    stats = json.loads(out)
    assert set(stats) == {"episodes", "mean_return", "std_return", "mean_length"}
    assert stats["episodes"] == 4
    assert 0.0 <= stats["mean_return"] <= 1.0 and stats["mean_length"] >= 1
    assert err == ""


def test_eval_text_and_stochastic(trained_run, capsys):
    code = cli.main(["eval", str(trained_run), "--episodes", "2", "--stochastic", "--seed", "5"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("q-learning on FrozenLake-v1: return ")
    assert "over 2 episodes" in out


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_eval_video(tmp_path, trained_run, suffix, capsys):
    out_file = tmp_path / f"out{suffix}"
    assert (
        cli.main(["eval", str(trained_run), "--episodes", "1", "--video", str(out_file), "--json"])
        == 0
    )
    json.loads(capsys.readouterr().out)  # the video does not disturb the JSON line
    data = out_file.read_bytes()
    assert len(data) > 1000
    if suffix == ".gif":
        assert data[:6] in (b"GIF87a", b"GIF89a")
    else:
        assert data[4:8] == b"ftyp"


def test_eval_video_bad_suffix(tmp_path, trained_run, capsys):
    assert (
        cli.main(
            ["eval", str(trained_run), "--episodes", "1", "--video", str(tmp_path / "out.avi")]
        )
        == 2
    )
    assert "must end in .mp4 or .gif" in capsys.readouterr().err


@pytest.fixture
def all_algorithms_importable():
    missing = missing_algorithm_modules()
    if missing:
        pytest.skip(f"algorithm modules not written yet: {', '.join(missing)}")


def test_list(capsys, all_algorithms_importable):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines]
    assert listed == registry.names()


def test_list_json(capsys, all_algorithms_importable):
    assert cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == registry.names()
    by_id = {r["id"]: r for r in rows}
    assert by_id["q-learning"]["action_spaces"] == ["Discrete"]
    assert by_id["q-learning"]["presets"] == ["cliff"]


def test_list_one_algorithm(capsys):
    assert cli.main(["list", "sarsa", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    fields = {f["name"]: f for f in info["fields"]}
    assert fields["target"]["fixed"] is True and fields["target"]["default"] == "sarsa"
    assert fields["alpha"]["doc"] == "Step size of the TD update."
    assert "cliff" in info["presets"]


def test_plot_three_seeds(tmp_path, capsys):
    import matplotlib.image

    run_dirs = []
    for seed in range(3):
        run_dir = tmp_path / f"s{seed}"
        assert (
            cli.main(
                [
                    "train",
                    "q-learning",
                    "FrozenLake-v1",
                    "--steps",
                    "1000",
                    "--seed",
                    str(seed),
                    "--run-dir",
                    str(run_dir),
                    "--quiet",
                    "--set",
                    "log_every=200",
                    "tensorboard=false",
                ]
            )
            == 0
        )
        run_dirs.append(str(run_dir))
    configs = [json.loads((Path(d) / "config.json").read_text()) for d in run_dirs]
    assert len({plotting._group_key(c) for c in configs}) == 1  # one curve: mean of 3 seeds
    out = tmp_path / "plots" / "curves.png"
    capsys.readouterr()
    assert cli.main(["plot", *run_dirs, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.stat().st_size > 0
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # not a blank canvas


def test_plot_of_a_non_run_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
