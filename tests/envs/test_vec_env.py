"""Environment semantics (DESIGN.md section 7, layer 3): final observation, terminated vs
truncated, episode statistics and the bootstrap mask under Gymnasium's same-step autoreset.

The test environments (tests/helpers.py) observe ``[t, episode, lane]`` and pay reward t at step
t, so every assertion can say exactly which observation it expects.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests.helpers import NS
from tidyrl.algos.tabular.td import td_target
from tidyrl.config import EnvConfig
from tidyrl.envs.make import DEFAULT_STEP_CAP, VecEnv, make_env, require_space
from tidyrl.errors import EnvError

T, EP, LANE = 0, 1, 2


def vec(name: str, n_envs: int = 1, seed: int = 0, **cfg) -> VecEnv:
    return VecEnv(EnvConfig(id=f"{NS}/{name}", **cfg), n_envs=n_envs, seed=seed)


def run(env: VecEnv, steps: int):
    """Step with constant actions; yield (previous obs, step)."""
    for _ in range(steps):
        prev = env.obs.copy()
        yield prev, env.step(np.zeros(env.n_envs, dtype=np.int64))


def test_terminal_end_single_env():
    env = vec("Terminating-v0")  # terminates after exactly 3 steps (lane 0)
    np.testing.assert_array_equal(env.obs, [[0, 0, 0]])
    steps = [s for _, s in run(env, 7)]
    for i in (0, 1):  # steps 1 and 2: mid-episode, next_obs and obs agree
        s = steps[i]
        np.testing.assert_array_equal(s.next_obs, [[i + 1, 0, 0]])
        np.testing.assert_array_equal(s.obs, s.next_obs)
        assert not s.terminated[0] and not s.truncated[0] and not s.dones[0]
        assert s.episode_returns == [] and s.episode_lengths == []
    end = steps[2]
    np.testing.assert_array_equal(end.next_obs, [[3, 0, 0]])  # the final observation
    np.testing.assert_array_equal(end.obs, [[0, 1, 0]])  # the reset observation of episode 1
    assert end.terminated.tolist() == [True] and end.truncated.tolist() == [False]
    assert end.rewards.tolist() == [3.0]
    assert end.episode_returns == [6.0] and end.episode_lengths == [3]
    # the next episode counts from zero again
    np.testing.assert_array_equal(steps[3].next_obs, [[1, 1, 0]])
    assert steps[3].rewards.tolist() == [1.0]
    end2 = steps[5]
    assert end2.terminated[0] and end2.episode_returns == [6.0] and end2.episode_lengths == [3]
    np.testing.assert_array_equal(end2.next_obs, [[3, 1, 0]])
    np.testing.assert_array_equal(end2.obs, [[0, 2, 0]])
    np.testing.assert_array_equal(env.obs, steps[-1].obs)  # what the agent acts on next
    np.testing.assert_array_equal(env.obs, [[1, 2, 0]])
    env.close()


def test_time_limit_end_is_truncated_not_terminated():
    env = vec("TimeLimited-v0")  # never terminates; 4-step time limit
    steps = [s for _, s in run(env, 8)]
    for i in (0, 1, 2, 4, 5, 6):
        assert not steps[i].dones[0] and steps[i].episode_returns == []
    for i, episode in ((3, 0), (7, 1)):
        end = steps[i]
        assert end.truncated.tolist() == [True]
        assert end.terminated.tolist() == [False]
        np.testing.assert_array_equal(end.next_obs, [[4, episode, 0]])
        np.testing.assert_array_equal(end.obs, [[0, episode + 1, 0]])
        assert end.episode_returns == [10.0] and end.episode_lengths == [4]
    env.close()


def test_bootstrap_mask():
    """Targets bootstrap from next_obs through a truncation, never past a termination."""
    gamma, value_of_next = 0.9, 5.0
    term = [s for _, s in run(vec("Terminating-v0"), 3)][-1]
    trunc = [s for _, s in run(vec("TimeLimited-v0"), 4)][-1]
    mid = [s for _, s in run(vec("TimeLimited-v0"), 1)][-1]
    assert (1 - term.terminated.astype(np.float32)).tolist() == [0.0]
    assert (1 - trunc.terminated.astype(np.float32)).tolist() == [1.0]
    assert (1 - mid.terminated.astype(np.float32)).tolist() == [1.0]
    assert td_target(3.0, bool(term.terminated[0]), gamma, value_of_next) == 3.0
    assert td_target(4.0, bool(trunc.terminated[0]), gamma, value_of_next) == 4.0 + 0.9 * 5.0
    # both kinds of end start a new episode
    assert term.dones[0] and trunc.dones[0] and not mid.dones[0]


@pytest.mark.parametrize("n_envs", [1, 3])
def test_staggered_ends_in_vector_env(n_envs):
    env = vec("Terminating-v0", n_envs=n_envs)  # copy i terminates after 3 + i steps
    lengths = [3 + lane for lane in range(n_envs)]
    np.testing.assert_array_equal(env.obs[:, LANE], np.arange(n_envs))
    ended = {lane: 0 for lane in range(n_envs)}
    for k, (prev, s) in enumerate(run(env, 25), start=1):
        assert not s.truncated.any()
        expected_returns, expected_lengths = [], []
        for i in range(n_envs):
            np.testing.assert_array_equal(s.next_obs[i], prev[i] + [1, 0, 0])
            assert s.rewards[i] == prev[i][T] + 1
            if s.next_obs[i][T] == lengths[i]:
                assert s.terminated[i] and s.dones[i]
                np.testing.assert_array_equal(s.obs[i], [0, prev[i][EP] + 1, i])
                expected_returns.append(lengths[i] * (lengths[i] + 1) / 2)
                expected_lengths.append(lengths[i])
                ended[i] += 1
            else:
                assert not s.terminated[i] and not s.dones[i]
                np.testing.assert_array_equal(s.obs[i], s.next_obs[i])
        assert s.episode_returns == expected_returns
        assert s.episode_lengths == expected_lengths
        if n_envs == 3 and k == 3:  # only copy 0 has finished its first episode
            assert s.terminated.tolist() == [True, False, False]
        if n_envs == 3 and k == 12:  # 12 = 4 * 3 = 3 * 4: copies 0 and 1 end together
            assert s.terminated.tolist() == [True, True, False]
            assert s.episode_returns == [6.0, 10.0]
    assert ended == {lane: 25 // lengths[lane] for lane in range(n_envs)}
    env.close()


def test_terminated_and_truncated_stay_distinct_per_copy():
    env = vec("Mixed-v0", n_envs=3)  # terminal after 3 + lane steps, time limit 4
    steps = [s for _, s in run(env, 4)]
    assert steps[2].terminated.tolist() == [True, False, False]
    assert steps[2].truncated.tolist() == [False, False, False]
    last = steps[3]
    # copy 0 restarted at step 3 and is one step into its next episode
    assert last.terminated.tolist() == [False, True, False]
    # copy 1 reached its terminal state exactly when the time limit hit: both flags, no bootstrap
    assert last.truncated.tolist() == [False, True, True]
    assert (1 - last.terminated.astype(int)).tolist() == [1, 0, 1]
    np.testing.assert_array_equal(last.next_obs, [[1, 1, 0], [4, 0, 1], [4, 0, 2]])
    np.testing.assert_array_equal(last.obs, [[1, 1, 0], [0, 1, 1], [0, 1, 2]])
    assert last.episode_returns == [10.0, 10.0] and last.episode_lengths == [4, 4]
    env.close()


def test_reset_seeds_copies_apart_and_clears_counters():
    env = vec("TimeLimited-v0", n_envs=3, seed=10)
    list(run(env, 2))
    np.testing.assert_array_equal(env.obs[:, LANE], [0, 1, 2])  # seeds 10, 11, 12 (mod 5)
    obs = env.reset(seed=21)
    np.testing.assert_array_equal(obs[:, T], [0, 0, 0])
    # (a CounterEnv keeps the lane of its first reset: VecEnv seeds every reset)
    assert [env.trace.current_seed(i) for i in range(3)] == [21, 22, 23]
    ends = [s for _, s in run(env, 4)][-1]
    assert ends.episode_lengths == [4, 4, 4]  # not 6: reset cleared the running counts
    assert ends.episode_returns == [10.0, 10.0, 10.0]
    env.close()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_observation_raises(bad):
    cfg = EnvConfig(id=f"{NS}/Endless-v0", kwargs={"bad_obs_at": 2, "bad_value": bad})
    env = VecEnv(cfg)
    env.step(np.zeros(1, dtype=np.int64))
    with pytest.raises(EnvError) as info:
        env.step(np.zeros(1, dtype=np.int64))
    message = str(info.value)
    assert "\n" not in message
    assert "non-finite observation" in message and f"{NS}/Endless-v0" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_reward_raises(bad):
    cfg = EnvConfig(id=f"{NS}/Endless-v0", kwargs={"bad_reward_at": 2, "bad_value": bad})
    env = VecEnv(cfg, n_envs=3)
    env.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(EnvError) as info:
        env.step(np.zeros(3, dtype=np.int64))
    assert "\n" not in str(info.value)
    assert "non-finite reward" in str(info.value)


@pytest.mark.filterwarnings("ignore:.*not within the observation space")
def test_non_finite_reset_observation_raises():
    cfg = EnvConfig(id=f"{NS}/Endless-v0", kwargs={"bad_obs_at": 0})
    with pytest.raises(EnvError, match="non-finite observation"):
        VecEnv(cfg)


def test_non_finite_final_observation_raises():
    """A NaN that only appears in the final observation (hidden in infos) is caught too."""
    cfg = EnvConfig(id=f"{NS}/Terminating-v0", kwargs={"bad_obs_at": 3})
    env = VecEnv(cfg)
    env.step(np.zeros(1, dtype=np.int64))
    env.step(np.zeros(1, dtype=np.int64))
    with pytest.raises(EnvError, match="non-finite observation"):
        env.step(np.zeros(1, dtype=np.int64))


def test_nan_observation_through_the_agent_api():
    from tests.helpers import RandomAgent

    agent = RandomAgent(f"{NS}/NaNObs-v0")
    with pytest.raises(EnvError, match="non-finite observation"):
        agent.learn(100)
    assert agent.counters["steps"] == 2  # steps 1 and 2 were fine, step 3 was not


def test_env_without_time_limit_is_capped():
    env = vec("Endless-v0")
    for k, (_, s) in enumerate(run(env, DEFAULT_STEP_CAP), start=1):
        if k < DEFAULT_STEP_CAP:
            assert not s.dones[0]
    assert s.truncated.tolist() == [True] and s.terminated.tolist() == [False]
    assert s.episode_lengths == [DEFAULT_STEP_CAP]
    assert s.next_obs[0][T] == DEFAULT_STEP_CAP and s.obs[0][T] == 0
    env.close()


def test_explicit_max_episode_steps_wins_over_the_cap_and_the_env_limit():
    env = vec("Endless-v0", max_episode_steps=5)
    ends = [s.truncated[0] for _, s in run(env, 10)]
    assert ends == [False] * 4 + [True] + [False] * 4 + [True]
    env = vec("TimeLimited-v0", max_episode_steps=2)  # registered with 4
    ends = [s.truncated[0] for _, s in run(env, 4)]
    assert ends == [False, True, False, True]


def test_env_with_own_limit_is_not_recapped():
    env = make_env(EnvConfig(id="CartPole-v1"))
    assert env.spec.max_episode_steps == 500
    assert DEFAULT_STEP_CAP not in _time_limits(env)
    capped = make_env(EnvConfig(id=f"{NS}/Endless-v0"))
    assert _time_limits(capped) == [DEFAULT_STEP_CAP]


def _time_limits(env) -> list[int]:
    limits = []
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            limits.append(env._max_episode_steps)
        env = env.env
    return limits


def test_unknown_env_suggests():
    with pytest.raises(EnvError) as info:
        make_env(EnvConfig(id="CartPol-v1"))
    message = str(info.value)
    assert "unknown environment 'CartPol-v1'" in message
    assert "Did you mean 'CartPole-v1'?" in message
    assert "\n" not in message


def test_module_prefix_imports_the_module(monkeypatch):
    import sys

    # a fresh import must register the environment (not only the copy conftest imported)
    monkeypatch.delitem(sys.modules, "tests.helpers")
    for env_id in [k for k in gym.registry if k.startswith(f"{NS}/")]:
        monkeypatch.delitem(gym.registry, env_id)
    env = make_env(EnvConfig(id=f"tests.helpers:{NS}/TimeLimited-v0"))
    assert env.spec.id == f"{NS}/TimeLimited-v0"
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0, 0, 0])
    vec_env = VecEnv(EnvConfig(id=f"tests.helpers:{NS}/Terminating-v0"), n_envs=2)
    assert vec_env.obs.shape == (2, 3)


def test_bad_module_prefix_is_a_clean_error():
    with pytest.raises(EnvError) as info:
        make_env(EnvConfig(id="tests.no_such_module:Foo-v0"))
    message = str(info.value)
    assert "cannot import module 'tests.no_such_module'" in message
    assert "'tests.no_such_module:Foo-v0'" in message
    with pytest.raises(EnvError, match="module 'tests.helpers' registers no environment") as info:
        make_env(EnvConfig(id=f"tests.helpers:{NS}/NotRegistered-v0"))
    assert f"It registers: {NS}/Endless-v0, " in str(info.value)  # the ids it does register


def test_deprecated_id_names_the_replacement(recwarn):
    with pytest.raises(EnvError) as info:
        make_env(EnvConfig(id="Taxi-v3"))
    assert "Taxi-v4" in str(info.value)
    assert "deprecated" in str(info.value)
    # the error names the fix; gymnasium's own deprecation warning would be a second message
    assert not [w for w in recwarn if "Taxi" in str(w.message)]


def test_bad_kwargs_are_a_clean_error():
    with pytest.raises(EnvError, match="cannot make environment 'FrozenLake-v1'"):
        make_env(EnvConfig(id="FrozenLake-v1", kwargs={"no_such_kwarg": 1}))


def test_require_space():
    discrete, box = gym.spaces.Discrete(4), gym.spaces.Box(-1, 1, (3,))
    require_space(discrete, (gym.spaces.Discrete,), "action", "q-learning")
    require_space(box, (gym.spaces.Discrete, gym.spaces.Box), "observation", "ppo")
    with pytest.raises(EnvError) as info:
        require_space(box, (gym.spaces.Discrete,), "observation", "q-learning")
    message = str(info.value)
    assert message.startswith("q-learning needs a Discrete observation space")
    assert "Box" in message


def test_agent_rejects_unsupported_space():
    import tidyrl

    with pytest.raises(EnvError, match="q-learning needs a Discrete observation space"):
        tidyrl.make("q-learning", "CartPole-v1")
    with pytest.raises(EnvError, match="sarsa needs a Discrete observation space"):
        tidyrl.make("sarsa", "Pendulum-v1")


def test_n_envs_must_be_positive():
    with pytest.raises(EnvError, match="n_envs"):
        vec("Endless-v0", n_envs=0)


def test_stacks_frames_reads_the_wrapper_that_made_the_observation():
    """The replay stores observations frame by frame only where the last wrapper that changes
    the observation space is FrameStackObservation with reset padding (its first observation
    is the reset frame repeated, as the frame store rebuilds it)."""
    from tidyrl.envs.make import stacks_frames

    def frames() -> gym.Env:
        env = gym.make("CartPole-v1")
        space = gym.spaces.Box(0, 255, (40, 40), np.uint8)
        return gym.wrappers.TransformObservation(env, lambda o: np.zeros((40, 40), np.uint8), space)

    stack = gym.wrappers.FrameStackObservation
    assert stacks_frames(stack(frames(), 4, padding_type="reset"))
    assert stacks_frames(gym.wrappers.TimeLimit(stack(frames(), 4), 10))  # no change of space
    assert not stacks_frames(stack(frames(), 4, padding_type="zero"))  # zeros, not the frame
    assert not stacks_frames(frames())
    moved = gym.wrappers.TransformObservation(
        stack(frames(), 3), lambda o: o[::-1], gym.spaces.Box(0, 255, (3, 40, 41), np.uint8)
    )
    assert not stacks_frames(moved)  # another wrapper made the observation after the stack
    assert not VecEnv(EnvConfig(id="CartPole-v1")).frame_stacked


def test_ended_episodes_report_their_success_where_the_env_does():
    """Bit flipping (2 bits) says `is_success` on its last step: an episode succeeds exactly
    when it reached the goal, i.e. returned more than -2 (-(L - 1) after L <= 2 flips). Each
    step reports one success per ended episode, in the order of its returns. CartPole reports
    none, and neither does any of its steps."""
    env = VecEnv(EnvConfig("tidyrl/BitFlip-v0", kwargs={"n_bits": 2}), n_envs=3, seed=0)
    ended = 0
    for _ in range(200):
        step = env.step(env.sample_actions())
        assert step.episode_successes == [r > -2 for r in step.episode_returns]
        ended += len(step.episode_returns)
    assert ended > 100
    cartpole = VecEnv(EnvConfig("CartPole-v1"), n_envs=2, seed=0)
    for _ in range(100):
        assert cartpole.step(cartpole.sample_actions()).episode_successes == []
