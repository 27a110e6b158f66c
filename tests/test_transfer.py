"""Transfer (issue 23): `--init-from RUN_DIR` loads a run's networks into a fresh run, `--freeze
encoder` trains only the output layers; the physics variants the transfer suites use."""

from __future__ import annotations

import subprocess

import gymnasium as gym
import pytest
import torch

import tidyrl
from tests.test_cli import assert_one_line_error
from tidyrl import cli
from tidyrl.api import TransferNote
from tidyrl.errors import CheckpointError, ConfigError
from tidyrl.transfer import encoder_parameters

FAST_PPO = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 2, "normalize_obs": True}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A PPO run on CartPole-v1 (a few updates: its weights and statistics differ from init)."""
    run_dir = tmp_path_factory.mktemp("transfer") / "source"
    agent = tidyrl.make("ppo", "CartPole-v1", seed=0, run_dir=run_dir, **FAST_PPO)
    agent.learn(256)
    agent.close()
    return run_dir


def states(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_init_from_loads_the_source_networks_and_statistics_into_a_fresh_run(source, tmp_path):
    src = tidyrl.load(source)
    tuned = tidyrl.make(
        "ppo", "tidyrl/CartPoleLongPole-v1", seed=5, init_from=source, run_dir=tmp_path, **FAST_PPO
    )
    for name in ("policy", "obs_norm", "reward_norm"):
        ours, theirs = getattr(tuned, name).state_dict(), getattr(src, name).state_dict()
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), f"{name}.{key}"
    assert float(tuned.obs_norm.count) > 100  # the source's statistics, not a fresh 1e-4
    assert tuned.counters == {"steps": 0, "episodes": 0, "updates": 0, "target": 0}
    assert tuned.optimizer.state == {}  # Adam's moments start fresh
    fresh = tidyrl.make("ppo", "tidyrl/CartPoleLongPole-v1", seed=5, **FAST_PPO)
    assert not torch.equal(fresh.policy.actor[0].weight, tuned.policy.actor[0].weight)
    obs = torch.randn(8, 4).numpy()
    assert (tuned.predict(obs) == src.predict(obs)).all()  # the same greedy policy
    # the run records where it started from
    tuned.save(tmp_path)
    resumed = tidyrl.load(tmp_path)
    assert resumed.run.init_from == str(source)
    for agent in (src, tuned, fresh, resumed):
        agent.close()


def test_init_from_another_algorithm_is_one_error(source):
    with pytest.raises(CheckpointError, match="holds a ppo run; a a2c run can start only"):
        tidyrl.make("a2c", "CartPole-v1", init_from=source)


def test_init_from_other_spaces_names_both_and_the_way_out(source):
    with pytest.raises(CheckpointError) as info:
        tidyrl.make("ppo", "Acrobot-v1", init_from=source, **FAST_PPO)
    text = str(info.value)
    assert "Box(shape=(4,), dtype=float32)" in text and "Box(shape=(6,), dtype=float32)" in text
    assert "same spaces" in text and "train from scratch" in text


def test_init_from_a_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="the path does not exist"):
        tidyrl.make("ppo", "CartPole-v1", init_from=tmp_path / "nope")


def test_init_from_another_architecture_is_one_error(source):
    with pytest.raises(CheckpointError, match="does not fit ppo's 'policy'"):
        tidyrl.make("ppo", "CartPole-v1", init_from=source, hidden=(32, 32), **FAST_PPO)


def test_a_box_with_other_bounds_loads_with_a_note(tmp_path):
    saved = tmp_path / "pendulum"
    # preset none: the defaults on both sides (Pendulum-v1's own preset explores with gSDE)
    agent = tidyrl.make(
        "ppo", "Pendulum-v1", preset="none", run_dir=saved, n_steps=64, batch_size=64
    )
    agent.save(saved)
    agent.close()
    gym.register("TransferTestWidePendulum-v0", entry_point=WidePendulum, max_episode_steps=200)
    with pytest.warns(TransferNote, match="other bounds"):
        tuned = tidyrl.make("ppo", "TransferTestWidePendulum-v0", init_from=saved, n_steps=64)
    tuned.close()
    # a gSDE source (log sigma [64, 1]) into a run without gSDE: one line naming the fix
    sde = tmp_path / "sde"
    tidyrl.make("ppo", "Pendulum-v1", run_dir=sde, n_steps=64, batch_size=64).save(sde)
    with pytest.raises(CheckpointError, match="log_std.*source run's network settings"):
        tidyrl.make("ppo", "TransferTestWidePendulum-v0", init_from=sde, n_steps=64)


class WidePendulum(gym.envs.classic_control.pendulum.PendulumEnv):
    """Pendulum with a stronger motor: the same (1,) action Box with bounds +-3."""

    def __init__(self, render_mode=None):
        super().__init__(render_mode=render_mode)
        self.max_torque = 3.0
        self.action_space = gym.spaces.Box(-3.0, 3.0, shape=(1,), dtype="float32")


def test_freeze_encoder_trains_only_the_heads_bitwise(source, tmp_path):
    tuned = tidyrl.make(
        "ppo",
        "tidyrl/CartPoleLongPole-v1",
        init_from=source,
        freeze="encoder",
        run_dir=tmp_path,
        **FAST_PPO,
    )
    before = states(tuned.policy)
    frozen = {id(p) for p in encoder_parameters(tuned.policy)}
    in_optimizer = {id(p) for group in tuned.optimizer.param_groups for p in group["params"]}
    assert frozen and not frozen & in_optimizer
    tuned.learn(256)
    after = tuned.policy.state_dict()
    heads = ("actor.4.weight", "actor.4.bias", "critic.4.weight", "critic.4.bias")
    for key in before:
        if key in heads:
            assert not torch.equal(after[key], before[key]), f"head {key} did not train"
        elif key != "log_std":  # Discrete: no log std to learn
            assert torch.equal(after[key], before[key]), f"frozen {key} changed"
    # a resume builds the same frozen optimizer, so its state fits and the encoder stays put
    resumed = tidyrl.load(tmp_path)
    assert not any(p.requires_grad for p in encoder_parameters(resumed.policy))
    resumed.learn(128)
    for key in before:
        if key not in heads and key != "log_std":
            assert torch.equal(resumed.policy.state_dict()[key], before[key])
    tuned.close()
    resumed.close()


@pytest.mark.parametrize(
    ("algo", "env", "extra", "trainable"),
    [
        ("sac", "Pendulum-v1", {}, {"actor": ["4."], "critic": ["layers.1."]}),
        ("dqn", "CartPole-v1", {"dueling": True}, {"q": ["advantage.2.", "value.2."]}),
    ],
)
def test_the_encoder_of_each_network_family(algo, env, extra, trainable):
    agent = tidyrl.make(algo, env, freeze="encoder", hidden=(16, 16), **extra)
    for name, prefixes in trainable.items():
        net = getattr(agent, name)
        names = [n for n, p in net.named_parameters() if p.requires_grad]
        assert names and all(any(n.startswith(x) for x in prefixes) for n in names), names
        assert len(names) == 2 * len(prefixes)  # weight and bias of each head
    agent.close()


def test_trpo_steps_only_the_heads_of_a_frozen_policy():
    """TRPO differentiates with autograd.grad over `actor_parameters()`: frozen ones stay out."""
    agent = tidyrl.make("trpo", "CartPole-v1", freeze="encoder", n_steps=128)
    before = states(agent.policy)
    agent.learn(256)
    after = agent.policy.state_dict()
    assert torch.equal(after["actor.0.weight"], before["actor.0.weight"])
    assert not torch.equal(after["actor.4.weight"], before["actor.4.weight"])
    agent.close()


def test_freeze_without_networks_is_one_error():
    with pytest.raises(ConfigError, match="no trainable network encoder"):
        tidyrl.make("q-learning", "FrozenLake-v1", freeze="encoder")


def test_cli_fine_tunes_and_reports_mistakes_in_one_line(source, tmp_path, capsys):
    code = cli.main(
        [
            "train",
            "ppo",
            "tidyrl/CartPoleLongPole-v1",
            "--steps",
            "128",
            "--init-from",
            str(source),
            "--freeze",
            "encoder",
            "--run-dir",
            str(tmp_path / "tuned"),
            "--quiet",
            "--set",
            *[f"{k}={v}" for k, v in FAST_PPO.items()],
        ]
    )
    assert code == 0
    saved = tidyrl.load(tmp_path / "tuned")
    assert saved.run.freeze == "encoder" and saved.counters["steps"] == 128
    saved.close()
    for args, fragment in [
        (["--init-from", str(tmp_path / "nope")], "no checkpoint at"),
        (["--init-from", str(source), "--set", "hidden=[8]"], "does not fit ppo's"),
        (["--init-from", str(source), "--run-dir", str(source)], "is --run-dir itself"),
    ]:
        argv = ["train", "ppo", "CartPole-v1", "--steps", "64", "--quiet", *args]
        if "--run-dir" not in args:
            argv += ["--run-dir", str(tmp_path / "x")]
        code = cli.main(argv)
        out, err = capsys.readouterr()
        assert_one_line_error(subprocess.CompletedProcess(argv, code, out, err), fragment)
        assert code == cli.EXIT_USER_ERROR


def test_physics_variants_change_only_the_constants():
    import tidyrl.envs  # noqa: F401  (registers the variants)

    long_pole = gym.make("tidyrl/CartPoleLongPole-v1").unwrapped
    assert long_pole.length == 1.0 and long_pole.polemass_length == pytest.approx(0.1)
    heavy = gym.make("tidyrl/PendulumHeavy-v1").unwrapped
    assert heavy.m == 1.5 and heavy.l == 1.0
    for variant, original in [
        ("tidyrl/CartPoleLongPole-v1", "CartPole-v1"),
        ("tidyrl/PendulumHeavy-v1", "Pendulum-v1"),
    ]:
        a, b = gym.make(variant), gym.make(original)
        assert a.observation_space == b.observation_space and a.action_space == b.action_space
        assert a.spec.max_episode_steps == b.spec.max_episode_steps
        # the same state and action lead elsewhere: the dynamics did change
        a.reset(seed=0), b.reset(seed=0)
        action = a.action_space.high if variant.endswith("Heavy-v1") else 1
        for _ in range(5):
            obs_a, *_ = a.step(action)
            obs_b, *_ = b.step(action)
        assert not (obs_a == obs_b).all()
    with pytest.raises(ValueError, match="length must be > 0"):
        gym.make("tidyrl/CartPole-v1", length=0.0)
