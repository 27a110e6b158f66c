"""What `RunConfig.keep_freed_memory` (glibc's malloc thresholds, `tidyrl.runtime`) buys.

Trains one algorithm for a few thousand steps in fresh processes, alternately with the setting
on and off (so both see the same machine, minute by minute), and prints each run's wall time and
minor page faults, then the median time of each side and their ratio:

    .venv/bin/python benchmarks/malloc_profile.py [--algo sac] [--env Pendulum-v1]
        [--steps 4000] [--pairs 3] [--set precision=bf16 ...]

Measured on the 2-core CI machine kind, quiet: SAC (bf16, Pendulum-v1, 4,000 steps of which
3,000 with updates) 21.5 s -> 18.6 s over five pairs (mean), 2.2-2.5 M -> 67 k faults; DQN
(RL-Zoo CartPole, 25,000 steps) 11.4 s -> 11.1-11.4 s, 0.81 M -> 65 k faults; DQN on Pong
(Nature CNN, 1,000 updates, one thread) 48.4 / 42.9 s -> 41.6 / 38.3 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

RUN = """
import json, resource, sys, time
import tidyrl
algo, env, steps, mode, overrides = sys.argv[1:6]
agent = tidyrl.make(algo, env, seed=0, keep_freed_memory=mode == "on", **json.loads(overrides))
start = time.perf_counter()
agent.learn(int(steps))
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt}))
"""


def parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="sac")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=["precision=bf16", "learning_starts=1000"])
    args = parser.parse_args()
    overrides = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    walls: dict[str, list[float]] = {"on": [], "off": []}
    print(f"{args.algo} on {args.env}, {args.steps} steps, overrides {overrides}")
    for pair in range(args.pairs):
        for mode in ("off", "on") if pair % 2 == 0 else ("on", "off"):
            out = subprocess.run(
                [sys.executable, "-c", RUN, args.algo, args.env, str(args.steps), mode,
                 json.dumps(overrides)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
            walls[mode].append(result["wall"])
            print(f"  keep_freed_memory={mode:3s}  {result['wall']:7.2f} s  "
                  f"{result['faults']:>10,} minor faults")  # fmt: skip
    on, off = statistics.median(walls["on"]), statistics.median(walls["off"])
    print(f"median: on {on:.2f} s, off {off:.2f} s, on/off {on / off:.2f}")


if __name__ == "__main__":
    main()
