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
from pathlib import Path
from typing import Any

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
    marker = out / "raise.marker"
    marker.touch()
    kwargs = {**APEX, "env_kwargs": {"marker": str(marker), "at_step": 120}}
    run_dir = out / "failed"
    agent = tidyrl.make("dqn", FAULTY.format("Raise"), seed=1, run_dir=run_dir, **kwargs)
    try:
        agent.learn(600)
    except EnvError as exc:
        result["message"] = str(exc)
    result["stopped_at"] = agent.counters["steps"]
    agent.close()
    marker.unlink()
    result["traceback"] = (run_dir / "worker_error.txt").read_text()
    resumed = tidyrl.load(run_dir, resume=True)
    result["resumed_from"] = resumed.counters["steps"]
    result["resumed_replay"] = len(resumed.replay)
    resumed.learn(resumed.counters["target"] - resumed.counters["steps"])
    result["resumed_steps"] = resumed.counters["steps"]
    resumed.close()
    marker = out / "kill.marker"
    marker.touch()
    kwargs = {**APEX, "env_kwargs": {"marker": str(marker), "at_step": 60}}
    agent = tidyrl.make("dqn", FAULTY.format("Kill"), seed=2, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agent.learn(600)  # the other worker's batches keep the learner going meanwhile
        steps, updates = agent.counters["steps"], agent.counters["updates"]
        agent.env.state()  # what a checkpoint asks of every worker: the killed one is back
        agent.learn(200)  # and streams again
    result["kill"] = {
        "marker_gone": not marker.exists(),
        "restarts": agent.env.restarts,
        "steps": steps,
        "updates": updates,
        "more_steps": agent.counters["steps"],
        "warned": any("died" in str(w.message) for w in caught),
    }
    agent.close()
    return result


SCENARIOS = {
    "apex": apex,
    "identical": identical,
    "env_error": env_error,
    "kill": kill,
    "hang": hang,
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
