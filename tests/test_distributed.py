"""Scale-out on Ray (`tidyrl.distributed`, docs/distributed.md).

Without workers, nothing imports Ray; the pieces the workers rely on (env copies seeded by their
run-wide index, env states merged and split, rollouts resized and put together) are checked
here in-process. The runs that start Ray do so once, in one subprocess inside a loopback-only
network namespace (`tests.distributed.netns`; Ray binds the network address), and the tests
below read its results (`tests.distributed.scenarios`): the same seed gives the same metrics
and parameters in-process and on one worker; an env that raises inside a worker stops the run
with its traceback and checkpoint, and the resumed run ends exactly where the uninterrupted one
does; a worker killed with SIGKILL is restarted and the run completes; a hung worker stops the
run after its timeout; two workers spread over
the two nodes of a local `ray.cluster_utils.Cluster`, where the CLI resumes the run. Ape-X's
learner stores the rows with the priorities its actors computed with the algorithm's own loss
(DQN, and Rainbow's and D4PG's n-step rows); A3C's gradients on Ray survive the same faults.
Every kind of worker sends the successes of the episodes it finished with their returns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.distributed import netns
from tidyrl.config import EnvConfig
from tidyrl.data.rollout import Rollout
from tidyrl.envs.make import VecEnv
from tidyrl.envs.trace import merge_states, split_state


def test_a_run_without_workers_never_imports_ray() -> None:
    code = (
        "import sys, tidyrl\n"
        "tidyrl.make('ppo', 'CartPole-v1', n_envs=2, n_steps=8, n_epochs=1).learn(32)\n"
        "import tidyrl.cli\n"
        "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if 'ray' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=netns.ROOT, timeout=120)


def test_workers_refused_before_ray_starts() -> None:
    code = (
        "import sys\n"
        "from tidyrl.cli import main\n"
        "status = main(['train', 'sac', 'Pendulum-v1', '--workers', '2', '--quiet',"
        " '--run-dir', sys.argv[1]])\n"
        "assert status == 2 and 'ray' not in sys.modules\n"
        "status = main(['train', 'ppo', 'CartPole-v1', '--workers', '9', '--quiet',"
        " '--run-dir', sys.argv[1], '--overwrite'])\n"
        "assert status == 2 and 'ray' not in sys.modules\n"
        "assert main(['train', 'ppo', 'CartPole-v1', '--ray-address', 'auto']) == 2\n"
        "assert main(['train', 'mappo', 'tests.multiagent_envs:relay', '--workers', '2',"
        " '--quiet', '--run-dir', sys.argv[1], '--overwrite']) == 2\n"
        "assert main(['train', 'dqn', 'CartPole-v1', '--workers', '2', '--set', 'n_envs=2',"
        " 'reward=count', '--quiet', '--run-dir', sys.argv[1], '--overwrite']) == 2\n"
        "assert 'ray' not in sys.modules\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "/tmp/tidyrl-test-refused"],
        cwd=netns.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert "sac cannot collect on Ray workers yet" in lines[0] and "ppo, a2c" in lines[0]
    assert "dqn" in lines[0]
    assert "workers=9 needs at least as many env copies" in lines[1]
    assert "--ray-address needs --workers" in lines[2]
    assert "mappo cannot collect on Ray workers yet" in lines[3]
    assert "dqn with reward=count cannot collect on Ray workers yet" in lines[4]


def test_shares_of_copies_seed_and_step_as_the_whole() -> None:
    cfg = EnvConfig(id="CartPole-v1")
    whole = VecEnv(cfg, 4, seed=7)
    parts = [VecEnv(cfg, 3, seed=7, first=0), VecEnv(cfg, 1, seed=7, first=3)]
    rng = np.random.default_rng(0)
    for _ in range(60):  # several episodes end: their reset seeds follow the run-wide index
        actions = rng.integers(0, 2, size=4)
        step = whole.step(actions)
        a, b = parts[0].step(actions[:3]), parts[1].step(actions[3:])
        assert np.array_equal(step.obs, np.concatenate([a.obs, b.obs]))
        assert step.episode_returns == a.episode_returns + b.episode_returns
    state, arrays = whole.state()
    merged, merged_arrays = merge_states([p.state() for p in parts])
    assert merged["episodes"] == state["episodes"] and merged["returns"] == state["returns"]
    assert merged_arrays.keys() == arrays.keys()
    assert all(np.array_equal(merged_arrays[k], arrays[k]) for k in arrays)
    # split the whole state over two new shares: they replay to the same observations
    fresh = [VecEnv(cfg, 2, seed=7, first=0), VecEnv(cfg, 2, seed=7, first=2)]
    for env, (part, part_arrays) in zip(fresh, split_state(state, arrays, [2, 2])):
        env.restore(part, part_arrays)
    assert np.array_equal(np.concatenate([e.obs for e in fresh]), whole.obs)
    with pytest.raises(ValueError, match="holds 4 env copies, this run has 3"):
        split_state(state, arrays, [2, 1])


def test_rollout_resized_and_put_back() -> None:
    whole = Rollout(3, 4, (2,), (), True, mask_width=2, experience=True)
    part = whole.resized(2)
    assert part.obs.shape == (3, 2, 2) and part.masks is not None and part.env_obs is not None
    assert part.actions.dtype == torch.long and part.masks.shape == (3, 2, 2)
    part.obs.fill_(1.0)
    part.actions.fill_(1)
    part.last_values.fill_(2.0)
    part.masks.fill_(True)
    whole.put(2, part)
    assert whole.obs[:, 2:].eq(1).all() and whole.obs[:, :2].eq(0).all()
    assert whole.actions[:, 2:].eq(1).all() and whole.masks[:, 2:].all()
    assert whole.last_values.tolist() == [0.0, 0.0, 2.0, 2.0]


def test_apex_actors_build_rows_and_score_them_with_the_algorithms_losses() -> None:
    """An Ape-X worker (its class, without Ray) on the learner's networks: DQN's first
    priorities are |delta| computed by hand; Rainbow's n-step rows are built on the worker and
    scored by `rainbow.row_losses`, D4PG's by `d4pg.critic_row_losses`."""
    import tidyrl
    from tidyrl.algos.actor_critic.d4pg import critic_row_losses
    from tidyrl.algos.value.rainbow import row_losses
    from tidyrl.distributed.apex import ApexWorker, as_transition, make_actor

    threads = torch.get_num_threads()  # a worker sets one thread for its process
    try:
        dqn = tidyrl.make("dqn", "CartPole-v1", seed=0, hidden=(8,), prioritized=True)
        with torch.no_grad():  # a target network unlike the online one
            for p in dqn.q_target.parameters():
                p.add_(0.1)
        worker = ApexWorker(EnvConfig(id="CartPole-v1"), 2, 0, 0)
        batch = worker.transitions(make_actor(dqn), np.array([0.5, 0.1]), 30)
        rows, priorities = batch.rows, batch.priorities
        assert rows is not None and priorities is not None
        assert len(batch.steps) == 60 and len(rows["rewards"]) == 60  # n = 1: a row a step
        with torch.no_grad():  # |r + gamma (1 - terminated) max_a Q'(s', a) - Q(s, a)|
            q_sa = dqn.q(torch.as_tensor(rows["obs"]))[np.arange(60), rows["actions"]]
            best = dqn.q_target(torch.as_tensor(rows["next_obs"])).max(1).values
            live = 1.0 - torch.as_tensor(rows["terminated"]).float()
            y = torch.as_tensor(rows["rewards"]) + 0.99 * live * best
        assert np.allclose(priorities, (y - q_sa).abs().numpy(), atol=1e-6)

        rainbow = tidyrl.make("rainbow", "CartPole-v1", seed=0, hidden=(8,))
        worker = ApexWorker(EnvConfig(id="CartPole-v1"), 1, 0, 0)
        batch = worker.transitions(make_actor(rainbow), np.array([0.3]), 30)
        rows = batch.rows
        assert rows is not None and batch.priorities is not None
        assert 28 <= len(rows["rewards"]) <= 30 and sum(s.n_rows for s in batch.steps) == len(
            rows["rewards"]
        )
        m = np.rint(np.log(rows["discounts"]) / np.log(0.99))  # CartPole: reward 1 a step
        assert set(m.tolist()) <= {1.0, 2.0, 3.0} and 3.0 in m
        assert np.allclose(rows["rewards"], (1 - 0.99**m) / (1 - 0.99), atol=1e-5)
        with torch.no_grad():
            mine = row_losses(
                rainbow.q, rainbow.q_target, as_transition(rows), rainbow.support, True
            )
        assert np.allclose(batch.priorities, mine.numpy(), atol=1e-6)

        d4pg = tidyrl.make("d4pg", "Pendulum-v1", seed=0, hidden=(8,), n_envs=1, prioritized=True)
        worker = ApexWorker(EnvConfig(id="Pendulum-v1"), 1, 0, 0)
        batch = worker.transitions(make_actor(d4pg), np.zeros(1), 12)
        rows = batch.rows
        assert rows is not None and batch.priorities is not None
        assert np.abs(rows["actions"]).max() <= 1.0  # the replay keeps unit-box actions
        networks = (d4pg.critic, d4pg.actor_target, d4pg.critic_target)
        with torch.no_grad():
            mine = critic_row_losses(*networks, as_transition(rows), d4pg.support)[1]
        assert np.allclose(batch.priorities, mine.numpy(), atol=1e-6)
    finally:
        torch.set_num_threads(threads)


def failed_cleanly(run: dict[str, Any], what: str, step: int) -> None:
    """The one-line error of an env that raised inside a worker, its traceback file and the
    checkpoint it announces."""
    message = run["message"]
    assert message.startswith("worker ") and f"failed in its {what}" in message, message
    assert f"deliberate failure at step {step}" in message and "worker_error.txt" in message
    assert "its checkpoint is saved" in message and "faulty_envs.py" in run["traceback"]


@pytest.fixture(scope="module")
def ray_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(f"the Ray tests run in a loopback-only network namespace, which {reason}")
    out: Path = tmp_path_factory.mktemp("ray")
    names = ["apex", "apex_priorities", "apex_n_step", "a3c", "identical", "env_error", "kill"]
    names += ["hang", "successes", "cluster"]
    done = netns.run_module("tests.distributed.scenarios", str(out), *names, timeout=520)
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def test_one_worker_gives_the_in_process_run(ray_runs: dict[str, Any]) -> None:
    for algo in ("ppo", "a2c", "trpo", "actor-critic"):
        run = ray_runs["identical"][algo]
        assert run["rows"] >= 6 and run["has_return"]
        assert run["same_rows"], f"{algo}: metrics differ between in-process and one worker"
        assert run["same_params"], f"{algo}: parameters differ"
    cli = ray_runs["identical"]["cli"]
    assert cli["status"] == [0, 0] and cli["same_rows"]


def test_env_error_in_a_worker_is_reported_checkpointed_and_resumed(
    ray_runs: dict[str, Any],
) -> None:
    run = ray_runs["env_error"]
    message = run["message"]
    assert message.startswith("worker ") and "raised ValueError in step()" in message
    assert "deliberate failure at step 40" in message and "worker_error.txt" in message
    assert "its checkpoint is saved" in message and "tidyrl resume" in message
    assert run["stopped_at"] == 128  # the boundary of the failed (third) rollout
    assert "Traceback" in run["traceback"] or "File " in run["traceback"]
    assert "faulty_envs.py" in run["traceback"]
    assert run["resumed_steps"] == 512
    assert run["same_params"], "the resumed run did not end where the uninterrupted one did"
    assert run["in_process_status"] == 0 and run["in_process_steps"] == 512


def test_killed_worker_is_restarted_and_the_run_completes(ray_runs: dict[str, Any]) -> None:
    run = ray_runs["kill"]
    assert run["marker_gone"], "the worker never killed itself"
    assert run["restarts"] >= 1 and run["warned"]
    assert run["steps"] == 512 and run["updates"] == 512 // 64  # every rollout, every update


def test_hung_worker_stops_the_run_after_its_timeout(ray_runs: dict[str, Any]) -> None:
    run = ray_runs["hang"]
    assert "worker 0 sent no rollout within 4 s (worker_timeout)" in run["message"]
    assert "no checkpoint could be saved" in run["message"]
    assert run["seconds"] < 60


def test_two_nodes_and_cli_resume_on_a_cluster(ray_runs: dict[str, Any]) -> None:
    run = ray_runs["cluster"]
    assert run["nodes"] == 2, "the two workers did not spread over the two nodes"
    assert run["resume"] == 0 and run["workers"] == 2 and run["last_step"] == 320


def test_workers_send_the_successes_of_their_episodes(ray_runs: dict[str, Any]) -> None:
    for algo in ("ppo", "dqn", "a3c"):
        run = ray_runs["successes"][algo]
        assert run["successes"] == run["returns"] == 20, algo
        assert run["paired"] and run["some"], algo


def test_apex_dqn_streams_trains_survives_faults_and_resumes(ray_runs: dict[str, Any]) -> None:
    run = ray_runs["apex"]
    assert run["steps"] == 600 and run["replay"] == 600 and run["episodes"] > 0
    assert run["updates"] == (600 - 100) // 16 * 2  # DQN's schedule, as in-process
    assert run["epsilons"] == [[0.4], [pytest.approx(0.4**8)]]  # Ape-X's ε_i, N = 2
    failed_cleanly(run, "transitions", 120)
    # the checkpoint holds the learner's replay as it was; the resumed run reaches the target
    assert run["resumed_from"] == run["stopped_at"] == run["resumed_replay"] > 0
    assert run["resumed_steps"] == 600
    kill = run["kill"]
    assert kill["marker_gone"] and kill["restarts"] >= 1 and kill["warned"]
    assert kill["steps"] == 600 and kill["updates"] == run["updates"]
    assert kill["more_steps"] == 800


def test_apex_learner_takes_the_actors_priorities_then_updates_them(
    ray_runs: dict[str, Any],
) -> None:
    run = ray_runs["apex_priorities"]
    assert run["rows"] == 300 and run["updates_before"] == 0
    # each row entered with (|delta| + eps)^alpha from the actor, not the maximum so far
    assert run["largest_error"] < 1e-5 and run["distinct"] > 250
    # 19 training phases (multiples of 16 in (300, 600]) of 2 gradient steps each
    assert run["updates"] == 19 * 2 and run["changed"] > 0


def test_apex_rainbow_and_d4pg_stream_n_step_rows_fail_cleanly_and_resume(
    ray_runs: dict[str, Any],
) -> None:
    for algo in ("rainbow", "d4pg"):
        run = ray_runs["apex_n_step"][algo]
        failed_cleanly(run, "transitions", 150)
        assert run["updates_at_stop"] > 0 and run["mass"] > 0
        assert 3 in run["horizons"]  # rows of n = 3 steps, built on the actors
        assert run["resumed_from"] == run["stopped_at"] and run["resumed_replay"] == run["replay"]
        assert run["resumed_steps"] == 300


def test_a3c_on_ray_fails_cleanly_resumes_and_survives_a_killed_worker(
    ray_runs: dict[str, Any],
) -> None:
    run = ray_runs["a3c"]
    failed_cleanly(run, "gradients", 100)
    assert run["resumed_from"] == run["stopped_at"] > 0
    assert run["resumed_steps"] >= 400 and run["resumed_updates"] >= 400 // 20
    kill = run["kill"]
    assert kill["marker_gone"] and kill["warned"]
    assert kill["steps"] >= 400 and kill["updates"] >= 400 // 20 and kill["episodes"] > 0
    assert kill["observed"] == kill["steps"]  # every counted step's observation was merged
