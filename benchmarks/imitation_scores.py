"""Expert-normalised scores of the imitation suite's BC and DAgger records.

    python benchmarks/imitation_scores.py         # from the repository root, after
                                                  # tidyrl bench run imitation

score = (R - R_random) / (R_expert - R_random) per record, where R is the record's final
evaluation, R_random the return of random actions measured in the same record (`ceilings`) and
R_expert the expert's return over 100 evaluation episodes, measured here from the committed
expert. Prints one Markdown row per task: labels (expert (s, a) pairs seen), mean and per-seed
scores.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

import tidyrl

HERE = Path(__file__).resolve().parent
EXPERTS = {
    "CartPole-v1": "ppo-cartpole",
    "Pendulum-v1": "sac-pendulum",
    "HalfCheetah-v5": "sac-halfcheetah",
}
STEPS_PER_EPISODE = {"CartPole-v1": 500, "Pendulum-v1": 200, "HalfCheetah-v5": 1000}


def main() -> None:
    expert_returns = {
        env: tidyrl.load(HERE / "imitation" / "experts" / name).evaluate(episodes=100)[
            "mean_return"
        ]
        for env, name in EXPERTS.items()
    }
    rows: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
    labels: dict[tuple[str, str], int] = {}
    for path in sorted((HERE / "results" / "imitation").rglob("tidyrl-seed*.json")):
        record = json.loads(path.read_text())
        task = record["task"]
        if task["env"] not in EXPERTS or "error" in record:
            continue
        key = (task["env"], task["name"])
        random = record["ceilings"]["random_return"]
        ret = record["final_eval"]["mean_return"]
        score = (ret - random) / (expert_returns[task["env"]] - random)
        rows[key].append((record["seed"], ret, score))
        if task["algo"] == "dagger":
            labels[key] = record["steps"]
        else:
            episodes = task["overrides"].get("demo_episodes", 10) or 10
            labels[key] = episodes * STEPS_PER_EPISODE[task["env"]]
    print(
        "| env | task | expert labels | expert return | return (mean) | score (mean) | "
        "score per seed |"
    )
    print("|---|---|---|---|---|---|---|")
    for (env, name), runs in rows.items():
        runs.sort()
        returns = np.array([r for _, r, _ in runs])
        scores = np.array([s for _, _, s in runs])
        per_seed = ", ".join(f"{s:.2f}" for s in scores)
        print(
            f"| {env} | {name} | {labels[(env, name)]} | {expert_returns[env]:.1f} "
            f"| {returns.mean():.1f} | {scores.mean():.2f} | {per_seed} |"
        )


if __name__ == "__main__":
    main()
