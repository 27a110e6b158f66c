"""Go-Explore: first return to a promising state, then explore from it; then robustify.

Ecoffet, Huizinga, Lehman, Stanley & Clune (2019), "Go-Explore: a new approach for
hard-exploration problems" (arXiv:1901.10995), and (2021) "First return, then explore" (Nature
590, 580-586); lecture seed 001 names it beside intrinsic motivation and curiosity.

Phase 1 (explore) repeats, for `explore_steps` environment steps:

    c ~ W(c) / sum_c' W(c'),   W(c) = w_seen / (n_seen(c) + 1)^p + w_chosen / (n_chosen(c) + 1)^p
    return to c                restore its simulator state (tidyrl.envs.restore), or replay its
                               trajectory from the reset seed
    explore from c             up to `explore_length` random actions, each repeating the previous
                               one with probability `repeat_prob` (2019, section 2.1: 100 steps,
                               95 %), until the episode ends
    update the archive         each state met maps to cell(s); a new cell is added, a known one
                               takes the new trajectory if it scores more, or the same in fewer
                               steps (`tidyrl.data.archive`)

The cell of an observation: itself for a Discrete space; for pixels, the frame in grey,
downscaled by area averaging to `cell_width` x `cell_height` and quantized to `cell_levels`
intensities (2019: 11 x 8, 8 levels, for the domain-agnostic Atari cells); for a low-dimensional
Box, floor(obs / cell_size); or the user's `cell_fn` ("module:function", obs -> tuple of ints).
Phase 1 needs an environment deterministic given its reset seed and actions (the paper's
"exploit determinism"); it always resets with the run seed.

Phase 2 (robustify) turns the archive's best trajectory into a policy that reaches its score
from the reset: the backward algorithm (Salimans & Chen 2018; Go-Explore 2019, section 2.2),
with tidyrl's PPO, unchanged, as the learner (`ppo` holds its config). First, with `cut_loops`,
the demonstration loses its reward-free loops (a return to an observation met before: wall
bumps, steps back and forth, dead ends entered and left), kept only if the cut actions replay
through the episode to the same return (`tidyrl.data.backward.cut_loops`). PPO's episodes then
start at state k of the demonstration (`tidyrl.envs.demo_start`), k = T - `backward_step` at
first; with probability `backward_later` an episode starts instead at a state drawn uniformly
from [k, T - 1] (the released code of Salimans & Chen does this for a fifth of its episodes),
and with `backward_window` > 0 the start is drawn from the window [k - backward_window, k]. Once at
least `backward_episodes` episodes from [k - backward_window, k] have finished and a fraction
`backward_success` of them matched the demonstration's return from their start, k moves back
by `backward_step`, down to 0 (the plain reset). With `backward_lag` > 0 an episode that falls
that many steps behind the demonstration's score is truncated (the released code: 50). The
agent's policy is that PPO's.

Why the backward algorithm rather than behaviour cloning then PPO: the best trajectory of a
random exploration revisits states with different actions, which a cloned policy cannot follow
(it is not a function of the state), and one demonstration gives BC a single example per state;
the backward algorithm only asks PPO to reach the demonstration's return from states it starts
in, each a short reward away, so it learns from the env's reward alone, like plain PPO, on CPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from tidyrl.agent import Agent
from tidyrl.config import EnvConfig, check_range
from tidyrl.data.archive import Archive, Cell
from tidyrl.data.backward import cut_loops
from tidyrl.envs.demo_start import DemoStartEnv, encode
from tidyrl.envs.make import make_env
from tidyrl.envs.restore import ADAPTERS, replay, state_adapter
from tidyrl.errors import ConfigError, unknown


@dataclass(frozen=True)
class GoExploreConfig:
    explore_steps: int = 100_000
    """Environment steps of phase 1 (returns by replay included); the rest of the budget
    robustifies the best trajectory (phase 2)."""
    explore_length: int = 100
    """Steps explored from a returned-to cell (2019, section 2.1: 100)."""
    repeat_prob: float = 0.95
    """Probability of repeating the previous random action (2019, section 2.1: 95 %)."""
    w_seen: float = 1.0
    """Weight of the times-seen count in W(c) (Nature 2021: 1 / sqrt(C_seen + 1))."""
    w_chosen: float = 0.0
    """Weight of the times-chosen count in W(c) (the 2019 paper counts it too)."""
    power: float = 0.5
    """Exponent p of the counts in W(c)."""
    cell_fn: str = "auto"
    """Cell of an observation: auto (module docstring) or module:function (obs -> ints)."""
    cell_width: int = 11
    """Width of a downscaled frame cell (pixel observations)."""
    cell_height: int = 8
    """Height of a downscaled frame cell (pixel observations)."""
    cell_levels: int = 8
    """Grey levels of a downscaled frame cell (pixel observations)."""
    cell_size: float = 0.1
    """Side of a cell of a low-dimensional Box observation: floor(obs / cell_size)."""
    restore: str = "auto"
    """How phase 1 returns to a cell: auto, user, ale, mujoco, toy-text, replay."""
    backward_step: int = 1
    """Demonstration steps the start state moves back at a time (phase 2)."""
    backward_success: float = 0.5
    """Success fraction from the current start that moves it back (phase 2)."""
    backward_episodes: int = 16
    """Finished episodes from the current start needed before it may move (phase 2)."""
    backward_window: int = 0
    """Episodes start uniformly on the window of this many states before the current start and
    the start itself (phase 2; atari-reset spreads its workers' starts this way)."""
    backward_later: float = 0.2
    """Probability that an episode starts at a uniformly drawn later demonstration state
    (phase 2; atari-reset's frac_sample, 0.2)."""
    backward_lag: int = 0
    """Truncate a phase-2 episode once it falls this many steps behind the demonstration's
    score (atari-reset uses 50); 0, the default, leaves episodes their time limit."""
    cut_loops: bool = True
    """Cut the best trajectory's reward-free loops (returns to an observation met before)
    before phase 2, if the cut trajectory replays to the same return (`tidyrl.data.backward`)."""
    ppo: dict[str, Any] = field(default_factory=dict)
    """Config of phase 2's PPO (ppo's fields, over the defaults of GoExplore.PPO)."""

    def __post_init__(self) -> None:
        check_range(self, "explore_steps", 0)
        check_range(self, "explore_length", 1)
        check_range(self, "repeat_prob", 0.0, 1.0)
        check_range(self, "w_seen", 0.0)
        check_range(self, "w_chosen", 0.0)
        check_range(self, "power", 0.0)
        check_range(self, "cell_width", 1)
        check_range(self, "cell_height", 1)
        check_range(self, "cell_levels", 2)
        check_range(self, "cell_size", 0.0, low_open=True)
        check_range(self, "backward_step", 1)
        check_range(self, "backward_success", 0.0, 1.0, low_open=True)
        check_range(self, "backward_episodes", 1)
        check_range(self, "backward_window", 0)
        check_range(self, "backward_later", 0.0, 1.0)
        check_range(self, "backward_lag", 0)
        if self.restore not in ADAPTERS:
            raise ConfigError(unknown("GoExploreConfig.restore", self.restore, ADAPTERS))
        if self.cell_fn != "auto" and ":" not in self.cell_fn:
            raise ConfigError(
                f"GoExploreConfig.cell_fn={self.cell_fn!r}: give auto or module:function"
            )


def downscale_cell(frame: np.ndarray, width: int, height: int, levels: int) -> Cell:
    """A frame [H, W] or [H, W, C] (0..255) in grey, averaged over `height` x `width` nearly
    equal blocks and quantized to `levels` intensities: floor(mean * levels / 256)."""
    channels = frame.shape[2] if frame.ndim == 3 else 1
    # integer channel sums, one slice at a time (a mean over the short last axis is slow)
    total = (
        sum(frame[:, :, k].astype(np.int64) for k in range(channels))
        if frame.ndim == 3
        else frame.astype(np.int64)
    )
    rows = np.linspace(0, frame.shape[0], height + 1).astype(int)
    cols = np.linspace(0, frame.shape[1], width + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(total, rows[:-1], axis=0), cols[:-1], axis=1)
    means = sums / (np.outer(np.diff(rows), np.diff(cols)) * channels)
    return tuple(int(v) for v in np.floor(means * levels / 256.0).ravel())


def grid_cell(obs: np.ndarray, size: float) -> Cell:
    """A low-dimensional observation on a grid of side `size`: floor(obs / size)."""
    return tuple(int(v) for v in np.floor(np.asarray(obs, dtype=np.float64).ravel() / size))


def cell_function(cfg: GoExploreConfig, space: gym.Space[Any]) -> Callable[[Any], Cell]:
    """The observation -> cell map the config and the observation space call for."""
    if cfg.cell_fn != "auto":
        module, name = cfg.cell_fn.split(":", 1)
        try:
            user = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"GoExploreConfig.cell_fn={cfg.cell_fn!r}: {exc}") from exc
        return lambda obs: tuple(int(v) for v in user(obs))
    if isinstance(space, gym.spaces.Discrete):
        return lambda obs: (int(obs),)
    if len(space.shape or ()) >= 2:  # a frame
        return lambda obs: downscale_cell(
            np.asarray(obs), cfg.cell_width, cfg.cell_height, cfg.cell_levels
        )
    return lambda obs: grid_cell(obs, cfg.cell_size)


class GoExplore(Agent):
    Config = GoExploreConfig
    algo_id = "go-explore"
    observation_spaces = (gym.spaces.Discrete, gym.spaces.Box)
    action_spaces = (gym.spaces.Discrete, gym.spaces.Box)
    default_torch_threads = 1
    default_steps = 200_000
    PPO: dict[str, Any] = {
        # 1,024-step rollouts in 4 minibatches, SB3's lr 3e-4 held constant (the budget of a
        # curriculum stage is unknown in advance). With 8 x 32 steps and lr 1e-3 one maze seed's
        # policy reached the goal, then lost it; with entropy 0.01 one maze seed's policy turned
        # near-deterministic in states off the demonstration and the curriculum stalled
        # (docs/algorithms/go-explore.md)
        "n_envs": 8,
        "n_steps": 128,
        "batch_size": 256,
        "n_epochs": 4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "lr": 3e-4,
        "anneal_lr": False,
        "anneal_clip": False,
        "ent_coef": 0.05,
    }
    """Phase 2's PPO settings (`ppo` overrides them)."""

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.explore_env = make_env(self.env_cfg)
        self.explore_env.reset(seed=self.run.seed)  # some envs hold their state after a reset
        self.adapter = state_adapter(self.explore_env, cfg.restore)
        self.cell = cell_function(cfg, self.observation_space)
        space = self.action_space
        self.archive = Archive(tuple(space.shape or ()), space.dtype or np.int64)
        self.reset_seed = self.run.seed
        self.ppo = self._robustifier()
        self.policy, self.obs_norm = self.ppo.policy, self.ppo.obs_norm
        self.ppo_optimizer = self.ppo.optimizer
        self.start = -1  # phase 2's demonstration start state (-1: not begun)
        self.register_state("policy", "obs_norm", "ppo_optimizer")
        self.register_run_state("archive")

    def _robustifier(self) -> Agent:
        """Phase 2's PPO on `DemoStartEnv` around this agent's environment."""
        from tidyrl.api import make

        e = self.env_cfg
        demo_env = EnvConfig(
            "tidyrl/DemoStart-v0",
            {"env": e.id, "env_kwargs": dict(e.kwargs), "limit": e.max_episode_steps},
        )
        quiet = {"progress": False, "tensorboard": False, "eval_every": 0, "log_every": 1 << 40}
        settings = {**self.PPO, **self.config.ppo, **quiet, "device": self.run.device}
        return make("ppo", demo_env, seed=self.run.seed, preset="none", **settings)

    def act(self, obs, deterministic=False):
        return self.ppo.act(encode(self.observation_space, obs), deterministic)

    # -- phase 1 ----------------------------------------------------------------------------
    def random_action(self, previous: Any) -> Any:
        """The previous action with probability repeat_prob, else a uniformly random one."""
        if previous is not None and self.rng.random() < self.config.repeat_prob:
            return previous
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return int(space.start + self.rng.integers(space.n))
        return self.rng.uniform(space.low, space.high).astype(space.dtype)

    def return_to(self, row: int) -> tuple[Any, int]:
        """Bring the explore env to the archive's cell `row`: (its observation, env steps the
        return cost: 0 with a state adapter, the trajectory's length by replay)."""
        env, actions = self.explore_env, self.archive.trajectories[row]
        snapshot = self.archive.snapshots[row]
        if snapshot is not None:  # no reset: ALE's reset with a seed reloads the ROM
            state, obs = snapshot
            self.adapter.set_state(env, state, len(actions))
            return obs, 0
        obs, _ = replay(env, self.reset_seed, actions)
        if not self.adapter.replays:
            self.archive.snapshots[row] = (self.adapter.get_state(env), obs)
        return obs, len(actions)

    def explore(self) -> dict[str, float]:
        """One iteration of phase 1: select, return, explore, update the archive."""
        cfg, archive = self.config, self.archive
        weights = archive.weights(cfg.w_seen, cfg.w_chosen, cfg.power)
        row = archive.select(self.rng, weights)
        archive.chosen[row] += 1
        obs, cost = self.return_to(row)
        actions = list(archive.trajectories[row])
        score, action, steps = archive.scores[row], None, 0
        for _ in range(cfg.explore_length):
            action = self.random_action(action)
            obs, reward, terminated, truncated, _ = self.explore_env.step(action)
            actions.append(action)
            score += float(reward)
            steps += 1
            stored = archive.offer(
                self.cell(obs), score, actions, terminated, self.counters["steps"] + cost + steps
            )
            if stored is not None and not terminated and not self.adapter.replays:
                archive.snapshots[stored] = (self.adapter.get_state(self.explore_env), obs)
            if terminated or truncated:
                break
        best = archive.best()
        self.tick(
            None,
            {
                "cells": len(archive),
                "best_score": archive.scores[best],
                "best_length": len(archive.trajectories[best]),
                "best_found_at": archive.found_at[best],
            },
            n_steps=cost + steps,
        )
        return self.last_metrics

    # -- phase 2 ----------------------------------------------------------------------------
    def demo_envs(self) -> list[DemoStartEnv]:
        return [e.unwrapped for e in self.ppo.env.envs.envs]

    def rollout(self, actions: np.ndarray) -> tuple[list[bytes], np.ndarray, bool]:
        """Replay `actions` from the reset: the observations met (as bytes, s_0..s_T), the
        per-step rewards, and whether the episode ran through them without ending early."""
        env = self.explore_env
        obs, _ = env.reset(seed=self.reset_seed)
        keys, rewards, complete = [np.asarray(obs).tobytes()], [], True
        steps = actions.tolist() if actions.dtype.kind in "iu" else list(actions)
        for i, action in enumerate(steps):
            obs, reward, terminated, truncated, _ = env.step(action)
            keys.append(np.asarray(obs).tobytes())
            rewards.append(float(reward))
            complete = complete and not ((terminated or truncated) and i < len(steps) - 1)
        return keys, np.array(rewards), complete

    def demonstration(self) -> tuple[np.ndarray, np.ndarray]:
        """The best trajectory's actions and per-step rewards (replayed from the reset), its
        reward-free loops cut when `cut_loops` (kept only if the cut actions replay through
        the episode to the same return)."""
        actions = self.archive.trajectories[self.archive.best()]
        keys, rewards, _ = self.rollout(actions)
        if not self.config.cut_loops:
            return actions, rewards
        cut = actions[cut_loops(keys, rewards.tolist())]
        _, cut_rewards, complete = self.rollout(cut)
        if complete and float(cut_rewards.sum()) == float(rewards.sum()):
            return cut, cut_rewards
        return actions, rewards

    def robustify(self) -> None:
        """One PPO rollout-and-update from the current start; move the start back on success."""
        cfg, envs = self.config, self.demo_envs()
        if envs[0].demo_actions.size == 0 and len(self.archive):  # begin, or resume, phase 2
            actions, rewards = self.demonstration()
            if self.start < 0:
                self.start = max(len(actions) - cfg.backward_step, 0)
            for e in envs:
                e.set_demo(self.reset_seed, actions, rewards)
        low = self.start - cfg.backward_window  # episodes from [low, start] judge the start
        for e in envs:
            e.start, e.window, e.later = max(self.start, 0), cfg.backward_window, cfg.backward_later
            e.lag = cfg.backward_lag
        before = self.ppo.counters["steps"]
        self.ppo.learn(self.ppo.config.n_envs * self.ppo.config.n_steps)
        outcomes = [ok for e in envs for s, ok in e.outcomes if low <= s <= self.start]
        for e in envs:
            e.outcomes = [(s, ok) for s, ok in e.outcomes if low <= s <= self.start]
        success = float(np.mean(outcomes)) if outcomes else 0.0
        ready = self.start > 0 and len(outcomes) >= cfg.backward_episodes
        if ready and success >= cfg.backward_success:
            self.start = max(self.start - cfg.backward_step, 0)
            for e in envs:
                e.outcomes = []
        best = self.archive.best()
        metrics = {
            **self.ppo.last_metrics,
            "best_score": self.archive.scores[best],
            "best_length": len(self.archive.trajectories[best]),
            "demo_length": len(envs[0].demo_actions),
            "start": self.start,
            "start_success": success,
        }
        self.tick(None, metrics, n_steps=self.ppo.counters["steps"] - before)

    def learn(self, total_steps: int) -> GoExplore:
        with self.training(total_steps):
            if not len(self.archive):  # the reset state is the first cell
                obs, _ = self.explore_env.reset(seed=self.reset_seed)
                row = self.archive.offer(self.cell(obs), 0.0, [], False)
                if row is not None and not self.adapter.replays:
                    self.archive.snapshots[row] = (self.adapter.get_state(self.explore_env), obs)
            while not self.finished and self.counters["steps"] < self.config.explore_steps:
                self.explore()
            while not self.finished:
                self.robustify()
        return self

    def extra_state(self) -> dict[str, Any]:
        return {"start": self.start}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.start = int(state.get("start", -1))

    def close(self) -> None:
        self.explore_env.close()
        self.ppo.close()
        super().close()
