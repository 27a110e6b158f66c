"""The cue-recall T-maze: the cue is visible only at the first step, the junction looks the same
whatever the cue, the cued turn pays +1 and the other -1, episodes last length + 1 steps."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tidyrl.envs  # noqa: F401  (registers tidyrl/TMaze-v0)


def run(env: gym.Env, seed: int, turn) -> tuple[np.ndarray, list[np.ndarray], float, int]:
    obs, _ = env.reset(seed=seed)
    first, seen, steps = obs, [], 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(turn(first))
        steps += 1
        assert not truncated
        if terminated:
            return first, seen, reward, steps
        seen.append(obs)


@pytest.mark.parametrize("length", [1, 4, 10])
def test_cue_only_at_the_start_and_the_cued_turn_pays(length):
    env = gym.make("tidyrl/TMaze-v0", length=length)
    cues = set()
    for seed in range(20):
        follow = run(env, seed, lambda first: 0 if first[0] == 1 else 1)
        first, seen, reward, steps = follow
        assert first.tolist() in ([1, 0, 0], [0, 1, 0])
        cues.add(int(first[1]))
        assert steps == length + 1 and reward == 1.0
        # the corridor shows nothing, the junction shows only that it is the junction
        assert [o.tolist() for o in seen] == [[0, 0, 0]] * (length - 1) + [[0, 0, 1]]
        _, _, wrong, _ = run(env, seed, lambda first: 1 if first[0] == 1 else 0)
        assert wrong == -1.0
    assert cues == {0, 1}  # both cues occur


def test_a_memoryless_policy_succeeds_half_the_time():
    env = gym.make("tidyrl/TMaze-v0", length=3)
    rewards = [run(env, seed, lambda first: 0)[2] for seed in range(400)]
    assert abs(np.mean(np.array(rewards) > 0) - 0.5) < 0.1


def test_bad_length_is_refused():
    with pytest.raises(ValueError, match="length"):
        gym.make("tidyrl/TMaze-v0", length=0)
