"""MADDPG: the target and losses against hand-computed values, gradient isolation, the
centralised vs independent critic inputs, parameter sharing, Gumbel-softmax discrete actions,
save/load/resume, same-seed determinism, one-line errors across the single/multi-agent divide,
and a small learning test."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import tidyrl
from tidyrl import checkpoint, cli
from tidyrl.algos.multiagent import maddpg
from tidyrl.envs.multiagent import MultiAgentVecEnv
from tidyrl.errors import ConfigError
from tidyrl.logging import read_metrics

RELAY = "tests.multiagent_envs:relay"
SMALL = {"learning_starts": 16, "batch_size": 8, "update_every": 4, "hidden": (16, 16)}


def make(env: str = RELAY, **overrides):
    return tidyrl.make("maddpg", env, seed=0, **{**SMALL, **overrides})


def test_td_target_and_losses_by_hand():
    rewards = torch.tensor([1.0, 2.0, 3.0])
    mask = torch.tensor([1.0, 0.0, 1.0])  # the second row terminated
    y = maddpg.td_target(rewards, mask, 0.5, torch.tensor([4.0, 4.0, -2.0]))
    torch.testing.assert_close(y, torch.tensor([3.0, 2.0, 2.0]))
    q = torch.tensor([1.0, 2.0, 5.0])
    acted = torch.tensor([1.0, 1.0, 0.0])  # the agent had left in the third row
    torch.testing.assert_close(maddpg.critic_loss(q, y, acted), torch.tensor((4.0 + 0.0) / 2))
    raw = torch.tensor([[1.0, -1.0], [2.0, 0.0], [0.0, 0.0]])
    loss = maddpg.actor_loss(torch.tensor([3.0, 1.0, 100.0]), raw, acted, 0.1)
    torch.testing.assert_close(loss, torch.tensor(-2.0 + 0.1 * 6.0 / 6))


def test_critics_see_every_agent_or_only_their_own():
    central = make()
    assert central.critics[0].head[0].in_features == 2 * 3 + 2 * 1
    independent = make(centralized_critic=False)
    assert independent.critics[0].head[0].in_features == 3 + 1
    shared = make(share_parameters=True)
    assert len(shared.actors) == 1 and shared.actors[0][0].in_features == 3 + 2  # + one-hot id


def test_local_critic_agents_learn_as_ddpg_beside_maddpg_agents():
    """The paper's mixed teams: "b" gets a local critic Q_b(o_b, a_b), "a" keeps Q_a(x, a_a, a_b);
    the local critic's value ignores what the other agent saw and did."""
    mixed = make(local_critic_agents=("b",))
    assert mixed.critics[0].head[0].in_features == 2 * 3 + 2 * 1
    assert mixed.critics[1].head[0].in_features == 3 + 1
    batch = filled(mixed)
    obs = {a: b.obs for a, b in batch.items()}
    actions = {a: b.actions for a, b in batch.items()}
    other_obs = {**obs, "a": obs["a"] + 5.0}
    other_actions = {**actions, "a": -actions["a"]}
    with torch.no_grad():
        q_b = mixed.critic_value(mixed.critics, "b", obs, actions)
        q_a = mixed.critic_value(mixed.critics, "a", obs, actions)
        torch.testing.assert_close(
            mixed.critic_value(mixed.critics, "b", other_obs, other_actions), q_b
        )
        moved = mixed.critic_value(mixed.critics, "a", {**obs, "b": obs["b"] + 5.0}, actions)
    assert not torch.allclose(moved, q_a)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"local_critic_agents": ("adv",)}, "'adv' names no agent of this env (its agents: a, b)"),
        (
            {"local_critic_agents": ("a",), "share_parameters": True},
            "share_parameters=true needs one critic layout",
        ),
    ],
)
def test_bad_local_critic_agents_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make(**overrides)


def filled(agent):
    agent.learn(40)
    return agent.replay.sample(8, np.random.default_rng(0))


def test_each_loss_moves_only_its_own_networks():
    agent = make()
    batch = filled(agent)
    before = {
        name: [p.clone() for p in getattr(agent, name).parameters()]
        for name in ("actors", "critics", "actor_targets", "critic_targets")
    }
    obs = {a: b.obs for a, b in batch.items()}
    actions = {a: b.actions for a, b in batch.items()}
    y = agent.target_q(batch)
    assert not y["a"].requires_grad
    q = agent.critic_value(agent.critics, "a", obs, actions)
    maddpg.backward_step(
        agent.critic_opt,
        list(agent.critics),
        maddpg.critic_loss(q, y["a"], batch["a"].weights),
        0.0,
    )
    moved = [not torch.equal(p, b) for p, b in zip(agent.critics.parameters(), before["critics"])]
    assert any(moved)
    for name in ("actors", "actor_targets", "critic_targets"):
        assert all(
            torch.equal(p, b) for p, b in zip(getattr(agent, name).parameters(), before[name])
        )
    # the actor loss of agent "a" reaches actor "a" only, never a critic
    critics = [p.clone() for p in agent.critics.parameters()]
    actor_b = [p.clone() for p in agent.actors[1].parameters()]
    raw = agent.actors[0](batch["a"].obs)
    q_pi = agent.critic_value(agent.critics, "a", obs, {**actions, "a": torch.tanh(raw)})
    loss = maddpg.actor_loss(q_pi, raw, batch["a"].weights, 1e-3)
    maddpg.backward_step(agent.actor_opt, list(agent.actors), loss, 0.0)
    assert all(torch.equal(p, b) for p, b in zip(agent.critics.parameters(), critics))
    assert all(torch.equal(p, b) for p, b in zip(agent.actors[1].parameters(), actor_b))


def test_a_terminated_agent_takes_no_next_action_in_the_target():
    agent = make()
    batch = filled(agent)
    b = batch["a"]
    rows = (b.terminated | (b.weights == 0)).numpy()
    assert rows.any() and (~rows).any()
    seen = {}
    original = agent.critic_value

    def spy(critics, who, obs, actions):
        seen.update({k: v.clone() for k, v in actions.items()})
        return original(critics, who, obs, actions)

    agent.critic_value = spy
    agent.target_q(batch)
    assert torch.all(seen["a"][torch.from_numpy(rows)] == 0)
    assert torch.all(seen["a"][torch.from_numpy(~rows)] != 0)


def test_discrete_actions_use_gumbel_softmax_and_give_env_indices():
    agent = make(env_kwargs={"discrete": True})
    assert agent.discrete == {"a": True, "b": True}
    agent.learn(40)
    stored = agent.replay.storage.columns["a/actions"][:40]
    assert set(stored.sum(-1)) <= {0.0, 1.0} and stored.max() == 1.0  # one-hot (0: a had left)
    actions = agent.predict({"a": np.zeros(3, np.float32), "b": np.ones(3, np.float32)})
    assert set(actions) == {"a", "b"} and all(0 <= int(x) < 3 for x in actions.values())


def test_soft_actions_store_the_gumbel_softmax_sample_whose_argmax_the_env_gets():
    agent = make(env_kwargs={"discrete": True}, soft_actions=True, learning_starts=0)
    obs = {a: np.stack([np.zeros(3, np.float32), np.ones(3, np.float32)]) for a in ("a", "b")}
    torch.manual_seed(3)
    stored = agent.explore(obs)
    torch.manual_seed(3)
    raw = agent.raw_actions("a", obs["a"])
    g = maddpg.sample_gumbel(raw.shape)
    expected = torch.softmax(torch.as_tensor(raw) + g, dim=-1).numpy()  # temperature 1
    np.testing.assert_allclose(stored["a"], expected, rtol=1e-6)
    assert np.all((stored["a"] > 0) & (stored["a"] < 1))  # soft, not one-hot
    np.testing.assert_array_equal(agent.to_env("a", stored["a"]), expected.argmax(-1))
    agent.learn(40)
    rows = agent.replay.storage.columns["b/actions"][:40]
    np.testing.assert_allclose(rows.sum(-1), 1.0, rtol=1e-5)
    assert ((rows > 0) & (rows < 1)).any()


def test_predict_takes_and_returns_per_agent_dicts_for_the_agents_given():
    agent = make("mpe2:simple_spread_v3", env_kwargs={"N": 2, "continuous_actions": True})
    obs = {"agent_1": np.zeros((5, 12), np.float32)}
    actions = agent.predict(obs)
    assert set(actions) == {"agent_1"} and actions["agent_1"].shape == (5, 5)
    assert agent.action_space["agent_1"].contains(actions["agent_1"][0])


def test_same_seed_runs_are_identical():
    def run():
        agent = make("mpe2:simple_spread_v3", env_kwargs={"N": 2})
        agent.learn(120)
        return agent

    first, second = run(), run()
    assert first.counters["updates"] > 0
    for p, q in zip(first.actors.parameters(), second.actors.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(first.critics.parameters(), second.critics.parameters()):
        assert torch.equal(p, q)


def test_every_agents_networks_live_in_one_checkpoint_and_act_identically_after_load(tmp_path):
    obs = {"a": np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)}
    agent = make(preset="seed001", run_dir=tmp_path / "run")
    agent.learn(80)
    loaded = tidyrl.load(tmp_path / "run")
    for name in ("actors", "critics", "actor_targets", "critic_targets"):
        for p, q in zip(getattr(loaded, name).parameters(), getattr(agent, name).parameters()):
            assert torch.equal(p, q)
    np.testing.assert_array_equal(loaded.predict(obs)["a"], agent.predict(obs)["a"])
    assert loaded.counters == agent.counters


def test_a_training_checkpoint_keeps_the_joint_replay_and_every_agents_noise(tmp_path):
    """A resumed MADDPG run continues with its replay and each agent's OU process, not with an
    empty replay (its env copies still start fresh episodes: docs/resume.md)."""
    agent = make(noise="ou")
    agent.learn(120)
    checkpoint.save(agent, tmp_path / "ckpt", run_state=True)
    resumed = checkpoint.load(tmp_path / "ckpt", resume=True)
    assert len(resumed.replay) == len(agent.replay) > 0
    for name in ("replay", "noise"):
        expected, got = getattr(agent, name).state_arrays(), getattr(resumed, name).state_arrays()
        assert expected and expected.keys() == got.keys()
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    fresh = make(noise="ou")
    assert len(fresh.replay) == 0  # what a resume without the run state started from


def test_cli_train_eval_plot_resume(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [
        "train",
        "maddpg",
        "mpe2:simple_spread_v3",
        "--steps",
        "100",
        "--run-dir",
        str(run_dir),
        "--quiet",
        "--env-kwargs",
        "N=2",
        "continuous_actions=true",
        "--set",
        "eval_episodes=2",
        "tensorboard=false",
        "learning_starts=50",
        "batch_size=16",
        "update_every=10",
    ]
    assert cli.main(argv) == 0
    assert tidyrl.load(run_dir).env_cfg.kwargs == {"N": 2, "continuous_actions": True}
    assert "eval_return/agent_0" in read_metrics(run_dir)[-1]
    assert cli.main(["eval", str(run_dir), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "team return" in out and "agent_0: return" in out and "agent_1: return" in out
    assert cli.main(["plot", str(run_dir)]) == 0
    gif = tmp_path / "episode.gif"
    assert cli.main(["eval", str(run_dir), "--episodes", "1", "--video", str(gif)]) == 0
    assert gif.stat().st_size > 0
    assert cli.main(["export", str(run_dir)]) == cli.EXIT_USER_ERROR
    assert "cannot export maddpg" in capsys.readouterr().err
    assert cli.main(["resume", str(run_dir), "--steps", "150", "--quiet"]) == 0
    assert tidyrl.load(run_dir).counters["steps"] == 150


@pytest.mark.parametrize(
    ("algo", "env", "message"),
    [
        ("ddpg", "mpe2:simple_spread_v3", "is a multi-agent (PettingZoo) environment"),
        ("maddpg", "CartPole-v1", "maddpg needs a PettingZoo environment"),
    ],
)
def test_single_and_multi_agent_mismatches_are_one_line_errors(
    tmp_path, capsys, algo, env, message
):
    code = cli.main(["train", algo, env, "--steps", "10", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR
    assert message in err and "maddpg" in err and err.count("\n") == 1


def test_share_parameters_needs_identical_spaces(capsys, tmp_path):
    code = cli.main(
        [
            "train",
            "maddpg",
            "mpe2:simple_adversary_v3",
            "--set",
            "share_parameters=true",
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    assert code == cli.EXIT_USER_ERROR
    assert "share_parameters=true needs every agent" in capsys.readouterr().err


@pytest.mark.learning
def test_maddpg_learns_simple_spread_with_two_agents():
    """Team return after 6,000 steps beats a uniformly random policy's, measured here."""
    env_kwargs = {"N": 2, "continuous_actions": True}
    agent = make(
        "mpe2:simple_spread_v3",
        env_kwargs=env_kwargs,
        learning_starts=500,
        update_every=5,
        batch_size=256,
        hidden=(64, 64),
    )
    agent.learn(6000)
    trained = tidyrl.evaluate(agent, episodes=20)["mean_return"]
    random_return = uniform_random_return(agent.env_cfg, episodes=20)
    assert trained > random_return + 5, (trained, random_return)


def uniform_random_return(env_cfg, episodes: int) -> float:
    """Mean team return of uniformly random actions over `episodes` episodes."""
    env = MultiAgentVecEnv(env_cfg, seed=123)
    returns: list[float] = []
    while len(returns) < episodes:
        returns += env.step(env.sample_actions()).episode_returns
    return float(np.mean(returns))


def test_box_actions_gumbel_softmax_hand_mpe_the_simplex_sample_as_forces():
    """The reference code's continuous MPE actions: the env gets softmax(u + g) (a point of the
    simplex in MPE's [0, 1]^5 box), the replay stores it as 2 p - 1 in the unit box, and the
    greedy action is softmax(u)."""
    agent = make(
        "mpe2:simple_spread_v3",
        env_kwargs={"N": 2, "continuous_actions": True},
        box_actions="gumbel-softmax",
        learning_starts=0,
    )
    assert not agent.noise  # no added noise: the Gumbel draw explores
    obs = {
        a: np.random.default_rng(1).normal(size=(2, 12)).astype(np.float32) for a in agent.agent_ids
    }
    torch.manual_seed(5)
    stored = agent.explore(obs)
    torch.manual_seed(5)
    raw = agent.raw_actions("agent_0", obs["agent_0"])
    p = torch.softmax(torch.as_tensor(raw) + maddpg.sample_gumbel(raw.shape), dim=-1).numpy()
    np.testing.assert_allclose(stored["agent_0"], 2 * p - 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(agent.to_env("agent_0", stored["agent_0"]), p, rtol=1e-5, atol=1e-6)
    greedy = agent.predict(obs)["agent_0"]
    np.testing.assert_allclose(greedy, torch.softmax(torch.as_tensor(raw), -1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(greedy.sum(-1), 1.0, rtol=1e-5)
    # the critic's input in the actor loss is the same map of a differentiable sample
    g = maddpg.sample_gumbel(raw.shape)
    relaxed = maddpg.relaxed_action(torch.as_tensor(raw), False, 1.0, gumbels=g, simplex=True)
    expected = 2 * torch.softmax(torch.as_tensor(raw) + g, -1) - 1
    torch.testing.assert_close(relaxed, expected)
    agent.learn(60)
    assert agent.counters["updates"] > 0
    with pytest.raises(ConfigError, match="box_actions"):
        make(box_actions="softmax")
