"""The PettingZoo adapter (`tidyrl.envs.multiagent`): per-agent terminated / truncated, agents
that leave early, final observations, same-step resets of vectorised copies, team and per-agent
returns, NaN checks, and the one-line errors for environments it cannot run."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.config import EnvConfig
from tidyrl.envs.multiagent import MultiAgentVecEnv, is_pettingzoo, make_parallel_env
from tidyrl.errors import EnvError

RELAY = "tests.multiagent_envs:relay"


def zero_actions(env: MultiAgentVecEnv) -> dict[str, np.ndarray]:
    return {a: np.zeros((env.n_envs, 1), np.float32) for a in env.agents}


def test_agents_leave_early_and_episodes_reset_in_the_same_step():
    env = MultiAgentVecEnv(EnvConfig(id=RELAY), n_envs=2, seed=5)
    assert env.agents == ["a", "b"]
    np.testing.assert_array_equal(env.obs["a"], [[0, 0, 5], [0, 0, 6]])  # copy i: seed + i
    steps = [env.step(zero_actions(env)) for _ in range(4)]
    first, second, third, last = steps
    # step 2: "a" terminates; its final observation is in next_obs, then it is gone (zeros)
    np.testing.assert_array_equal(second.terminated["a"], [True, True])
    np.testing.assert_array_equal(second.truncated["a"], [False, False])
    np.testing.assert_array_equal(second.next_obs["a"], [[2, 0, 5], [2, 0, 6]])
    np.testing.assert_array_equal(second.obs["a"], np.zeros((2, 3)))
    np.testing.assert_array_equal(third.acted["a"], [False, False])
    np.testing.assert_array_equal(third.acted["b"], [True, True])
    np.testing.assert_array_equal(third.rewards["a"], [0.0, 0.0])
    assert not first.episode_returns and not third.dones.any()
    # step 4: "b" is truncated, the episode ends: next_obs is final, obs the next reset
    np.testing.assert_array_equal(last.truncated["b"], [True, True])
    np.testing.assert_array_equal(last.terminated["b"], [False, False])
    np.testing.assert_array_equal(last.next_obs["b"], [[4, 1, 5], [4, 1, 6]])
    np.testing.assert_array_equal(last.obs["b"], [[0, 1, 5], [0, 1, 6]])
    np.testing.assert_array_equal(last.obs["a"], [[0, 0, 5], [0, 0, 6]])
    np.testing.assert_array_equal(last.dones, [True, True])
    # team return = 2 steps x 1 (a) + 4 steps x 10 (b)
    assert last.episode_returns == [42.0, 42.0] and last.episode_lengths == [4, 4]
    assert last.agent_returns == [{"a": 2.0, "b": 40.0}, {"a": 2.0, "b": 40.0}]
    env.close()


def test_copies_end_their_episodes_independently():
    env = MultiAgentVecEnv(EnvConfig(id=RELAY, kwargs={"max_cycles": 3}), n_envs=1, seed=0)
    returns = []
    for _ in range(7):
        returns += env.step(zero_actions(env)).episode_returns
    assert returns == [32.0, 32.0]  # a: 2, b: 30, twice in 7 steps (3 + 3)


def test_a_non_finite_reward_is_an_env_error():
    env = MultiAgentVecEnv(EnvConfig(id=RELAY, kwargs={"bad_reward_at": 2}), seed=0)
    env.step(zero_actions(env))
    with pytest.raises(EnvError, match="non-finite reward"):
        env.step(zero_actions(env))


def test_discrete_actions_reach_the_env_as_ints():
    env = MultiAgentVecEnv(EnvConfig(id=RELAY, kwargs={"discrete": True}), n_envs=3, seed=0)
    actions = env.sample_actions()
    assert actions["a"].shape == (3,)
    env.step(actions)


def test_mpe_scenarios_build_through_the_module_name_convention():
    env = make_parallel_env(EnvConfig(id="mpe2:simple_spread_v3", kwargs={"N": 2}))
    assert env.possible_agents == ["agent_0", "agent_1"]
    assert is_pettingzoo("mpe2:simple_spread_v3") and not is_pettingzoo("CartPole-v1")


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("CartPole-v1", "needs a PettingZoo environment named module:name"),
        ("tests.multiagent_envs:turn_based", r"turn-based \(AEC\)"),
        ("tests.multiagent_envs:nothing_here", "names no PettingZoo environment"),
        ("no_such_module_xyz:env", "cannot import the module"),
    ],
)
def test_environments_the_adapter_cannot_run_are_one_line_errors(env_id, message):
    with pytest.raises(EnvError, match=message) as info:
        make_parallel_env(EnvConfig(id=env_id), "maddpg")
    assert "\n" not in str(info.value)
