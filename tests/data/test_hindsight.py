"""Hindsight experience replay (`tidyrl.data.hindsight`): the bookkeeping, the relabelled goals,
rewards and terminations, checked by hand on short episodes of the bit-flipping env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.config import EnvConfig
from tidyrl.data.hindsight import Hindsight
from tidyrl.data.replay import Replay
from tidyrl.envs.bitflip import BitFlipEnv
from tidyrl.envs.make import Step
from tidyrl.errors import ConfigError


def bits(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int8)


def goal_obs(state: np.ndarray, goal: np.ndarray) -> dict[str, np.ndarray]:
    """One env copy's observation, batched: [1, 3] per key."""
    return {"observation": state[None], "achieved_goal": state[None], "desired_goal": goal[None]}


def replay_of(
    episodes, running: bool = False, capacity: int = 16, strategy: str = "future"
) -> Replay:
    """A hindsight replay (k = 4) holding `episodes`: lists of states s_0 .. s_T of 3 bits,
    played towards goal 111 (never reached: every step -1, the last one truncated; with
    `running`, the last episode has not ended yet)."""
    env = BitFlipEnv(3)
    hindsight = Hindsight(4, capacity, 1, env.compute_reward, env.compute_terminated, strategy)
    replay = Replay(capacity, env.observation_space, env.action_space, hindsight=hindsight)
    goal = bits(1, 1, 1)
    for e, states in enumerate(episodes):
        for t in range(len(states) - 1):
            last = t == len(states) - 2 and not (running and e == len(episodes) - 1)
            step = Step(
                obs=goal_obs(states[t + 1], goal),
                next_obs=goal_obs(states[t + 1], goal),
                rewards=np.array([-1.0], np.float32),
                terminated=np.array([False]),
                truncated=np.array([last]),
            )
            replay.add(goal_obs(states[t], goal), np.array([0]), step)
    return replay


A = [bits(0, 0, 0), bits(1, 0, 0), bits(1, 1, 0), bits(1, 0, 0)]  # 3 steps, achieved s_1 .. s_3


def test_rows_know_their_step_and_their_episode_length_once_it_ended():
    replay = replay_of([A, A[:2]])  # a 3-step episode, then a 1-step one
    cols = replay.storage.columns
    np.testing.assert_array_equal(cols["her_t"][:4], [0, 1, 2, 0])
    np.testing.assert_array_equal(cols["her_length"][:4], [3, 3, 3, 1])
    running = replay_of([A, A[:3]], running=True)  # the second episode has not ended
    np.testing.assert_array_equal(running.storage.columns["her_length"][:5], [3, 3, 3, 0, 0])
    np.testing.assert_array_equal(running.hindsight.steps, [2])
    wrapped = replay_of([A, A], capacity=4)  # the second episode is rows 3, 0, 1
    np.testing.assert_array_equal(wrapped.storage.columns["her_t"], [1, 2, 2, 0])
    np.testing.assert_array_equal(wrapped.storage.columns["her_length"], [3, 3, 3, 3])


def test_relabelled_goals_come_from_the_rest_of_the_episode_with_their_reward():
    """Row t = 1 of A (s' = 110) gets goal 110 (its own achievement: reward 0, terminated) or
    100 (reached at step 2: reward -1, not terminated), each about half the time; row t = 2
    only 100; k = 4 relabels 4 rows in 5; truncation stays as recorded."""
    replay = replay_of([A])
    rng = np.random.default_rng(0)
    index = np.array([1] * 4000 + [2] * 4000)
    replay.sampler.sample = lambda size, n, rng, beta: (index.copy(), np.ones(len(index)))
    batch = replay.sample(len(index), rng)
    goal = batch.obs["desired_goal"].numpy()
    assert torch.equal(batch.obs["desired_goal"], batch.next_obs["desired_goal"])
    own = (goal == bits(1, 1, 0)).all(1)
    later = (goal == bits(1, 0, 0)).all(1)
    original = (goal == bits(1, 1, 1)).all(1)
    assert (own | later | original).all()
    assert not own[4000:].any()  # row 2's future is its own step only: s'_2 = 100
    assert abs(original.mean() - 0.2) < 0.02  # 1 / (k + 1) keep the env's goal
    assert abs(own[:4000].sum() / (~original[:4000]).sum() - 0.5) < 0.04
    rewards, terminated = batch.rewards.numpy(), batch.terminated.numpy()
    np.testing.assert_array_equal(rewards[:4000], np.where(own[:4000], 0.0, -1.0))
    np.testing.assert_array_equal(terminated[:4000], own[:4000])
    np.testing.assert_array_equal(rewards[4000:], np.where(later[4000:], 0.0, -1.0))
    np.testing.assert_array_equal(terminated[4000:], later[4000:])
    np.testing.assert_array_equal(batch.truncated.numpy(), index == 2)  # as recorded
    stored = replay.storage.columns
    assert (stored["obs.desired_goal"][:3] == bits(1, 1, 1)).all()  # the rows stay the env's


def relabelled_goals(replay: Replay, index: np.ndarray) -> tuple[np.ndarray, ...]:
    """The goals of the rows `index` once drawn (each row as often as listed), with their
    rewards and terminations."""
    replay.sampler.sample = lambda size, n, rng, beta: (index.copy(), np.ones(len(index)))
    batch = replay.sample(len(index), np.random.default_rng(0))
    return batch.obs["desired_goal"].numpy(), batch.rewards.numpy(), batch.terminated.numpy()


def test_the_final_strategy_relabels_with_the_goal_the_episode_ended_on():
    """Every relabelled row of A gets s'_2 = 100: row 0 achieved it (reward 0, terminated),
    row 1 (s' = 110) did not."""
    goal, rewards, terminated = relabelled_goals(
        replay_of([A], strategy="final"), np.array([0] * 2000 + [1] * 2000)
    )
    relabelled = ~(goal == bits(1, 1, 1)).all(1)
    assert abs(relabelled.mean() - 0.8) < 0.03
    assert (goal[relabelled] == bits(1, 0, 0)).all()
    np.testing.assert_array_equal(terminated[:2000], relabelled[:2000])
    np.testing.assert_array_equal(rewards[:2000], np.where(relabelled[:2000], 0.0, -1.0))
    assert not terminated[2000:].any()


def test_the_episode_strategy_draws_any_step_of_the_episode_still_held():
    """Row 2 of A (its future: only its own s' = 100) gets under "episode" 100 (steps 0, 2) or
    110 (step 1, reward -1), 110 a third of the time. In a ring of 4 that held A, then A again
    (rows 3, 0, 1), row 2 is the first A's last step and its steps 0 and 1 were overwritten:
    it gets its own goal only, never the second A's 110."""
    goal, rewards, terminated = relabelled_goals(
        replay_of([A], strategy="episode"), np.array([2] * 6000)
    )
    relabelled = ~(goal == bits(1, 1, 1)).all(1)
    step_1 = (goal == bits(1, 1, 0)).all(1)
    assert abs(step_1.sum() / relabelled.sum() - 1 / 3) < 0.03
    np.testing.assert_array_equal(rewards, np.where(relabelled & ~step_1, 0.0, -1.0))
    np.testing.assert_array_equal(terminated, relabelled & ~step_1)
    wrapped = replay_of([A, A], capacity=4, strategy="episode")
    goal, _, _ = relabelled_goals(wrapped, np.array([2] * 2000 + [1] * 2000))
    relabelled = ~(goal == bits(1, 1, 1)).all(1)
    assert (goal[:2000][relabelled[:2000]] == bits(1, 0, 0)).all()
    assert (goal[2000:][relabelled[2000:]] == bits(1, 1, 0)).all(1).mean() > 0.2  # all held


def test_a_running_episode_keeps_its_goal():
    replay = replay_of([A, A[:3]], running=True)
    batch = replay.sample(500, np.random.default_rng(0))
    running = np.isin(batch.index, [3, 4])
    assert running.any()
    assert (batch.obs["desired_goal"].numpy()[running] == bits(1, 1, 1)).all()


def test_settings_it_cannot_serve_are_one_line_errors():
    env = BitFlipEnv(3)
    hindsight = Hindsight(4, 16, 1, env.compute_reward, env.compute_terminated)
    for options, fix in (({"n_step": 3}, "n_step=1"), ({"prioritized": True}, "prioritized=false")):
        with pytest.raises(ConfigError, match=f"drawn uniformly, not with .*; set {fix} "):
            Replay(16, env.observation_space, env.action_space, hindsight=hindsight, **options)
    with pytest.raises(ConfigError, match="her_strategy: unknown value 'last'.*final, future"):
        tidyrl.make("dqn", "tidyrl/BitFlip-v0", her_future_goals=4, her_strategy="last")
    with pytest.raises(ConfigError, match="CartPole-v1' lacks the Dict key achieved_goal"):
        tidyrl.make("dqn", "CartPole-v1", her_future_goals=4)
    with pytest.raises(ConfigError, match="her_future_goals cannot collect on Ray workers"):
        tidyrl.make("dqn", "tidyrl/BitFlip-v0", her_future_goals=4, workers=2, n_envs=2)


def test_dqn_with_hindsight_solves_bit_flipping_where_dqn_sees_only_minus_one():
    """Andrychowicz et al. (2017), Fig. 1, at a CI-sized scale: 12 bits, 8,000 steps. Plain DQN
    reaches no goal (every evaluation episode -12); with k = 4 future goals it reaches most
    (a success within 12 flips returns above -12). The resumed replay keeps the bookkeeping."""
    env = EnvConfig("tidyrl/BitFlip-v0", kwargs={"n_bits": 12})
    returns = {}
    for k in (0, 4):
        agent = tidyrl.make("dqn", env, seed=0, torch_threads=1, her_future_goals=k)
        agent.learn(8_000)
        returns[k] = tidyrl.evaluate(agent, episodes=50)["mean_return"]
    assert returns[0] == -12.0
    assert returns[4] > -8.0
    arrays = agent.replay.state_arrays()
    assert "hindsight/steps" in arrays and "storage/columns/her_length" in arrays


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac", "tqc"])
def test_the_continuous_learners_relabel_through_the_same_replay(algo):
    """DDPG, TD3, SAC and TQC take `her_future_goals` too (their replay is `replay_for`'s): on a
    goal-conditioned point task (reward -1 until within 0.1 of the goal) their minibatches hold
    relabelled goals, each row's reward the env's own function of (achieved, desired goal)."""
    import tests.space_envs  # noqa: F401  (registers tidyspace/*)

    agent = tidyrl.make(
        algo, "tidyspace/GoalPoint-v0", seed=0, learning_starts=64, her_future_goals=4
    )
    agent.learn(200)
    batch = agent.replay.sample(256, np.random.default_rng(0))
    stored = agent.replay.storage.columns["obs.desired_goal"][batch.index]
    relabelled = (batch.obs["desired_goal"].numpy() != stored).any(1)
    assert 0.5 < relabelled.mean() < 0.95  # k / (k + 1) of the finished episodes' rows
    env = agent.env.envs.envs[0].unwrapped
    achieved, desired = (batch.next_obs[k].numpy() for k in ("achieved_goal", "desired_goal"))
    expected = env.compute_reward(achieved, desired, {})
    np.testing.assert_array_equal(batch.rewards.numpy(), expected)
    assert (batch.rewards.numpy()[relabelled] == 0).mean() > 0.2  # hindsight finds successes
    assert not batch.terminated.any()
