"""GAIL as a reward plug-in (`tidyrl.rewards.gail`) of PPO and TRPO.

The discriminator loss, the three reward forms and the gradient penalty against hand-computed
values; the discriminator's inputs; `relabel_rollout` replacing (or adding to) the stored rewards;
the guarantee that no environment reward reaches the learner (a reward-poisoned CartPole trains
bit-identical parameters); checkpoint round trips with the plug-in's state; one-line errors; and
a seconds-long learning test on CartPole.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.registration import register

import tidyrl
from tests.helpers import cartpole_expert, random_policy
from tests.test_cli import assert_one_line_error
from tests.test_faults import run_main
from tidyrl.config import EnvConfig
from tidyrl.data.batch import Experience
from tidyrl.data.demos import collect
from tidyrl.data.rollout import Rollout
from tidyrl.errors import ConfigError, EnvError
from tidyrl.loops.on_policy import relabel_rollout
from tidyrl.rewards.base import RewardPlugin
from tidyrl.rewards.gail import (
    Discriminator,
    GAILConfig,
    adversarial_reward,
    discriminator_loss,
    gradient_penalty,
)

LN3 = math.log(3.0)


class PoisonedReward(gym.Wrapper):
    """CartPole whose reward is huge and varies with the state: were it to reach the learner,
    the learned parameters would differ from those learned on plain CartPole."""

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, 1e6 * float(obs[0]) - 3e5, terminated, truncated, info


register(
    id="tidytest/PoisonedCartPole-v0", entry_point=lambda: PoisonedReward(gym.make("CartPole-v1"))
)


@pytest.fixture(scope="module")
def cartpole_demos(tmp_path_factory):
    path = tmp_path_factory.mktemp("gail") / "cartpole.safetensors"
    collect(cartpole_expert, EnvConfig("CartPole-v1"), episodes=3, seed=0).save(path)
    return str(path)


@pytest.fixture(scope="module")
def pendulum_demos(tmp_path_factory):
    path = tmp_path_factory.mktemp("gail") / "pendulum.safetensors"
    collect(random_policy("Pendulum-v1"), EnvConfig("Pendulum-v1"), episodes=2, seed=0).save(path)
    return str(path)


def test_discriminator_loss_by_hand():
    # expert logits 0 and ln 3: D = 1/2 and 3/4, -log D = ln 2 and ln(4/3); policy logit 0:
    # -log(1 - 1/2) = ln 2. L = mean(ln 2, ln 4/3) + ln 2
    loss = discriminator_loss(torch.tensor([0.0, LN3]), torch.tensor([0.0]))
    expected = (math.log(2) + math.log(4 / 3)) / 2 + math.log(2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_each_reward_form_by_hand():
    logits = torch.tensor([0.0, LN3, -LN3])  # D = 1/2, 3/4, 1/4
    gail = adversarial_reward(logits, "gail")  # -log(1 - D)
    log_d = adversarial_reward(logits, "log-d")  # log D
    airl = adversarial_reward(logits, "airl")  # log D - log(1 - D)
    np.testing.assert_allclose(gail, [math.log(2), math.log(4), math.log(4 / 3)], rtol=1e-6)
    np.testing.assert_allclose(log_d, [-math.log(2), math.log(3 / 4), math.log(1 / 4)], rtol=1e-6)
    np.testing.assert_allclose(airl, [0.0, LN3, -LN3], atol=1e-6)
    assert (gail > 0).all() and (log_d < 0).all()
    # stable where D saturates: no inf or NaN at logits of +-100
    extreme = torch.tensor([-100.0, 100.0])
    for form in ("gail", "log-d", "airl"):
        assert torch.isfinite(adversarial_reward(extreme, form)).all()


def test_gradient_penalty_by_hand():
    w = torch.tensor([3.0, 4.0])  # logit(x) = w . x: gradient norm 5 everywhere -> (5 - 1)^2 = 16
    expert, policy = torch.ones(2, 2), torch.zeros(2, 2)
    penalty = gradient_penalty(lambda x: x @ w, expert, policy, torch.rand(2, 1))
    assert penalty.item() == pytest.approx(16.0)
    # a quadratic logit |x|^2 / 2 has gradient x: at x^ = u * (1, 0) the penalty is (u - 1)^2
    u = torch.tensor([[0.25], [0.5]])
    penalty = gradient_penalty(
        lambda x: 0.5 * (x**2).sum(1), torch.tensor([[1.0, 0.0]] * 2), torch.zeros(2, 2), u
    )
    assert penalty.item() == pytest.approx((0.75**2 + 0.5**2) / 2)


def test_discriminator_features_one_hot_and_box_scale():
    cfg = GAILConfig(demos="unused")
    obs2, obs1 = gym.spaces.Box(-1.0, 1.0, (2,)), gym.spaces.Box(-1.0, 1.0, (1,))
    discrete = Discriminator(obs2, gym.spaces.Discrete(3, start=1), cfg)
    x = discrete.features(torch.tensor([[0.5, -0.5]]), torch.tensor([3]))
    np.testing.assert_array_equal(x, [[0.5, -0.5, 0.0, 0.0, 1.0]])
    box = Discriminator(obs1, gym.spaces.Box(-2.0, 2.0, (1,), np.float32), cfg)
    x = box.features(torch.tensor([[1.0], [1.0]]), torch.tensor([[2.0], [-1.0]]))
    np.testing.assert_allclose(x, [[1.0, 1.0], [1.0, -0.5]])


class ConstantPlugin(RewardPlugin):
    """A plug-in whose reward is obs[:, 0] and which counts its updates."""

    name = "constant"

    def __init__(self, replaces: bool) -> None:
        self.replaces_env_reward = replaces
        self.config = None  # no intrinsic_coef: a bonus is added with beta = 1
        self.updates = 0

    def reward(self, batch):
        return batch.obs[:, 0]

    def update(self, batch):
        assert isinstance(batch, Experience) and not hasattr(batch, "rewards")
        self.updates += 1
        return {"updated": torch.tensor(1.0)}


def filled_rollout() -> Rollout:
    rollout = Rollout(2, 2, (1,), (), True, experience=True)
    for t in range(2):
        obs = np.array([[10.0 * t], [10.0 * t + 1]], dtype=np.float32)
        rollout.store(
            t,
            obs,
            torch.zeros(2),
            torch.zeros(2),
            torch.zeros(2),
            np.full(2, 100.0),
            np.zeros(2),
            np.zeros(2),
        )
        rollout.store_experience(t, obs, np.array([0, 1]), obs + 1)
    return rollout


@pytest.mark.parametrize("replaces", [True, False])
def test_relabel_rollout_replaces_or_adds_to_the_stored_rewards(replaces):
    rollout, plugin = filled_rollout(), ConstantPlugin(replaces)
    metrics = relabel_rollout(plugin, rollout)
    expected = torch.tensor([[0.0, 1.0], [10.0, 11.0]]) + (0.0 if replaces else 100.0)
    torch.testing.assert_close(rollout.rewards, expected)
    assert plugin.updates == 1 and metrics["constant_reward"].item() == pytest.approx(5.5)
    assert metrics["updated"].item() == 1.0


def test_relabel_rollout_scales_the_plugin_rewards_not_the_env_ones():
    rollout, seen = filled_rollout(), []

    def scale(rewards, dones):
        seen.append(rewards.copy())
        return rewards * 2.0

    relabel_rollout(ConstantPlugin(True), rollout, scale)
    np.testing.assert_array_equal(np.stack(seen), [[0.0, 1.0], [10.0, 11.0]])
    torch.testing.assert_close(rollout.rewards, torch.tensor([[0.0, 2.0], [20.0, 22.0]]))


@pytest.mark.parametrize("algo", ["gail", "trpo"])
def test_no_environment_reward_reaches_the_learner(algo, cartpole_demos):
    """Plain and reward-poisoned CartPole (same dynamics, rewards ~1e6 that vary with the state)
    train bit-identical parameters, reward scaling on: the env reward never reaches the learner.
    The env's return is still what the run reports."""
    settings = dict(demos=cartpole_demos, normalize_reward=True, n_steps=64, hidden=(16,))
    if algo == "trpo":
        settings["reward"] = "gail"
    runs = []
    for env in ("CartPole-v1", "tidytest/PoisonedCartPole-v0"):
        agent = tidyrl.make(algo, env, seed=3, **settings)
        agent.learn(3 * 64 * agent.config.n_envs)
        runs.append(agent)
    plain, poisoned = runs
    for name, obj in plain.state_objects().items():
        if isinstance(obj, torch.nn.Module):
            other = poisoned.state_objects()[name].state_dict()
            for key, tensor in obj.state_dict().items():
                torch.testing.assert_close(tensor, other[key], rtol=0, atol=0, msg=f"{name}.{key}")
    torch.testing.assert_close(plain.rollout.rewards, poisoned.rollout.rewards, rtol=0, atol=0)
    assert plain._recent_returns and list(plain._recent_returns) != list(poisoned._recent_returns)
    assert max(abs(r) for r in poisoned._recent_returns) > 1e4  # the poison was there


def test_the_discriminator_learns_and_its_state_round_trips(tmp_path, cartpole_demos):
    agent = tidyrl.make(
        "gail", "CartPole-v1", seed=0, demos=cartpole_demos, n_steps=64, form="airl"
    )
    assert agent.config.reward == "gail" and agent.config.reward_kwargs["form"] == "airl"
    agent.learn(512)
    plugin, batch = agent.reward_plugin, agent.rollout.experience()
    disc = plugin.discriminator
    expert = plugin.demos.sample(len(batch), np.random.default_rng(1))
    expert_x, policy_x = (
        disc.features(expert.obs, expert.actions),
        disc.features(batch.obs, batch.actions),
    )
    before = discriminator_loss(disc(expert_x), disc(policy_x)).item()
    for _ in range(100):
        plugin.update(batch)
    assert discriminator_loss(disc(expert_x), disc(policy_x)).item() < before - 0.05
    agent.save(tmp_path / "gail")
    loaded = tidyrl.load(tmp_path / "gail")
    batch = agent.rollout.experience()
    torch.testing.assert_close(
        loaded.reward_plugin.reward(batch), agent.reward_plugin.reward(batch)
    )
    assert loaded.reward_plugin.config == agent.reward_plugin.config
    saved, restored = agent.reward_optimizer.state_dict(), loaded.reward_optimizer.state_dict()
    for key, moments in saved["state"].items():
        for name, value in moments.items():
            torch.testing.assert_close(restored["state"][key][name], value)
    # the loaded plug-in's next update is the saved one's: parameters, Adam moments, draws
    state = torch.get_rng_state()
    agent.reward_plugin.update(batch)
    torch.set_rng_state(state)
    loaded.reward_plugin.update(batch)
    for key, tensor in agent.reward_discriminator.state_dict().items():
        torch.testing.assert_close(loaded.reward_discriminator.state_dict()[key], tensor)


def test_gail_needs_no_demos_file_to_act_after_saving(tmp_path, cartpole_demos):
    import shutil

    demos = tmp_path / "demos.safetensors"
    shutil.copy(cartpole_demos, demos)
    agent = tidyrl.make("gail", "CartPole-v1", seed=0, demos=str(demos), n_steps=16)
    agent.learn(128)
    agent.save(tmp_path / "run")
    demos.unlink()
    loaded = tidyrl.load(tmp_path / "run")
    assert loaded.predict(np.zeros(4, dtype=np.float32)) in (0, 1)


def test_config_errors(cartpole_demos):
    with pytest.raises(ConfigError, match="GAILConfig.demos is required"):
        tidyrl.make("gail", "CartPole-v1")
    with pytest.raises(ConfigError, match="Valid choices: airl, gail, log-d"):
        tidyrl.make("gail", "CartPole-v1", demos=cartpole_demos, form="log")
    with pytest.raises(ConfigError, match="Valid choices: count, curiosity, env, gail, icm, rnd"):
        tidyrl.make("ppo", "CartPole-v1", reward="gial")
    with pytest.raises(ConfigError, match="reward=env"):
        tidyrl.make("ppo", "CartPole-v1", reward_kwargs={"demos": cartpole_demos})
    with pytest.raises(ConfigError, match="gail fixes reward='gail'"):
        tidyrl.make("gail", "CartPole-v1", demos=cartpole_demos, reward="env")
    with pytest.raises(ConfigError, match="unknown config key for ppo 'demos'"):
        tidyrl.make("ppo", "CartPole-v1", demos=cartpole_demos)  # no plug-in selected
    # the plug-in's fields by name, or in reward_kwargs, for PPO and TRPO alike
    agent = tidyrl.make("trpo", "CartPole-v1", reward="gail", demos=cartpole_demos, disc_lr=1e-3)
    assert agent.reward_plugin.config == GAILConfig(demos=cartpole_demos, disc_lr=1e-3)


def test_spaces_mismatch_is_an_env_error(pendulum_demos):
    agent = tidyrl.make("gail", "CartPole-v1", demos=pendulum_demos, n_steps=16)
    with pytest.raises(EnvError, match="demonstrations recorded on 'Pendulum-v1' have observation"):
        agent.learn(32)


@pytest.mark.parametrize(
    "settings, fragments",
    [
        (["demos=/nonexistent/demos.safetensors"], ["no demonstrations at '/nonexistent"]),
        ([], ["GAILConfig.demos is required", "--set demos=FILE"]),
        (["form=bad", "demos=CARTPOLE"], ["GAILConfig.form", "Valid choices: airl, gail, log-d"]),
        (["demos=PENDULUM"], ["observation space", "Pendulum-v1", "CartPole-v1"]),
    ],
)
def test_cli_errors_are_one_line(
    capsys, tmp_path, cartpole_demos, pendulum_demos, settings, fragments
):
    files = {"CARTPOLE": cartpole_demos, "PENDULUM": pendulum_demos}
    settings = [
        s.split("=")[0] + "=" + files.get(s.split("=")[1], s.split("=")[1]) for s in settings
    ]
    run_dir = str(tmp_path / "run")
    argv = ["train", "gail", "CartPole-v1", "--steps", "64", "--quiet", "--run-dir", run_dir]
    result = run_main(capsys, *argv, "--set", "n_steps=8", *settings)
    assert_one_line_error(result, *fragments)
    assert result.returncode == 2


@pytest.mark.learning
def test_gail_balances_cartpole_without_its_reward(cartpole_demos):
    """From 3 demonstrated episodes and the discriminator's reward only (the env's is poisoned),
    PPO goes from a random policy's ~20 to long episodes in 30,000 steps (seeds 0-3 all end at
    228-380 there; at 20,000 two of them are still near 120)."""
    agent = tidyrl.make("gail", "tidytest/PoisonedCartPole-v0", seed=0, demos=cartpole_demos)
    agent.learn(30_000)
    env = tidyrl.make("ppo", "CartPole-v1", seed=0)  # score with CartPole's own reward
    env.act = agent.act
    assert tidyrl.evaluate(env, episodes=5)["mean_return"] >= 200


def test_the_discriminator_reads_images_through_a_cnn(tmp_path):
    """For an image Box the discriminator puts a CNN in front of its MLP, its input x (where
    the gradient penalty interpolates) is [pixels scaled to [0, 1], phi(a)], and it learns to
    tell the expert's pairs from a random policy's (a third of which match the expert's)."""
    import tests.space_envs  # noqa: F401  (registers tidyspace/*)
    from tests.algos.test_imitation import image_expert
    from tidyrl.nets.encoders import ImageBranch

    env = "tidyspace/ImageObs-v0"
    path = collect(image_expert, EnvConfig(env), 10, seed=0).save(tmp_path / "image")
    agent = tidyrl.make(
        "gail", env, seed=0, demos=str(path), n_steps=32, disc_lr=1e-3, torch_threads=1
    )
    assert isinstance(agent.policy.actor_encoder, ImageBranch)
    plugin = agent.reward_plugin
    disc = plugin.discriminator
    assert isinstance(disc.image, ImageBranch) and disc.obs_dim == 36
    random_play = collect(random_policy(env), EnvConfig(env), 10, seed=1)
    take = np.random.default_rng(0).integers(0, len(random_play), 64)
    expert = plugin.demos.sample(64, np.random.default_rng(1))
    expert_x = disc.features(expert.obs, expert.actions)
    policy_x = disc.features(
        torch.as_tensor(random_play.obs[take]), torch.as_tensor(random_play.actions[take])
    )
    assert expert_x.shape == policy_x.shape == (64, 36 + 3)
    assert expert_x[:, :36].max() == 1.0  # lit pixels, 255 in the frame
    penalty = gradient_penalty(disc, expert_x, policy_x, torch.rand(64, 1))
    assert math.isfinite(penalty.item()) and penalty.item() > 0.0
    before = discriminator_loss(disc(expert_x), disc(policy_x)).item()
    for _ in range(200):
        metrics = plugin.step(expert_x, policy_x)
    assert discriminator_loss(disc(expert_x), disc(policy_x)).item() < before - 0.3
    assert metrics["expert_accuracy"].item() == 1.0
    agent.learn(64)  # the rollout's frames reach it from PPO as the demonstrated ones do
    batch = agent.rollout.experience()
    assert plugin.reward(batch).shape == (len(batch),)


def test_the_discriminator_reads_dict_observations_through_the_flat_view(tmp_path):
    """For a Dict observation the learner's pairs and the demonstrated ones (stored per key)
    reach the discriminator through the plug-ins' flat view (the image scaled to [0, 1], the
    Discrete key one-hot, keys in sorted order), so both are compared in the same units; it
    learns to tell the expert's pairs from a random policy's, and PPO on its reward clones the
    expert (8 per episode; random play about 2.7; 5 of 5 seeds at 4,000 steps, where one
    discriminator pass per rollout stayed at chance: hence disc_epochs=10)."""
    import tests.space_envs  # noqa: F401  (registers tidyspace/*)
    from tests.data.test_demos import dict_expert

    env = "tidyspace/DictObs-v0"
    path = collect(dict_expert, EnvConfig(env), 10, seed=0).save(tmp_path / "dict")
    agent = tidyrl.make(
        "gail",
        env,
        seed=0,
        demos=str(path),
        n_steps=32,
        disc_lr=1e-3,
        disc_epochs=10,
        disc_batch_size=64,
        torch_threads=1,
    )
    plugin = agent.reward_plugin
    disc = plugin.discriminator
    width = 36 + 2 + 3  # image, vector, one-hot "which"
    assert disc.image is None and disc.obs_dim == width
    expert = plugin.demos.sample(64, np.random.default_rng(1))
    expert_x = plugin.features(expert.obs, expert.actions)
    assert expert_x.shape == (64, width + 3)
    which = expert.obs["which"]
    np.testing.assert_array_equal(expert_x[:, 38:41].argmax(1), which)  # one-hot "which"
    np.testing.assert_array_equal(expert_x[:, 41:].argmax(1), which)  # the expert's action
    assert expert_x[:, :36].max() == 1.0  # lit pixels, 255 in the frame
    random_play = collect(random_policy(env), EnvConfig(env), 10, seed=1)
    random_batch = random_play.sample(64, np.random.default_rng(2))
    policy_x = plugin.features(random_batch.obs, random_batch.actions)
    before = discriminator_loss(disc(expert_x), disc(policy_x)).item()
    for _ in range(200):
        metrics = plugin.step(expert_x, policy_x)
    assert discriminator_loss(disc(expert_x), disc(policy_x)).item() < before - 0.3
    assert metrics["expert_accuracy"].item() == 1.0
    agent.learn(4_000)  # PPO's rollout keeps the Dict per key; the view reads it the same way
    batch = agent.rollout.experience()
    rewards = plugin.reward(batch)
    assert rewards.shape == (len(batch),) and torch.isfinite(rewards).all()
    assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= 7.5
