"""R2D2: the stored state of every replayed row is the actor's state when it read that row;
the LSTM state resets at episode starts inside a sequence; the burn-in rows get no gradient and
no loss; the target network gets no gradient; same seed, same run; and, on the cue-recall
T-maze, memory is what solves it (acting memory: tests/algos/test_recurrent_memory.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import tidyrl
from tidyrl.algos.value.r2d2 import RecurrentQNetwork
from tidyrl.errors import ConfigError

ENV = "tidyrl/CartPoleNoVel-v1"
SMALL = {"lstm_hidden": 8, "hidden": 8, "burn_in": 3, "unroll": 5, "period": 4, "batch_size": 4}


def collected(steps: int = 120, **overrides):
    """An agent that collected `steps` steps without updating (fixed weights)."""
    agent = tidyrl.make("r2d2", ENV, seed=0, **{**SMALL, "learning_starts": 10**6, **overrides})
    agent.learn(steps)
    return agent


def test_stored_states_are_the_actors_states_when_it_read_each_row(monkeypatch):
    agent = tidyrl.make("r2d2", ENV, seed=0, **{**SMALL, "learning_starts": 10**6})
    used = []  # the state the actor read each observation with (after the episode-start reset)
    real = agent.step_q

    def step_q(obs, starts, state):
        used.append((state * (1.0 - starts).view(1, -1, 1))[:, 0].clone())
        return real(obs, starts, state)

    monkeypatch.setattr(agent, "step_q", step_q)
    agent.learn(100)
    cols = agent.replay.streams[0].columns
    first = cols["is_first"][: len(agent.replay)]
    assert first.sum() >= 3  # several episodes
    # every row but an episode's final observation (followed by is_first) was read by the actor
    read = [i for i in range(len(first) - 1) if not first[i + 1]]
    assert len(read) == len(used) == 100
    for i, state in zip(read, used, strict=True):
        np.testing.assert_array_equal(cols["state"][i], state.numpy())
    # a sampled sequence starts from its first row's stored state
    batch = agent.replay.sample_sequences(16, np.random.default_rng(0))
    assert batch.states is not None and batch.index is not None
    slots = agent.replay.slots
    for b in range(16):
        row = (batch.index[b] % slots) * agent.config.period
        np.testing.assert_array_equal(batch.states[b].numpy(), cols["state"][row])


def test_state_is_reset_at_episode_starts_inside_a_sequence():
    torch.manual_seed(0)
    net = RecurrentQNetwork(2, 3, 6, 5, dueling=True)
    obs = torch.randn(7, 2, 2)
    starts = torch.zeros(7, 2)
    starts[4, 0] = 1.0  # sequence 0 starts a new episode at t = 4
    state = torch.randn(2, 2, 5)
    with torch.no_grad():
        q, _ = net(obs, starts, state)
        fresh, _ = net(obs[4:, :1], torch.zeros(3, 1), net.initial_state(1))
        torch.testing.assert_close(q[4:, 0], fresh[:, 0], rtol=0, atol=1e-6)
        kept, _ = net(obs, torch.zeros(7, 2), state)
        torch.testing.assert_close(q[:4], kept[:4], rtol=0, atol=0)  # before the start
        torch.testing.assert_close(q[:, 1], kept[:, 1], rtol=0, atol=0)  # the other sequence
        assert (q[4:, 0] - kept[4:, 0]).abs().max() > 1e-4  # the reset changed sequence 0


def test_burn_in_rows_get_no_gradient_and_the_target_network_none():
    agent = collected()
    batch = agent.replay.sample_sequences(4, np.random.default_rng(1))
    obs = batch.obs.clone().requires_grad_(True)
    states = batch.states.clone().requires_grad_(True)
    batch = dataclasses.replace(batch, obs=obs, states=states)
    loss, delta, mask = agent.loss(batch)
    assert delta.shape == mask.shape == (agent.config.unroll - 1, 4)
    loss.backward()
    k = agent.config.burn_in
    assert obs.grad is not None
    assert torch.count_nonzero(obs.grad[:, :k]) == 0  # burn-in: no gradient
    assert torch.count_nonzero(obs.grad[:, k:]) > 0
    assert states.grad is None or torch.count_nonzero(states.grad) == 0
    assert all(p.grad is None for p in agent.q_target.parameters())
    assert any(p.grad is not None for p in agent.q.parameters())


def test_burn_in_refreshes_the_stored_state():
    """The unrolled part starts from the state after the burn-in rows, not from the stored one:
    replacing the stored state changes the loss only through the burn-in."""
    agent = collected()
    batch = agent.replay.sample_sequences(4, np.random.default_rng(2))
    with torch.no_grad():
        base, _, _ = agent.loss(batch)
        zero = dataclasses.replace(batch, states=torch.zeros_like(batch.states))
        changed, _, _ = agent.loss(zero)
    assert not torch.equal(base, changed)  # the stored state enters through the burn-in


def test_same_seed_same_run():
    def run(seed):
        agent = tidyrl.make("r2d2", ENV, seed=seed, **{**SMALL, "learning_starts": 50})
        agent.learn(200)
        assert agent.counters["updates"] > 0
        return [p.detach().clone() for p in agent.q.parameters()]

    a, b, c = run(3), run(3), run(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(not torch.equal(x, z) for x, z in zip(a, c, strict=True))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"unroll": 1}, "unroll"),
        ({"period": 30, "burn_in": 4, "unroll": 8}, "period"),
        ({"buffer_size": 10}, "buffer_size"),
        ({"eta": 2.0}, "eta"),
    ],
)
def test_bad_settings_name_the_field(settings, field):
    with pytest.raises(ConfigError, match=field):
        tidyrl.make("r2d2", ENV, **settings)


@pytest.mark.slow
@pytest.mark.learning
def test_r2d2_remembers_the_cue_where_dqn_cannot():
    """T-maze with a corridor of 4: R2D2 turns the cued way every time after 5k steps; DQN at
    the same budget cannot beat a guess (mean return 0 at best)."""
    maze = {"env_kwargs": {"length": 4}}
    r2d2 = tidyrl.make("r2d2", "tidyrl/TMaze-v0", seed=0, **maze)
    r2d2.learn(5_000)
    assert tidyrl.evaluate(r2d2, episodes=40)["mean_return"] == 1.0
    dqn = tidyrl.make("dqn", "tidyrl/TMaze-v0", seed=0, **maze)
    dqn.learn(5_000)
    assert tidyrl.evaluate(dqn, episodes=200)["mean_return"] < 0.4
