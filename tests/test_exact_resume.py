"""Exact resume (DESIGN.md section 7, layer 8; docs/resume.md): a run killed after a checkpoint
and resumed from its run directory writes the same metrics.csv (wall-clock columns aside) and
ends with bitwise the same parameters as the run that was never interrupted.

The kill comes some steps *after* a mid-episode checkpoint, so the killed process has logged
rows the resume must drop and replay, and the envs must be rebuilt by replaying their current
episodes. `test_resume_without_the_run_state_differs` shows the comparison is sensitive: the
same resume without the run state (what `tidyrl resume` did before) does not match.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tests.helpers import subprocess_env
from tidyrl import checkpoint, cli
from tidyrl.agent import Agent
from tidyrl.config import EnvConfig
from tidyrl.envs.make import VecEnv
from tidyrl.logging import METRICS_FILE, TIMING_COLUMNS

# case -> (env, steps, settings, kill after this step); one checkpoint falls before the kill;
# a case's first word is the algorithm
CASES: dict[str, tuple[str, int, list[str], int]] = {
    "ppo": (
        "CartPole-v1",
        2048,
        ["n_envs=4", "n_steps=64", "batch_size=64", "n_epochs=2", "log_every=128"]
        + ["checkpoint_every=700"],  # due mid-rollout at 700, written at the boundary 768
        900,
    ),
    # the LSTM memory of the envs' current episodes is run state: a resume continues with it
    "recurrent-ppo": (
        "tidyrl/CartPoleNoVel-v1",
        1024,
        ["n_envs=4", "n_steps=32", "bptt_len=8", "batch_size=64", "n_epochs=2"]
        + ["lstm_hidden=16", "log_every=128", "checkpoint_every=300"],  # written at 384
        600,
    ),
    # the checkpoint falls in I2A's pre-training phase, the kill after the switch to the I2A
    "i2a": (
        "tidyrl/MiniPacman-v0",
        320,
        ["n_envs=4", "pretrain_steps=160", "encoder_hidden=8", "hidden=16", "model_channels=8"]
        + ["rollout_depth=2", "log_every=40", "checkpoint_every=130"],  # written at 140
        250,
    ),
    # the replay's stored states and sequence priorities and the envs' LSTM memory carry over
    "r2d2": (
        "tidyrl/CartPoleNoVel-v1",
        600,
        ["lstm_hidden=8", "hidden=8", "burn_in=2", "unroll=6", "period=4", "batch_size=4"]
        + ["learning_starts=150", "target_update_every=10", "log_every=100"]
        + ["checkpoint_every=320"],
        400,
    ),
    "dqn": (
        "CartPole-v1",
        2000,
        ["learning_starts=300", "train_freq=32", "gradient_steps=4", "buffer_size=1000"]
        + ["hidden=[32,32]", "batch_size=32", "target_update_every=50", "log_every=100"]
        + ["eval_every=500", "eval_episodes=2", "checkpoint_every=1050"],
        1200,
    ),
    # PER's sum- and min-trees, the n-step accumulator's pending steps and the noisy layers'
    # current noise (drawn in one call per update from torch's generator) carry over
    "rainbow": (
        "CartPole-v1",
        2000,
        ["learning_starts=300", "train_freq=32", "gradient_steps=4", "buffer_size=1000"]
        + ["hidden=[32,32]", "batch_size=32", "target_update_every=50", "log_every=100"]
        + ["n_atoms=11", "eval_every=500", "eval_episodes=2", "checkpoint_every=1050"],
        1200,
    ),
    "sac": (
        "Pendulum-v1",
        800,
        ["n_envs=2", "learning_starts=200", "hidden=[32,32]", "batch_size=32"]
        + ["buffer_size=500", "log_every=100", "checkpoint_every=450"],
        550,
    ),
    # a reward plug-in's state is learned state too (RND: predictor, its optimizer, observation
    # and return statistics, each env's running intrinsic return; its row draws use agent.rng)
    "ddpg": (
        "Pendulum-v1",
        800,
        ["learning_starts=200", "hidden=[32,32]", "batch_size=32", "buffer_size=500"]
        + ["reward=rnd", "rnd_hidden=[16]", "rnd_embedding=8", "update_proportion=0.5"]
        + ["log_every=100", "checkpoint_every=450"],
        550,
    ),
    # the environment model, its optimizer and the observation statistics are learned state;
    # the imagined rollouts draw from torch's generator
    "ddpg-imagination": (
        "Pendulum-v1",
        800,
        ["learning_starts=200", "hidden=[32,32]", "batch_size=32", "model_hidden=[32,16]"]
        + ["rollouts=4", "rollout_steps=2", "buffer_size=500", "log_every=100"]
        + ["checkpoint_every=450"],
        550,
    ),
    # the latent state of the envs' episodes and the train ratio's update debt carry over too
    "dreamer": (
        "CartPole-v1",
        300,
        ["deter=16", "hidden=16", "layers=1", "groups=4", "classes=4", "batch_size=4"]
        + ["seq_len=8", "horizon=3", "learning_starts=100", "train_ratio=12", "log_every=50"]
        + ["eval_episodes=2", "checkpoint_every=180"],
        220,
    ),
}


# gSDE: the exploration matrices the envs act with, held for 64 steps, carry over
CASES["sac gsde"] = (
    *CASES["sac"][:2],
    [*CASES["sac"][2], "use_sde=true", "sde_sample_freq=64"],
    550,
)

# ARS: the checkpoint falls at an iteration's boundary, with copies mid-episode running M
CASES["ars"] = ("CartPole-v1", 3000, ["n_envs=3", "log_every=100", "checkpoint_every=1000"], 1500)

# TQC: its critics' atoms, the temperature and the replay carry over like SAC's
CASES["tqc"] = ("Pendulum-v1", 800, [*CASES["sac"][2], "n_quantiles=5", "drop_per_net=1"], 550)
CASES["tqc gsde"] = (
    "Pendulum-v1",
    800,
    [*CASES["tqc"][2], "use_sde=true", "sde_sample_freq=64"],
    550,
)

# hindsight: each row's step and episode length, and each env copy's step in its episode, carry
# over (the 1,000-row replay wraps, so the bookkeeping's ring arithmetic is resumed too)
CASES["dqn her"] = (
    "tidyrl/BitFlip-v0",
    2000,
    [*CASES["dqn"][2][:-1], "checkpoint_every=1048", "her_future_goals=4"],
    1200,
)


class Killed(Exception):
    """Stands for the process dying: nothing after it runs (no final row, no checkpoint)."""


def train_args(algo: str, run_dir: Path) -> list[str]:
    env, steps, settings, _ = CASES[algo]
    return [
        "train",
        algo.split()[0],
        env,
        "--steps",
        str(steps),
        "--run-dir",
        str(run_dir),
        "--quiet",
        "--set",
        *settings,
        "tensorboard=false",
    ]


def train(algo: str, run_dir: Path, kill_after: int | None = None) -> None:
    """`tidyrl train`; with `kill_after`, the process 'dies' at the first tick past that step."""
    real_tick = Agent.tick

    def tick(self: Agent, *args: Any, **kwargs: Any) -> None:
        real_tick(self, *args, **kwargs)
        if kill_after is not None and self.counters["steps"] > kill_after:
            raise Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Agent, "tick", tick)
        try:
            assert cli.main(train_args(algo, run_dir)) == 0
        except Killed:
            assert kill_after is not None
        else:
            assert kill_after is None, "the run ended before it was killed"


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / METRICS_FILE, newline="") as fh:
        return [
            {k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(fh)
        ]


def learned_state(run_dir: Path) -> dict[str, torch.Tensor]:
    _, tensors = checkpoint.read(run_dir)
    return {k: v for k, v in tensors.items() if k.startswith(("module/", "optim/"))}


def assert_same_run(a: Path, b: Path) -> None:
    rows_a, rows_b = rows(a), rows(b)
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b]
    for row_a, row_b in zip(rows_a, rows_b):
        assert row_a == row_b, f"metrics differ at step {row_a['step']}"
    state_a, state_b = learned_state(a), learned_state(b)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def kill_mid_episode(algo: str, run_dir: Path) -> int:
    """Train until the kill; return the step of the checkpoint left behind, checking that its
    envs were mid-episode (so the resume has episodes to replay) and that rows were logged
    after it (so the resume has rows to drop)."""
    train(algo, run_dir, kill_after=CASES[algo][3])
    meta, _ = checkpoint.read(run_dir)
    arrays = checkpoint.read_run_state(run_dir, meta)
    replayed = [len(v) for k, v in arrays.items() if k.startswith("env/actions/")]
    assert any(replayed), "the checkpoint fell on an episode boundary of every env copy"
    step = int(meta["counters"]["steps"])
    assert int(rows(run_dir)[-1]["step"]) > step, "no rows were logged after the checkpoint"
    return step


@pytest.mark.parametrize("algo", sorted(CASES))
def test_resumed_run_equals_the_uninterrupted_run(algo, tmp_path):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train(algo, whole)
    kill_mid_episode(algo, resumed)
    assert cli.main(["resume", str(resumed), "--quiet"]) == 0
    assert_same_run(whole, resumed)


def test_resume_in_a_fresh_process_equals_the_uninterrupted_run(tmp_path):
    """`tidyrl resume` in a new interpreter: nothing survives in memory from the killed run."""
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train("sac", whole)
    kill_mid_episode("sac", resumed)
    done = subprocess.run(
        [sys.executable, "-m", "tidyrl", "resume", str(resumed), "--quiet"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert_same_run(whole, resumed)


def test_interrupted_on_policy_run_keeps_its_rollout_boundary_checkpoint(tmp_path):
    """Ctrl-C mid-rollout writes no checkpoint (a partial rollout cannot be saved); the one
    from the last rollout boundary resumes exactly."""
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train("ppo", whole)
    real_tick = Agent.tick

    def tick(self: Agent, *args: Any, **kwargs: Any) -> None:
        real_tick(self, *args, **kwargs)
        if self.counters["steps"] == 900:  # mid-rollout (rollouts of 256 steps)
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Agent, "tick", tick)
        assert cli.main(train_args("ppo", resumed)) == 130  # interrupted
    meta, _ = checkpoint.read(resumed)
    assert meta["counters"]["steps"] == 768  # due at 700, written when the next rollout began
    assert cli.main(["resume", str(resumed), "--quiet"]) == 0
    assert_same_run(whole, resumed)


def test_resume_without_the_run_state_differs(tmp_path):
    """The same kill and resume with only the learnable state (fresh envs, empty replay):
    the comparison above catches it."""
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train("dqn", whole)
    kill_mid_episode("dqn", resumed)
    agent = tidyrl.load(resumed, run_dir=str(resumed), resume=False)
    agent.learn(agent.counters["target"] - agent.counters["steps"])
    agent.close()
    with pytest.raises(AssertionError):
        assert_same_run(whole, resumed)


def step_many(env: VecEnv, actions: list[np.ndarray]) -> list[tuple[Any, ...]]:
    out = []
    for a in actions:
        s = env.step(a)
        out.append((s.obs, s.next_obs, s.rewards, s.terminated, s.truncated, s.episode_returns))
    return out


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "FrozenLake-v1"])
def test_env_restored_mid_episode_continues_identically(env_id):
    """A VecEnv rebuilt from its state gives the same next steps: observations, rewards, ends,
    episode returns (FrozenLake is slippery: its steps draw from the env's generator, so the
    generator's position must be restored as well)."""
    cfg = EnvConfig(id=env_id)
    env = VecEnv(cfg, n_envs=3, seed=7)
    space = env.single_action_space
    space.seed(1)
    before = [np.stack([space.sample() for _ in range(3)]) for _ in range(37)]
    after = [np.stack([space.sample() for _ in range(3)]) for _ in range(60)]
    step_many(env, before)
    assert any(env.trace.episodes) or env_id == "Pendulum-v1"  # some copy began a new episode
    state, arrays = env.state()
    expected = step_many(env, after)
    env.close()
    fresh = VecEnv(cfg, n_envs=3, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deterministic env replays without a warning
        fresh.restore(state, arrays)
    got = step_many(fresh, after)
    fresh.close()
    for e, g in zip(expected, got):
        for x, y in zip(e, g):
            np.testing.assert_array_equal(x, y)


class CoinEnv(gym.Env):
    """Observations from an unseeded generator: not reproducible from a seed and actions."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.coin = np.random.default_rng()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.coin.random(1, dtype=np.float32), {}

    def step(self, action):
        return self.coin.random(1, dtype=np.float32), 0.0, False, False, {}


def test_env_that_replays_differently_warns():
    gym.register(id="tidytest/Coin-v0", entry_point=CoinEnv, max_episode_steps=100)
    cfg = EnvConfig(id="tidytest/Coin-v0")
    env = VecEnv(cfg, n_envs=1, seed=0)
    step_many(env, [np.zeros(1, dtype=np.int64)] * 5)
    state, arrays = env.state()
    fresh = VecEnv(cfg, n_envs=1, seed=0)
    with pytest.warns(RuntimeWarning, match="not deterministic"):
        fresh.restore(state, arrays)
