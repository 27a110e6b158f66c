"""Imitation and inverse RL: BC, DAgger and MaxEnt IRL.

MaxEnt IRL's maths against hand-computed values on a one-decision MDP, its gradient against
finite differences of the objective it climbs, BC's and DAgger's updates against the named
behaviour-cloning loss, DAgger's schedule, dataset and expert handling, save/load, and two
learning tests (BC on CartPole from a small hand-written expert; MaxEnt IRL on the lectures'
gridworld).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tests.helpers import cartpole_expert, random_policy
from tidyrl.algos.imitation.dagger import mixture_beta
from tidyrl.algos.imitation.maxent_irl import (
    demo_visitation,
    maxent_gradient,
    maxent_objective,
    maxent_surrogate_loss,
    soft_value_iteration,
    state_visitation,
)
from tidyrl.config import EnvConfig
from tidyrl.core.losses import behaviour_cloning_loss
from tidyrl.data.demos import collect
from tidyrl.envs.gridworld import DOWN, RIGHT, GridWorldEnv
from tidyrl.envs.model import episodic_model
from tidyrl.errors import ConfigError, EnvError
from tidyrl.nets.policy import ActionAdapter

# One decision, hand-solved. State 0: action 0 stays (goes on), action 1 ends the episode in the
# terminal state 1. gamma = 1/2, r = (0, 2 log 2):
#   Q(0, stay) = 0 + V(0) / 2,  Q(0, go) = 0 + r(1) / 2 = log 2,  V(0) = log(e^{V/2} + 2).
#   With x = e^{V/2}: x^2 = x + 2, so x = 2, V(0) = log 4, pi(stay) = x / x^2 = 1/2 = pi(go).
#   Visitation from s_0 = 0: mu(0) = sum_t (gamma pi(stay))^t = 1 / (1 - 1/4) = 4/3,
#   mu(1) = gamma pi(go) mu(0) = 1/3 (the arrival at the end).
GAMMA = 0.5
P = np.zeros((2, 2, 2))
P[0, 0, 0] = 1.0
P_END = np.zeros((2, 2, 2))
P_END[0, 1, 1] = 1.0
REWARD = np.array([0.0, 2 * math.log(2)])
P0 = np.array([1.0, 0.0])


def test_soft_value_iteration_matches_the_hand_solution():
    q, v, policy = soft_value_iteration(REWARD, P, P_END, GAMMA, tol=1e-13)
    assert v[0] == pytest.approx(math.log(4))
    np.testing.assert_allclose(q[0], [math.log(2), math.log(2)])
    np.testing.assert_allclose(policy[0], [0.5, 0.5])
    np.testing.assert_allclose(policy.sum(axis=1), 1.0)


def test_state_visitation_matches_the_hand_solution_and_the_forward_pass():
    policy = np.full((2, 2), 0.5)
    mu = state_visitation(policy, P, P_END, P0, GAMMA)
    np.testing.assert_allclose(mu, [4 / 3, 1 / 3])
    # Ziebart's forward pass, step by step, sums to the same numbers on a random slippery grid
    model = episodic_model(GridWorldEnv(size=3, slip=0.3))
    rng = np.random.default_rng(0)
    policy = rng.dirichlet(np.ones(4), size=9)
    p0 = np.eye(9)[0]
    d, total = p0.copy(), p0.copy()
    for _ in range(2000):
        flow = d[:, None] * policy
        total += 0.9 * np.einsum("sa,sat->t", flow, model.p_end)
        d = 0.9 * np.einsum("sa,sat->t", flow, model.p)
        total += d
    np.testing.assert_allclose(state_visitation(policy, model.p, model.p_end, p0, 0.9), total)


def test_demo_visitation_counts_every_state_discounted():
    # episode 1 visits 0, 0, 1: (1 + 1/2, 1/4); episode 2 visits 0, 1: (1, 1/2); mean
    mu = demo_visitation([np.array([0, 0, 1]), np.array([0, 1])], 2, GAMMA)
    np.testing.assert_allclose(mu, [1.25, 0.375])


def test_maxent_gradient_by_hand():
    mu_demo, mu = np.array([1.25, 0.375]), np.array([4 / 3, 1 / 3])
    np.testing.assert_allclose(maxent_gradient(np.eye(2), mu_demo, mu), [-1 / 12, 1 / 24])
    phi = np.array([[1.0, 0.0], [1.0, 1.0]])  # Phi^T (-1/12, 1/24) = (-1/24, 1/24)
    np.testing.assert_allclose(maxent_gradient(phi, mu_demo, mu), [-1 / 24, 1 / 24])


def test_the_gradient_is_the_exact_gradient_of_the_objective():
    """mu_D - mu is dL/dr for L = mu_D . r - p0 . V (central differences on a slippery grid,
    where the visitation includes arrivals at the goal through p_end)."""
    model = episodic_model(GridWorldEnv(size=3, slip=0.2))
    rng = np.random.default_rng(1)
    reward = rng.normal(size=9)
    mu_demo = rng.uniform(0.0, 1.0, size=9)
    p0, gamma = np.eye(9)[0], 0.9

    def objective(r):
        _, v, _ = soft_value_iteration(r, model.p, model.p_end, gamma, tol=1e-13)
        return maxent_objective(r, mu_demo, v, p0)

    _, _, policy = soft_value_iteration(reward, model.p, model.p_end, gamma, tol=1e-13)
    mu = state_visitation(policy, model.p, model.p_end, p0, gamma)
    eps = 1e-6
    numeric = [
        (objective(reward + eps * e) - objective(reward - eps * e)) / (2 * eps) for e in np.eye(9)
    ]
    np.testing.assert_allclose(numeric, mu_demo - mu, atol=1e-7)


def test_the_surrogate_loss_gives_the_maxent_gradient_through_autograd():
    phi = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    psi = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    mu_demo, mu = torch.tensor([1.25, 0.375]).double(), torch.tensor([4 / 3, 1 / 3]).double()
    maxent_surrogate_loss(phi @ psi, mu_demo, mu).backward()
    expected = -maxent_gradient(phi.numpy(), mu_demo.numpy(), mu.numpy())
    np.testing.assert_allclose(psi.grad.numpy(), expected)


def test_episodic_model_splits_terminating_transitions():
    model = episodic_model(GridWorldEnv(size=2))
    assert model.terminal.tolist() == [False, False, False, True]
    assert model.p[0, RIGHT, 1] == 1.0 and model.p_end[0, RIGHT].sum() == 0.0
    assert model.p_end[1, DOWN, 3] == 1.0 and model.p[1, DOWN].sum() == 0.0
    np.testing.assert_allclose((model.p + model.p_end)[:3].sum(axis=2), 1.0)
    assert not model.p[3].any() and not model.p_end[3].any()  # nothing is done in the goal


def test_mixture_beta_schedules():
    assert [mixture_beta(i, "exponential", 0.5, 1) for i in range(3)] == [1.0, 0.5, 0.25]
    assert [mixture_beta(i, "exponential", 0.0, 1) for i in range(3)] == [1.0, 0.0, 0.0]
    linear = [mixture_beta(i, "linear", 0.5, 4) for i in range(6)]
    assert linear == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]


def test_action_adapter_from_env_inverts_to_env():
    box = gym.spaces.Box(np.float32([-2.0, 0.0]), np.float32([2.0, 10.0]))
    adapter = ActionAdapter(box)
    policy_actions = torch.tensor([[-1.0, 1.0], [0.5, -0.5]])
    env_actions = adapter.to_env(policy_actions)
    np.testing.assert_allclose(env_actions, [[-2.0, 10.0], [1.0, 2.5]])
    torch.testing.assert_close(adapter.from_env(env_actions), policy_actions)
    discrete = ActionAdapter(gym.spaces.Discrete(3, start=1))
    assert discrete.from_env(np.array([1, 3])).tolist() == [0, 2]


@pytest.fixture(scope="module")
def cartpole_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "cartpole.safetensors"
    return collect(cartpole_expert, EnvConfig("CartPole-v1"), 5, seed=0).save(path)


def test_bc_update_descends_the_named_loss_and_learn_counts_gradient_steps(cartpole_file):
    agent = tidyrl.make("bc", "CartPole-v1", seed=0, demos=str(cartpole_file))
    batch = agent.demos.sample(64, np.random.default_rng(0))
    params = list(agent.policy.actor.parameters())
    before = [p.detach().clone() for p in params]
    dist = agent.policy.distribution(batch.obs)
    expected = behaviour_cloning_loss(dist, batch.actions, "log-likelihood")
    grads = torch.autograd.grad(expected, params)
    metrics = agent.update(batch)
    assert metrics["loss"].item() == pytest.approx(expected.item())
    # Adam's first step moves every parameter against the sign of that loss's gradient
    for p, p0, g in zip(params, before, grads):
        moved = (p.detach() - p0)[g.abs() > 1e-6]
        assert bool((torch.sign(moved) == -torch.sign(g[g.abs() > 1e-6])).all())
    agent.learn(50)
    assert agent.counters["steps"] == agent.counters["updates"] == 50
    assert agent.counters["episodes"] == 0  # no environment step while learning


def test_bc_config_errors(cartpole_file):
    with pytest.raises(ConfigError, match="BCConfig.demos is required"):
        tidyrl.make("bc", "CartPole-v1")
    with pytest.raises(ConfigError, match="loss=mse needs a Box action space"):
        tidyrl.make("bc", "CartPole-v1", demos=str(cartpole_file), loss="mse")
    with pytest.raises(ConfigError, match="Valid choices: log-likelihood, mse"):
        tidyrl.make("bc", "CartPole-v1", demos=str(cartpole_file), loss="l2")


def test_bc_clones_box_actions_with_either_loss(tmp_path):
    path = collect(random_policy("Pendulum-v1"), EnvConfig("Pendulum-v1"), 1).save(tmp_path / "p")
    for loss in ("mse", "log-likelihood"):
        agent = tidyrl.make("bc", "Pendulum-v1", demos=str(path), loss=loss, lr=3e-3)
        first = agent.update(agent.demos.sample(200, np.random.default_rng(0)))["loss"].item()
        agent.learn(200)
        last = agent.update(agent.demos.sample(200, np.random.default_rng(0)))["loss"].item()
        assert last < first
        action = agent.predict(np.zeros(3, dtype=np.float32))
        assert action.shape == (1,) and -2.0 <= action[0] <= 2.0


def test_dagger_labels_the_states_it_visits_with_the_expert():
    agent = tidyrl.make(
        "dagger", "CartPole-v1", seed=0, steps_per_iteration=100, updates_per_iteration=20
    )
    with pytest.raises(ConfigError, match="dagger needs an expert"):
        agent.learn(1)
    agent.use_expert(cartpole_expert)
    agent.learn(250)
    assert agent.counters["steps"] == 250 and agent.counters["iterations"] == 3
    assert agent.counters["updates"] == 60 and len(agent.dataset) == 250
    obs, actions = agent.dataset_obs[:250], agent.dataset_actions[:250]
    np.testing.assert_array_equal(actions, cartpole_expert(obs))
    # beta_0 = 1: the first iteration is the expert playing, as collecting demonstrations would
    demos = collect(cartpole_expert, EnvConfig("CartPole-v1"), 1, seed=0)
    np.testing.assert_array_equal(obs[:100], demos.obs[:100])


def test_dagger_expert_from_a_run_dir_must_fit_the_env(tmp_path):
    tidyrl.make("ppo", "Pendulum-v1").save(tmp_path / "pendulum")
    agent = tidyrl.make("dagger", "CartPole-v1", expert=str(tmp_path / "pendulum"))
    with pytest.raises(EnvError, match="expert .* was trained with observation space"):
        agent.learn(10)


def test_dagger_save_load_keeps_the_aggregated_dataset(tmp_path):
    agent = tidyrl.make(
        "dagger", "CartPole-v1", seed=0, steps_per_iteration=50, updates_per_iteration=10
    )
    agent.use_expert(cartpole_expert)
    agent.learn(120)
    agent.save(tmp_path / "d")
    loaded = tidyrl.load(tmp_path / "d")
    assert len(loaded.dataset) == 120 and loaded.counters["iterations"] == 3
    np.testing.assert_array_equal(loaded.dataset.columns["obs"], agent.dataset.columns["obs"])
    batch = loaded.sample(32, np.random.default_rng(0))
    np.testing.assert_array_equal(batch.actions.numpy(), cartpole_expert(batch.obs.numpy()))
    obs = agent.dataset_obs[:20]
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    loaded.use_expert(cartpole_expert)
    loaded.learn(50)  # continues: the next iteration adds to the restored dataset
    assert len(loaded.dataset) == 170 and loaded.counters["iterations"] == 4


@pytest.fixture(scope="module")
def grid_expert_demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    expert = tidyrl.make("value-iteration", "tidyrl/GridWorld-v0", gamma=0.95).learn(1000)
    expert.save(root / "expert")
    from tidyrl.data.demos import agent_policy

    path = collect(agent_policy(expert), expert.env_cfg, 3, seed=0).save(root / "demos")
    return expert, path


def test_maxent_irl_errors(grid_expert_demos):
    _, path = grid_expert_demos
    with pytest.raises(ConfigError, match="MaxEntIRLConfig.demos is required"):
        tidyrl.make("maxent-irl", "tidyrl/GridWorld-v0")
    with pytest.raises(ConfigError, match=r"gamma=1.0 is out of range; allowed \[0, 1\)"):
        tidyrl.make("maxent-irl", "tidyrl/GridWorld-v0", demos=str(path), gamma=1.0)
    with pytest.raises(EnvError, match="exposes no transition model.*maxent-irl needs"):
        tidyrl.make("maxent-irl", "tests.helpers:tidytest/NaNReward-v0", demos=str(path))
    with pytest.raises(EnvError, match="observation space Discrete\\(16\\).*Discrete\\(64\\)"):
        tidyrl.make(
            "maxent-irl", "tidyrl/GridWorld-v0", demos=str(path), env_kwargs={"size": 8}
        ).learn(1)
    with pytest.raises(EnvError, match="features=coordinates needs a grid"):
        tidyrl.make("maxent-irl", "Taxi-v4", demos=str(path), features="coordinates")


def test_maxent_irl_deep_and_coordinates_and_save_load(tmp_path, grid_expert_demos):
    _, path = grid_expert_demos
    agent = tidyrl.make(
        "maxent-irl", "tidyrl/GridWorld-v0", demos=str(path), preset="deep", features="coordinates"
    )
    assert agent.features.shape == (16, 2) and agent.features[5].tolist() == [1 / 3, 1 / 3]
    agent.learn(20)
    assert agent.counters["updates"] == agent.counters["steps"] <= 20
    np.testing.assert_allclose(agent.policy.sum(axis=1), 1.0)
    agent.save(tmp_path / "irl")
    loaded = tidyrl.load(tmp_path / "irl")
    np.testing.assert_array_equal(loaded.reward, agent.reward)
    np.testing.assert_array_equal(loaded.predict(np.arange(16)), agent.predict(np.arange(16)))
    torch.testing.assert_close(loaded.reward_net(loaded.phi), agent.reward_net(agent.phi))


@pytest.mark.learning
def test_bc_clones_a_small_cartpole_expert(cartpole_file):
    agent = tidyrl.make("bc", "CartPole-v1", seed=0, demos=str(cartpole_file))
    agent.learn(2000)
    assert agent.evaluate(episodes=10)["mean_return"] >= 475


@pytest.mark.learning
def test_maxent_irl_matches_the_visitation_and_the_return_of_the_gridworld_expert(
    grid_expert_demos,
):
    expert, path = grid_expert_demos
    agent = tidyrl.make("maxent-irl", "tidyrl/GridWorld-v0", demos=str(path), tolerance=1e-3)
    agent.learn(5000)
    assert agent.counters["steps"] < 5000  # stopped at the tolerance
    mu_demo, p0 = agent.demos
    _, _, policy = soft_value_iteration(
        agent.reward, agent.model.p, agent.model.p_end, agent.config.gamma, 1e-12
    )
    mu = state_visitation(policy, agent.model.p, agent.model.p_end, p0, agent.config.gamma)
    assert np.abs(mu - mu_demo).max() <= 1e-3
    expert_return = expert.evaluate(episodes=5)["mean_return"]
    assert agent.evaluate(episodes=5)["mean_return"] >= 0.95 * expert_return
    true_reward = np.eye(16)[15]  # the sparse gridworld pays 1 for entering the goal
    assert np.corrcoef(agent.reward, true_reward)[0, 1] >= 0.8


def test_same_seed_same_bc_and_dagger_runs(cartpole_file):
    def bc_run():
        agent = tidyrl.make("bc", "CartPole-v1", seed=3, demos=str(cartpole_file))
        agent.learn(30)
        return torch.cat([p.detach().flatten() for p in agent.policy.parameters()])

    def dagger_run():
        agent = tidyrl.make(
            "dagger", "CartPole-v1", seed=3, steps_per_iteration=40, updates_per_iteration=5
        )
        agent.use_expert(cartpole_expert)
        agent.learn(100)
        return torch.cat([p.detach().flatten() for p in agent.policy.parameters()])

    torch.testing.assert_close(bc_run(), bc_run(), rtol=0, atol=0)
    torch.testing.assert_close(dagger_run(), dagger_run(), rtol=0, atol=0)


def image_expert(obs):
    """The expert of `tidyspace/ImageObs-v0`: the lit row pair t of each (6, 6, 1) frame."""
    return np.asarray(obs)[:, ::2, 0, 0].argmax(axis=1)


def test_bc_and_dagger_read_image_demonstrations_through_a_cnn(tmp_path):
    """An image Box reaches BC's and DAgger's policy through a CNN (as the policy-gradient
    learners'), its uint8 frames stay uint8 in the demonstrations, their minibatches and
    DAgger's dataset, and both clone the expert (8 per episode; random play about 2.7)."""
    import tests.space_envs  # noqa: F401  (registers tidyspace/*)
    from tidyrl.nets.encoders import ImageBranch

    env = "tidyspace/ImageObs-v0"
    demos = collect(image_expert, EnvConfig(env), 20, seed=0)
    assert demos.obs.dtype == np.uint8 and demos.obs.shape[1:] == (6, 6, 1)
    path = demos.save(tmp_path / "image")
    bc = tidyrl.make("bc", env, seed=0, demos=str(path), torch_threads=1)
    assert isinstance(bc.policy.actor_encoder, ImageBranch) and bc.io.image
    assert bc.demos.sample(8, np.random.default_rng(0)).obs.dtype == torch.uint8
    bc.learn(300)
    dagger = tidyrl.make(
        "dagger", env, seed=0, steps_per_iteration=40, updates_per_iteration=40, torch_threads=1
    )
    assert isinstance(dagger.policy.actor_encoder, ImageBranch)
    assert dagger.dataset_obs.dtype == np.uint8 and dagger.dataset_obs.shape[1:] == (6, 6, 1)
    dagger.use_expert(image_expert)
    dagger.learn(200)
    np.testing.assert_array_equal(
        dagger.dataset_actions[:200], image_expert(dagger.dataset_obs[:200])
    )
    for agent in (bc, dagger):
        assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= 7.5
        agent.save(tmp_path / agent.algo)
        frames = agent.env.obs
        np.testing.assert_array_equal(
            tidyrl.load(tmp_path / agent.algo).predict(frames), agent.predict(frames)
        )


def test_bc_and_dagger_read_dict_observations_through_the_combined_encoder(tmp_path):
    """A Dict observation reaches BC's and DAgger's policy through the combined encoder (as
    PPO's): the demonstrations and DAgger's dataset keep it per key in each key's dtype, a
    saved DAgger brings its dataset back key by key, and both clone the expert (8 per
    episode; random play about 2.7)."""
    import tests.space_envs  # noqa: F401  (registers tidyspace/*)
    from tests.data.test_demos import dict_expert
    from tidyrl.nets.encoders import CombinedEncoder

    env = "tidyspace/DictObs-v0"
    path = collect(dict_expert, EnvConfig(env), 20, seed=0).save(tmp_path / "dict")
    bc = tidyrl.make("bc", env, seed=0, demos=str(path), torch_threads=1)
    assert isinstance(bc.policy.actor_encoder, CombinedEncoder) and bc.io.structured
    bc.learn(300)
    dagger = tidyrl.make(
        "dagger", env, seed=0, steps_per_iteration=40, updates_per_iteration=40, torch_threads=1
    )
    assert isinstance(dagger.policy.actor_encoder, CombinedEncoder)
    assert dagger.dataset_obs_image.dtype == np.uint8
    assert dagger.dataset_obs_which.dtype == np.int64
    dagger.use_expert(dict_expert)
    dagger.learn(200)
    np.testing.assert_array_equal(dagger.dataset_actions[:200], dagger.dataset_obs_which[:200])
    lit = dagger.dataset_obs_image[:200, ::2, 0, 0].argmax(axis=1)
    np.testing.assert_array_equal(lit, dagger.dataset_obs_which[:200])
    for agent in (bc, dagger):
        assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= 7.5
        agent.save(tmp_path / agent.algo)
        obs = agent.env.obs
        loaded = tidyrl.load(tmp_path / agent.algo)
        np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    np.testing.assert_array_equal(loaded.dataset_obs_vector, dagger.dataset_obs_vector)
    batch = loaded.sample(8, np.random.default_rng(0))
    assert sorted(batch.obs) == ["image", "vector", "which"] and len(batch) == 8
