"""Pong on a CPU beside the published DQN curve at the same frames (issue 27, item 4).

    python benchmarks/pong_published.py          # from the repository root

Reads the `value-pong` records (`benchmarks/results/value-pong/`: tidyrl's DQN, 300k agent
steps, and Rainbow's n-step + PER + Double, 150k, each with its training-episode curve) and
Dopamine's published DQN on Pong (`benchmarks/reference/dopamine-pong-dqn.json`: five seeds, the
mean training-episode return of each 1M-frame iteration), and draws both against frames (an
agent step is 4 frames in both) over the first 10M frames, with random play's -20.7. It prints,
for each of the first iterations, how many published seeds are above random play by at least
one point, and writes `docs/assets/pong-published.png` (docs/algorithms/dqn.md shows it).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "benchmarks" / "reference" / "dopamine-pong-dqn.json"
RECORDS = ROOT / "benchmarks" / "results" / "value-pong"
OUT = ROOT / "docs" / "assets" / "pong-published.png"
FRAMES_PER_STEP = 4
FRAMES_PER_ITERATION = 1_000_000


def main() -> None:
    ref = json.loads(REFERENCE.read_text())
    random_play = float(ref["random_play"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, right in zip(axes, (10, 2), strict=True):
        _draw(ax, ref, random_play, right)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    for iteration in range(4):
        values = ref["dqn"][str(iteration)]
        above = sum(v >= random_play + 1.0 for v in values)
        print(
            f"frames {iteration}M-{iteration + 1}M: published DQN seeds at least one point above "
            f"random: {above} of {len(values)} ({', '.join(f'{v:.1f}' for v in values)})"
        )
    print(f"wrote {OUT.relative_to(ROOT)}")


def _draw(ax: plt.Axes, ref: dict, random_play: float, right: int) -> None:
    """Both curves over the first `right` million frames."""
    for seed, _ in enumerate(ref["dqn"]["0"]):
        xs, ys = [], []
        for iteration, values in sorted(ref["dqn"].items(), key=lambda kv: int(kv[0])):
            start = int(iteration) * FRAMES_PER_ITERATION / 1e6
            xs += [start, start + FRAMES_PER_ITERATION / 1e6]
            ys += [values[seed], values[seed]]
        ax.plot(
            xs,
            ys,
            color="tab:gray",
            lw=1,
            alpha=0.8,
            label="Dopamine DQN (5 seeds, per 1M-frame iteration)" if seed == 0 else None,
        )
    colours = {"dqn": "tab:blue", "rainbow": "tab:red"}
    for record in sorted(RECORDS.glob("*/tidyrl-seed*.json")):
        data = json.loads(record.read_text())
        algo = data["task"]["algo"]
        curve = data["train_curve"]
        xs = [row["step"] * FRAMES_PER_STEP / 1e6 for row in curve]
        ys = [row["episode_return"] for row in curve]
        ax.plot(
            xs,
            ys,
            color=colours.get(algo, "tab:green"),
            lw=1.2,
            label=f"tidyrl {algo}, seed {data['seed']} (training episodes)",
        )
    ax.axhline(random_play, color="black", ls="--", lw=0.8, label=f"random play {random_play}")
    ax.set_xlim(0, right)
    if right <= 2:
        ax.set_ylim(random_play - 1.0, random_play + 4.0)
    ax.set_xlabel("frames (millions)")
    ax.set_ylabel("training episode return")
    ax.set_title(f"Pong: the first {right}M frames")


if __name__ == "__main__":
    main()
