"""Wall time as a user sees it: the whole `tidyrl train` process against the whole
Stable-Baselines3 process, identical hyper-parameters, alternating per seed.

tidyrl's side is the command a user types (`tidyrl train ALGO ENV --steps N --seed S --set ...
--run-dir DIR --quiet`, which imports everything, trains, logs, checkpoints and evaluates 10
episodes at the end); SB3's side is a fresh `python -c` process that imports SB3, builds the
vector env, runs `learn` and evaluates 10 greedy episodes. Both are timed from process start to
exit. The returns compared are greedy evaluations on the same env seeds (10000-10009), measured
after the timed part (`tidyrl eval RUN --seed 10000`, and SB3's own evaluation on those seeds).
Each run writes one record (format `tidyrl-whole-process/1`) under
benchmarks/results/whole-process/, which `tidyrl bench report` renders in RESULTS.md.

    .venv/bin/python benchmarks/whole_process.py [--tasks ppo,dqn] [--seeds 0,1,2]

Run it on a quiet machine: the ratio is only as good as the machine's stillness.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tidyrl.bench.record import provenance, write_record

HERE = Path(__file__).resolve().parent
FORMAT = "tidyrl-whole-process/1"
EVAL_SEED = 10_000
EVAL_EPISODES = 10


def _suite_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_whole_{name}", HERE / "suites" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Case:
    """One side-by-side: tidyrl's algorithm and settings, and SB3's class and kwargs."""

    name: str
    algo: str
    env: str
    steps: int
    tidyrl: dict[str, Any]
    sb3_algo: str
    sb3: dict[str, Any]
    n_envs: int = 1
    action_noise: float = 0.0
    """Std of SB3's Gaussian action noise (TD3/DDPG; tidyrl's own default is the same)."""
    note: str = field(default="")


def cases() -> dict[str, Case]:
    pg, value, ac = (
        _suite_module("policy_gradient"),
        _suite_module("value"),
        _suite_module("actor_critic"),
    )
    sb3_td3 = {
        "learning_rate": 1e-3,
        "learning_starts": 100,
        "batch_size": 256,
        "policy_kwargs": {"net_arch": [400, 300]},
    }
    tidyrl_td3 = {
        "actor_lr": 1e-3,
        "critic_lr": 1e-3,
        "learning_starts": 100,
        "batch_size": 256,
        "hidden": [400, 300],
    }
    all_cases = [
        Case("ppo", "ppo", "CartPole-v1", 100_000, pg.ZOO_CARTPOLE, "PPO", pg.SB3_ZOO_CARTPOLE, 8),
        Case(
            "dqn", "dqn", "CartPole-v1", 50_000, value.ZOO_CARTPOLE, "DQN", value.ZOO_CARTPOLE_SB3
        ),
        # tidyrl's A2C defaults are SB3's A2C defaults (RMSprop 7e-4, n_steps 5, 64-64 tanh)
        Case("a2c", "a2c", "CartPole-v1", 100_000, {"n_envs": 8}, "A2C", {}, 8),
        Case(
            "sac",
            "sac",
            "Pendulum-v1",
            12_000,
            {**ac.SAC_SAME, "precision": "auto"},
            "SAC",
            ac.SB3_SAC,
        ),
        Case("td3", "td3", "Pendulum-v1", 12_000, tidyrl_td3, "TD3", sb3_td3, action_noise=0.1),
        Case("ddpg", "ddpg", "Pendulum-v1", 12_000, tidyrl_td3, "DDPG", sb3_td3, action_noise=0.1),
    ]
    return {c.name: c for c in all_cases}


def _set_args(values: dict[str, Any]) -> list[str]:
    def text(v: Any) -> str:
        if isinstance(v, str):
            return v
        return json.dumps(list(v) if isinstance(v, tuple) else v, separators=(",", ":"))

    return [f"{k}={text(v)}" for k, v in values.items()]


SB3_PROCESS = """
import json, sys
import numpy as np
import torch
import gymnasium as gym
import stable_baselines3 as sb3
from stable_baselines3.common.env_util import make_vec_env
spec = json.loads(sys.argv[1])
def value(v):
    if isinstance(v, str) and v.startswith("lin_"):
        start = float(v[4:])
        return lambda progress_remaining: progress_remaining * start
    return v
kwargs = {k: value(v) for k, v in spec["kwargs"].items()}
policy_kwargs = dict(kwargs.pop("policy_kwargs", {}))
if "activation_fn" in policy_kwargs:
    policy_kwargs["activation_fn"] = getattr(torch.nn, policy_kwargs["activation_fn"])
if spec["action_noise"]:
    from stable_baselines3.common.noise import NormalActionNoise
    n = gym.make(spec["env"]).action_space.shape[0]
    kwargs["action_noise"] = NormalActionNoise(np.zeros(n), spec["action_noise"] * np.ones(n))
env = make_vec_env(spec["env"], n_envs=spec["n_envs"], seed=spec["seed"])
model = getattr(sb3, spec["algo"])(
    "MlpPolicy", env, seed=spec["seed"], device="cpu", policy_kwargs=policy_kwargs or None,
    **kwargs
)
model.learn(spec["steps"])
returns = []
eval_env = gym.make(spec["env"])
for episode in range(spec["episodes"]):
    obs, _ = eval_env.reset(seed=spec["eval_seed"] + episode)
    done, total = False, 0.0
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = eval_env.step(action)
        total += float(reward)
        done = terminated or truncated
    returns.append(total)
print(json.dumps({"returns": returns}))
"""


def run_sb3(case: Case, seed: int) -> tuple[float, tuple[float, float]]:
    spec = {
        "algo": case.sb3_algo,
        "env": case.env,
        "steps": case.steps,
        "seed": seed,
        "n_envs": case.n_envs,
        "kwargs": case.sb3,
        "action_noise": case.action_noise,
        "episodes": EVAL_EPISODES,
        "eval_seed": EVAL_SEED,
    }
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", SB3_PROCESS, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    returns = json.loads(out.stdout.strip().splitlines()[-1])["returns"]
    mean = sum(returns) / len(returns)
    return wall, (mean, (sum((r - mean) ** 2 for r in returns) / len(returns)) ** 0.5)


def run_tidyrl(case: Case, seed: int) -> tuple[float, tuple[float, float], str]:
    tidyrl = [sys.executable, "-m", "tidyrl"]
    with tempfile.TemporaryDirectory(prefix="tidyrl-whole-") as tmp:
        run_dir = str(Path(tmp) / "run")
        command = [
            *tidyrl,
            "train",
            case.algo,
            case.env,
            "--steps",
            str(case.steps),
            "--seed",
            str(seed),
            "--run-dir",
            run_dir,
            "--quiet",
            "--set",
            *_set_args(case.tidyrl),
        ]
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        evaluation = [*tidyrl, "eval", run_dir, "--seed", str(EVAL_SEED), "--json"]
        evaluation += ["--episodes", str(EVAL_EPISODES)]
        out = subprocess.run(evaluation, capture_output=True, text=True, check=True)
    stats = json.loads(out.stdout)
    shown = " ".join(command[3:]).replace(run_dir, "RUN")
    return wall, (stats["mean_return"], stats["std_return"]), f"tidyrl {shown}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="ppo,dqn,a2c,sac,td3,ddpg")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(HERE / "results" / "whole-process"))
    parser.add_argument("--steps", type=int, default=0, help="override every budget (a smoke run)")
    args = parser.parse_args()
    table = cases()
    out = Path(args.out)
    for name in args.tasks.split(","):
        case = table[name]
        if args.steps:
            case = replace(case, steps=args.steps)
        for seed in (int(s) for s in args.seeds.split(",")):
            t_wall, t_returns, command = run_tidyrl(case, seed)
            s_wall, s_returns = run_sb3(case, seed)
            for library, wall, returns in (
                ("tidyrl", t_wall, t_returns),
                ("sb3", s_wall, s_returns),
            ):
                record = {
                    "format": FORMAT,
                    "task": case.name,
                    "algo": case.algo,
                    "env": case.env,
                    "steps": case.steps,
                    "seed": seed,
                    "library": library,
                    "wall_s": round(wall, 2),
                    "eval_mean": round(returns[0], 2),
                    "eval_std": round(returns[1], 2),
                    "command": command if library == "tidyrl" else f"SB3 {case.sb3_algo}",
                    "settings": case.tidyrl if library == "tidyrl" else case.sb3,
                    "script": "benchmarks/whole_process.py",
                    "provenance": provenance(("stable_baselines3",)),
                }
                write_record(out / f"{case.name}-{library}-seed{seed}.json", record)
            ratio = t_wall / s_wall
            print(
                f"{case.name} seed {seed}: tidyrl {t_wall:.1f} s, SB3 {s_wall:.1f} s "
                f"({ratio:.2f}x); return {t_returns[0]:.1f} / {s_returns[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
