"""Recurrent PPO: episode-start resets of the LSTM state, chunking of the rollout into BPTT
sequences, recomputed log-probabilities equal to the rollout's (ratio 1 before any update),
save/load, determinism, the CartPole-without-velocity environment, and the CI learning test
against feed-forward PPO on it (acting memory: tests/algos/test_recurrent_memory.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.policy_gradient.recurrent_ppo import LSTMActorCritic, chunks
from tidyrl.errors import ConfigError

ENV = "tidyrl/CartPoleNoVel-v1"


def small_net(seed: int = 0) -> LSTMActorCritic:
    torch.manual_seed(seed)
    return LSTMActorCritic(2, gym.spaces.Discrete(3), 5, (4,), "tanh", 0.0)


def test_state_is_zeroed_at_episode_starts_and_only_there():
    net = small_net()
    obs = torch.randn(6, 2, 2)  # 6 steps of 2 sequences
    starts = torch.zeros(6, 2)
    starts[3, 0] = 1.0  # sequence 0 starts a new episode at t = 3
    state = torch.randn(4, 2, 5)  # a non-zero memory at t = 0
    with torch.no_grad():
        dist, values = net.sequence(obs, starts, state)
        logits = dist.logits.reshape(6, 2, 3)
        values = values.reshape(6, 2)
        # from t = 3, sequence 0 is a fresh episode: the same as running obs[3:] from zeros
        fresh, fresh_v = net.sequence(obs[3:, :1], torch.zeros(3, 1), net.initial_state(1))
        torch.testing.assert_close(logits[3:, 0], fresh.logits, rtol=0, atol=1e-6)
        torch.testing.assert_close(values[3:, 0], fresh_v, rtol=0, atol=1e-6)
        # before t = 3, and in sequence 1 throughout, the initial memory is in force
        zero, zero_v = net.sequence(obs, torch.zeros(6, 2), net.initial_state(2))
        assert (values[:3] - zero_v.reshape(6, 2)[:3]).abs().min() > 1e-4
        assert (values[:, 1] - zero_v.reshape(6, 2)[:, 1]).abs().min() > 1e-4
        # a start at t = 0 discards the initial memory too
        first = torch.zeros(6, 2)
        first[0] = 1.0
        _, from_start = net.sequence(obs, first, state)
        torch.testing.assert_close(from_start, zero_v, rtol=0, atol=1e-6)


def test_sequence_equals_the_step_by_step_loop():
    """`recur` cuts time at episode starts and runs each piece in one LSTM call: the same
    numbers as acting one step at a time."""
    net = small_net(1)
    obs = torch.randn(7, 3, 2)
    starts = (torch.rand(7, 3) < 0.3).float()
    state = torch.randn(4, 3, 5)
    with torch.no_grad():
        dist, values = net.sequence(obs, starts, state)
        s, outs, vals = state, [], []
        for t in range(7):
            out, v, s = net.step(obs[t], starts[t], s)
            outs.append(out)
            vals.append(v)
    torch.testing.assert_close(
        dist.logits, net.body.head(torch.cat(outs)).logits, atol=1e-6, rtol=0
    )
    torch.testing.assert_close(values, torch.cat(vals), atol=1e-6, rtol=0)


def test_chunks_cut_each_envs_rollout_into_consecutive_steps():
    x = torch.arange(12).reshape(6, 2)  # x[t, n] = 2 t + n
    c = chunks(x, 3)
    assert c.shape == (3, 4)
    # column k * N + n is env n's chunk k: steps 3k .. 3k + 2 of that env only
    assert c[:, 0].tolist() == [0, 2, 4]  # env 0, steps 0-2
    assert c[:, 1].tolist() == [1, 3, 5]  # env 1, steps 0-2
    assert c[:, 2].tolist() == [6, 8, 10]  # env 0, steps 3-5
    assert c[:, 3].tolist() == [7, 9, 11]  # env 1, steps 3-5


def collected(**overrides):
    agent = tidyrl.make("recurrent-ppo", ENV, seed=0, **overrides)
    agent.learn(overrides.get("n_envs", 8) * overrides.get("n_steps", 32))  # one rollout + update
    with agent.training(0):
        agent.collect(None, {})
    return agent


def test_first_epoch_recomputes_the_rollouts_log_probs_ratio_one():
    agent = collected(n_envs=4, n_steps=16, bptt_len=4, lstm_hidden=16)
    starts = agent.starts
    assert starts[1:].sum() > 0  # episodes started inside chunks: the masks matter
    cfg = agent.config
    adv, ret = agent.rollout.advantages(cfg.gamma, cfg.gae_lambda)
    seq = agent.sequences(adv, ret)
    with torch.no_grad():
        dist, values = agent.policy.sequence(seq["obs"], seq["starts"], seq["state"])
    flat = seq["logprobs"].numel()
    torch.testing.assert_close(
        dist.log_prob(seq["actions"].reshape(flat)),
        seq["logprobs"].reshape(flat),
        atol=1e-5,
        rtol=0,
    )
    torch.testing.assert_close(values, seq["values"].reshape(flat), atol=1e-5, rtol=0)
    # through the real update: no ratio leaves [1 - 1e-4, 1 + 1e-4] before the step
    out = agent.update(seq, clip=1e-4)
    assert out["clip_fraction"].item() == 0.0
    assert abs(out["approx_kl"].item()) < 1e-8


def test_stored_chunk_states_matter_until_the_first_episode_start():
    agent = collected(n_envs=4, n_steps=16, bptt_len=8, lstm_hidden=16)
    cfg = agent.config
    adv, ret = agent.rollout.advantages(cfg.gamma, cfg.gae_lambda)
    seq = agent.sequences(adv, ret)
    other = torch.randn_like(seq["state"])
    with torch.no_grad():
        _, v = agent.policy.sequence(seq["obs"], seq["starts"], seq["state"])
        _, w = agent.policy.sequence(seq["obs"], seq["starts"], other)
    v, w = v.reshape(8, -1), w.reshape(8, -1)
    starts = seq["starts"]
    after = starts.cumsum(0) > 0  # at or after an episode start inside the chunk
    torch.testing.assert_close(v[after], w[after], atol=1e-6, rtol=0)
    assert (v[~after] - w[~after]).abs().min() > 1e-6


def test_same_seed_same_run_and_save_load_round_trip(tmp_path):
    def run(seed):
        agent = tidyrl.make("recurrent-ppo", ENV, seed=seed, n_envs=2, n_steps=16, bptt_len=8)
        agent.learn(128)
        return agent

    a, b, c = run(3), run(3), run(4)
    for (k, va), vb in zip(a.policy.state_dict().items(), b.policy.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(
        not torch.equal(va, vc) for va, vc in zip(a.policy.parameters(), c.policy.parameters())
    )
    a.save(tmp_path / "r")
    loaded = tidyrl.load(tmp_path / "r")
    torch.testing.assert_close(loaded.obs_norm.mean, a.obs_norm.mean)
    rng = np.random.default_rng(0)
    a.reset_memory()
    for _ in range(5):  # the same actions along a sequence: the memory is rebuilt alike
        o = rng.normal(size=(3, 2)).astype(np.float32)
        np.testing.assert_array_equal(loaded.predict(o), a.predict(o))
    torch.testing.assert_close(loaded._act_state, a._act_state)


def test_bad_sequence_lengths_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="bptt_len=5 must divide n_steps=32"):
        tidyrl.make("recurrent-ppo", ENV, bptt_len=5)
    with pytest.raises(ConfigError, match="batch_size=16 must be a multiple of the sequence"):
        tidyrl.make("recurrent-ppo", ENV, batch_size=16)  # sequences are n_steps = 32 long
    with pytest.raises(ConfigError, match="batch_size=96 must be a multiple"):
        tidyrl.make("recurrent-ppo", ENV, bptt_len=8, batch_size=96)  # 256 % 96 != 0


def test_export_refuses_a_policy_with_memory_in_one_line():
    from tidyrl.errors import TidyError
    from tidyrl.export import policy_module

    with pytest.raises(TidyError, match="carries LSTM memory"):
        policy_module(tidyrl.make("recurrent-ppo", ENV))


def test_cartpole_without_velocity_observes_position_and_angle_only():
    full, partial = gym.make("CartPole-v1"), gym.make(ENV)
    assert partial.observation_space.shape == (2,)
    o_full, _ = full.reset(seed=7)
    o_part, _ = partial.reset(seed=7)
    np.testing.assert_array_equal(o_part, o_full[[0, 2]])
    for action in [0, 1, 1, 0, 1]:
        o_full, r_full, term_full, *_ = full.step(action)
        o_part, r_part, term_part, *_ = partial.step(action)
        np.testing.assert_array_equal(o_part, o_full[[0, 2]])
        assert (r_part, term_part) == (r_full, term_full)
    assert partial.spec.max_episode_steps == 500


def _greedy_return(algo: str, env: str, seed: int, steps: int = 30_000) -> float:
    agent = tidyrl.make(algo, env, seed=seed, progress=False, eval_every=0)
    agent.learn(steps)
    return float(tidyrl.evaluate(agent, episodes=5)["mean_return"])


@pytest.mark.learning
def test_recurrent_ppo_solves_cartpole_without_velocity_where_ppo_fails():
    """CI learning test: on CartPole observing [x, theta] only, 30k steps of recurrent PPO (its
    defaults) reach eval 400+ on at least two of seeds 0-2, while feed-forward PPO with the same
    rollout, epochs and schedules (its CartPole defaults) stays below 100. Float results differ
    between CPU kinds, and one seed can miss: on one kind seeds 1 and 2 reached 496-500, on
    another seeds 0 and 2 reached 500 and seed 1 ended at 174.6; PPO 40-42 at 30k-40k."""
    torch.set_num_threads(1)
    recurrent = []
    for seed in (0, 1, 2):
        recurrent.append(_greedy_return("recurrent-ppo", ENV, seed))
        if sum(r >= 400 for r in recurrent) >= 2:
            break
    assert sum(r >= 400 for r in recurrent) >= 2, recurrent
    assert _greedy_return("ppo", ENV, seed=1) < 100


def test_recurrent_ppo_mountaincar_preset_reaches_the_flag():
    """Regression guard (issue 27): with the `mountaincar` settings that `tidyrl train
    recurrent-ppo MountainCar-v0` chooses, the greedy policy reaches the flag after 30k steps on
    at least one of seeds 0-2. With sb3-contrib's 256-unit LSTM in that preset no seed of three
    reached it in 400k steps (every episode ran to the 200-step limit); with the 64-unit one the
    first training episodes to reach it ended by 6k-13k steps (seeds 0-2). Greedy returns at 30k
    differ between CPU kinds: on one kind seed 0 stays at -200 and seeds 1 and 2 end at -143 and
    -103."""
    torch.set_num_threads(1)
    agent = tidyrl.make("recurrent-ppo", "MountainCar-v0", seed=0, progress=False, eval_every=0)
    assert agent.config.lstm_hidden == 64
    returns = []
    for seed in (0, 1, 2):
        returns.append(_greedy_return("recurrent-ppo", "MountainCar-v0", seed))
        if returns[-1] > -200:
            break
    assert max(returns) > -200, returns
