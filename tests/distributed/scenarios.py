"""Runs that start Ray, for tests/test_distributed.py: ``python -m tests.distributed.scenarios
OUT_DIR NAME...`` runs the named scenarios in one process (one Ray start for all but `cluster`,
which starts a two-node cluster of its own, so it goes last) and prints one JSON object
``{name: result}``. Run it inside a loopback-only network namespace (`tests.distributed.netns`):
Ray binds the machine's network address.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tidyrl
from tidyrl.errors import EnvError
from tidyrl.logging import read_metrics

FAULTY = "tests.distributed.faulty_envs:faultytest/{}-v0"
TIMING = ("wall_time", "steps_per_second")


def _params(agent: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.policy.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _rows(run_dir: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(run_dir)]


def identical(out: Path) -> dict[str, Any]:
    """In-process and one Ray worker, same seed: the same metrics rows and parameters, for every
    learner that collects on workers (PPO with observation and reward normalization, whose
    statistics the learner replays; A2C; TRPO with reward scaling; the one-step actor-critic,
    a round trip per step)."""
    result: dict[str, Any] = {}
    settings = {
        "ppo": {
            "n_envs": 4,
            "n_steps": 16,
            "n_epochs": 2,
            "normalize_obs": True,
            "normalize_reward": True,
        },
        "a2c": {"n_envs": 4},
        "trpo": {"n_envs": 2, "n_steps": 64, "normalize_reward": True},
        "actor-critic": {"n_envs": 2},
    }
    for algo, kwargs in settings.items():
        runs = []
        for workers in (0, 1):
            run_dir = out / f"{algo}-w{workers}"
            agent = tidyrl.make(
                algo,
                "CartPole-v1",
                seed=1,
                run_dir=run_dir,
                workers=workers,
                log_every=128,
                **kwargs,
            )
            agent.learn(768)
            runs.append((_rows(run_dir), _params(agent)))
            agent.close()
        (rows0, params0), (rows1, params1) = runs
        result[algo] = {
            "rows": len(rows0),
            "same_rows": rows0 == rows1,
            "same_params": _same(params0, params1),
            "has_return": any("episode_return" in r for r in rows1),
        }
    # the command line: --workers 1 gives the in-process run's metrics too
    from tidyrl.cli import main

    status = []
    for workers in ([], ["--workers", "1"]):
        args = ["train", "a2c", "CartPole-v1", "--steps", "320", "--seed", "5", "--quiet"]
        status.append(main([*args, "--run-dir", str(out / f"cli{len(workers)}"), *workers]))
    result["cli"] = {"status": status, "same_rows": _rows(out / "cli0") == _rows(out / "cli2")}
    return result


def env_error(out: Path) -> dict[str, Any]:
    """Two workers; an env raises inside one of them mid-run: a clear EnvError, a traceback
    file and a checkpoint, and the resumed run ends where the uninterrupted one does."""
    marker = out / "raise.marker"
    env = FAULTY.format("Raise")
    kwargs = {
        "n_envs": 4,
        "n_steps": 16,
        "n_epochs": 2,
        "workers": 2,
        "env_kwargs": {"marker": str(marker), "at_step": 40},
    }
    whole = tidyrl.make("ppo", env, seed=2, run_dir=out / "whole", **kwargs)
    whole.learn(512)
    expected = _params(whole)
    whole.close()
    marker.touch()
    run_dir = out / "failed"
    agent = tidyrl.make("ppo", env, seed=2, run_dir=run_dir, **kwargs)
    message = ""
    try:
        agent.learn(512)
    except EnvError as exc:
        message = str(exc)
    stopped_at = agent.counters["steps"]
    agent.close()
    marker.unlink()
    traceback = (run_dir / "worker_error.txt").read_text()
    copy = out / "failed-in-process"
    shutil.copytree(run_dir, copy)
    resumed = tidyrl.load(run_dir, resume=True)
    resumed.learn(resumed.counters["target"] - resumed.counters["steps"])
    result = {
        "message": message,
        "stopped_at": stopped_at,
        "traceback": traceback,
        "resumed_steps": resumed.counters["steps"],
        "same_params": _same(expected, _params(resumed)),
    }
    resumed.close()
    # the same checkpoint resumed in this process, through the CLI (--workers 0)
    from tidyrl.cli import main

    result["in_process_status"] = main(["resume", str(copy), "--workers", "0", "--quiet"])
    result["in_process_steps"] = read_metrics(copy)[-1]["step"]
    return result


def kill(out: Path) -> dict[str, Any]:
    """The worker's process SIGKILLs itself mid-rollout: Ray restarts it, the rollout is
    collected again and the learner goes on to its step target with every update."""
    marker = out / "kill.marker"
    marker.touch()
    agent = tidyrl.make(
        "ppo",
        FAULTY.format("Kill"),
        seed=3,
        n_envs=2,
        n_steps=32,
        n_epochs=1,
        workers=1,
        env_kwargs={"marker": str(marker), "at_step": 50},
    )
    pid = agent.env.pids[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agent.learn(512)
    result = {
        "pid": pid,
        "marker_gone": not marker.exists(),
        "restarts": agent.env.restarts,
        "steps": agent.counters["steps"],
        "updates": agent.counters["updates"],
        "warned": any("died" in str(w.message) for w in caught),
    }
    agent.close()
    return result


def hang(out: Path) -> dict[str, Any]:
    """An env that hangs inside a worker: the run stops after worker_timeout with an EnvError,
    it does not wait for ever (no checkpoint can hold the hung worker's envs)."""
    marker = out / "hang.marker"
    marker.touch()
    agent = tidyrl.make(
        "a2c",
        FAULTY.format("Hang"),
        seed=3,
        n_envs=2,
        workers=1,
        worker_timeout=4.0,
        run_dir=out / "run",
        env_kwargs={"marker": str(marker), "at_step": 12},
    )
    start = time.perf_counter()
    message = ""
    try:
        agent.learn(512)
    except EnvError as exc:
        message = str(exc)
    seconds = time.perf_counter() - start
    agent.close()
    return {"message": message, "seconds": seconds}


def cluster(out: Path) -> dict[str, Any]:
    """A local two-node cluster: two workers land on different nodes, and the CLI resumes the
    run on it to a larger target."""
    import ray
    from ray.cluster_utils import Cluster

    from tidyrl.cli import main

    ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    run_dir = out / "run"
    agent = tidyrl.make(
        "a2c",
        "CartPole-v1",
        seed=4,
        n_envs=2,
        workers=2,
        ray_address=nodes.address,
        run_dir=run_dir,
    )
    agent.learn(160)
    spread = len(set(agent.env.nodes))
    agent.close()
    resume = main(["resume", str(run_dir), "--steps", "320", "--quiet"])
    config = json.loads((run_dir / "config.json").read_text())
    rows = read_metrics(run_dir)
    ray.shutdown()
    nodes.shutdown()
    return {
        "nodes": spread,
        "resume": resume,
        "workers": config["run"]["workers"],
        "last_step": rows[-1]["step"],
    }


def fail_and_resume(
    out: Path,
    name: str,
    algo: str,
    env: str,
    steps: int,
    at_step: int,
    read: Callable[[Any], dict[str, Any]] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """A run of `steps` whose env (faultytest/`env`) raises inside a worker at its `at_step`-th
    step: the EnvError's message, where the run stopped, what `read` takes of the failed agent,
    the worker's traceback file; then the run resumed from its checkpoint to its target."""
    marker = out / f"{name}.marker"
    marker.touch()
    run_dir = out / name
    kwargs = {**settings, "env_kwargs": {"marker": str(marker), "at_step": at_step}}
    agent = tidyrl.make(algo, FAULTY.format(env), seed=1, run_dir=run_dir, **kwargs)
    run: dict[str, Any] = {"message": ""}
    try:
        agent.learn(steps)
    except EnvError as exc:
        run["message"] = str(exc)
    run["stopped_at"] = agent.counters["steps"]
    run["updates_at_stop"] = agent.counters["updates"]
    run.update(read(agent) if read is not None else {})
    agent.close()
    marker.unlink()
    run["traceback"] = (run_dir / "worker_error.txt").read_text()
    resumed = tidyrl.load(run_dir, resume=True)
    run["resumed_from"] = resumed.counters["steps"]
    if hasattr(resumed, "replay"):
        run["resumed_replay"] = len(resumed.replay)
    resumed.learn(resumed.counters["target"] - resumed.counters["steps"])
    run["resumed_steps"] = resumed.counters["steps"]
    run["resumed_updates"] = resumed.counters["updates"]
    resumed.close()
    return run


def killed(
    out: Path, algo: str, at_step: int, then: Callable[[Any], None], **settings: Any
) -> tuple[Any, dict[str, Any]]:
    """A run on workers whose env SIGKILLs its worker's process at its `at_step`-th step, through
    `then(agent)`: the agent, and whether the worker died and the learner warned of it."""
    marker = out / f"{algo}-kill.marker"
    marker.touch()
    kwargs = {**settings, "env_kwargs": {"marker": str(marker), "at_step": at_step}}
    agent = tidyrl.make(algo, FAULTY.format("Kill"), seed=2, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        then(agent)
    died = {
        "marker_gone": not marker.exists(),
        "warned": any("died" in str(w.message) for w in caught),
    }
    return agent, died


APEX = {
    "n_envs": 2,
    "workers": 2,
    "hidden": (32, 32),
    "learning_starts": 100,
    "train_freq": 16,
    "gradient_steps": 2,
    "target_update_every": 50,
}
"""A tiny Ape-X DQN: two workers of one CartPole copy each."""


def apex(out: Path) -> dict[str, Any]:
    """Ape-X DQN on two workers: the learner takes the streamed transitions into its replay and
    trains on them to the step target; an env that raises inside a worker is an EnvError with
    the traceback saved and a checkpoint that resumes to the target; a worker that SIGKILLs
    itself is restarted and the run completes."""
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0, run_dir=out / "run", **APEX)
    agent.learn(600)
    result: dict[str, Any] = {
        "steps": agent.counters["steps"],
        "updates": agent.counters["updates"],
        "episodes": agent.counters["episodes"],
        "replay": len(agent.replay),
        "epsilons": [e.tolist() for e in agent.env.epsilons],
    }
    agent.close()
    result.update(fail_and_resume(out, "failed", "dqn", "Raise", 600, 120, **APEX))
    counts: dict[str, int] = {}

    def then(agent: Any) -> None:
        agent.learn(600)  # the other worker's batches keep the learner going meanwhile
        counts.update(steps=agent.counters["steps"], updates=agent.counters["updates"])
        agent.env.state()  # what a checkpoint asks of every worker: the killed one is back
        agent.learn(200)  # and streams again

    agent, died = killed(out, "dqn", 60, then, **APEX)
    more = {"restarts": agent.env.restarts, "more_steps": agent.counters["steps"]}
    result["kill"] = {**died, **counts, **more}
    agent.close()
    return result


def apex_priorities(out: Path) -> dict[str, Any]:
    """Ape-X DQN with a prioritised replay: before the first update, the learner's sum-tree holds
    exactly the actors' first priorities, (|delta| + epsilon)^alpha with delta from
    `dqn.td_errors` on the stored rows and the learner's (still initial) networks; after
    learning, the sampled rows' priorities have been replaced."""
    from tidyrl.algos.value.dqn import td_errors
    from tidyrl.data.accumulators import FIELDS
    from tidyrl.distributed.apex import as_transition

    settings = {**APEX, "prioritized": True, "learning_starts": 300}
    agent = tidyrl.make("dqn", "CartPole-v1", seed=3, **settings)
    agent.learn(300)
    replay = agent.replay
    n = len(replay)
    rows = {name: replay.storage.columns[name][:n] for name in FIELDS}
    with torch.no_grad():
        q_taken, target = td_errors(agent.q, agent.q_target, as_transition(rows), False)
    expected = ((target - q_taken).abs().numpy().astype(np.float64) + 1e-6) ** 0.6
    index = np.arange(n)
    first = replay.sampler.tree[index].copy()
    result: dict[str, Any] = {
        "rows": n,
        "updates_before": agent.counters["updates"],
        "largest_error": float(np.max(np.abs(first - expected) / expected)),
        "distinct": len(np.unique(np.round(first, 6))),
    }
    agent.learn(300)
    result["updates"] = agent.counters["updates"]
    result["changed"] = int(np.sum(~np.isclose(replay.sampler.tree[index], first)))
    agent.close()
    return result


RAINBOW = {
    "n_envs": 2,
    "workers": 1,
    "hidden": (32, 32),
    "n_atoms": 11,
    "v_max": 50.0,
    "learning_starts": 50,
    "train_freq": 16,
    "gradient_steps": 2,
    "target_update_every": 50,
}
"""A tiny Ape-X Rainbow (3-step rows, prioritised replay): one worker of two copies (streaming
from several workers is `apex`'s)."""
D4PG = {
    "n_envs": 2,
    "workers": 1,
    "hidden": (32, 32),
    "learning_starts": 50,
    "batch_size": 32,
    "n_step": 3,
    "prioritized": True,
}
"""A tiny Ape-X D4PG (3-step rows, prioritised replay)."""


def apex_n_step(out: Path) -> dict[str, Any]:
    """Ape-X Rainbow (CartPole) and D4PG (Pendulum), whose n-step rows and first priorities the
    actors build: an env that raises inside a worker is an EnvError with its traceback and a
    checkpoint (the replay with its rows and priorities) that resumes to the step target."""

    def read(agent: Any) -> dict[str, Any]:
        n = len(agent.replay)
        discounts = agent.replay.storage.columns["discounts"][:n]
        horizons = sorted({int(round(np.log(d) / np.log(0.99))) for d in discounts})
        return {"replay": n, "horizons": horizons, "mass": float(agent.replay.sampler.tree.total)}

    return {
        algo: fail_and_resume(out, algo, algo, env, 300, 150, read, **settings)
        for algo, env, settings in (("rainbow", "Raise", RAINBOW), ("d4pg", "PendulumRaise", D4PG))
    }


def a3c(out: Path) -> dict[str, Any]:
    """A3C on Ray workers: an env that raises inside one is an EnvError with its traceback and a
    checkpoint that resumes to the step target; a worker that SIGKILLs itself is restarted and
    the run completes."""
    result = fail_and_resume(out, "failed", "a3c", "Raise", 400, 100, workers=1)
    # one worker: the learner must wait for the killed worker's answer, so it always sees the
    # death (with two, the other worker could reach the step target first and the run end
    # before the death is noticed)
    agent, died = killed(out, "a3c", 100, lambda agent: agent.learn(400), workers=1)
    counts = {k: agent.counters[k] for k in ("steps", "updates", "episodes")}
    # the learner merges each answer's observation statistics as it counts its steps
    counts["observed"] = round(agent.obs_norm.count.item())
    result["kill"] = {**died, **counts}
    agent.close()
    return result


def successes(out: Path) -> dict[str, Any]:
    """Each learner that collects on Ray workers, on 2-bit flipping (whose last step says
    `is_success`): the successes the learner counts, paired with the returns of the same
    episodes (one succeeds when it returns more than -2)."""
    env = "tests.space_envs:tidyspace/FlatBitFlip-v0"
    settings: dict[str, dict[str, Any]] = {
        "ppo": {"n_envs": 4, "n_steps": 16, "n_epochs": 1, "workers": 2},
        "dqn": {**APEX, "learning_starts": 50},
        "a3c": {"workers": 2},
    }
    result: dict[str, Any] = {}
    for algo, kwargs in settings.items():
        agent = tidyrl.make(algo, env, seed=0, **kwargs)
        agent.learn(256)
        returns, succeeded = list(agent._recent_returns), list(agent._recent_successes)
        result[algo] = {
            "successes": len(succeeded),
            "returns": len(returns),
            "paired": succeeded == [r > -2 for r in returns],
            "some": 0 < sum(succeeded) < len(succeeded),
        }
        agent.close()
    return result


SCENARIOS = {
    "apex": apex,
    "apex_priorities": apex_priorities,
    "apex_n_step": apex_n_step,
    "a3c": a3c,
    "identical": identical,
    "env_error": env_error,
    "kill": kill,
    "hang": hang,
    "successes": successes,
    "cluster": cluster,
}


def main(argv: list[str]) -> None:
    import ray

    out = Path(argv[0])
    start = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    results: dict[str, Any] = {"seconds": {"ray.init": time.perf_counter() - start}}
    for name in argv[1:]:
        (out / name).mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        results[name] = SCENARIOS[name](out / name)
        results["seconds"][name] = time.perf_counter() - start
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
