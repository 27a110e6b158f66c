"""World Models (V-M-C): a controller trained in M's dream improves in the real CartPole; the
phases resume; the CMA-ES state is rebuilt from its scores; workers score as the main process."""

from __future__ import annotations

import numpy as np
import pytest
from torch.nn.utils import parameters_to_vector

import tidyrl
from tidyrl.algos.model_based.world_models import WorldModelsConfig, evolution_strategy

pytest.importorskip("cma", reason="the modelbased extra is not installed")

TINY = {
    "rollouts": 20,
    "rnn_hidden": 8,
    "mdn_epochs": 5,
    "seq_len": 16,
    "popsize": 4,
    "candidate_rollouts": 2,
    "n_workers": 0,
}


def test_dream_trained_controller_improves_in_the_real_env():
    """Random play on CartPole lasts about 22 steps; C evolved only inside M (never scored on a
    real episode) balances the real pole several times longer."""
    agent = tidyrl.make(
        "world-models",
        "CartPole-v1",
        seed=0,
        preset="cartpole-dream",
        rollouts=60,
        mdn_epochs=60,
        popsize=8,
        candidate_rollouts=8,
        dream_max_steps=150,
        generations=5,
        iterations=1,
        n_workers=0,
    )
    agent.learn(100_000)
    assert len(agent.phase["scores"]) == 5 and agent.phase["vision"] and agent.phase["memory"]
    stats = tidyrl.evaluate(agent, episodes=10)
    assert stats["mean_return"] > 40.0  # 84 with this seed; random play: about 22


def test_cma_state_is_rebuilt_from_the_scores():
    cfg = WorldModelsConfig(popsize=6, sigma0=0.3)
    es = evolution_strategy(np.zeros(5), cfg, 3, [])
    history = []
    for _ in range(4):
        x = es.ask()
        scores = [-float(np.sum((np.asarray(c) - 1.0) ** 2)) for c in x]
        es.tell(x, [-s for s in scores])
        history.append(scores)
    again = evolution_strategy(np.zeros(5), cfg, 3, history)
    np.testing.assert_array_equal(again.mean, es.mean)
    assert again.sigma == es.sigma
    np.testing.assert_array_equal(np.asarray(again.ask()), np.asarray(es.ask()))


def test_resumed_run_continues_exactly(tmp_path):
    """A run stopped inside the controller phase and resumed from its run directory (episodes
    file, V/M epochs, CMA-ES scores) ends where an uninterrupted run ends."""
    whole = tidyrl.make("world-models", "CartPole-v1", seed=1, preset="none", **TINY)
    whole.learn(1200)
    run_dir = tmp_path / "run"
    part = tidyrl.make(
        "world-models", "CartPole-v1", seed=1, preset="none", run_dir=run_dir, **TINY
    )
    part.learn(700)
    assert (run_dir / "rollouts.safetensors").is_file()
    assert 0 < len(part.phase["scores"]) < len(whole.phase["scores"])
    resumed = tidyrl.load(run_dir, resume=True)
    resumed.learn(1200 - resumed.counters["steps"])
    assert resumed.phase["scores"] == whole.phase["scores"]
    assert resumed.counters["steps"] == whole.counters["steps"]
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(resumed.predict(obs), whole.predict(obs))


def test_worker_processes_score_as_the_main_process():
    """Two spawned workers holding V and M give the scores the main process gives."""
    scores = []
    for workers in (0, 2):
        agent = tidyrl.make(
            "world-models", "CartPole-v1", seed=2, preset="none", **{**TINY, "n_workers": workers}
        )
        agent.learn(500)
        scores.append(agent.phase["scores"])
    assert scores[0] and scores[0] == scores[1]


ROUNDS = {**TINY, "generations": 2, "iterations": 2, "iteration_rollouts": 4}


def test_iterative_training_collects_with_the_controller_and_refits_memory(tmp_path):
    """A second round collects `iteration_rollouts` episodes with C acting, refits M from its
    weights on every episode and restarts CMA-ES from the first round's mean."""
    agent = tidyrl.make("world-models", "CartPole-v1", seed=3, preset="none", **ROUNDS)
    first = tidyrl.make(
        "world-models", "CartPole-v1", seed=3, preset="none", **{**ROUNDS, "iterations": 1}
    )
    first.learn(100_000)
    agent.learn(100_000)
    phase = agent.phase
    assert phase["iteration"] == 1 and phase["past_generations"] == 2
    assert len(phase["scores"]) == 2 and phase["memory"]
    assert agent.data.episodes == 20 + 4
    assert agent.counters["steps"] > first.counters["steps"]  # C's episodes are real steps
    first_mean = parameters_to_vector(first.world.controller.parameters()).detach().numpy()
    np.testing.assert_allclose(phase["theta0"], first_mean, rtol=1e-6)
    assert not np.array_equal(
        agent.world.mdn.done_head.weight.detach().numpy(),
        first.world.mdn.done_head.weight.detach().numpy(),
    )
    agent.save(tmp_path / "agent")  # dreams now start from 24 episodes' first frames, not 20
    again = tidyrl.load(tmp_path / "agent")
    np.testing.assert_array_equal(again.start_z, agent.start_z)


def test_resume_inside_a_later_round_continues_exactly(tmp_path):
    """Stopped while C collects the second round's episodes (M's memory of the episode in
    progress is rebuilt from its stored steps), the resumed run ends as an uninterrupted one."""
    whole = tidyrl.make("world-models", "CartPole-v1", seed=4, preset="none", **ROUNDS)
    whole.learn(100_000)
    one = tidyrl.make(
        "world-models", "CartPole-v1", seed=4, preset="none", **{**ROUNDS, "iterations": 1}
    )
    one.learn(100_000)
    start = one.counters["steps"]  # where the second round's collection starts
    run_dir = tmp_path / "run"
    part = tidyrl.make(
        "world-models", "CartPole-v1", seed=4, preset="none", run_dir=run_dir, **ROUNDS
    )
    part.learn(start + 7)
    assert part.phase["iteration"] == 1 and not part.phase["collected"]
    assert part.data.episodes == 20 and len(part.data.actions) > sum(part.data.lengths)
    resumed = tidyrl.load(run_dir, resume=True)
    resumed.learn(100_000)
    assert resumed.phase["scores"] == whole.phase["scores"]
    assert resumed.data.lengths == whole.data.lengths
    assert resumed.counters["steps"] == whole.counters["steps"]


def test_iterations_need_a_generation_count():
    with pytest.raises(tidyrl.errors.ConfigError, match="generations >= 1"):
        WorldModelsConfig(iterations=2)


def test_rounds_on_continuous_actions():
    """With no random steps, a later round's episodes are C's own: replaying their frames through
    `act` (tanh rescaled to Pendulum's [-2, 2], M's memory fed the action taken) gives the stored
    actions."""
    cfg = {**TINY, "rollouts": 3, "rollout_max_steps": 20, "popsize": 2, "candidate_rollouts": 1}
    rounds = {"generations": 1, "iterations": 2, "iteration_rollouts": 2, "collect_epsilon": 0.0}
    one = tidyrl.make(
        "world-models", "Pendulum-v1", seed=5, preset="none", **cfg, **{**rounds, "iterations": 1}
    )
    one.learn(100_000)
    agent = tidyrl.make("world-models", "Pendulum-v1", seed=5, preset="none", **cfg, **rounds)
    agent.learn(one.counters["steps"] + 25)  # C's first episode and 5 steps: C and M as they were
    frames, actions = np.stack(agent.data.frames[63:83]), np.stack(agent.data.actions[60:80])
    assert agent.phase["iteration"] == 1 and agent.data.lengths[3:] == [20]
    agent.reset_memory()
    replayed = np.concatenate([agent.act(frame[None]) for frame in frames])
    np.testing.assert_allclose(replayed, actions, rtol=1e-5)


def test_initial_action_is_where_the_controller_and_cma_es_start():
    """initial_action 1.0 on Pendulum's [-2, 2]: b_c = atanh(0.5), so C answers 1.0 to any
    frame before evolution and CMA-ES's first mean is that theta; a bound is kept 0.99 inside
    tanh's range (-2 + 0.005 * 4 = -1.98)."""
    agent = tidyrl.make("world-models", "Pendulum-v1", seed=0, preset="none", initial_action=(1.0,))
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(agent.act(obs), np.full((5, 1), 1.0), rtol=1e-6)
    assert agent.world.theta0[-1] == pytest.approx(np.arctanh(0.5))
    es = evolution_strategy(agent.world.theta0, agent.config, seed=0, history=[])
    np.testing.assert_array_equal(es.mean, agent.world.theta0)
    edge = tidyrl.make("world-models", "Pendulum-v1", seed=0, preset="none", initial_action=(-2.0,))
    np.testing.assert_allclose(edge.act(obs), np.full((5, 1), -1.98), rtol=1e-5)


@pytest.mark.parametrize(
    ("env", "action", "message"),
    [
        ("CartPole-v1", (0.0,), "bounded Box action, not Discrete"),
        ("Pendulum-v1", (3.0,), r"must hold 1 value\(s\) within low=\[-2.0\]"),
        ("Pendulum-v1", (0.0, 0.0), r"must hold 1 value\(s\)"),
    ],
)
def test_initial_action_outside_the_action_space_is_refused(env, action, message):
    with pytest.raises(tidyrl.errors.ConfigError, match=message):
        tidyrl.make("world-models", env, preset="none", initial_action=action)


def test_collected_frames_larger_than_the_machine_are_refused_before_collecting():
    """CartPole keeps 16-byte states and caps episodes at 500 steps: 501 x 16 = 8,016 bytes an
    episode at most. 20 random episodes and two later rounds of 5 need 240,480 bytes, more than
    200,000, where 24 episodes fit: 14 random ones beside the rounds' 10."""
    rounds = {"generations": 1, "iterations": 3, "iteration_rollouts": 5}
    agent = tidyrl.make("world-models", "CartPole-v1", preset="none", rollouts=20, **rounds)
    with pytest.raises(
        tidyrl.errors.ConfigError,
        match=r"rollouts=20 \(30 episodes in all\) of up to 500 steps keep 240.5 kB of frames "
        r"\(16 bytes each\) in memory, more than this machine's 200.0 kB; valid: rollouts below "
        r"14, or a smaller rollout_max_steps",
    ):
        agent.check_dataset_memory(200_000)
    agent.check_dataset_memory(240_480)  # exactly enough
    capped = tidyrl.make("world-models", "CartPole-v1", preset="none", rollouts=20, **rounds,
                         rollout_max_steps=100)  # fmt: skip
    capped.check_dataset_memory(200_000)  # 30 x 101 x 16 = 48,480 bytes
