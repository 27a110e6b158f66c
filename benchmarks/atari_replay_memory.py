"""Bytes per transition of tidyrl's Atari replay, and the size of a 1M-transition buffer.

    .venv/bin/python benchmarks/atari_replay_memory.py [--capacity 50000] [--steps 20000]

Builds the `Replay` DQN uses for `Atari/Pong-v5` (stacked 4x84x84 uint8 frames go to a
`FrameStore`: each frame stored once, transitions hold 2 x 4 int64 frame handles), fills it with
random-policy Pong steps, checks that sampled stacks equal the env's observations, and prints the
allocated bytes per transition, the formula's value and the 1M-transition total (<= 8 GB).
"""

from __future__ import annotations

import argparse

import numpy as np

from tidyrl.config import EnvConfig
from tidyrl.data.frame_replay import bytes_per_transition
from tidyrl.data.replay import Replay
from tidyrl.envs.make import VecEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capacity", type=int, default=50_000)
    parser.add_argument("--steps", type=int, default=5_000)
    args = parser.parse_args()
    env = VecEnv(EnvConfig(id="Atari/Pong-v5"), n_envs=1, seed=0)
    space, actions = env.single_observation_space, env.single_action_space
    replay = Replay(args.capacity, space, actions, 1, frame_stack=env.frame_stacked)
    obs = env.obs
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for t in range(args.steps):
        actions = env.sample_actions()
        step = env.step(actions)
        replay.add(obs, actions, step)
        if t % 97 == 0:
            kept[t] = (obs[0].copy(), step.next_obs[0].copy())
        obs = step.obs
    for t, (o, n) in kept.items():  # rows are written in order: row t is step t here
        batch = replay.storage.get(np.array([t]))
        assert replay.frames is not None
        assert (replay.frames.get(batch["obs"])[0] == o).all()
        assert (replay.frames.get(batch["next_obs"])[0] == n).all()
    naive = 2 * int(np.prod(env.single_observation_space.shape))
    per = replay.nbytes / args.capacity
    print(f"allocated bytes per transition (capacity {args.capacity:,}): {per:,.0f}")
    print(f"formula bytes_per_transition(): {bytes_per_transition():,.0f}")
    print(f"storing obs + next_obs stacks instead: {naive:,} bytes per transition")
    print(f"1M-transition replay: {bytes_per_transition() * 1e6 / 1e9:.2f} GB (limit 8 GB)")
    print(f"stacks checked against the env: {len(kept)} transitions, all equal")


if __name__ == "__main__":
    main()
