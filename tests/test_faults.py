"""Faults a user can cause or meet (issue 28, item 6): one clear line, a non-zero exit status, no
traceback, no hang, and a run that is never lost (the last good checkpoint stays loadable)."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

import tidyrl
from tests.test_cli import assert_one_line_error
from tidyrl import cli, registry

ENV_FOR_FAMILY = {
    "tabular": "FrozenLake-v1",
    "value": "CartPole-v1",
    "policy-gradient": "CartPole-v1",
    "actor-critic": "Pendulum-v1",
}


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
    result = run_main(capsys, "train", algo, env, "--set", "device=cuda", "--run-dir", str(run_dir))
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
