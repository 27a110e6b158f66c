"""Observation and action spaces beyond Box/Discrete (docs/spaces.md): shapes, a learning smoke
per space, save/load round trips and `predict` on one observation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tests.space_envs  # noqa: F401  (registers tidyspace/*)
import tidyrl
import tidyrl.errors
from tidyrl.errors import EnvError

MULTI = ("tidyspace/MultiAction-v0", "tidyspace/MultiBinary-v0")
POLICY_GRADIENT = ("ppo", "a2c", "trpo", "reinforce")


@pytest.mark.parametrize("env_id", MULTI)
@pytest.mark.parametrize("algo", POLICY_GRADIENT)
def test_policy_gradients_learn_multi_discrete_and_multi_binary_actions(algo, env_id):
    # random play earns 8/3 (MultiDiscrete) or 4 (MultiBinary) of the 8 an exact policy earns
    agent = tidyrl.make(algo, env_id, seed=0)
    agent.learn(8_000)
    assert tidyrl.evaluate(agent, episodes=5)["mean_return"] >= 6.5


@pytest.mark.parametrize("env_id", MULTI)
def test_multi_actions_shapes_save_load_and_predict(tmp_path, env_id):
    agent = tidyrl.make("ppo", env_id, seed=0, n_envs=2, n_steps=16)
    agent.learn(64)
    space = agent.action_space
    assert agent.rollout.actions.shape == (16, 2, *space.shape)
    obs = agent.env.obs
    action = agent.predict(obs[0])
    assert action.shape == space.shape and space.contains(action)
    batch = agent.predict(obs, deterministic=False)
    assert batch.shape == (2, *space.shape) and all(space.contains(a) for a in batch)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))


def test_an_unsupported_action_space_names_the_supported_ones():
    with pytest.raises(EnvError, match=r"^dqn needs a Discrete action space.*MultiDiscrete"):
        tidyrl.make("dqn", "tidyspace/MultiAction-v0")
    with pytest.raises(EnvError, match="sac needs a Box action space.*MultiBinary"):
        tidyrl.make("sac", "tidyspace/MultiBinary-v0")


@pytest.mark.parametrize("env_id", MULTI)
def test_exported_multi_action_policy_matches_predict(env_id):
    import torch

    from tidyrl.export import policy_module

    agent = tidyrl.make("ppo", env_id, seed=0)
    agent.learn(64)
    obs = agent.env.obs
    out = policy_module(agent)(torch.as_tensor(obs)).numpy()
    assert out.dtype == agent.action_space.dtype
    np.testing.assert_array_equal(out, agent.predict(obs))


STRUCTURED = ("tidyspace/DictObs-v0", "tidyspace/TupleObs-v0")


@pytest.mark.parametrize(
    ("algo", "steps", "settings"),
    [
        ("ppo", 2_000, {"n_epochs": 4}),
        ("a2c", 4_000, {}),
        ("trpo", 4_000, {}),
        ("dqn", 2_000, {"learning_starts": 200, "train_freq": 16, "gradient_steps": 8}),
        (
            "qr-dqn",
            2_000,
            {"learning_starts": 200, "train_freq": 16, "gradient_steps": 8, "n_quantiles": 10},
        ),
        (
            "dqn",
            2_000,
            {
                "learning_starts": 200,
                "train_freq": 16,
                "gradient_steps": 8,
                "double": True,
                "dueling": True,
            },
        ),
    ],
)
def test_dict_observations_learn_through_the_combined_encoder(algo, steps, settings):
    # the target is only in the Discrete key and the image: random play earns 8/3 of 8. DQN and
    # QR-DQN at this budget solve it on most seeds, not all (plain DQN's seed 0 ends at 5; on a
    # CPU whose float rounding differs, QR-DQN's seed 0 ended at 2.8 and its seeds 1 and 2 at
    # 8): 2 of 3
    seeds = (0, 1, 2) if algo in ("dqn", "qr-dqn") else (0,)
    solved = 0
    for seed in seeds:
        agent = tidyrl.make(algo, "tidyspace/DictObs-v0", seed=seed, **settings)
        agent.learn(steps)
        solved += tidyrl.evaluate(agent, episodes=5)["mean_return"] >= 7.0
    assert solved >= len(seeds) // 2 + 1  # a majority


def test_replay_and_rollout_store_one_preallocated_array_per_key():
    dqn = tidyrl.make("dqn", "tidyspace/DictObs-v0", seed=0, buffer_size=50, learning_starts=100)
    dqn.learn(20)
    cols = dqn.replay.storage.columns
    assert cols["obs.image"].shape == (50, 6, 6, 1) and cols["obs.image"].dtype == np.uint8
    assert cols["obs.which"].shape == (50,) and cols["obs.which"].dtype == np.int64
    assert cols["next_obs.vector"].shape == (50, 2) and cols["next_obs.vector"].dtype == np.float32
    # inside an episode row t's successor is row t + 1's observation; at the 8-step time limit
    # it is the final observation, which the reset observation of row t + 1 replaced
    inside = ~cols["truncated"][:19]
    assert inside.sum() == 17
    np.testing.assert_array_equal(
        cols["next_obs.which"][:19][inside], cols["obs.which"][1:20][inside]
    )
    batch = dqn.replay.sample(4, np.random.default_rng(0))
    assert set(batch.obs) == {"image", "vector", "which"} and batch.obs["image"].shape[0] == 4
    ppo = tidyrl.make("ppo", "tidyspace/DictObs-v0", seed=0, n_envs=2, n_steps=8)
    ppo.learn(16)
    assert ppo.rollout.obs["image"].shape == (8, 2, 6, 6, 1)
    assert ppo.rollout.obs["image"].dtype == torch.uint8
    flat = ppo.rollout.flatten(torch.zeros(8, 2), torch.zeros(8, 2))
    assert flat.obs["which"].shape == (16,)


@pytest.mark.parametrize("env_id", STRUCTURED)
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_structured_observations_save_load_and_predict_on_one_raw_observation(
    tmp_path, algo, env_id
):
    import gymnasium as gym

    agent = tidyrl.make(algo, env_id, seed=0)
    agent.learn(300)
    raw, _ = gym.make(env_id).reset(seed=3)  # as the environment gives it: a dict or a tuple
    action = agent.predict(raw)
    assert np.shape(action) == () and agent.action_space.contains(action)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    assert loaded.predict(raw) == action
    batch = agent.env.obs
    np.testing.assert_array_equal(loaded.predict(batch), agent.predict(batch))


def test_a_checkpoint_refuses_an_env_with_other_dict_keys(tmp_path):
    from tidyrl.errors import CheckpointError

    agent = tidyrl.make("ppo", "tidyspace/DictObs-v0", seed=0)
    agent.save(tmp_path / "a")
    with pytest.raises(CheckpointError, match=r"Dict\(image: Box.*but environment"):
        tidyrl.load(tmp_path / "a", env="tidyspace/TupleObs-v0")


def test_dict_observations_are_refused_with_the_supported_spaces():
    with pytest.raises(EnvError, match=r"^reinforce needs a Box observation space.*Dict"):
        tidyrl.make("reinforce", "tidyspace/DictObs-v0")
    with pytest.raises(tidyrl.errors.ConfigError, match="normalize_obs=True works on vector Box"):
        tidyrl.make("ppo", "tidyspace/DictObs-v0", normalize_obs=True)


def test_export_of_a_dict_observation_policy_is_a_one_line_error(tmp_path):
    from tidyrl.errors import TidyError
    from tidyrl.export import export

    agent = tidyrl.make("ppo", "tidyspace/DictObs-v0", seed=0)
    with pytest.raises(TidyError, match="^cannot export a policy over Dict observations"):
        export(agent, tmp_path / "p.pt")


CONTINUOUS = ("ddpg", "td3", "sac", "tqc", "d4pg", "sddpg")
SMALL = {"hidden": (64, 64), "learning_starts": 500}


def test_continuous_control_on_dict_observations_shapes():
    from tidyrl.nets.critics import EncodedQEnsemble
    from tidyrl.nets.encoders import CombinedEncoder

    for algo, k in (("ddpg", 1), ("td3", 2), ("sac", 2), ("tqc", 2), ("d4pg", 1), ("sddpg", 1)):
        agent = tidyrl.make(algo, "tidyspace/GoalReach-v0", seed=0, **SMALL)
        critic = agent.critic
        assert isinstance(critic, EncodedQEnsemble) and len(critic.encoders) == k
        assert isinstance(agent.actor[0], CombinedEncoder)  # the actor's own encoder
        encoders = {id(m) for m in agent.actor.modules() if isinstance(m, CombinedEncoder)}
        assert encoders.isdisjoint(id(e) for e in critic.encoders)
        obs = {"position": torch.zeros(5, 2), "goal": torch.ones(5, 2)}
        actions = torch.zeros(5, 2)
        assert critic(obs, actions).shape == (k, 5, critic.out_dim)
        assert agent.act(agent.env.obs).shape == (agent.env.n_envs, 2)


def test_sac_gsde_reads_dict_observations_through_the_actors_encoder():
    """gSDE's features phi(s) are the actor's last hidden layer behind its combined encoder."""
    agent = tidyrl.make("sac", "tidyspace/GoalReach-v0", seed=0, use_sde=True, **SMALL)
    agent.learn(600)
    assert agent.counters["updates"] > 0
    for deterministic in (False, True):
        assert agent.act(agent.env.obs, deterministic).shape == (agent.env.n_envs, 2)


def test_dict_critics_are_independent_and_frozen_reaches_only_the_actions():
    agent = tidyrl.make("td3", "tidyspace/GoalReach-v0", seed=0, **SMALL)
    obs = {"position": torch.rand(4, 2), "goal": torch.rand(4, 2)}
    actions = torch.rand(4, 2, requires_grad=True)
    q = agent.critic(obs, actions)
    q[0].sum().backward()  # critic 0's value moves critic 0's encoder only
    first, second = agent.critic.encoders
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in first.parameters())
    assert all(p.grad is None or not p.grad.any() for p in second.parameters())
    agent.critic.zero_grad(set_to_none=True)
    actions.grad = None
    agent.critic(obs, actions, frozen=True).sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    assert all(p.grad is None for p in agent.critic.parameters())


def test_box_observations_keep_the_plain_networks():
    from tidyrl.nets.critics import QEnsemble

    agent = tidyrl.make("sac", "Pendulum-v1", seed=0)
    assert isinstance(agent.critic, QEnsemble) and isinstance(agent.actor[0], torch.nn.Linear)
    for env_id in ("tidyspace/GoalReach-v0", "tidyspace/PixelReach-v0"):
        with pytest.raises(tidyrl.errors.ConfigError, match="batch_norm=True takes vector Box"):
            tidyrl.make("ddpg", env_id, batch_norm=True)


@pytest.mark.parametrize("algo", CONTINUOUS)
def test_continuous_control_reads_an_rgb_frame_through_cnns(tmp_path, algo):
    """An image Box gets a CNN in front of the actor and one per critic (as a Dict's image key
    does), the replay stores each (3, 36, 36) frame whole (it is not a frame stack), once, and the
    agent trains, acts and predicts on one raw frame after save/load. Before, the actor was an
    MLP on the flattened pixels and acting failed at the first policy step."""
    import gymnasium as gym

    from tidyrl.nets.critics import EncodedQEnsemble
    from tidyrl.nets.encoders import ImageBranch

    settings = {"hidden": (32, 32), "learning_starts": 40, "batch_size": 8, "torch_threads": 1}
    agent = tidyrl.make(algo, "tidyspace/PixelReach-v0", seed=0, **settings)
    assert isinstance(agent.actor[0], ImageBranch)
    assert isinstance(agent.critic, EncodedQEnsemble)
    assert all(isinstance(e, ImageBranch) for e in agent.critic.encoders)
    assert agent.env.frame_stacked is False  # stored as stacks of one: the whole frame
    assert agent.replay.frames is not None and agent.replay.frames.frames.shape[1:] == (3, 36, 36)
    agent.learn(60)
    assert agent.counters["updates"] > 0
    rows = agent.replay.sample(8, np.random.default_rng(0)).obs
    assert rows.dtype == torch.uint8 and rows.shape == (8, 3, 36, 36)
    lit = (rows == 255).flatten(2).sum(-1)  # each frame as drawn: 16 red and 16 green pixels
    assert (lit[:, 0] == 16).all() and (lit[:, 1] == 16).all() and (lit[:, 2] == 0).all()
    raw, _ = gym.make("tidyspace/PixelReach-v0").reset(seed=3)
    action = agent.predict(raw)
    assert np.shape(action) == (2,) and agent.action_space.contains(action)
    agent.save(tmp_path / "a")
    np.testing.assert_array_equal(tidyrl.load(tmp_path / "a").predict(raw), action)


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])  # d4pg, sddpg: DDPG's networks
def test_continuous_control_learns_to_reach_a_goal_given_in_a_dict_key(algo):
    # random play earns about -7 per 8-step episode, heading for the goal about -1.5; only the
    # goal key says where to go, so a network that ignored it could not beat about -4.5
    # one torch thread: DDPG's and TD3's default (all cores) crawls beside pytest's workers
    agent = tidyrl.make(algo, "tidyspace/GoalReach-v0", seed=0, torch_threads=1, **SMALL)
    agent.learn(2_000)
    assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= -3.0


@pytest.mark.parametrize("algo", ["td3", "sac", "tqc"])
def test_continuous_dict_observations_save_load_and_predict_on_a_raw_dict(tmp_path, algo):
    import gymnasium as gym

    agent = tidyrl.make(algo, "tidyspace/GoalReach-v0", seed=0, **SMALL)
    agent.learn(250)
    raw, _ = gym.make("tidyspace/GoalReach-v0").reset(seed=3)
    action = agent.predict(raw)
    assert np.shape(action) == (2,) and agent.action_space.contains(action)
    agent.save(tmp_path / "a")
    loaded = tidyrl.load(tmp_path / "a")
    np.testing.assert_array_equal(loaded.predict(raw), action)
    batch = agent.env.obs
    np.testing.assert_array_equal(loaded.predict(batch), agent.predict(batch))


@pytest.mark.parametrize(
    "algo", ["ppo", "a2c", "trpo", "reinforce", "actor-critic", "a3c", "recurrent-ppo"]
)
def test_policy_gradients_read_an_image_box_through_a_cnn(tmp_path, algo):
    """The policy-gradient learners give the actor and the critic a CNN each for an image Box
    (here a channels-last (6, 6, 1) frame whose lit rows name the rewarded action), keep it in
    its shape in the rollout (A3C: in each worker's; REINFORCE: in its episodes; recurrent PPO:
    a CNN in front of each LSTM), leave it
    unnormalized by default (the CNN scales it), and learn the task (8 per episode; random play
    about 2.7). A3C's workers interleave differently from run to run, so its seed does not fix
    the run: at 3,000 steps one seed in ten still stood at 4.4, at 5,000 none did."""
    from tidyrl.nets.encoders import ImageBranch

    agent = tidyrl.make(algo, "tidyspace/ImageObs-v0", seed=0, torch_threads=1)
    actor, critic = agent.policy.actor_encoder, agent.policy.critic_encoder
    assert isinstance(actor, ImageBranch) and isinstance(critic, ImageBranch)
    assert actor is not critic and actor.channels_last
    assert agent.io.obs_shape == (6, 6, 1) and not agent.io.normalize_obs
    if hasattr(agent, "rollout"):
        assert tuple(agent.rollout.obs.shape[2:]) == (6, 6, 1)
    agent.learn(5_000 if algo == "a3c" else 3_000)
    assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= 7.5
    agent.save(tmp_path / "a")  # the CNNs come back: the same actions on the same frames
    frames, loaded = agent.env.obs, tidyrl.load(tmp_path / "a")
    np.testing.assert_array_equal(loaded.predict(frames), agent.predict(frames))


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_image_observations_are_not_normalized(algo):
    with pytest.raises(tidyrl.errors.ConfigError, match="an image is scaled by the network"):
        tidyrl.make(algo, "tidyspace/ImageObs-v0", normalize_obs=True)


@pytest.mark.parametrize("algo", ["reinforce", "actor-critic", "a3c", "recurrent-ppo"])
def test_vector_observations_are_normalized_by_default(algo):
    """normalize_obs=None (their default) means on for vectors, as these learners were tuned."""
    assert tidyrl.make(algo, "CartPole-v1").io.normalize_obs is True
    assert tidyrl.make(algo, "CartPole-v1", normalize_obs=False).io.normalize_obs is False
