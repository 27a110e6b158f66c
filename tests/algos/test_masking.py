"""Action masking end to end: the env owner reads the mask, and masking agents never choose a
masked action, in training, `predict` and `evaluate` (tidyrl/MaskedChoice-v0 counts every
invalid action taken; one ends the episode with reward -1)."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tests.algos.test_value import sample
from tidyrl.algos.value.c51 import c51_target
from tidyrl.algos.value.rainbow import rainbow_target
from tidyrl.algos.value.soft_q import boltzmann, soft_q_target, soft_value
from tidyrl.config import EnvConfig
from tidyrl.data.batch import Transition
from tidyrl.envs.make import VecEnv, make_env


def test_masked_choice_env_and_the_env_owner_hand_out_the_mask():
    env = make_env(EnvConfig("tidyrl/MaskedChoice-v0"))
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (16,), np.float32)
    obs, info = env.reset(seed=0)
    mask = info["action_mask"]
    assert mask.dtype == bool and mask.any()
    np.testing.assert_array_equal(obs[8:], mask.astype(np.float32))
    bad = int(np.flatnonzero(~mask)[0]) if (~mask).any() else None
    if bad is not None:
        _, reward, terminated, _, _ = env.step(bad)
        assert reward == -1.0 and terminated
    vec = VecEnv(EnvConfig("tidyrl/MaskedChoice-v0"), n_envs=3, seed=0)
    assert vec.masks is not None and vec.masks.shape == (3, 8)
    for _ in range(50):
        actions = vec.sample_actions()  # uniform among the valid actions
        assert vec.masks[np.arange(3), actions].all()
        step = vec.step(actions)
        np.testing.assert_array_equal(step.masks, vec.masks)
        np.testing.assert_array_equal(step.obs[:, 8:], step.masks)
        np.testing.assert_array_equal(step.next_obs[:, 8:], step.next_masks)
    assert VecEnv(EnvConfig("tidyrl/MaskedChoiceUnmasked-v0")).masks is None


def _invalid_taken(agent) -> int:
    return sum(e.unwrapped.invalid_chosen for e in agent.env.envs.envs)


@pytest.mark.parametrize(
    ("algo", "settings"),
    [
        ("dqn", {"learning_starts": 500, "epsilon_end": 0.3}),
        ("dqn", {"learning_starts": 500, "double": True, "dueling": True}),
        ("c51", {"learning_starts": 500, "epsilon_end": 0.3, "v_max": 20.0}),
        ("qr-dqn", {"learning_starts": 500, "epsilon_end": 0.3, "n_quantiles": 10}),
        ("rainbow", {"learning_starts": 500}),  # noisy exploration, n-step, PER, Double
        ("rainbow", {"learning_starts": 500, "noisy": False, "distributional": False}),
        ("soft-q", {"learning_starts": 500, "alpha": 1.0}),  # a broad Boltzmann policy
        ("ppo", {}),
        ("a2c", {}),
        ("trpo", {}),
    ],
)
def test_masking_agents_never_choose_a_masked_action(algo, settings):
    agent = tidyrl.make(algo, "tidyrl/MaskedChoice-v0", seed=0, **settings)
    agent.learn(3_000)  # epsilon-random, sampled and greedy actions, over thousands of steps
    assert _invalid_taken(agent) == 0
    stats = tidyrl.evaluate(agent, episodes=10, deterministic=False)
    assert stats["mean_length"] == 20.0  # an invalid action would end an episode early
    env = make_env(EnvConfig("tidyrl/MaskedChoice-v0", kwargs={"expose_mask": True}))
    raw = env.unwrapped
    obs, info = env.reset(seed=1)
    for _ in range(200):
        action = agent.predict(obs, action_mask=info["action_mask"])
        obs, _, terminated, _, info = env.step(action)
        assert not terminated
    # a raw Dict observation carrying its own action_mask key is masked the same way
    raw_obs, _ = raw.reset(seed=2)
    for _ in range(200):
        raw_obs, _, terminated, _, _ = raw.step(agent.predict(raw_obs, deterministic=False))
        assert not terminated
    assert raw.invalid_chosen == 0


def test_the_unmasked_agent_on_the_same_task_does_choose_invalid_actions():
    agent = tidyrl.make("ppo", "tidyrl/MaskedChoiceUnmasked-v0", seed=0)
    agent.learn(3_000)
    assert _invalid_taken(agent) > 0


def test_masked_ppo_learns_to_pick_the_best_valid_action():
    # a uniformly random valid choice earns about 10 per episode, the best valid one about 16
    agent = tidyrl.make("ppo", "tidyrl/MaskedChoice-v0", seed=0)
    agent.learn(10_000)
    assert tidyrl.evaluate(agent, episodes=10)["mean_return"] >= 13.0


def test_rollout_stores_the_masks_the_behaviour_policy_acted_under():
    agent = tidyrl.make("ppo", "tidyrl/MaskedChoice-v0", seed=0, n_envs=2, n_steps=8)
    agent.learn(16)
    masks = agent.rollout.masks
    assert masks is not None and masks.shape == (8, 2, 8)
    np.testing.assert_array_equal(masks.numpy(), agent.rollout.obs[..., 8:].numpy() > 0.5)
    taken = masks.gather(-1, agent.rollout.actions.unsqueeze(-1))
    assert taken.all()


def _batch(next_masks) -> Transition:
    n = len(next_masks)
    row = sample([1.0] * n, [False] * n, [0.5] * n)
    return dataclasses.replace(row, next_masks=torch.tensor(next_masks))


def test_masked_distributional_targets_select_among_valid_next_actions():
    support = torch.tensor([0.0, 1.0, 2.0])
    # action 0 certain at z=2 (the best), action 1 certain at z=1, action 2 certain at z=0
    eye = torch.eye(3).flip(0)  # rows: z=2, z=1, z=0
    logits = torch.log(eye.clamp_min(1e-9))[None]  # (1, 3 actions, 3 atoms)
    # action 0 masked in s': a* = 1, m = Phi(1 + 0.5 * 1) = 1.5 -> half on z=1, half on z=2
    batch = _batch([[False, True, True]])
    expected = torch.tensor([[0.0, 0.5, 0.5]])
    torch.testing.assert_close(c51_target(batch, logits, support), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(
        rainbow_target(batch, logits, None, support), expected, atol=1e-6, rtol=0
    )
    # scalar Rainbow: Q' = (3, 1, 2) with action 0 masked -> y = 1 + 0.5 * 2
    q = torch.tensor([[3.0, 1.0, 2.0]])
    torch.testing.assert_close(rainbow_target(batch, q, None, None), torch.tensor([2.0]))
    # a row that allows nothing is left unmasked (no NaN): a* = 0, y = 1 + 0.5 * 3
    nothing = _batch([[False, False, False]])
    torch.testing.assert_close(rainbow_target(nothing, q, None, None), torch.tensor([2.5]))


def test_masked_soft_value_is_the_log_sum_exp_over_valid_actions():
    q = torch.tensor([[1.0, 2.0, 7.0], [0.5, -1.0, 3.0]])
    mask = torch.tensor([[True, True, False], [False, True, True]])
    alpha = 0.5
    expected = torch.tensor(
        [
            alpha * np.log(np.exp(1.0 / alpha) + np.exp(2.0 / alpha)),
            alpha * np.log(np.exp(-1.0 / alpha) + np.exp(3.0 / alpha)),
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(soft_value(q, alpha, mask), expected)
    torch.testing.assert_close(soft_q_target(_batch(mask.tolist()), q, alpha), 1 + 0.5 * expected)
    # the Boltzmann policy gives a masked action probability 0, however large its Q
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([boltzmann(q, 5.0, generator, mask) for _ in range(500)])
    assert mask.gather(1, draws.T).all()
    assert set(draws[:, 0].tolist()) == {0, 1} and set(draws[:, 1].tolist()) == {1, 2}
