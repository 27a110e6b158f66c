"""Evaluation: full episodes on a fresh environment, optionally recorded to mp4 or gif."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike

from tidyrl.core.seeding import preserved_rng
from tidyrl.envs.make import check_finite, env_failure, episode_success, make_env
from tidyrl.envs.spaces import MASK_KEY
from tidyrl.errors import TidyError

if TYPE_CHECKING:
    from gymnasium.core import RenderFrame

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation envs are seeded away from training envs so they never replay a training episode."""


def evaluate(
    agent: Any,
    episodes: int = 10,
    seed: int | None = None,
    deterministic: bool = True,
    video: str | Path | None = None,
) -> dict[str, Any]:
    """Run `episodes` episodes with `agent.predict` and return
    ``{"episodes", "mean_return", "std_return", "mean_length"}``, and ``"success_rate"``, the
    share of episodes whose last step's info says ``is_success`` (or ``success``)
    is true, where the environment reports one (Gymnasium-Robotics' goal tasks do;
    `tidyrl.envs.make.episode_success`).

    Episode i is reset with seed ``seed + i`` (default: the run seed + 1,000,003), so evaluation
    is reproducible. With `video`, frames from ``render_mode="rgb_array"`` are written to that
    file (``.mp4`` through imageio-ffmpeg, ``.gif`` through Pillow).
    """
    if episodes < 1:
        raise TidyError(f"episodes must be at least 1, got {episodes}")
    base = agent.run.seed + EVAL_SEED_OFFSET if seed is None else seed
    if video:  # pygame-rendered envs draw off-screen; no display or sound device is needed
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    with preserved_rng(agent):  # evaluating never shifts the training's random draws
        if getattr(agent, "multiagent", False):
            return evaluate_agents(agent, episodes, base, deterministic, video)
        return _evaluate(agent, episodes, base, deterministic, video)


def _evaluate(
    agent: Any, episodes: int, base: int, deterministic: bool, video: str | Path | None
) -> dict[str, Any]:
    """`evaluate` for a single-agent agent on a fresh Gymnasium env."""
    env = make_env(agent.env_cfg, seed=base, render_mode="rgb_array" if video else None)
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[bool | None] = []
    frames: list[RenderFrame | list[RenderFrame] | None] = []
    try:
        for i in range(episodes):
            try:
                obs, info = env.reset(seed=base + i)
            except Exception as exc:
                raise env_failure(agent.env_cfg.id, "reset() during evaluation", exc) from exc
            reset_memory = getattr(agent, "reset_memory", None)  # peers' agents may lack it
            if reset_memory is not None:  # a recurrent policy starts the episode with no memory
                reset_memory()
            total, length, done = 0.0, 0, False
            if video:
                frames.append(env.render())
            while not done:
                # the environment's action mask, which masking agents obey (passed only where
                # there is one: peers' and users' `predict` may not take it)
                mask = info.get(MASK_KEY)
                masked = {} if mask is None else {"action_mask": mask}
                action = agent.predict(obs, deterministic=deterministic, **masked)
                try:
                    obs, reward, terminated, truncated, info = env.step(action)
                except Exception as exc:
                    raise env_failure(agent.env_cfg.id, "step() during evaluation", exc) from exc
                check_finite("observation", obs, agent.env_cfg.id)
                check_finite("reward", np.asarray(reward, dtype=np.float64), agent.env_cfg.id)
                total += float(reward)
                length += 1
                done = terminated or truncated
                if video:
                    frames.append(env.render())
            returns.append(total)
            lengths.append(length)
            successes.append(episode_success(info))
    finally:
        env.close()
    stats: dict[str, Any] = dict(_finish(env, frames, video, returns, lengths))
    if any(success is not None for success in successes):  # an episode without one failed
        stats["success_rate"] = float(np.mean([bool(success) for success in successes]))
    return stats


def evaluate_agents(
    agent: Any, episodes: int, base: int, deterministic: bool, video: str | Path | None
) -> dict[str, Any]:
    """`evaluate` for a multi-agent agent on a PettingZoo parallel env: each agent acts on its
    own observation while it is in the game. ``mean_return`` is the team return (the sum of every
    agent's rewards); ``agent_returns`` holds each agent's mean return."""
    from tidyrl.envs.multiagent import make_parallel_env

    env_id = agent.env_cfg.id
    env = make_parallel_env(agent.env_cfg, agent.algo, "rgb_array" if video else None)
    per_agent: dict[str, list[float]] = {a: [] for a in agent.agent_ids}
    returns: list[float] = []
    lengths: list[int] = []
    frames: list[RenderFrame | list[RenderFrame] | None] = []
    try:
        for i in range(episodes):
            try:
                obs, _ = env.reset(seed=base + i)
            except Exception as exc:
                raise env_failure(env_id, "reset() during evaluation", exc) from exc
            totals = dict.fromkeys(agent.agent_ids, 0.0)
            length = 0
            if video:
                frames.append(env.render())
            while env.agents:
                present = {a: obs[a] for a in env.agents}
                actions = agent.predict(present, deterministic=deterministic)
                try:
                    obs, rewards, _, _, _ = env.step(actions)
                except Exception as exc:
                    raise env_failure(env_id, "step() during evaluation", exc) from exc
                for o in obs.values():
                    check_finite("observation", np.asarray(o, dtype=np.float32), env_id)
                for a, r in rewards.items():
                    check_finite("reward", np.asarray(r, dtype=np.float64), env_id)
                    totals[a] += float(r)
                length += 1
                if video:
                    frames.append(env.render())
            for a, total in totals.items():
                per_agent[a].append(total)
            returns.append(sum(totals.values()))
            lengths.append(length)
    finally:
        env.close()
    stats: dict[str, Any] = dict(_finish(env, frames, video, returns, lengths))
    stats["agent_returns"] = {a: float(np.mean(v)) for a, v in per_agent.items()}
    return stats


def write_video(
    frames: Sequence[RenderFrame | list[RenderFrame] | None], path: str | Path, fps: int = 30
) -> Path:
    """Write RGB frames to `path`; the suffix (.mp4 or .gif) picks the format (None frames,
    from an env that did not render, are skipped)."""
    import imageio.v2 as imageio

    path = Path(path)
    images = [np.asarray(f, dtype=np.uint8) for f in frames if f is not None]
    if not images:
        raise TidyError("the environment rendered no frames; it needs render_mode='rgb_array'")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        imageio.mimsave(path, _image_list(images), duration=1000 / fps, loop=0)
    elif suffix == ".mp4":
        # libx264 needs even sizes; pad by one pixel where a frame is odd
        h, w = images[0].shape[:2]
        pad = ((0, h % 2), (0, w % 2), (0, 0))
        images = [np.pad(f, pad) for f in images] if (h % 2 or w % 2) else images
        imageio.mimsave(path, _image_list(images), fps=fps, macro_block_size=1)
    else:
        raise TidyError(f"video file must end in .mp4 or .gif, got '{path.name}'")
    return path


def _image_list(images: list[np.ndarray]) -> list[ArrayLike]:
    """The same list, typed as imageio's stub asks (`List[ArrayLike]`, which is invariant, so a
    `list[np.ndarray]` does not match it although every element is array-like)."""
    return cast(list[ArrayLike], images)


def _finish(
    env: Any, frames: list[Any], video: Any, returns: list[float], lengths: list[int]
) -> dict[str, float]:
    """Write the video (when asked for) and summarise the episodes' returns and lengths."""
    if video:
        write_video(frames, video, fps=int(env.metadata.get("render_fps", 30) or 30))
    return {
        "episodes": len(returns),
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
    }
