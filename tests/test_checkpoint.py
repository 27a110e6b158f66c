"""Save/load (DESIGN.md section 7, layer 8): identical actions after load, safetensors + JSON only,
clear errors for corrupted or mismatched checkpoints, atomic writes, torch state round trips."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors import safe_open

import tidyrl
from tidyrl import checkpoint
from tidyrl.agent import Agent
from tidyrl.config import EnvConfig, RunConfig
from tidyrl.errors import CheckpointError, RunError

HAS_GRIDWORLD = importlib.util.find_spec("tidyrl.envs.gridworld") is not None
ENVS = [
    "FrozenLake-v1",
    pytest.param(
        "tidyrl/GridWorld-v0",
        marks=pytest.mark.skipif(
            not HAS_GRIDWORLD, reason="tidyrl.envs.gridworld is not written yet"
        ),
    ),
]


def trained(env_id: str = "FrozenLake-v1", steps: int = 1500, seed: int = 1, **kw) -> Agent:
    agent = tidyrl.make("q-learning", env_id, seed=seed, **kw)
    agent.learn(steps)
    return agent


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Agent, Path]:
    agent = trained()
    path = tmp_path / "agent"
    agent.save(path)
    return agent, path


def all_observations(agent: Agent) -> np.ndarray:
    return np.arange(agent.observation_space.n)


@pytest.mark.parametrize("env_id", ENVS)
def test_save_load_gives_identical_actions(tmp_path, env_id):
    agent = trained(env_id)
    assert np.abs(agent.q).sum() > 0  # it learned something worth comparing
    torch_state = torch.get_rng_state()
    numpy_state = agent.rng.bit_generator.state
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    assert loaded.algo == "q-learning" and loaded.config == agent.config
    assert loaded.env_cfg == agent.env_cfg
    assert loaded.q.dtype == agent.q.dtype
    np.testing.assert_array_equal(loaded.q, agent.q)
    assert loaded.counters == agent.counters
    assert loaded.counters["steps"] == 1500 and loaded.counters["updates"] == 1500
    assert loaded.rng.bit_generator.state == numpy_state
    assert torch.equal(torch.get_rng_state(), torch_state)
    states = all_observations(agent)
    np.testing.assert_array_equal(loaded.predict(states), agent.predict(states))
    for s in states:
        assert loaded.predict(int(s)) == agent.predict(int(s))
    # both generators are still in step after the same draws
    np.testing.assert_array_equal(loaded.rng.random(8), agent.rng.random(8))


def test_a_loaded_agent_is_independent_of_the_original(saved):
    agent, path = saved
    loaded = tidyrl.load(path)
    loaded.q[:] = 123.0
    assert not np.any(agent.q == 123.0)
    again = tidyrl.load(path)
    np.testing.assert_array_equal(again.q, agent.q)


def test_saved_directory_holds_only_safetensors_and_json(saved):
    _, path = saved
    files = sorted(p for p in path.rglob("*") if p.is_file())
    names = {p.relative_to(path).as_posix() for p in files}
    assert names == {"config.json", "checkpoint/meta.json", "checkpoint/state.safetensors"}
    for p in files:
        assert not p.name.endswith((".pt", ".pth", ".pkl", ".pickle", ".ckpt"))
        assert p.suffix in (".json", ".safetensors")
    meta = json.loads((path / "checkpoint" / "meta.json").read_text())
    config = json.loads((path / "config.json").read_text())
    assert meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["algo"] == config["algo"] == "q-learning"
    assert meta["counters"]["steps"] == 1500
    assert meta["observation_space"] == {"type": "Discrete", "n": 16, "start": 0}
    with safe_open(str(path / "checkpoint" / "state.safetensors"), "pt") as fh:
        assert set(fh.keys()) == {"array/q", "rng/torch"}


def test_run_directory_checkpoint_is_safetensors_and_json(run_dir):
    agent = tidyrl.make(
        "q-learning", "FrozenLake-v1", run_dir=run_dir, checkpoint_every=500, tensorboard=False
    )
    agent.learn(1200)
    files = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    assert files == {
        "config.json",
        "metrics.csv",
        "checkpoint/meta.json",
        "checkpoint/state.safetensors",
        "checkpoint/resume.safetensors",  # training checkpoints: the envs' episodes
    }
    assert tidyrl.load(run_dir).counters["steps"] == 1200


def _corrupt_truncate(ckpt: Path) -> None:
    data = (ckpt / "state.safetensors").read_bytes()
    (ckpt / "state.safetensors").write_bytes(data[: len(data) // 2])


def _corrupt_flip(ckpt: Path) -> None:
    f = ckpt / "state.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))


def _corrupt_empty(ckpt: Path) -> None:
    (ckpt / "state.safetensors").write_bytes(b"")


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_flip, _corrupt_empty])
def test_damaged_tensor_file_fails_its_checksum(saved, corrupt):
    _, path = saved
    corrupt(path / "checkpoint")
    with pytest.raises(CheckpointError) as info:
        tidyrl.load(path)
    assert "does not match its recorded checksum" in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_tensor_file_with_matching_checksum(saved):
    _, path = saved
    ckpt = path / "checkpoint"
    (ckpt / "state.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage}")
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["sha256"] = checkpoint._sha256(ckpt / "state.safetensors")
    (ckpt / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupted checkpoint"):
        tidyrl.load(path)


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe", "[1, 2]", '{"algo": "q-learning"}'])
def test_invalid_meta_json(saved, text):
    _, path = saved
    (path / "checkpoint" / "meta.json").write_text(text, encoding="latin-1")
    with pytest.raises(CheckpointError, match=r"corrupted checkpoint .*meta\.json") as info:
        tidyrl.load(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        "algo",
        "config",
        "env",
        "run",
        "state",
        "counters",
        "numpy_rng",
        "observation_space",
        "action_space",
        "sha256",
    ],
)
def test_meta_json_missing_a_key(saved, key):
    _, path = saved
    meta_file = path / "checkpoint" / "meta.json"
    meta = json.loads(meta_file.read_text())
    del meta[key]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupted checkpoint") as info:
        tidyrl.load(path)
    assert "\n" not in str(info.value)


def test_missing_tensor_file(saved):
    _, path = saved
    (path / "checkpoint" / "state.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"state\.safetensors is missing"):
        tidyrl.load(path)


def test_missing_meta_file(saved):
    _, path = saved
    (path / "checkpoint" / "meta.json").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        tidyrl.load(path)


def test_wrong_format_version(saved):
    _, path = saved
    meta_file = path / "checkpoint" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["format_version"] = 99
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"has format 99; this tidyrl reads format 1"):
        tidyrl.load(path)


def test_path_without_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="the path does not exist"):
        tidyrl.load(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*expected checkpoint/meta\.json"):
        tidyrl.load(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        tidyrl.load(tmp_path / "file.txt")


def test_locate_accepts_the_checkpoint_dir_itself(saved):
    agent, path = saved
    assert checkpoint.locate(path) == path / "checkpoint"
    assert checkpoint.locate(path / "checkpoint") == path / "checkpoint"
    np.testing.assert_array_equal(tidyrl.load(path / "checkpoint").q, agent.q)


def test_loading_onto_a_different_space_fails_clearly(saved):
    _, path = saved
    with pytest.raises(CheckpointError) as info:
        tidyrl.load(path, env=EnvConfig(id="FrozenLake-v1", kwargs={"map_name": "8x8"}))
    message = str(info.value)
    assert "observation space Discrete(16)" in message
    assert "'FrozenLake-v1' has Discrete(64)" in message
    with pytest.raises(CheckpointError, match=r"observation space Discrete\(16\).*Discrete\(48\)"):
        tidyrl.load(path, env="CliffWalking-v1")


def test_loading_onto_a_compatible_env(saved):
    agent, path = saved
    loaded = tidyrl.load(path, env=EnvConfig(id="FrozenLake-v1", kwargs={"is_slippery": False}))
    assert loaded.env_cfg.kwargs == {"is_slippery": False}
    np.testing.assert_array_equal(loaded.q, agent.q)


def test_load_run_overrides(saved):
    _, path = saved
    loaded = tidyrl.load(path, eval_episodes=3, progress=True)
    assert loaded.run.eval_episodes == 3 and loaded.run.progress is True


@pytest.mark.parametrize("failing_call", [1, 2, 3])
def test_a_failed_save_leaves_a_complete_checkpoint_and_no_temp_dir(
    tmp_path, monkeypatch, failing_call
):
    """save() renames checkpoint -> .checkpoint.old, tmp -> checkpoint, then the config; a write
    failing at any of the three (a full disk) is one line naming the cause and the checkpoint
    kept, leaves no temporary directory, and the complete checkpoint stays at checkpoint/."""
    path = tmp_path / "agent"
    agent = trained(steps=500)
    agent.save(path)
    first_q = agent.q.copy()
    agent.learn(500)
    assert not np.array_equal(agent.q, first_q)

    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append((src, dst))
        if len(calls) == failing_call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", failing_replace)
        with pytest.raises(RunError) as info:
            agent.save(path)
    message = str(info.value)
    assert "\n" not in message and "No space left on device" in message
    if failing_call <= 2:
        assert "the checkpoint of step 500 is kept" in message
    assert sorted(p.name for p in path.iterdir()) == ["checkpoint", "config.json"]
    assert checkpoint.locate(path) == path / "checkpoint"
    meta, tensors = checkpoint.read(path)
    expected_steps, expected_q = (500, first_q) if failing_call <= 2 else (1000, agent.q)
    assert meta["counters"]["steps"] == expected_steps
    np.testing.assert_array_equal(tensors["array/q"].numpy(), expected_q)
    np.testing.assert_array_equal(tidyrl.load(path).q, expected_q)
    # the next save recovers the normal layout
    agent.save(path)
    assert tidyrl.load(path).counters["steps"] == 1000
    assert not (path / ".checkpoint.old").exists()


def test_checkpoint_files_and_directories_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    """Durability, not only atomicity: after a power loss the renamed directory must hold
    data, so both files and the temporary directory are fsynced before it is renamed into
    place, and the run directory after."""
    path = tmp_path / "agent"
    agent = trained(steps=200)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    names: dict[int, str] = {}

    def recording_open(file, flags, *args, **kwargs):
        fd = real_open(file, flags, *args, **kwargs)
        names[fd] = str(file)
        return fd

    def recording_fsync(fd):
        target = names.get(fd) or os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", Path(target).name))
        return real_fsync(fd)

    def recording_replace(src, dst):
        events.append(("replace", Path(dst).name))
        return real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", recording_fsync)
        m.setattr(os, "replace", recording_replace)
        m.setattr(os, "open", recording_open)
        agent.save(path)
    tmp_name = next(name for kind, name in events if name.startswith(".checkpoint.tmp-"))
    rename = events.index(("replace", "checkpoint"))
    before = events[:rename]
    for name in ("state.safetensors", "meta.json", tmp_name):
        assert ("fsync", name) in before, (name, events)
    assert ("fsync", "agent") in events[rename:], events


def test_handmade_crash_layout_is_found(saved):
    """A process killed between the renames leaves .checkpoint.old and a half-written tmp dir."""
    agent, path = saved
    os.replace(path / "checkpoint", path / ".checkpoint.old")
    tmp = path / ".checkpoint.tmp-12345"
    tmp.mkdir()
    (tmp / "state.safetensors").write_bytes(b"partial")
    np.testing.assert_array_equal(tidyrl.load(path).q, agent.q)


def test_complete_checkpoint_is_preferred_over_old(saved):
    agent, path = saved
    shutil.copytree(path / "checkpoint", path / ".checkpoint.old")
    meta_file = path / ".checkpoint.old" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["counters"]["steps"] = 1
    meta_file.write_text(json.dumps(meta))
    assert tidyrl.load(path).counters["steps"] == agent.counters["steps"]


@dataclass(frozen=True)
class TinyConfig:
    lr: float = 0.05
    """Adam step size."""


class TinyTorchAgent(Agent):
    """A linear Q-function with Adam: enough to exercise module and optimizer checkpoints."""

    Config = TinyConfig
    algo_id = "tiny-torch"
    action_spaces = (gym.spaces.Discrete,)

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        self.net = torch.nn.Linear(self.observation_space.shape[0], int(self.action_space.n))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        self.register_state("net", "opt")

    def act(self, obs, deterministic=False):
        return self.net(torch.as_tensor(obs, dtype=torch.float32)).argmax(-1).numpy()

    def train_step(self, obs: torch.Tensor) -> None:
        loss = self.net(obs).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def _optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = opt.state_dict()
    groups = json.loads(json.dumps(sd["param_groups"]))  # tuples vs lists do not matter
    return sd["state"], groups


def test_torch_module_and_adam_round_trip(tmp_path):
    agent = TinyTorchAgent("CartPole-v1", run=RunConfig(seed=0))
    batch = torch.randn(16, 4)
    for _ in range(2):
        agent.train_step(batch)
    agent.counters["updates"] = 2

    tensors, kinds = checkpoint._collect(agent)
    assert kinds["net"] == {"kind": "module"}
    assert kinds["opt"]["kind"] == "optimizer"
    assert {
        "module/net/weight",
        "module/net/bias",
        "optim/opt/0/exp_avg",
        "optim/opt/1/exp_avg_sq",
        "optim/opt/0/step",
        "rng/torch",
    } <= set(tensors)
    meta = json.loads(
        json.dumps(
            {  # exactly what survives meta.json
                "state": kinds,
                "counters": agent.counters,
                "numpy_rng": agent.rng.bit_generator.state,
                "extra": agent.extra_state(),
            }
        )
    )
    fresh = TinyTorchAgent("CartPole-v1", run=RunConfig(seed=5))
    assert not torch.equal(fresh.net.weight, agent.net.weight)
    checkpoint.restore(fresh, meta, tensors)

    for a, b in zip(agent.net.state_dict().values(), fresh.net.state_dict().values()):
        assert torch.equal(a, b)
    (state_a, groups_a), (state_b, groups_b) = (
        _optimizer_state(agent.opt),
        _optimizer_state(fresh.opt),
    )
    assert groups_a == groups_b
    assert state_a.keys() == state_b.keys()
    for pid in state_a:
        assert state_a[pid].keys() == state_b[pid].keys()
        for key in state_a[pid]:
            a, b = torch.as_tensor(state_a[pid][key]), torch.as_tensor(state_b[pid][key])
            assert torch.equal(a, b), (pid, key)
    assert fresh.counters["updates"] == 2
    # the restored moments drive the next step exactly as the originals do
    agent.train_step(batch)
    fresh.train_step(batch)
    for a, b in zip(agent.net.parameters(), fresh.net.parameters()):
        assert torch.equal(a, b)

    # and the same through files on disk; meta.json is strict JSON (CartPole's bounds are inf)
    agent.save(tmp_path / "tiny")
    text = (tmp_path / "tiny" / "checkpoint" / "meta.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"meta.json holds {name}"))
    meta, tensors = checkpoint.read(tmp_path / "tiny")
    other = TinyTorchAgent("CartPole-v1", run=RunConfig(seed=7))
    checkpoint.restore(other, meta, tensors)
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(other.predict(obs), agent.predict(obs))
    agent.train_step(batch)
    other.train_step(batch)
    for a, b in zip(agent.net.parameters(), other.net.parameters()):
        assert torch.equal(a, b)


def test_restore_rejects_a_mismatched_module():
    agent = TinyTorchAgent("CartPole-v1")
    tensors, kinds = checkpoint._collect(agent)
    tensors["module/net/weight"] = torch.zeros(3, 4)
    meta = {"state": kinds, "counters": agent.counters, "numpy_rng": agent.rng.bit_generator.state}
    with pytest.raises(CheckpointError, match=r"does not fit tiny-torch's 'net'") as info:
        checkpoint.restore(TinyTorchAgent("CartPole-v1"), meta, tensors)
    assert "\n" not in str(info.value)


def test_restore_rejects_missing_and_unknown_state():
    agent = TinyTorchAgent("CartPole-v1")
    tensors, kinds = checkpoint._collect(agent)
    meta = {
        "state": {"net": kinds["net"]},
        "counters": agent.counters,
        "numpy_rng": agent.rng.bit_generator.state,
    }
    with pytest.raises(CheckpointError, match=r"lacks state \['opt'\]"):
        checkpoint.restore(TinyTorchAgent("CartPole-v1"), meta, tensors)
    meta["state"] = {**kinds, "critic": {"kind": "module"}}
    with pytest.raises(CheckpointError, match="state 'critic' that tiny-torch does not define"):
        checkpoint.restore(TinyTorchAgent("CartPole-v1"), meta, tensors)


def test_register_state_rejects_a_missing_attribute():
    agent = TinyTorchAgent("CartPole-v1")
    with pytest.raises(AttributeError, match="no attribute 'target_net'"):
        agent.register_state("target_net")
