"""What each speed change bought in DQN's training phase (RL-Zoo CartPole settings: 256-256
Q-network, batch 64, 128 gradient steps per phase, max_grad_norm 10).

Trains `dqn` on CartPole-v1 for a few thousand steps (so weights, gradients and Adam's moments
are those of a real run), then times, in CPU time of this thread (robust to other tenants):

    torch      one update as commonly written: torch.optim.Adam(fused=True) with
               nn.utils.clip_grad_norm_, Huber loss composed of five element-wise ops,
               denormal floats left on (the CPU default)
    +flush     + denormals flushed to zero (`torch.set_flush_denormal(True)`, set by
               `tidyrl.runtime.configure`)
    +adam      + `tidyrl.nets.optim.Adam`: torch's fused Adam with the clipping inside step,
               its multiply skipped when nothing is clipped
    +huber     + torch's fused huber loss (`tidyrl.core.losses.mean_td_loss`): this is
               `tidyrl.algos.value.dqn.DQN.update`

and the hard target copy by `load_state_dict` vs one multi-tensor copy
(`tidyrl.core.targets.hard_update`).

    .venv/bin/python benchmarks/dqn_update_profile.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import tidyrl
from tidyrl.algos.value.dqn import dqn_target
from tidyrl.bench.timing import median_ms
from tidyrl.core.losses import huber, mean_td_loss
from tidyrl.core.targets import hard_update
from tidyrl.data.batch import Transition
from tidyrl.nets.optim import Adam


def staged_update(
    q: nn.Module, stage: str, batch: Transition, next_q: torch.Tensor
) -> Callable[[], None]:
    """One DQN gradient step on `q` with the implementation choices of `stage`."""
    lean = stage in ("+adam", "+huber")
    opt: torch.optim.Optimizer = (
        Adam(q.parameters(), lr=2.3e-3, max_grad_norm=10.0)
        if lean
        else torch.optim.Adam(q.parameters(), lr=2.3e-3, fused=True)
    )
    with torch.no_grad():
        target = dqn_target(batch, next_q, None)

    def step() -> None:
        q_taken = q(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        if stage == "+huber":
            loss = mean_td_loss(q_taken, target, "huber")
        else:
            loss = huber(target - q_taken).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not lean:
            nn.utils.clip_grad_norm_(q.parameters(), 10.0, foreach=True)
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--steps", type=int, default=6_000, help="warm-up training steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent = tidyrl.make("dqn", "CartPole-v1", seed=0)
    agent.learn(args.steps)
    cfg = agent.config
    batch = agent.replay.sample(cfg.batch_size, np.random.default_rng(0))
    with torch.no_grad():
        next_q = agent.q_target(batch.next_obs)

    print(f"DQN update, batch {cfg.batch_size}, hidden {cfg.hidden} (ms, median CPU time)")
    print("| stage | ms / update | speed-up vs torch |")
    print("|---|---|---|")
    base = 0.0
    for stage in ("torch", "+flush", "+adam", "+huber"):
        torch.set_flush_denormal(stage != "torch")
        q = copy.deepcopy(agent.q)
        step = staged_update(q, stage, batch, next_q)
        ms = median_ms(step, args.repeats)
        base = base or ms
        print(f"| {stage} | {ms:.3f} | {base / ms:.2f}x |")

    torch.set_flush_denormal(True)
    online, target = agent.q, copy.deepcopy(agent.q)
    by_dict = median_ms(lambda: target.load_state_dict(online.state_dict()), args.repeats)
    by_foreach = median_ms(lambda: hard_update(online, target), args.repeats)
    print(f"| hard target copy | load_state_dict {1e3 * by_dict:.0f} us | ", end="")
    print(f"foreach copy {1e3 * by_foreach:.0f} us | {by_dict / by_foreach:.1f}x |")


if __name__ == "__main__":
    main()
