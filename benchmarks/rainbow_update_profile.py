"""Rainbow's cost per update and per env step on MinAtar Breakout beside DQN's (issue 27 item 3).

In one process and thread (`torch.set_num_threads(1)`), for `dqn --preset minatar` and for
`rainbow --preset minatar` at the settings named in `--settings`:

    earlier      the preset before Revisiting Rainbow's settings (value-minatar's
                 `RAINBOW_MINATAR_EARLIER`: 128-unit noisy streams, an update every step)
    revisiting   the preset now (Obando-Ceron & Castro 2021: output layers on the conv
                 features, an update every 4 steps)
    dqn-matched  the preset with DQN's 128-unit layer, lr, update every step and replay start
                 (value-minatar's `DQN_MATCHED`)
    dqn-matched-every-2   the same with an update every 2 steps (`DQN_MATCHED_EVERY_2`)

it trains past `learning_starts`, then times in CPU time of this thread (robust to other
tenants): one bare update on a fixed minibatch (`Agent.update_probe`, median of `--repeats`),
the pieces of Rainbow's update, and `--steps` env steps of `learn` (acting, storing, sampling,
updating, logging). With `--settings earlier` the script also runs on a checkout from before
the seams of issue 27 (`PYTHONPATH=<old>/src`), which gives the before/after of the code at the
same settings.

    PYTHONPATH=src .venv/bin/python benchmarks/rainbow_update_profile.py [--settings ...]
        [--code after --out benchmarks/results/rainbow-speed/after.json]

`--out` writes the numbers as a JSON record (format tidyrl-rainbow-speed/1) with `--code` naming
the code measured (the provenance's commit is the checkout the script runs from).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tidyrl
from tidyrl import registry
from tidyrl.bench.folder import _load
from tidyrl.bench.timing import median_ms
from tidyrl.nets.noisy import reset_noise

EARLIER = {
    "v_min": -10.0,
    "v_max": 10.0,
    "hidden": (128,),
    "sigma0": 0.5,
    "noisy_epsilon": 0.0,
    "beta_start": 0.4,
    "learning_starts": 5_000,
    "train_freq": 1,
    "max_grad_norm": 10.0,
}
"""value-minatar's RAINBOW_MINATAR_EARLIER less `beta_end` (its default, 1.0); fields the
older code lacks (`noisy_epsilon`, 0 there) are dropped in `measure`, so that the same settings
build on it."""

VALUE_SUITE = _load(Path(__file__).parent / "suites" / "value.py")

SETTINGS: dict[str, dict[str, Any]] = {
    "earlier": EARLIER,
    "revisiting": {},
    "dqn-matched": VALUE_SUITE.DQN_MATCHED,
    "dqn-matched-every-2": VALUE_SUITE.DQN_MATCHED_EVERY_2,
}

ENV = "MinAtar/Breakout-v1"


def per_step_ms(agent: Any, steps: int) -> float:
    """CPU milliseconds per env step of `learn`, over `steps` steps."""
    start = time.thread_time()
    agent.learn(steps)
    return 1e3 * (time.thread_time() - start) / steps


def measure(algo: str, overrides: dict[str, Any], steps: int, repeats: int) -> dict[str, float]:
    config = registry.lookup(algo)[0].Config
    known = {f.name for f in dataclasses.fields(config)}  # older code lacks noisy_epsilon
    overrides = {k: v for k, v in overrides.items() if k in known}
    agent = tidyrl.make(algo, ENV, seed=0, preset="minatar", progress=False, **overrides)
    agent.learn(agent.config.learning_starts + 500)
    probe = agent.update_probe()
    assert probe is not None
    result = {"update_ms": median_ms(probe, repeats), "step_ms": per_step_ms(agent, steps)}
    if algo == "rainbow":
        batch = agent.replay.sample(agent.config.batch_size, np.random.default_rng(0), 0.5)
        q, target = agent.q, agent.q_target
        with torch.no_grad():
            result["target_forward_ms"] = median_ms(lambda: target(batch.next_obs), repeats)
        result["online_forward_backward_ms"] = median_ms(
            lambda: q.with_next(batch.obs, batch.next_obs)[0].sum().backward(), repeats
        )
        try:
            reset_noise(q, target)
            resample = lambda: reset_noise(q, target)  # noqa: E731
        except TypeError:  # before issue 27: one module per call
            resample = lambda: (reset_noise(q), reset_noise(target))  # noqa: E731
        result["noise_resample_ms"] = median_ms(resample, repeats)
        result["adam_step_ms"] = median_ms(agent.optimizer.step, repeats)
        rng = np.random.default_rng(0)
        result["per_sample_ms"] = median_ms(
            lambda: agent.replay.sample(agent.config.batch_size, rng, 0.5), repeats
        )
        losses = torch.rand(agent.config.batch_size)
        result["per_update_priorities_ms"] = median_ms(
            lambda: agent.replay.update_priorities(batch.index, losses), repeats
        )
        obs = agent.env.obs
        result["act_ms"] = median_ms(lambda: agent.act(obs), repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings", default="earlier,revisiting", help="comma-separated: " + ", ".join(SETTINGS)
    )
    parser.add_argument("--steps", type=int, default=2_000, help="timed env steps of learn")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", default="", help="JSON record to write (none: print only)")
    parser.add_argument("--code", default="", help="which code was measured, for the record")
    args = parser.parse_args()
    names = args.settings.split(",")
    unknown = [name for name in names if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; choose from {', '.join(SETTINGS)}")
    torch.set_num_threads(1)
    rows = {"dqn": measure("dqn", {}, args.steps, args.repeats)}
    for name in names:
        rows[f"rainbow {name}"] = measure("rainbow", SETTINGS[name], args.steps, args.repeats)
    dqn = rows["dqn"]
    print(f"{ENV}, ms of CPU time (one thread); x = ratio to DQN")
    print("| agent | bare update ms | updates/s | x | env step ms (learn) | env steps/s | x |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        u, s = r["update_ms"], r["step_ms"]
        print(
            f"| {name} | {u:.2f} | {1e3 / u:.0f} | {u / dqn['update_ms']:.2f} | {s:.2f} | "
            f"{1e3 / s:.0f} | {s / dqn['step_ms']:.2f} |"
        )
    for name, r in rows.items():
        parts = {k: v for k, v in r.items() if k not in ("update_ms", "step_ms")}
        if parts:
            print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
    if args.out:
        from tidyrl.bench.record import provenance, write_record

        record = {
            "format": "tidyrl-rainbow-speed/1",
            "env": ENV,
            "code": args.code,
            "clock": "CPU time of the one torch thread, ms",
            "steps_timed": args.steps,
            "repeats": args.repeats,
            "rows": rows,
            "load_average": os.getloadavg(),  # 1, 5, 15 min at the end: how busy the machine was
            "provenance": provenance(),
        }
        write_record(Path(args.out), record)


if __name__ == "__main__":
    main()
