"""Observation and action spaces beyond Box/Discrete (docs/spaces.md): shapes, a learning smoke
per space, save/load round trips and `predict` on one observation."""

from __future__ import annotations

import numpy as np
import pytest

import tests.space_envs  # noqa: F401  (registers tidyspace/*)
import tidyrl
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
