"""A reference script as a peer (`minatar-examples`): the harness drives a script with the MinAtar
authors' `examples/dqn.py` interface and measures it like tidyrl. The script below is a stand-in
written for this test (same module-level names and call signatures, a random linear Q-net);
the real script is GPL-3 and is not shipped."""

from __future__ import annotations

import os

import pytest

from tidyrl import cli
from tidyrl.bench.folder import peers
from tidyrl.bench.runner import execute, plan
from tidyrl.bench.suite import Peer, Suite, Task
from tidyrl.errors import ConfigError

STAND_IN = """
import torch

NUM_FRAMES = 5_000_000  # the harness sets the task's budget
device = None
calls = {"world_dynamics": 0, "train": 0}


def world_dynamics(t, replay_start_size, num_actions, s, env, policy_net):
    calls["world_dynamics"] += 1
    reward, terminated = env.act(t % num_actions)
    s_prime = torch.tensor(env.state()).permute(2, 0, 1).unsqueeze(0).float()
    return s_prime, t % num_actions, torch.tensor([[reward]]).float(), torch.tensor([[terminated]])


def train(sample, policy_net, target_net, optimizer):
    calls["train"] += 1


def dqn(env, replay_off, target_off, output_file_name, store=False, load_path=None, alpha=0.1):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 10 * 10, env.num_actions()))
    t = 0
    while t < NUM_FRAMES:
        env.reset()
        s, done = None, False
        while not done and t < NUM_FRAMES:
            s, _, _, terminated = world_dynamics(t, 100, env.num_actions(), s, env, net)
            if t >= 100:
                train(None, net, net, None)
            t += 1
            done = bool(terminated)
    torch.save({"returns": []}, output_file_name + "_data_and_weights")
"""


@pytest.fixture
def script_dir(tmp_path, monkeypatch):
    (tmp_path / "dqn.py").write_text(STAND_IN)
    monkeypatch.setenv("TIDYRL_MINATAR_EXAMPLES", str(tmp_path))
    return tmp_path


def test_the_script_is_driven_for_the_task_budget_and_evaluated_on_schedule(script_dir, tmp_path):
    pytest.importorskip("minatar")
    task = Task(
        "dqn", "MinAtar/Breakout-v1", 2100, preset="minatar", eval_every=1000,
        eval_episodes=2, peer=Peer("dqn", library="minatar-examples"),
    )  # fmt: skip
    record = execute(Suite("s", "value", (task,)), 0, 3, "peer", 1, tmp_path / "out")
    assert "error" not in record, record.get("traceback")
    assert record["library"] == "minatar-examples"
    assert record["peer_name"] == "minatar-examples dqn"
    assert record["steps"] == 2100 and record["updates"] == 2000  # train() from t = 100 on
    assert [p["step"] for p in record["curve"]] == [1000, 2000, 2100]
    assert record["final_eval"]["episodes"] == 2
    # training returns every 1,000 frames: Breakout pays 0 or 1 per frame, episodes are short
    assert [p["step"] for p in record["train_curve"]] == [1000, 2000]
    assert all(0 <= p["episode_return"] < 50 for p in record["train_curve"])
    assert record["peer_script"]["path"] == str(script_dir / "dqn.py")
    assert len(record["peer_script"]["sha256"]) == 64
    assert record["provenance"]["versions"]["minatar"]
    # torch.save was intercepted: the script's pickle never reached the disk (an unpatched save
    # would have failed for a user, or created the file for root)
    assert not os.path.exists(os.devnull + "_data_and_weights")


def test_missing_or_wrong_script_folder_and_unknown_peers_are_explained(tmp_path, monkeypatch):
    monkeypatch.delenv("TIDYRL_MINATAR_EXAMPLES", raising=False)
    message = peers().peer_unavailable("minatar-examples")
    assert message and "TIDYRL_MINATAR_EXAMPLES" in message and "kenjyoung/MinAtar" in message
    monkeypatch.setenv("TIDYRL_MINATAR_EXAMPLES", str(tmp_path))
    assert "holds no dqn.py" in str(peers().peer_unavailable("minatar-examples"))
    unknown = str(peers().peer_unavailable("no-such-lib"))
    assert "no-such-lib" in unknown and "sb3" in unknown and "minatar-examples" in unknown
    (tmp_path / "dqn.py").write_text(STAND_IN)
    assert peers().peer_unavailable("minatar-examples") is None


def test_minatar_game_names():
    assert peers().minatar_game("MinAtar/SpaceInvaders-v1") == "space_invaders"
    assert peers().minatar_game("MinAtar/Breakout-v0") == "breakout"
    with pytest.raises(ConfigError, match="not a MinAtar game"):
        peers().minatar_game("CartPole-v1")


def test_cli_names_the_missing_script_and_peers_only_plans_just_peers(monkeypatch, capsys):
    monkeypatch.delenv("TIDYRL_MINATAR_EXAMPLES", raising=False)
    assert cli.main(["bench", "run", "value-minatar", "--task", "dqn", "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TIDYRL_MINATAR_EXAMPLES" in err[0] and "--no-peers" in err[0]
    task = Task("q-learning", "FrozenLake-v1", 10, peer=Peer("DQN"))
    jobs = plan(Suite("s", "tabular", (task,)), (0, 1), "", peers=True, peers_only=True)
    assert [(j.seed, j.library) for j in jobs] == [(0, "peer"), (1, "peer")]
    with pytest.raises(SystemExit):
        cli.main(["bench", "run", "value-minatar", "--no-peers", "--peers-only"])
