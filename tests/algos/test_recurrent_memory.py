"""Agents with LSTM memory (`recurrent-ppo`, `r2d2`): `predict` continues the memory of the
previous call, `reset_memory` forgets it, and evaluation resets it before every episode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tidyrl


@pytest.mark.parametrize("algo", ["recurrent-ppo", "r2d2"])
def test_acting_memory_persists_and_evaluation_resets_it(monkeypatch, algo):
    agent = tidyrl.make(algo, "tidyrl/CartPoleNoVel-v1", seed=0)
    assert agent.recurrent
    agent.predict(np.array([[1.0, 0.1]], dtype=np.float32))
    remembered = agent._act_state.clone()
    agent.predict(np.array([[0.01, -0.02]], dtype=np.float32))
    assert not torch.equal(agent._act_state, remembered)
    agent.reset_memory()
    assert agent._act_state is None
    calls = []
    monkeypatch.setattr(agent, "reset_memory", lambda: calls.append(1))
    agent.evaluate(episodes=3)
    assert len(calls) == 3  # one reset per episode
