"""MAPPO / IPPO: the objective on a tiny batch by hand, departed agents dropped from the losses,
terminal steps that do not bootstrap, centralised vs independent value inputs, parameter
sharing, discrete and continuous actions, same-seed determinism, every agent's networks in one
checkpoint, the CLI, and a small learning test against uniformly random actions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tidyrl
from tests.algos.test_multiagent import uniform_random_return
from tidyrl import cli
from tidyrl.algos.multiagent import mappo
from tidyrl.algos.policy_gradient.common import clipped_surrogate, value_loss
from tidyrl.core.distributions import Categorical
from tidyrl.data.rollout import Rollout, RolloutBatch

RELAY = "tests.multiagent_envs:relay"
SMALL = {"n_envs": 2, "n_steps": 4, "n_epochs": 2, "hidden": (16, 16)}


def make(algo: str = "mappo", env: str = RELAY, **overrides):
    return tidyrl.make(algo, env, seed=0, **{**SMALL, **overrides})


def test_objective_on_a_tiny_batch_by_hand():
    # pi = (0.5, 0.5); the old policy gave action 0 probability 0.25 and action 1 probability 1
    batch = RolloutBatch(
        obs=torch.zeros(2, 1),
        actions=torch.tensor([0, 1]),
        logprobs=torch.tensor([math.log(0.25), 0.0]),
        values=torch.tensor([0.5, 2.0]),
        advantages=torch.tensor([1.0, -1.0]),
        returns=torch.tensor([2.0, 0.0]),
    )
    dist = Categorical(torch.zeros(2, 2))
    pg, _, ratio = clipped_surrogate(dist, batch, 0.2, False)
    torch.testing.assert_close(ratio, torch.tensor([2.0, 0.5]))
    # min(2 * 1, 1.2 * 1) = 1.2 and min(0.5 * -1, 0.8 * -1) = -0.8
    torch.testing.assert_close(pg, torch.tensor(-(1.2 - 0.8) / 2))
    # V = (1, 2): max((1 - 2)^2, (0.5 + 0.2 - 2)^2) = 1.69 and max(4, 4) = 4
    v = value_loss(torch.tensor([1.0, 2.0]), batch, 0.2)
    torch.testing.assert_close(v, torch.tensor((1.69 + 4.0) / 2))
    entropy = dist.entropy().mean()
    total = mappo.mappo_objective(pg, v, entropy, 1.0, 0.01)
    torch.testing.assert_close(total, torch.tensor(-0.2 + 2.845 - 0.01 * math.log(2.0)))


def test_rows_of_a_departed_agent_never_reach_the_losses():
    rollout = Rollout(3, 1, (1,), (), True)
    rollout.obs[:, 0, 0] = torch.tensor([1.0, 2.0, 3.0])
    rollout.actions[:, 0] = torch.tensor([0, 1, 0])
    acted = torch.tensor([[1.0], [0.0], [1.0]])  # the agent had left in the middle row
    advantages = torch.tensor([[1.0], [100.0], [-1.0]])
    returns = torch.tensor([[2.0], [100.0], [0.0]])
    critic_obs = torch.arange(6.0).reshape(3, 1, 2)
    b = mappo.acted_samples(rollout, acted, critic_obs, advantages, returns)
    assert len(b) == 2
    torch.testing.assert_close(b.policy.obs[:, 0], torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(b.policy.advantages, torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(b.critic_obs, torch.tensor([[0.0, 1.0], [4.0, 5.0]]))


def test_an_agent_that_left_early_is_masked_and_its_termination_does_not_bootstrap():
    # relay: "a" terminates after 2 of the episode's 4 steps, "b" is truncated at step 4
    agent = make("ippo", share_parameters=False, normalize_values=False)
    with agent.training(8):  # one rollout: 4 steps of 2 copies
        agent.collect({})
    a, b = agent.rollouts["a"], agent.rollouts["b"]
    assert agent.acted["a"][:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert agent.acted["b"][:, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert a.terminated[1].tolist() == [1.0, 1.0] and b.truncated[3].tolist() == [1.0, 1.0]
    advantages, _ = a.advantages(agent.config.gamma, agent.config.gae_lambda)
    torch.testing.assert_close(advantages[1], 1.0 - a.values[1])  # r - V, no bootstrap
    # b's truncation bootstraps from V of its final observation, computed at collection
    assert torch.all(b.final_values[3] != 0)
    data = agent.batches()
    assert [len(x) for x in data] == [2 * 2, 4 * 2]  # a's samples: only the steps it acted


def test_value_functions_see_the_joint_or_their_own_observation():
    central = make(share_parameters=False)
    assert central.critics[0][0].in_features == 2 * 3
    independent = make("ippo", share_parameters=False)
    assert independent.config.centralized_value is False
    assert independent.critics[0][0].in_features == 3
    shared = make()
    assert len(shared.actors) == len(shared.critics) == 1
    assert shared.actors[0].actor[0].in_features == 3 + 2  # + one-hot id
    assert shared.critics[0][0].in_features == 2 * 3 + 2


def test_discrete_and_continuous_actions_reach_the_env():
    discrete = make(env_kwargs={"discrete": True})
    discrete.learn(16)
    assert discrete.rollouts["a"].actions.dtype == torch.long
    actions = discrete.predict({"a": np.zeros(3, np.float32), "b": np.ones(3, np.float32)})
    assert set(actions) == {"a", "b"} and all(0 <= int(x) < 3 for x in actions.values())
    spread = make(env="mpe2:simple_spread_v3", env_kwargs={"N": 2, "continuous_actions": True})
    out = spread.predict({"agent_1": np.zeros((5, 12), np.float32)})
    assert set(out) == {"agent_1"} and out["agent_1"].shape == (5, 5)
    assert all(spread.action_space["agent_1"].contains(x) for x in out["agent_1"])


def test_value_normalisation_reports_values_on_the_return_scale():
    agent = make("mappo", env="tests.multiagent_envs:relay", normalize_values=True)
    agent.learn(32)
    norm = agent.value_norms[0]
    assert norm.count.item() > 1 and norm.mean.item() > 1.0  # b earns 10 per step
    x = torch.tensor([[0.0, 1.0, 0.0]])
    raw = agent.critics[0](torch.cat([torch.cat([x, x], -1), torch.tensor([[1.0, 0.0]])], -1))
    value = agent.values({"a": torch.cat([x, x], -1)})["a"]
    torch.testing.assert_close(value, norm.denormalize(raw[:, 0]).float())


def test_same_seed_runs_are_identical():
    def run():
        agent = make(env="mpe2:simple_spread_v3", env_kwargs={"N": 2}, n_minibatches=2)
        agent.learn(48)
        return agent

    first, second = run(), run()
    assert first.counters["updates"] == 6 * 2 * 2
    for name in ("actors", "critics", "value_norms"):
        for p, q in zip(
            getattr(first, name).state_dict().values(), getattr(second, name).state_dict().values()
        ):
            assert torch.equal(p, q), name


def test_every_agents_networks_live_in_one_checkpoint_and_act_identically_after_load(tmp_path):
    obs = {a: np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32) for a in "ab"}
    agent = make(share_parameters=False, run_dir=tmp_path / "run")
    agent.learn(32)
    loaded = tidyrl.load(tmp_path / "run")
    assert loaded.algo == "mappo" and len(loaded.actors) == 2
    for name in ("actors", "critics", "value_norms"):
        for p, q in zip(
            getattr(loaded, name).state_dict().values(), getattr(agent, name).state_dict().values()
        ):
            assert torch.equal(p, q), name
    for a in "ab":
        np.testing.assert_array_equal(loaded.predict(obs)[a], agent.predict(obs)[a])
    assert loaded.counters == agent.counters


def test_cli_train_eval_resume_ippo(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", "ippo", "mpe2:simple_spread_v3", "--steps", "100", "--run-dir", str(run_dir)]
    argv += ["--quiet", "--env-kwargs", "N=2", "continuous_actions=true", "--set"]
    argv += ["eval_episodes=2", "tensorboard=false", "n_envs=2", "n_steps=25", "n_epochs=1"]
    assert cli.main(argv) == 0
    loaded = tidyrl.load(run_dir)
    assert loaded.algo == "ippo" and loaded.config.centralized_value is False
    assert cli.main(["eval", str(run_dir), "--episodes", "2"]) == 0
    assert "agent_1: return" in capsys.readouterr().out
    assert cli.main(["resume", str(run_dir), "--steps", "200", "--quiet"]) == 0
    assert tidyrl.load(run_dir).counters["steps"] == 200


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    code = cli.main(
        ["train", "mappo", RELAY, "--set", "n_minibatches=0", "--run-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR and "n_minibatches" in err and err.count("\n") == 1
    code = cli.main(
        ["train", "mappo", "mpe2:simple_adversary_v3", "--run-dir", str(tmp_path / "r")]
    )
    assert code == cli.EXIT_USER_ERROR
    assert "share_parameters=true needs every agent" in capsys.readouterr().err


@pytest.mark.learning
def test_mappo_beats_random_on_simple_spread_with_two_agents():
    """Team return after 20,000 steps (discrete actions, the paper's MPE setting) beats
    uniformly random actions', measured here."""
    agent = make(
        env="mpe2:simple_spread_v3",
        env_kwargs={"N": 2},
        n_envs=4,
        n_steps=25,
        n_epochs=10,
        hidden=(64, 64),
    )
    agent.learn(20_000)
    trained = tidyrl.evaluate(agent, episodes=20)["mean_return"]
    random_return = uniform_random_return(agent.env_cfg, episodes=20)
    assert trained > random_return + 5, (trained, random_return)
