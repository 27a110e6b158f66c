"""Where the time of `ddpg-imagination` goes, against plain `ddpg` (issue 24, "Speed").

Builds each agent on MountainCarContinuous-v0 with seed 000's spell chart, batch 64 and seed
000's 256-128 environment model (the `imagination-mountaincar` records ran a 64-64 one), fills
its replay with random steps, then times single updates
(median CPU milliseconds of this thread, `tidyrl.bench.timing.median_ms`) and splits the
imagination agent's update into its sections by wrapping, not re-writing, its pieces:

    model step      backward of L_m and its Adam step
    imagination     the forward rollouts (`DDPGImagination.imagine`)
    critic step     backward of the critic loss and its Adam step
    actor step      backward of the actor loss (through the imagined rollouts in the actor
                    variant) and its Adam step
    rest            the forward passes of the model, critic and targets, the bonus, Polyak

plus the per-step work around an update (acting on one observation, one env step).

    .venv/bin/python benchmarks/imagination_profile.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import tidyrl
from tidyrl.algos.actor_critic import ddpg_imagination
from tidyrl.bench import timing

ENV = "MountainCarContinuous-v0"
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ddpg": ("ddpg", {}),
    "ddpg-imagination actor, 4 x 8": (
        "ddpg-imagination",
        {"entropy_in": "actor", "rollouts": 4, "rollout_steps": 8},
    ),
    "ddpg-imagination actor, 16 x 1": (
        "ddpg-imagination",
        {"entropy_in": "actor", "rollouts": 16, "rollout_steps": 1},
    ),
    "ddpg-imagination critic, 16 x 1": (
        "ddpg-imagination",
        {"entropy_in": "critic", "rollouts": 16, "rollout_steps": 1},
    ),
}


def build(algo: str, overrides: dict[str, Any]) -> Any:
    agent = tidyrl.make(
        algo, ENV, seed=0, preset="spellchart", batch_size=64, learning_starts=1000, **overrides
    )
    agent.learn(1100)  # 1000 random steps, then 100 updates
    return agent


class Sections:
    """CPU time accumulated per section while wrapped functions run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            out = fn(*args, **kwargs)
            self.seconds[name(*args)] += time.thread_time() - start
            return out

        return timed


def sections_of(agent: Any, repeats: int) -> dict[str, float]:
    """Milliseconds per update of each section (means over `repeats` updates)."""
    sections = Sections()
    names = {id(agent.model_opt): "model step", id(agent.critic_opt): "critic step"}
    names[id(agent.actor_opt)] = "actor step"
    original_step, original_imagine = ddpg_imagination.backward_step, agent.imagine
    ddpg_imagination.backward_step = sections.wrap(
        lambda opt, *_: names[id(opt)], ddpg_imagination.backward_step
    )
    agent.imagine = sections.wrap(lambda *_: "imagination", agent.imagine)
    try:
        start = time.thread_time()
        for _ in range(repeats):
            agent.update(agent.replay.sample(64, agent.rng))
        total = time.thread_time() - start
    finally:
        ddpg_imagination.backward_step = original_step
        agent.imagine = original_imagine
    out = {k: 1e3 * v / repeats for k, v in sections.seconds.items()}
    out["rest"] = 1e3 * total / repeats - sum(out.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = gym.make(ENV)
    env.reset(seed=0)
    env_ms = timing.median_ms(lambda: env.step(env.action_space.sample()), args.repeats)
    print(f"| {ENV}, batch 64 | update ms | act ms | env step ms | update / plain DDPG |")
    print("|---|---|---|---|---|")
    rows: dict[str, tuple[float, dict[str, float]]] = {}
    for label, (algo, overrides) in CASES.items():
        agent = build(algo, overrides)
        obs = np.zeros((1, 2), np.float32)
        act_ms = timing.median_ms(lambda a=agent, o=obs: a.act(o), args.repeats)
        update_ms = timing.median_ms(
            lambda a=agent: a.update(a.replay.sample(64, a.rng)), args.repeats
        )
        parts = sections_of(agent, args.repeats) if algo == "ddpg-imagination" else {}
        rows[label] = (update_ms, parts)
        base = rows["ddpg"][0]
        print(
            f"| {label} | {update_ms:.2f} | {act_ms:.3f} | {env_ms:.3f} | {update_ms / base:.1f}x |"
        )
    print()
    print("| section (ms per update) | " + " | ".join(k for k in rows if k != "ddpg") + " |")
    print("|---" * len(rows) + "|")
    for section in ("model step", "imagination", "critic step", "actor step", "rest"):
        cells = [f"{parts.get(section, 0.0):.2f}" for _, parts in list(rows.values())[1:]]
        print(f"| {section} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
