"""Faults a user can cause or meet (issue 28, item 6): one clear line, a non-zero exit status, no
traceback, no hang, and a run that is never lost (the last good checkpoint stays loadable)."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tidyrl
from tests.helpers import ENV_FOR_FAMILY, NS, imitation_overrides, run_tidyrl, subprocess_env
from tests.test_cli import assert_one_line_error
from tidyrl import cli, registry
from tidyrl.config import EnvConfig
from tidyrl.envs.make import make_env
from tidyrl.errors import ConfigError, EnvError, RunError, TidyError
from tidyrl.logging import read_metrics


def run_main(capsys, *argv: str) -> subprocess.CompletedProcess:
    """`tidyrl ARGV` in this process, as a CompletedProcess for `assert_one_line_error`."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), code, out, err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("algo", registry.names())
def test_cuda_without_cuda_is_one_line_for_every_algorithm(tmp_path, capsys, algo):
    env = ENV_FOR_FAMILY[registry.entry(algo).family]
    run_dir = tmp_path / "run"
    needs = imitation_overrides(algo, env, tmp_path)  # demos, expert
    settings = ["device=cuda", *(f"{k}={v}" for k, v in needs.items())]
    result = run_main(capsys, "train", algo, env, "--set", *settings, "--run-dir", str(run_dir))
    assert_one_line_error(result, "device=cuda is not available", "device=cpu", "device=auto")
    assert result.returncode == cli.EXIT_USER_ERROR
    assert not run_dir.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_auto_picks_the_cpu_and_a_gpu_checkpoint_loads_here(tmp_path):
    agent = tidyrl.make("dqn", "CartPole-v1", device="auto", learning_starts=10)
    assert agent.device == torch.device("cpu")
    agent.learn(50)
    agent.save(tmp_path / "a")
    meta_file = tmp_path / "a" / "checkpoint" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["run"]["device"] = "cuda"  # as if trained on a GPU machine (tensors are stored on CPU)
    meta_file.write_text(json.dumps(meta))
    loaded = tidyrl.load(tmp_path / "a")
    assert loaded.device == torch.device("cpu")
    obs = torch.randn(32, 4).numpy()
    assert (loaded.predict(obs) == agent.predict(obs)).all()


def saved_steps(run_dir) -> int:
    return int(json.loads((run_dir / "checkpoint" / "meta.json").read_text())["counters"]["steps"])


ENV_FAILURES = {
    # (algorithm, env, extra args, fragments of the one line, training step of the failure)
    "step-in-process": (
        "dqn",
        "StepRaises-v0",
        ["--set", "learning_starts=50", "train_freq=64", "gradient_steps=8"],
        ["raised RuntimeError in step(): simulated failure in step number 301"],
        300,
    ),
    "reset-in-process": (
        "reinforce",
        "ResetRaises-v0",
        [],
        ["raised RuntimeError in reset(): simulated failure in reset number 31"],
        299,  # the 300th step ended an episode whose reset failed: it is not counted
    ),
    "step-in-a-vector-env": (
        "ppo",
        "StepRaises-v0",
        ["--n-envs", "4", "--set", "n_steps=16", "batch_size=64", "n_epochs=2"],
        ["raised RuntimeError in step() (env copy 0 of 4): simulated failure in step number 301"],
        1200,
    ),
    "step-in-an-a3c-worker": (
        "a3c",
        "StepRaises-v0",
        ["--set", "n_workers=2"],
        ["raised RuntimeError in step(): simulated failure in step number 301", "(in worker "],
        None,  # the other worker's steps count too
    ),
}


@pytest.mark.parametrize("case", ENV_FAILURES)
def test_an_env_that_raises_stops_the_run_with_one_line_and_a_checkpoint(tmp_path, case):
    algo, env_name, extra, fragments, failed_at = ENV_FAILURES[case]
    env_id = f"tests.helpers:{NS}/{env_name}"
    run_dir = tmp_path / "run"
    args = ["train", algo, env_id, "--steps", "20000", "--run-dir", str(run_dir), *extra]
    args += ["--set", "checkpoint_every=100", "tensorboard=false"]
    result = run_tidyrl(*args, cwd=tmp_path, timeout=60)  # a hang fails here
    line = assert_one_line_error(
        result, f"environment '{env_id}'", *fragments, " at training step ", "tidyrl resume"
    )
    assert result.returncode == cli.EXIT_USER_ERROR
    step = int(line.split(" at training step ")[1].split(";")[0])
    if failed_at is not None:
        assert step == failed_at
    # the run is not lost: a checkpoint of the failure's step, loadable and resumable
    assert saved_steps(run_dir) == step
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []
    agent = tidyrl.load(run_dir)
    assert agent.counters["steps"] == step


def test_a_resumed_run_continues_after_an_env_failure(tmp_path, capsys):
    """The checkpoint written at the failure continues like any other (a fresh env copy counts
    its steps from zero again, so 300 more steps fit before it raises)."""
    env_id = f"tests.helpers:{NS}/StepRaises-v0"
    run_dir = tmp_path / "run"
    train = ["train", "dqn", env_id, "--steps", "2000", "--run-dir", str(run_dir), "--quiet"]
    train += ["--set", "learning_starts=50", "checkpoint_every=100", "tensorboard=false"]
    assert_one_line_error(run_main(capsys, *train), "at training step 300")
    assert cli.main(["resume", str(run_dir), "--steps", "500", "--quiet"]) == 0
    assert saved_steps(run_dir) == 500
    assert read_metrics(run_dir)[-1]["step"] == 500


def test_an_env_that_raises_in_its_constructor_or_in_evaluation_is_one_line(tmp_path, capsys):
    bad_kwargs = ["--set", 'env_kwargs={"fail_step": 0, "fail_reset": 1}']
    env_id = f"tests.helpers:{NS}/StepRaises-v0"
    result = run_main(capsys, "train", "dqn", env_id, "--run-dir", str(tmp_path / "a"), *bad_kwargs)
    assert_one_line_error(result, f"environment '{env_id}' raised RuntimeError in reset()")
    assert not (tmp_path / "a").exists()
    # evaluation builds its own env copy, whose 5th step raises
    agent = tidyrl.make("dqn", env_id, env_kwargs={"fail_step": 5})
    with pytest.raises(EnvError, match=r"raised RuntimeError in step\(\) during evaluation"):
        agent.evaluate(episodes=1)


def test_a_non_finite_loss_stops_the_run_naming_the_metric(tmp_path, capsys):
    """Rewards of 1e30 are finite, but their squared TD error overflows: the row logged at step
    300 (the first after updates began) names the metric, and the checkpoint of step 200, the
    last one written before, is what stays."""
    run_dir = tmp_path / "run"
    result = run_main(
        capsys,
        *("train", "dqn", f"tests.helpers:{NS}/HugeReward-v0", "--steps", "2000", "--quiet"),
        *("--run-dir", str(run_dir), "--set", "loss=mse", "learning_starts=250", "train_freq=1"),
        *("gradient_steps=1", "log_every=100", "checkpoint_every=100", "tensorboard=false"),
    )
    assert_one_line_error(
        result, "training diverged at step 300: loss = inf", "checkpoint of step 200 is kept"
    )
    assert result.returncode == 1  # a failed run, not a mistake in the command
    assert saved_steps(run_dir) == 200
    assert read_metrics(run_dir)[-1]["step"] == 300  # the row that shows it
    loaded = tidyrl.load(run_dir)
    assert all(torch.isfinite(p).all() for p in loaded.q.parameters())


def test_a_non_finite_parameter_is_never_checkpointed(tmp_path):
    agent = tidyrl.make(
        "dqn", "CartPole-v1", run_dir=tmp_path / "run", learning_starts=10_000, log_every=100
    )
    agent.learn(200)
    assert saved_steps(tmp_path / "run") == 200
    with torch.no_grad():
        agent.q.advantage[0].weight[0, 0] = float("nan")
    with pytest.raises(RunError, match=r"parameter q\.advantage\.0\.weight holds NaN or inf"):
        agent.learn(300)
    assert saved_steps(tmp_path / "run") == 200


def test_a_disk_that_fills_mid_checkpoint_keeps_the_previous_one(tmp_path):
    """A real failed write: the resumed run's process may not write files over 200 kB
    (`ulimit -f`), so its first checkpoint (DQN's ~1 MB of tensors) fails part-way through."""
    run_dir = tmp_path / "run"
    args = ["--run-dir", str(run_dir), "--quiet", "--set", "checkpoint_every=100"]
    args += ["tensorboard=false", "learning_starts=100"]
    assert cli.main(["train", "dqn", "CartPole-v1", "--steps", "300", *args]) == 0
    limit = 200_000
    assert (run_dir / "checkpoint" / "state.safetensors").stat().st_size > limit

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "tidyrl", "resume", str(run_dir), "--steps", "600", "--quiet"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
    )
    assert_one_line_error(
        result, f"cannot write the checkpoint in '{run_dir}'", "checkpoint of step 300 is kept"
    )
    assert result.returncode == 1
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint", "config.json", "metrics.csv"]
    assert tidyrl.load(run_dir).counters["steps"] == 300
    assert cli.main(["resume", str(run_dir), "--steps", "400", "--quiet"]) == 0  # room again
    assert saved_steps(run_dir) == 400


def test_a_run_directory_that_cannot_be_written_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_main(capsys, "train", "q-learning", "FrozenLake-v1", "--run-dir", f"{blocker}/run")
    assert_one_line_error(result, "cannot write", "Not a directory", "choose a writable --run-dir")
    assert result.returncode == cli.EXIT_USER_ERROR


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_run_directory_is_one_line(tmp_path, capsys):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    result = run_main(capsys, "train", "q-learning", "FrozenLake-v1", "--run-dir", f"{read_only}/r")
    assert_one_line_error(result, "cannot write", "Permission denied")


def test_a_checkpoint_refused_by_the_directory_keeps_the_previous_one(tmp_path, monkeypatch):
    """The directory turned read-only during the run (as root cannot test with chmod, the
    creation of the temporary directory is refused the way a read-only directory refuses it)."""
    run_dir = tmp_path / "run"
    agent = tidyrl.make("q-learning", "FrozenLake-v1", run_dir=run_dir, checkpoint_every=100)
    agent.learn(300)
    real_mkdir = Path.mkdir

    def refusing_mkdir(self, *args, **kwargs):
        if self.name.startswith(".checkpoint.tmp-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refusing_mkdir)
    with pytest.raises(TidyError, match="Permission denied; the checkpoint of step 300 is kept"):
        agent.learn(300)
    assert saved_steps(run_dir) == 300
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "leftover, fragments",
    [
        (["metrics.csv"], ["holds files of an earlier run (metrics.csv)", "--overwrite"]),
        ([".checkpoint.old"], ["already holds a run", "tidyrl resume", "--overwrite"]),
        (["config.json", "tb"], ["(config.json, tb) but no checkpoint", "--overwrite"]),
    ],
)
def test_train_refuses_a_directory_with_an_earlier_runs_files(
    tmp_path, capsys, leftover, fragments
):
    """A run killed before its checkpoint/ was complete leaves some of its files: a new run must
    neither mix its rows into that metrics.csv nor replace that .checkpoint.old silently."""
    run_dir = tmp_path / "run"
    args = ["train", "q-learning", "FrozenLake-v1", "--steps", "1000", "--run-dir", str(run_dir)]
    assert cli.main([*args, "--quiet"]) == 0
    if ".checkpoint.old" in leftover:  # killed between save()'s two renames
        (run_dir / "checkpoint").rename(run_dir / ".checkpoint.old")
    for path in run_dir.iterdir():
        if path.name not in leftover:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    before = sorted(p.name for p in run_dir.iterdir())
    assert_one_line_error(run_main(capsys, *args), f"run directory '{run_dir}'", *fragments)
    assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing touched
    assert cli.main([*args, "--quiet", "--overwrite", "--seed", "3"]) == 0
    assert json.loads((run_dir / "config.json").read_text())["run"]["seed"] == 3
    assert [r["step"] for r in read_metrics(run_dir)] == [1000]
    assert not (run_dir / ".checkpoint.old").exists()


def test_ppo_default_batch_follows_n_envs_and_a_bad_one_says_how_to_fix_it(capsys):
    """The default minibatch is the whole rollout (RL-Zoo's CartPole setting: 8 x 32 = 256), so
    changing --n-envs keeps it valid; an explicit one that does not split the rollout into whole
    minibatches names the rollout's arithmetic and a size that does."""
    from tidyrl.api import resolve_config

    for n_envs in (1, 3, 8, 12):
        _, config, _, _ = resolve_config("ppo", overrides={"n_envs": n_envs})
        assert config.minibatch_size == 32 * n_envs
    _, config, _, _ = resolve_config("ppo", "mujoco", {"n_envs": 3})
    assert config.minibatch_size == 64
    args = ("train", "ppo", "CartPole-v1", "--n-envs", "3", "--set", "batch_size=64")
    assert_one_line_error(
        run_main(capsys, *args),
        "PPOConfig.batch_size=64 does not split the rollout of n_envs * n_steps = 3 * 32 = 96",
        "batch_size=48",
        "batch_size=0 (the whole rollout)",
    )
    agent = tidyrl.make("ppo", "CartPole-v1", n_envs=3, n_epochs=1)
    agent.learn(96 * 2)
    assert agent.counters["updates"] == 2  # one whole-rollout minibatch per epoch


MY_ENVS = """
import gymnasium as gym

for name in ("Corridor-v0", "Maze-v1"):
    gym.register(
        id=f"mine/{name}",
        entry_point="gymnasium.envs.classic_control:CartPoleEnv",
        max_episode_steps=50,
    )
"""


def test_module_env_ids_find_a_module_in_the_current_directory(tmp_path, monkeypatch, capsys):
    """The `tidyrl` console script's sys.path holds its own bin directory, not the current one
    (which `python -m` adds); a user's `my_envs.py` next to them must be found either way."""
    (tmp_path / "tidyrl_test_my_envs.py").write_text(MY_ENVS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    env = make_env(EnvConfig(id="tidyrl_test_my_envs:mine/Corridor-v0"))
    assert env.spec.id == "mine/Corridor-v0"
    env.close()
    result = run_main(capsys, "train", "dqn", "tidyrl_test_my_envs:mine/Coridor-v0")
    assert_one_line_error(
        result,
        "module 'tidyrl_test_my_envs' registers no environment 'mine/Coridor-v0'.",
        "Did you mean 'mine/Corridor-v0'?",
        "It registers: mine/Corridor-v0, mine/Maze-v1",
    )
    (tmp_path / "tidyrl_test_empty.py").write_text("X = 1\n")
    result = run_main(capsys, "train", "dqn", "tidyrl_test_empty:Foo-v0")
    assert_one_line_error(result, "'tidyrl_test_empty' registers no environment", "registers none")
    (tmp_path / "tidyrl_test_broken.py").write_text("raise RuntimeError('broken module')\n")
    result = run_main(capsys, "train", "dqn", "tidyrl_test_broken:Foo-v0")
    assert_one_line_error(result, "raised RuntimeError: broken module")


def test_a_replay_that_outgrows_the_machine_is_refused_before_the_first_step(
    tmp_path, capsys, monkeypatch
):
    """DQN's CartPole row is 50 bytes (obs and next obs 4 x float32, an int64 action, reward,
    discount, two flags): 1,000 rows fill 50.0 kB by step 1,000, more than a 40 kB machine, where
    800 rows fit. The refused command leaves the run directory free for the corrected one; 700
    steps fill 35 kB and train."""
    from tidyrl import runtime

    monkeypatch.setattr(runtime, "memory_limit", lambda: 40_000)
    run_dir = str(tmp_path / "run")
    argv = ("train", "dqn", "CartPole-v1", "--run-dir", run_dir, "--quiet", "--set")
    result = run_main(capsys, *argv, "buffer_size=1000", "--steps", "2000")
    assert_one_line_error(
        result,
        "buffer_size=1,000 fills 50.0 kB of memory by step 1,000 (50 bytes a row), more than this "
        "machine's 40.0 kB; valid: buffer_size below 800, or fewer steps",
    )
    assert result.returncode == cli.EXIT_USER_ERROR
    assert not [p for p in cli.RUN_FILES if (tmp_path / "run" / p).exists()]
    assert run_main(capsys, *argv, "buffer_size=1000", "--steps", "700").returncode == 0


def test_a_replay_larger_than_the_free_memory_is_announced(capsys, monkeypatch):
    from tidyrl import runtime

    monkeypatch.setattr(runtime, "memory_available", lambda: 10_000)
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0, buffer_size=1000)
    agent.learn(300)
    assert (
        "warning: the replay will fill 15.0 kB more by step 300, more than the 10.0 kB free now"
        in capsys.readouterr().err
    )
    agent.learn(200)  # the 15 kB already filled are not counted again: 10 kB more
    assert "warning" not in capsys.readouterr().err


def test_dagger_s_dataset_that_outgrows_the_machine_is_refused(monkeypatch):
    """DAgger's aggregated dataset fills a row per step like a replay: CartPole's row is 24
    bytes (4 x float32 and an int64 label), so 1,000 rows by step 1,000 are 24.0 kB, more than
    a 20 kB machine, where 833 fit."""
    from tests.helpers import cartpole_expert
    from tidyrl import runtime

    monkeypatch.setattr(runtime, "memory_limit", lambda: 20_000)
    agent = tidyrl.make("dagger", "CartPole-v1", seed=0, dataset_capacity=1000)
    agent.use_expert(cartpole_expert)
    with pytest.raises(ConfigError, match="dataset_capacity=1,000 fills 24.0 kB .* below 833"):
        agent.learn(2000)
    agent.learn(500)  # 12 kB: trains
    assert len(agent.dataset) == 500


def test_a_buffer_the_system_cannot_reserve_is_one_line():
    from tidyrl.data.storage import RingStorage

    with pytest.raises(TidyError, match=r"cannot reserve .* for 100,000,000,000,000 rows of 16 "):
        RingStorage(10**14, {"obs": ((4,), np.float32)})
