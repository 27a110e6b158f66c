"""Lecture seed 000's visual environment model on MinAtar Breakout frames (issue 22, item 4).

    python benchmarks/visual_model_minatar.py [--seeds 0,1,2] [--transitions 60000]
        [--updates 6000]                                   # from the repository root

For each seed: collect transitions of uniformly random actions on `MinAtar/Breakout-v1` through
tidyrl's env owner (frames (4, 10, 10) of 0/1: paddle, ball, trail, bricks; episodes reset with
seed + episode index), hold out the last sixth, and train `tidyrl.models.env_model.VisualEnvModel`
(action planes, residual conv, deconvolution, residual frame, reward head) with
`model_loss` (frame MSE + reward MSE) by Adam on minibatches of the rest. Then, on the held-out
transitions:

- the one-step frame loss mean (s' - EM(s, a))^2 against the "copy the last frame" baseline
  mean (s' - s)^2 (the model starts as that copy: its deconvolution is zero at init);
- pixel accuracy (`frame_accuracy`) and, because most pixels never change, the accuracy on the
  pixels that do change between s and s';
- the reward head's accuracy (r^ rounded to the nearest reward, 0 or 1) and, because only a few
  percent of random-play steps score, its accuracy on the scoring and the non-scoring steps.

Writes `benchmarks/results/exploration-visual-model/minatar-breakout.json`, which
`tidyrl bench report` prints in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tidyrl.bench.record import provenance
from tidyrl.config import EnvConfig
from tidyrl.envs.make import make_env
from tidyrl.models.env_model import VisualEnvModel, frame_accuracy, model_loss
from tidyrl.nets.optim import Adam

OUT = Path(__file__).resolve().parent / "results" / "exploration-visual-model"
ENV = "MinAtar/Breakout-v1"
BATCH = 128
LR = 1e-3


def collect(transitions: int, seed: int) -> dict[str, np.ndarray]:
    """(obs, action, next_obs, reward) rows of uniformly random play; next_obs is the true
    final frame where an episode ends."""
    env = make_env(EnvConfig(id=ENV), seed=seed)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    episode = 0
    rows: dict[str, list[np.ndarray]] = {"obs": [], "action": [], "next_obs": [], "reward": []}
    for _ in range(transitions):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(rows, (obs, action, next_obs, reward), strict=True):
            rows[key].append(np.asarray(value))
        obs = next_obs
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    env.close()
    return {key: np.stack(values) for key, values in rows.items()}


def tensors(data: dict[str, np.ndarray], index: np.ndarray) -> tuple[torch.Tensor, ...]:
    obs = torch.as_tensor(data["obs"][index], dtype=torch.float32)
    actions = F.one_hot(torch.as_tensor(data["action"][index], dtype=torch.long), 3).float()
    next_obs = torch.as_tensor(data["next_obs"][index], dtype=torch.float32)
    rewards = torch.as_tensor(data["reward"][index], dtype=torch.float32)
    return obs, actions, next_obs, rewards


def run(seed: int, transitions: int, updates: int) -> dict[str, float]:
    start = time.perf_counter()
    torch.manual_seed(seed)
    data = collect(transitions, seed)
    n_test = transitions // 6
    train, test = np.arange(transitions - n_test), np.arange(transitions - n_test, transitions)
    model = VisualEnvModel((4, 10, 10), action_dim=3, frame_channels=4)
    optimizer = Adam(model.parameters(), lr=LR)
    rng = np.random.default_rng(seed)
    for _ in range(updates):
        obs, actions, next_obs, rewards = tensors(data, rng.choice(train, BATCH))
        pred, reward_pred = model(obs, actions)
        loss = model_loss(pred, next_obs, reward_pred, rewards)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        obs, actions, next_obs, rewards = tensors(data, test)
        pred, reward_pred = model(obs, actions)
        changed = (obs != next_obs).any(dim=1)  # pixels whose value changes in some channel
        hit = ((pred > 0.5) == (next_obs > 0.5)).all(dim=1)
        reward_hit = reward_pred.round() == rewards
        scoring = rewards > 0
        return {
            "seed": seed,
            "model_loss": float(F.mse_loss(pred, next_obs)),
            "copy_loss": float(F.mse_loss(obs, next_obs)),
            "pixel_accuracy": float(frame_accuracy(pred, next_obs)),
            "copy_pixel_accuracy": float(frame_accuracy(obs, next_obs)),
            "changed_pixel_accuracy": float(hit[changed].float().mean()),
            "reward_accuracy": float(reward_hit.float().mean()),
            "reward_accuracy_scoring": float(reward_hit[scoring].float().mean()),
            "reward_accuracy_non_scoring": float(reward_hit[~scoring].float().mean()),
            "scoring_share": float(scoring.float().mean()),
            "held_out": int(n_test),
            "seconds": time.perf_counter() - start,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--transitions", type=int, default=60_000)
    parser.add_argument("--updates", type=int, default=6000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for seed in seeds:
        runs.append(run(seed, args.transitions, args.updates))
        print(json.dumps(runs[-1]))
    OUT.mkdir(parents=True, exist_ok=True)
    record = {
        "format": "tidyrl-visual-model/1",
        "env": ENV,
        "command": "python benchmarks/visual_model_minatar.py "
        f"--seeds {args.seeds} --transitions {args.transitions} --updates {args.updates}",
        "transitions": args.transitions,
        "updates": args.updates,
        "batch_size": BATCH,
        "lr": LR,
        "runs": runs,
        "provenance": provenance(),
    }
    (OUT / "minatar-breakout.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
