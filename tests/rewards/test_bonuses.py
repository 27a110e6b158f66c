"""Bonus reward plug-ins: curiosity, count, RND, ICM (hand-checked maths, each RND detail),
DQN's target with a bonus, config routing, checkpoints, and the chain-MDP exploration test."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.value.dqn import dqn_target
from tidyrl.api import resolve_config
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.data.batch import Experience, Transition
from tidyrl.errors import ConfigError
from tidyrl.loops.on_policy import relabel_rollout
from tidyrl.rewards.base import score_then_train
from tidyrl.rewards.count import Count, CountConfig, count_bonus, ngu_modulation, simhash_codes
from tidyrl.rewards.curiosity import Curiosity, CuriosityConfig
from tidyrl.rewards.icm import ICM, ICMConfig, forward_error, icm_loss
from tidyrl.rewards.rnd import RND, RNDConfig, intrinsic_returns, noveld_error

BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
TWO = gym.spaces.Discrete(2)


def experience(obs, actions, next_obs) -> Experience:
    n = len(obs)
    return Experience(
        torch.as_tensor(obs, dtype=torch.float32),
        torch.as_tensor(actions),
        torch.as_tensor(next_obs, dtype=torch.float32),
        torch.zeros(n),
        torch.zeros(n),
    )


def test_exact_counts_and_bonus_by_hand():
    plugin = Count(CountConfig(), gym.spaces.Discrete(4, start=1), TWO)
    batch = experience([[1], [1], [1]], [0, 1, 0], [[2], [2], [4]])
    plugin.observe(batch, 1)
    assert plugin.counts.tolist() == [0, 2, 0, 1]
    assert torch.allclose(plugin.reward(batch), torch.tensor([2**-0.5, 2**-0.5, 1.0]))
    assert count_bonus(torch.tensor([0, 4])).tolist() == [1.0, 0.5]  # n < 1 reads as 1


def test_episodic_counts_restart_at_each_episode_end_by_hand():
    plugin = Count(CountConfig(episodic=True), gym.spaces.Discrete(4), TWO, n_envs=2)
    # time-major rows [t0e0, t0e1, t1e0, t1e1, t2e0, t2e1]; env 0 ends its episode at t1
    batch = Experience(
        torch.zeros(6, 1),
        torch.zeros(6, dtype=torch.long),
        torch.tensor([[1.0], [3.0], [1.0], [3.0], [1.0], [3.0]]),
        torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
        torch.zeros(6),
    )
    plugin.observe(batch, 2)
    # env 0: n = 1, 2, then 1 in its new episode; env 1: n = 1, 2, 3
    expected = torch.tensor([1, 1, 2, 2, 1, 3]).double().rsqrt().float()
    assert torch.allclose(plugin.reward(batch), expected)
    assert plugin.counts.tolist() == [0, 3, 0, 3]  # lifelong counts go on
    assert plugin.episode_counts.tolist() == [[0, 1, 0, 0], [0, 0, 0, 3]]
    with pytest.raises(ConfigError, match="on-policy"):
        tidyrl.make("dqn", "CartPole-v1", reward="count", episodic=True)


@pytest.mark.parametrize(
    ("gate", "factor"), [("first_visit", [1, 0, 1, 1]), ("inverse_sqrt", [1, 2**-0.5, 1, 1])]
)
@pytest.mark.parametrize(("plugin_cls", "config_cls"), [(RND, RNDConfig), (ICM, ICMConfig)])
def test_episodic_gate_scales_the_bonus_by_visits_in_the_episode(
    gate, factor, plugin_cls, config_cls
):
    a, b = [0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]
    # next states a, a | b, a: the episode ends after the second step, so a is new again at t3
    batch = Experience(
        torch.zeros(4, 3),
        torch.tensor([0, 1, 0, 1]),
        torch.tensor([a, a, b, a]),
        torch.tensor([0.0, 1.0, 0.0, 0.0]),
        torch.zeros(4),
    )
    bonuses = []
    for setting in ("none", gate):  # the same networks, ungated and gated
        torch.manual_seed(0)
        plugin = plugin_cls(config_cls(episodic_gate=setting), BOX, TWO)
        plugin.observe(batch, 1)
        bonuses.append(plugin.reward(batch))
    assert (bonuses[0] > 0).all()
    assert torch.allclose(bonuses[1], bonuses[0] * torch.tensor(factor))
    # the checkpointed episode table holds the open episode's visits: b and a, once each
    assert sorted(plugin.state_objects()["gate_episode_counts"][0].tolist())[-3:] == [0, 1, 1]
    with pytest.raises(ConfigError, match="episodic_gate=first_visit needs an on-policy"):
        tidyrl.make("dqn", "CartPole-v1", reward=plugin_cls.name, episodic_gate="first_visit")


def test_ngu_gate_modulates_the_episodic_count_by_hand():
    stats = RunningMeanStd(())
    stats.mean.fill_(1.0)
    stats.var.fill_(4.0)  # sigma_C = 2
    # alpha = 1 + (C - 1) / 2 = 0.5, 1, 2, 50.5 -> clipped to [1, L = 5]
    modulation = ngu_modulation(torch.tensor([0.0, 1.0, 3.0, 100.0]), stats)
    assert torch.allclose(modulation, torch.tensor([1.0, 1.0, 2.0, 5.0]), atol=1e-6)
    plugin = RND(RNDConfig(episodic_gate="ngu"), BOX, TWO)
    batch = experience(np.zeros((3, 3)), [0, 1, 0], [[0.5] * 3, [0.5] * 3, [-0.5] * 3])
    plugin.observe(batch, 1)  # one episode: n_episode = 1, 2, 1
    scaled = plugin.reward(batch) * torch.tensor([1.0, 2**0.5, 1.0])
    assert ((scaled > 1 - 1e-6) & (scaled < 5 + 1e-6)).all()  # 1 / sqrt(n) times [1, 5]
    assert int(plugin.gate.stats.count.round()) == 3  # C joined mu_C and sigma_C as it was paid


def test_noveld_pays_the_difference_of_novelty_by_hand():
    # max(e(s') - 0.5 e(s), 0): 3 - 1, 1 - 2 -> 0, 2 - 0
    difference = noveld_error(torch.tensor([3.0, 1.0, 2.0]), torch.tensor([2.0, 4.0, 0.0]), 0.5)
    assert difference.tolist() == [2.0, 0.0, 2.0]
    torch.manual_seed(0)
    plugin = RND(RNDConfig(noveld_alpha=0.5), BOX, TWO)
    rng = np.random.default_rng(0)
    batch = experience(rng.normal(size=(4, 3)), [0, 1, 0, 1], rng.normal(size=(4, 3)))
    plugin.observe(batch, 1)
    sigma = torch.sqrt(plugin.return_norm.var + 1e-8).float()
    by_hand = (plugin.raw_bonus(batch.next_obs) - 0.5 * plugin.raw_bonus(batch.obs)).clamp(min=0)
    assert torch.allclose(plugin.reward(batch), by_hand / sigma)


def test_simhash_codes_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    x = torch.tensor([[2.0, -1.0], [-1.0, 3.0], [-1.0, -1.0]])
    # signs of A x: (+,-,+) -> 1 + 4; (-,+,+) -> 2 + 4; (-,-,-) -> 0
    assert simhash_codes(x, a).tolist() == [5, 6, 0]


def test_simhash_counts_use_the_space_bounds():
    space = gym.spaces.Box(np.float32([-1.2, -0.07]), np.float32([0.6, 0.07]))
    plugin = Count(CountConfig(hash_bits=12), space, gym.spaces.Discrete(3))
    near = experience([[0, 0], [0, 0]], [0, 0], [[-0.5, 0.0], [-0.5, 0.0]])
    plugin.observe(near, 2)
    assert plugin.counts.sum() == 2 and (plugin.counts > 0).sum() == 1  # one code, counted twice
    far = experience([[0, 0]], [0], [[0.5, 0.06]])
    assert plugin.reward(far).item() == 1.0  # an unvisited cell: velocity tells them apart
    with pytest.raises(ConfigError, match="count_method=exact"):
        Count(CountConfig(count_method="exact"), space, TWO)


def test_simhash_centres_on_the_first_states_then_freezes():
    # two states near one corner of the box: the bounds map sends both to the (+, +) quadrant,
    # one code; centred on their mean they lie on opposite sides of both hyperplanes
    space = gym.spaces.Box(np.float32([0, 0]), np.float32([10, 10]))
    states = experience([[0, 0], [0, 0]], [0, 0], [[9, 10], [10, 9]])
    plain = Count(CountConfig(hash_bits=2, center_states=0), space, TWO)
    plain.projection = torch.eye(2)
    assert plain.cells(states.next_obs).tolist() == [3, 3]
    plugin = Count(CountConfig(hash_bits=2, center_states=2), space, TWO)
    plugin.projection = torch.eye(2)
    plugin.observe(states, 2)
    # g = (0.8, 1) and (1, 0.8); mean (0.9, 0.9); g - mean = (-0.1, 0.1) -> 2, (0.1, -0.1) -> 1
    assert torch.allclose(plugin.center, torch.tensor([0.9, 0.9]))
    assert plugin.counts.tolist() == [0, 1, 1, 0]
    plugin.observe(experience([[0, 0]], [0], [[0, 0]]), 1)  # past center_states: frozen
    assert torch.allclose(plugin.center, torch.tensor([0.9, 0.9]))
    assert int(plugin.centered) == 2 and plugin.counts.tolist() == [1, 1, 1, 0]


def test_curiosity_is_the_squared_error_of_the_identity_model_at_init():
    plugin = Curiosity(CuriosityConfig(normalize_obs=False), BOX, TWO)
    batch = experience([[0.0, 0.5, 0.0]], [1], [[0.3, 0.1, -0.2]])
    # EM(s, a) = s at init: C = ||s' - s||^2 = 0.09 + 0.16 + 0.04
    assert plugin.reward(batch).item() == pytest.approx(0.29)
    for _ in range(100):
        plugin.update(batch)
    assert plugin.reward(batch).item() < 0.01


def test_curiosity_standardizes_states_with_observed_statistics():
    plugin = Curiosity(CuriosityConfig(), BOX, TWO)
    plugin.observe(experience([[0, 0, 0]] * 2, [0, 0], [[1, 0, 0], [-1, 0, 0]]), 2)
    assert plugin.obs_norm.var[0].item() == pytest.approx(1.0, rel=1e-3)
    assert plugin.obs_norm.count.item() == pytest.approx(2.0, rel=1e-3)


def test_rnd_scores_a_rollout_before_training_on_its_minibatches():
    plugin = RND(RNDConfig(rnd_hidden=(8,), rnd_embedding=4, rnd_lr=1e-2), BOX, TWO)
    rng = np.random.default_rng(0)
    batch = experience(rng.normal(size=(6, 3)), [0, 1] * 3, rng.normal(size=(6, 3)))
    plugin.observe(batch, 1)
    before = plugin.reward(batch)
    sizes: list[int] = []
    update = plugin.update
    plugin.update = lambda b: (sizes.append(len(b)), update(b))[1]  # type: ignore[method-assign]
    rewards, metrics = score_then_train(plugin, batch, epochs=2, minibatch_size=4)
    assert torch.equal(rewards, before)  # C from the predictor that saw the rollout collected
    assert sizes == [4, 2, 4, 2]  # two epochs of minibatches of 4 rows over 6
    assert (plugin.reward(batch) < before).all()  # then the predictor learned those states
    assert {"rnd_loss", "rnd_reward"} <= set(metrics)


def test_ppo_trains_rnd_and_icm_on_each_minibatch_of_each_epoch():
    for reward in ("rnd", "icm"):
        agent = tidyrl.make(
            "ppo", "CartPole-v1", reward=reward, n_envs=2, n_steps=16, batch_size=8, n_epochs=3
        )
        agent.learn(32)  # one rollout of 32 steps: 3 epochs x 4 minibatches
        state = agent.reward_optimizer.state_dict()["state"]
        assert {int(s["step"]) for s in state.values()} == {12}


def test_rnd_observation_normalization_clips_to_five():
    plugin = RND(RNDConfig(), BOX, TWO, n_envs=2)
    plugin.observe(experience([[0, 0, 0]] * 2, [0, 0], [[0, 0, 0], [0.001, 0, 0]]), 2)
    x = plugin.inputs(torch.tensor([[1.0, 0.0, 0.0]]))
    assert x[0, 0].item() == 5.0  # far outside the running spread: clipped


def test_rnd_intrinsic_return_by_hand():
    returns = torch.tensor([1.0, 0.0], dtype=torch.float64)
    rewards = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    out = intrinsic_returns(rewards, returns, 0.5)
    assert out.tolist() == [[1.5, 2.0], [3.75, 1.0]]  # no reset: the return is non-episodic
    assert returns.tolist() == [3.75, 1.0]


def test_rnd_reward_is_divided_by_the_intrinsic_return_std():
    plugin = RND(RNDConfig(), BOX, TWO, n_envs=2)
    batch = experience([[0, 0, 0]] * 2, [0, 1], [[0.2, 0.1, 0.0], [0.4, -0.3, 0.1]])
    plugin.observe(batch, 2)
    raw = plugin.raw_bonus(batch.next_obs)
    plugin.return_norm.var.fill_(4.0)
    assert torch.allclose(plugin.reward(batch), raw / 2.0, rtol=1e-5)
    assert plugin.returns.shape == (2,) and plugin.returns.abs().sum() > 0


def test_rnd_sees_the_newest_frame_only_and_only_its_predictor_learns():
    space = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)
    plugin = RND(RNDConfig(update_proportion=0.5), space, TWO, "ALE/Pong-v5")
    assert plugin.target[0][0].in_channels == 1
    stack = torch.zeros(4, 4, 36, 36)
    stack[:, -1] = 255.0
    assert torch.equal(plugin.frames(stack.reshape(4, -1)), torch.ones(4, 1, 36, 36))
    target_before = [p.clone() for p in plugin.target.parameters()]
    batch = experience(stack.reshape(4, -1), [0, 1, 0, 1], stack.reshape(4, -1))
    before = plugin.raw_bonus(batch.next_obs).mean()
    for _ in range(5):
        plugin.update(batch)
    assert plugin.raw_bonus(batch.next_obs).mean() < before
    assert all(torch.equal(a, b) for a, b in zip(target_before, plugin.target.parameters()))


def test_icm_loss_weights_and_bonus_by_hand():
    assert icm_loss(torch.tensor(2.0), torch.tensor(10.0), 0.2).item() == pytest.approx(3.6)
    assert forward_error(torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 3.0]])).item() == 2.5


def test_icm_inverse_model_learns_the_action():
    torch.manual_seed(0)
    plugin = ICM(ICMConfig(icm_lr=1e-2, icm_hidden=(32,)), BOX, TWO)
    obs = torch.rand(32, 3) - 0.5
    actions = torch.randint(2, (32,))
    next_obs = obs + 0.3 * (2 * actions[:, None].float() - 1)  # the action moves every coordinate
    batch = experience(obs, actions, next_obs)
    first = plugin.update(batch)["inverse_loss"]
    for _ in range(60):
        last = plugin.update(batch)["inverse_loss"]
    assert last < 0.3 * first


def test_dqn_target_with_a_bonus_by_hand():
    batch = Transition(
        obs=torch.zeros(2, 1),
        actions=torch.zeros(2, dtype=torch.long),
        rewards=torch.tensor([1.0, -1.0]),
        next_obs=torch.zeros(2, 1),
        terminated=torch.tensor([0.0, 1.0]),
        truncated=torch.zeros(2),
        discounts=torch.tensor([0.9, 0.9]),
    )
    next_q = torch.tensor([[2.0, 3.0], [5.0, 0.0]])
    y = dqn_target(batch, next_q, None, torch.tensor([0.5, 2.0]), 0.1)
    assert torch.allclose(y, torch.tensor([1.0 + 0.05 + 0.9 * 3.0, -1.0 + 0.2]))


def test_plugin_fields_route_by_name_and_dqn_rejects_replacing_plugins():
    _, config, _, _ = resolve_config("dqn", "none", {"reward": "count", "hash_bits": 8})
    assert config.reward_kwargs == {"hash_bits": 8}
    with pytest.raises(ConfigError, match="curiosity, count, rnd, icm|Valid choices"):
        resolve_config("dqn", "none", {"reward": "gail"})
    with pytest.raises(ConfigError, match="intrinsic_coef"):
        resolve_config("ppo", None, {"reward": "rnd", "intrinsic_coef": -1.0})


@pytest.mark.parametrize("reward", ["curiosity", "count", "rnd", "icm"])
def test_learners_log_both_rewards_and_checkpoint_the_plugin(reward, tmp_path):
    agent = tidyrl.make(
        "dqn", "CartPole-v1", preset="none", reward=reward, learning_starts=50, train_freq=50
    )
    agent.learn(200)
    assert {f"{reward}_reward", "extrinsic_reward"} <= set(agent.last_metrics)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    for key, obj in agent.reward_plugin.state_objects().items():
        other = loaded.reward_plugin.state_objects()[key]
        if isinstance(obj, torch.Tensor):
            assert torch.equal(obj, other)
        elif isinstance(obj, torch.nn.Module):
            for a, b in zip(obj.state_dict().values(), other.state_dict().values()):
                assert torch.equal(a, b)
    ppo = tidyrl.make("ppo", "CartPole-v1", reward=reward, n_steps=32, batch_size=32)
    ppo.learn(64)
    metrics = relabel_rollout(ppo.reward_plugin, ppo.rollout)
    assert {f"{reward}_reward", "extrinsic_reward"} <= set(metrics)


CHAIN = {
    "env_kwargs": {"n": 20, "distractor": 0.1},
    "hidden": (64,),
    "learning_starts": 200,
    "train_freq": 4,
    "gradient_steps": 1,
    "target_update_every": 100,
    "lr": 1e-3,
    "exploration_fraction": 0.5,
    "epsilon_end": 0.05,
}


@pytest.mark.learning
def test_count_bonus_solves_the_chain_that_epsilon_greedy_does_not():
    """20-state chain, 8,000 steps: epsilon-greedy DQN settles for the 0.1 distractor; with the
    SimHash count bonus (beta 0.1) DQN walks the chain to the reward of 1."""
    returns = {}
    for reward in ("env", "count"):
        extra = {"intrinsic_coef": 0.1} if reward == "count" else {}
        agent = tidyrl.make(
            "dqn", "tidyrl/Chain-v0", seed=0, preset="none", reward=reward, **CHAIN, **extra
        )
        agent.learn(8_000)
        returns[reward] = tidyrl.evaluate(agent, episodes=1)["mean_return"]
    assert returns == {"env": pytest.approx(0.1), "count": pytest.approx(1.0)}
