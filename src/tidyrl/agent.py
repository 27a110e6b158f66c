"""The `Agent` base: bookkeeping only, inherited exactly one level deep.

An algorithm subclasses `Agent`, builds its networks / tables / optimizers in `__init__` and
registers them with `register_state`, implements `act` and `learn`, and never writes save, load,
logging or evaluation code: the base does that.

`learn` is the algorithm's own short, visible loop. It runs inside ``with self.training(n):`` and
reports each environment step with ``self.tick(step, metrics)``; the base then counts steps and
episodes, updates the progress bar, writes metrics rows, evaluates and checkpoints on schedule.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch

from tidyrl import runtime
from tidyrl.config import EnvConfig, RunConfig
from tidyrl.core.seeding import resolve_device, seed_everything
from tidyrl.data.storage import human_bytes, nest, section
from tidyrl.envs.make import Ended, Step, VecEnv, require_space
from tidyrl.envs.spaces import single_observation, split_mask
from tidyrl.errors import ConfigError, EnvError, RunError, TidyError
from tidyrl.logging import RunLogger

if TYPE_CHECKING:
    from tidyrl.envs.multiagent import MultiStep


@runtime_checkable
class RunState(Protocol):
    """Run-time state a resumed run needs but a saved policy does not (a replay buffer, a
    per-env return accumulator, an exploration process), as named arrays."""

    def state_arrays(self) -> dict[str, np.ndarray]: ...

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None: ...


class Agent:
    """Base of every algorithm (depth one). Subclasses set `Config`, `algo_id` and the spaces."""

    Config: ClassVar[type]
    """The algorithm's frozen config dataclass."""
    algo_id: ClassVar[str] = ""
    """Registry id used when the class is instantiated directly."""
    action_spaces: ClassVar[tuple[type[gym.Space[Any]], ...]] = (
        gym.spaces.Discrete,
        gym.spaces.Box,
    )
    observation_spaces: ClassVar[tuple[type[gym.Space[Any]], ...]] = (gym.spaces.Box,)
    """Dict here means any Dict or Tuple observation (the env owner turns a Tuple into a Dict)."""
    multiagent: ClassVar[bool] = False
    """True for algorithms over PettingZoo environments (`tidyrl.envs.multiagent`): the env is a
    `MultiAgentVecEnv`, the spaces are `Dict`s keyed by agent id, and `act` / `predict` take and
    return per-agent dicts."""
    uses_action_mask: ClassVar[bool] = False
    """The agent takes the environment's action mask (`act(..., mask=)`) and never chooses a
    masked action; the others act without it (as on Taxi-v3's optional `info` mask)."""
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    """Named config overrides (e.g. `atari`, `spellchart`), selected with --preset."""
    ENV_PRESETS: ClassVar[dict[str, str]] = {}
    """Env id -> the preset `tidyrl.make` and `tidyrl train` choose when no preset is named (the
    per-env settings RL-Zoo keeps, chosen automatically and printed); --preset none keeps the
    defaults (`tidyrl.api.choose_preset`)."""
    default_steps: ClassVar[int] = 100_000
    """Training budget of `tidyrl train` when --steps is not given."""
    default_torch_threads: ClassVar[int] = 0
    """torch intra-op threads `tidyrl.runtime.configure` sets when `RunConfig.torch_threads` is
    None (0: leave torch's setting). Learners whose updates are chains of small MLP ops set 1:
    with two threads every small op pays a thread hand-off (docs/performance.md)."""

    def __init__(
        self,
        env: str | EnvConfig,
        config: Any = None,
        run: RunConfig | None = None,
        *,
        algo: str | None = None,
    ) -> None:
        self.config = config if config is not None else self.Config()
        self.env_cfg = EnvConfig(id=env) if isinstance(env, str) else env
        self.run = run if run is not None else RunConfig()
        self.algo = algo or self.algo_id
        self.device = resolve_device(self.run.device)
        self.rng = seed_everything(self.run.seed)
        n_envs = getattr(self.config, "n_envs", 1)
        self.env: Any
        self.observation_space: gym.Space[Any]
        self.action_space: gym.Space[Any]
        if self.run.workers:  # a learner that cannot collect on Ray workers is refused here
            from tidyrl.distributed import check_workers

            check_workers(self, n_envs)
        if self.multiagent:
            self._make_multiagent_env(n_envs)
        else:
            if self.run.workers:  # env copies on Ray actors (imports Ray; docs/distributed.md)
                from tidyrl.distributed import worker_env

                self.env = worker_env(self, n_envs)
            else:
                self.env = VecEnv(self.env_cfg, n_envs=n_envs, seed=self.run.seed)
            self.observation_space = self.env.single_observation_space
            self.action_space = self.env.single_action_space
            require_space(self.observation_space, self.observation_spaces, "observation", self.algo)
            require_space(self.action_space, self.action_spaces, "action", self.algo)
        self.counters: dict[str, int] = {"steps": 0, "episodes": 0, "updates": 0, "target": 0}
        self._state_names: list[str] = []
        self._run_state_names: list[str] = []
        self._logger: RunLogger | None = None
        self._recent_returns: deque[float] = deque(maxlen=20)
        self._recent_successes: deque[bool] = deque(maxlen=20)
        """Successes of the last episodes whose env reports one (`episode_success`)."""
        self._recent_lengths: deque[int] = deque(maxlen=20)
        self._last_metrics: dict[str, Any] = {}
        self._resumed_schedule: _Schedule | None = None
        """The schedule a resumed checkpoint saved, taken by the next `training()`."""
        self._collecting = False
        """Inside an on-policy rollout (`collecting`): checkpoints wait for its end."""
        self._checkpoint_due = False
        self._boundary_checkpoints = False
        """Set once the agent collects rollouts: its state is whole only between them."""
        self._row_observers: list[Callable[[dict[str, Any]], None]] = []
        self._step_observers: list[Callable[[Agent, Step | MultiStep | Ended | None], None]] = []
        self._best_eval: float | None = None
        """The best evaluation return so far (`RunConfig.save_best`; kept by resume)."""
        self._last_row: tuple[int, bool] = (-1, False)
        """(step, evaluated) of the last metrics row written."""

    def _make_multiagent_env(self, n_envs: int) -> None:
        from tidyrl.envs.multiagent import MultiAgentVecEnv

        self.env = MultiAgentVecEnv(self.env_cfg, n_envs=n_envs, seed=self.run.seed, algo=self.algo)
        self.agent_ids: list[str] = self.env.agents
        """Agent ids in the environment's order (`possible_agents`)."""
        self.observation_space = gym.spaces.Dict(self.env.observation_spaces)
        self.action_space = gym.spaces.Dict(self.env.action_spaces)
        for agent in self.agent_ids:
            who = f"{self.algo} (agent {agent})"
            obs_space, act_space = self.env.observation_spaces[agent], self.env.action_spaces[agent]
            require_space(obs_space, self.observation_spaces, "observation", who)
            require_space(act_space, self.action_spaces, "action", who)

    # -- state registration -------------------------------------------------------------------
    def register_state(self, *names: str) -> None:
        """Declare attributes (modules, optimizers, arrays, tensors) that make up the agent's
        learnable state; they are saved, loaded and compared without any per-algorithm code."""
        for name in names:
            if not hasattr(self, name):
                raise AttributeError(f"{type(self).__name__} has no attribute {name!r} to register")
            if name not in self._state_names:
                self._state_names.append(name)

    def state_objects(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._state_names}

    def register_run_state(self, *names: str) -> None:
        """Declare attributes holding `RunState` (a replay buffer, a reward scaler's running
        returns, an OU process): training checkpoints keep them, so a resumed run continues
        exactly; a saved policy (`save`) leaves them out."""
        for name in names:
            if not isinstance(getattr(self, name, None), RunState):
                raise AttributeError(
                    f"{type(self).__name__}.{name} has no state_arrays() and load_state_arrays()"
                )
            if name not in self._run_state_names:
                self._run_state_names.append(name)

    def resume_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What a resumed run needs beyond the learnable state, as JSON and arrays: the envs
        (seeds and the actions of their current episodes, `tidyrl.envs.trace`), the
        registered run state, the recent episodes and last metrics that feed metrics rows,
        the log/eval/checkpoint schedule and Python's `random` state."""
        env_state, env_arrays = self.env.state()
        schedule = getattr(self, "_schedule", None)
        state = {
            "env": env_state,
            "recent_returns": list(self._recent_returns),
            "recent_lengths": list(self._recent_lengths),
            "recent_successes": list(self._recent_successes),
            "last_metrics": {k: _to_float(v) for k, v in self._last_metrics.items()},
            "schedule": dataclasses.asdict(schedule) if schedule is not None else None,
            "python_random": random.getstate(),
            "best_eval": self._best_eval,
        }
        arrays = nest("env", env_arrays)
        for name in self._run_state_names:
            arrays.update(nest(name, getattr(self, name).state_arrays()))
        return state, arrays

    def load_resume_state(self, state: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `resume_state`: replay the envs to where they were and restore the rest."""
        self.env.restore(state["env"], section(arrays, "env"))
        for name in self._run_state_names:
            getattr(self, name).load_state_arrays(section(arrays, name))
        self._recent_returns.clear()
        self._recent_returns.extend(float(r) for r in state["recent_returns"])
        self._recent_lengths.clear()
        self._recent_lengths.extend(int(n) for n in state["recent_lengths"])
        self._recent_successes.clear()
        self._recent_successes.extend(bool(s) for s in state.get("recent_successes", ()))
        self._last_metrics = dict(state["last_metrics"])
        if state["schedule"] is not None:
            self._resumed_schedule = _Schedule(**state["schedule"])
        version, words, gauss = state["python_random"]
        random.setstate((version, tuple(words), gauss))
        self._best_eval = state.get("best_eval")  # absent from checkpoints that predate it

    @property
    def last_metrics(self) -> dict[str, Any]:
        """The algorithm metrics of the latest `tick` (restored on resume). A loop that
        rebuilds its metrics dict every step starts it from these, so that its rows after a
        resume carry the same values as the uninterrupted run's."""
        return dict(self._last_metrics)

    def observe_rows(self, observer: Callable[[dict[str, Any]], None]) -> None:
        """Call `observer(row)` with every metrics row once it is written (with its evaluation,
        when one was due): how a sweep reports a run's progress to its scheduler
        (`tidyrl.distributed.sweep`). An exception the observer raises ends `learn` there,
        without the final row; the last periodic checkpoint stays."""
        self._row_observers.append(observer)

    def observe_steps(
        self, observer: Callable[[Agent, Step | MultiStep | Ended | None], None]
    ) -> None:
        """Call `observer(agent, step)` after every counted step of `learn` (Stable-Baselines3's
        `BaseCallback._on_step`). `step` is the vector step just taken (`Step`: rewards,
        terminated and truncated flags, the episodes that ended; `MultiStep` for several
        agents), or, where steps are taken elsewhere (A3C's and Ray's workers, World Models'
        generations), the `Ended` episodes of the steps just counted, or None.
        ``agent.counters["steps"]`` counts the steps so far; `agent.stop()` ends `learn` at the
        algorithm's next check (every step for the off-policy learners, the end of the rollout
        for the on-policy ones); an exception the observer raises ends `learn` there, without
        the final row."""
        self._step_observers.append(observer)

    # -- acting -------------------------------------------------------------------------------
    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations (one per env); agents that `uses_action_mask`
        also take ``mask`` (bool [rows, actions], None: every action valid)."""
        raise NotImplementedError

    def reset_memory(self) -> None:
        """Start new episodes for `act`/`predict`: an agent with memory (a recurrent policy)
        forgets what earlier calls saw; feed-forward agents have nothing to forget. Call it
        before each episode's first `predict` (`tidyrl.loops.evaluate` does)."""

    def predict(self, obs: Any, deterministic: bool = True, action_mask: Any = None) -> Any:
        """Action for one observation, or actions for a batch, as NumPy (multi-agent: a dict
        ``{agent: observation}`` in, ``{agent: action}`` out, for the agents given).

        A Dict or Tuple observation may come as the environment returns it (with its
        ``action_mask`` key, if any); `action_mask` (e.g. ``info["action_mask"]``) takes
        precedence over that key."""
        if self.multiagent:
            return self._predict_per_agent(obs, deterministic)
        obs, mask = split_mask(self.observation_space, obs)
        if action_mask is not None:
            mask = np.asarray(action_mask, dtype=bool)
        if not isinstance(obs, dict):
            obs = np.asarray(obs)
        single = single_observation(self.observation_space, obs)
        if single:
            obs = {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None]
        kwargs: dict[str, Any] = {}
        if mask is not None and self.uses_action_mask:
            kwargs["mask"] = mask.reshape(1, -1) if single else mask
        with torch.no_grad():
            actions = np.asarray(self.act(obs, deterministic=deterministic, **kwargs))
        return actions[0] if single else actions

    def _predict_per_agent(self, obs: Any, deterministic: bool) -> dict[str, np.ndarray]:
        if not isinstance(obs, dict):
            raise TypeError(f"{self.algo}.predict takes a dict {{agent: observation}}")
        unknown = [a for a in obs if a not in self.agent_ids]
        if unknown:
            raise KeyError(f"unknown agent(s) {unknown}; this agent has {self.agent_ids}")
        arrays = {a: np.asarray(o, dtype=np.float32) for a, o in obs.items()}
        shapes = {a: tuple(self.env.observation_spaces[a].shape or ()) for a in arrays}
        single = all(arrays[a].shape == shapes[a] for a in arrays)
        batch = {a: x[None] if single else x for a, x in arrays.items()}
        with torch.no_grad():
            actions: Any = self.act(batch, deterministic=deterministic)
        return {a: np.asarray(actions[a])[0] if single else np.asarray(actions[a]) for a in obs}

    # -- training bookkeeping -----------------------------------------------------------------
    def learn(self, total_steps: int) -> Agent:
        """Train for `total_steps` more environment steps (the algorithm's loop)."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """True once the current `learn` call has reached its step target."""
        return self.counters["steps"] >= self.counters["target"]

    def stop(self) -> None:
        """End the current `learn` call early (e.g. a planner converged): the run's target
        becomes the steps done, and `training()` closes it with its final row and checkpoint."""
        self.counters["target"] = self.counters["steps"]

    @contextlib.contextmanager
    def training(self, total_steps: int) -> Iterator[None]:
        """Open the progress bar and metrics, run the loop, then log, evaluate and checkpoint."""
        if total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {total_steps}")
        start = self.counters["steps"]
        self.counters["target"] = start + total_steps
        run = self.run
        every = run.checkpoint_every or max(1000, total_steps // 10)
        self._schedule = _Schedule(
            log=start + run.log_every,
            eval=start + run.eval_every if run.eval_every else None,
            checkpoint=start + every,
            checkpoint_every=every,
        )
        if self._resumed_schedule is not None:  # continue the interrupted run's schedule
            self._schedule = self._resumed_schedule.after(start, run)
            self._resumed_schedule = None
        low_memory = check_replay_memory(
            self, self.counters["target"], runtime.memory_limit(), runtime.memory_available()
        )
        self._t0, self._steps0 = time.perf_counter(), start
        self._logger = RunLogger(
            run.run_dir,
            total=self.counters["target"],
            initial=start,
            progress=run.progress,
            tensorboard=run.tensorboard,
        )
        if low_memory:
            self._logger.message(low_memory)
        completed = False
        try:
            yield
            completed = True
        except KeyboardInterrupt:
            steps = self.counters["steps"]
            if self._boundary_checkpoints:  # mid-rollout: the last boundary's checkpoint stays
                kept = self._kept()
                self._logger.message(f"interrupted at step {steps}" + (f"; {kept}" if kept else ""))
            else:
                self._logger.message(f"interrupted at step {steps}; saving checkpoint")
                self.checkpoint()
            raise
        except EnvError as exc:
            # the environment failed between two ticks: the agent's own state is consistent
            # (only the envs are not, and a resume builds them afresh), so it is saved
            steps = self.counters["steps"]
            raise EnvError(f"{exc} at training step {steps}{self._save_after_failure()}") from exc
        finally:
            if self._logger is not None and not self._logger.closed:
                done = completed and self.counters["steps"] >= self.counters["target"]
                try:
                    # a run stopped at an evaluation's row (stop_at_return) has its final row
                    if done and self._last_row != (self.counters["steps"], True):
                        self._write_row(final=True)
                    if done:
                        self.checkpoint()
                finally:
                    self._logger.close(final_steps=self.counters["steps"] if done else None)

    def _save_after_failure(self) -> str:
        """Checkpoint after an environment failure; the sentence that tells the user so."""
        if self.run.run_dir is None:
            return ""
        try:
            self.checkpoint()
        except TidyError as exc:
            return f"; no checkpoint could be saved ({exc})"
        return (
            f"; its checkpoint is saved: fix the environment and continue with "
            f"'tidyrl resume {self.run.run_dir}'"
        )

    def _stop_if_diverged(self, row: dict[str, Any]) -> None:
        """RunError naming the first non-finite metric of `row` or non-finite parameter, so a
        diverged run stops with its last good checkpoint instead of saving NaN weights."""
        bad = next((k for k, v in row.items() if not math.isfinite(v)), None)
        what = f"{bad} = {row[bad]}" if bad is not None else self._nonfinite_state()
        if what is None:
            return
        kept = f"; {self._kept()} in '{self.run.run_dir}'" if self.run.run_dir is not None else ""
        raise RunError(
            f"training diverged at step {self.counters['steps']}: {what}{kept} (a lower learning "
            "rate or gradient clipping usually helps)"
        )

    def _kept(self) -> str:
        """'the checkpoint of step N is kept' (or that none exists) for the run directory."""
        from tidyrl.checkpoint import kept_checkpoint

        return kept_checkpoint(self.run.run_dir) if self.run.run_dir is not None else ""

    @contextlib.contextmanager
    def collecting(self, metrics: dict[str, Any] | None = None) -> Iterator[None]:
        """Wrap the collection of one on-policy rollout whose ticks report `metrics` (those of
        the last update). A checkpoint that falls due inside is written when the next rollout
        starts, after the update, where the learner's whole state is in its registered
        objects (a partial rollout never is); so every checkpoint of an on-policy run is a
        point a resume continues exactly."""
        self._boundary_checkpoints = True
        if metrics:  # what the first tick would set; the checkpoint below must hold it
            self._last_metrics = metrics
        if self._checkpoint_due:
            self._checkpoint_due = False
            self.checkpoint()
        self._collecting = True
        try:
            yield
        finally:
            self._collecting = False

    def _nonfinite_state(self) -> str | None:
        """'parameter NAME holds NaN or inf' for the first non-finite registered tensor."""
        for name, obj in self.state_objects().items():
            if isinstance(obj, torch.nn.Module):
                items = [*obj.named_parameters(), *obj.named_buffers()]
                tensors = [(f"{name}.{key}", t) for key, t in items]
            elif isinstance(obj, torch.Tensor):
                tensors = [(name, obj)]
            elif isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
                if not np.isfinite(obj).all():
                    return f"{name} holds NaN or inf"
                continue
            else:
                continue
            for key, tensor in tensors:
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    return f"parameter {key} holds NaN or inf"
        return None

    def tick(
        self,
        step: Step | MultiStep | Ended | None = None,
        metrics: dict[str, Any] | None = None,
        n_steps: int | None = None,
    ) -> None:
        """Count one environment step of every env (or `n_steps`) and run what is due; `step`
        (or the `Ended` episodes of `n_steps` steps taken elsewhere) gives the episodes that
        ended."""
        n = n_steps if n_steps is not None else (self.env.n_envs if step is not None else 1)
        self.counters["steps"] += n
        if step is not None and step.episode_returns:
            self.counters["episodes"] += len(step.episode_returns)
            self._recent_returns.extend(step.episode_returns)
            self._recent_lengths.extend(step.episode_lengths)
            self._recent_successes.extend(getattr(step, "episode_successes", ()))
        if metrics:
            self._last_metrics = metrics
        for step_observer in self._step_observers:
            step_observer(self, step)
        steps = self.counters["steps"]
        assert self._logger is not None, "tick() must be called inside `with self.training(n):`"
        self._logger.advance(steps, self._recent_returns)
        sched = self._schedule
        target = self.counters["target"]
        # the last step's row is written by `training` (with the final evaluation), not here
        log_due = sched.log <= steps < target
        eval_due = sched.eval is not None and sched.eval <= steps < target
        if log_due or eval_due:
            self._write_row(evaluate_now=eval_due)
        if log_due:
            sched.log = _next_multiple(sched.log, steps, self.run.log_every)
        if eval_due and sched.eval is not None:
            sched.eval = _next_multiple(sched.eval, steps, self.run.eval_every)
        if sched.checkpoint <= steps < target:
            if self._collecting:
                self._checkpoint_due = True
            else:
                self.checkpoint()
            sched.checkpoint = _next_multiple(sched.checkpoint, steps, sched.checkpoint_every)

    def _write_row(self, final: bool = False, evaluate_now: bool = False) -> None:
        assert self._logger is not None
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        row: dict[str, Any] = {
            "step": self.counters["steps"],
            "wall_time": round(elapsed, 3),
            "steps_per_second": round((self.counters["steps"] - self._steps0) / elapsed, 1),
            "episodes": self.counters["episodes"],
            "updates": self.counters["updates"],
        }
        if self._recent_returns:
            row["episode_return"] = float(np.mean(self._recent_returns))
            row["episode_length"] = float(np.mean(self._recent_lengths))
        if self._recent_successes:
            row["episode_success_rate"] = float(np.mean(self._recent_successes))
        for key, value in self._last_metrics.items():
            row[key] = _to_float(value)
        try:
            self._stop_if_diverged(row)
        except RunError:
            self._logger.row(row)  # the evidence, in metrics.csv
            raise
        if evaluate_now or (final and (self.run.run_dir is not None or self.run.eval_every)):
            stats = self.evaluate(
                episodes=self.run.eval_episodes, deterministic=self.run.eval_deterministic
            )
            row["eval_return"] = stats["mean_return"]
            row["eval_return_std"] = stats["std_return"]
            row["eval_length"] = stats["mean_length"]
            if "success_rate" in stats:
                row["eval_success_rate"] = stats["success_rate"]
            for agent_id, value in stats.get("agent_returns", {}).items():
                row[f"eval_return/{agent_id}"] = value
        self._logger.row(row)
        self._last_row = (self.counters["steps"], "eval_return" in row)
        if "eval_return" in row:
            self._after_evaluation(float(row["eval_return"]), final)
        for observer in self._row_observers:
            observer(row)

    def _after_evaluation(self, mean_return: float, final: bool) -> None:
        """`RunConfig.save_best` (on every evaluation, the final one too) and `stop_at_return`
        (on those during training)."""
        run, steps = self.run, self.counters["steps"]
        if run.save_best and (self._best_eval is None or mean_return > self._best_eval):
            assert run.run_dir is not None  # RunConfig requires it
            self._best_eval = mean_return
            self.save(Path(run.run_dir) / "best")
        if run.stop_at_return is not None and not final and mean_return >= run.stop_at_return:
            assert self._logger is not None
            self._logger.message(
                f"evaluation return {mean_return:g} at step {steps} reached "
                f"stop_at_return={run.stop_at_return:g}: training stops"
            )
            self.stop()

    # -- persistence and evaluation -----------------------------------------------------------
    def checkpoint(self) -> None:
        """Write `run_dir/checkpoint` atomically (no-op without a run directory); a RunError
        instead where a parameter went non-finite (the last good checkpoint stays)."""
        if self.run.run_dir is not None:
            from tidyrl.checkpoint import save

            self._stop_if_diverged({})
            save(self, self.run.run_dir, run_state=True)

    def save(self, path: str | Path) -> Path:
        """Write config.json and checkpoint/ (safetensors + JSON) under `path`."""
        from tidyrl.checkpoint import save

        return save(self, path)

    def update_probe(self) -> Callable[[], object] | None:
        """A zero-argument callable doing one bare gradient update on a fixed, representative
        batch (no sampling, no env stepping), or None for agents without network updates.

        The benchmark harness times it after training to report the update-rate ceiling. The
        default serves every agent with a `replay` and an `update(batch)` (the off-policy
        methods): one update on a fixed minibatch of its replay, None while the replay is empty.
        """
        replay = getattr(self, "replay", None)
        if replay is None or len(replay) == 0:
            return None
        batch = replay.sample(getattr(self.config, "batch_size", 1), np.random.default_rng(0))
        update: Callable[[Any], object] = getattr(self, "update")  # noqa: B009
        return lambda: update(batch)

    def extra_state(self) -> dict[str, Any]:
        """JSON-serializable state beyond registered tensors (override when an algorithm has it)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of `extra_state`."""

    def evaluate(
        self,
        episodes: int = 10,
        seed: int | None = None,
        deterministic: bool = True,
        video: str | Path | None = None,
    ) -> dict[str, Any]:
        """Run `episodes` full episodes on a fresh env; see `tidyrl.loops.evaluate.evaluate`."""
        from tidyrl.loops.evaluate import evaluate

        return evaluate(
            self, episodes=episodes, seed=seed, deterministic=deterministic, video=video
        )

    def close(self) -> None:
        self.env.close()


def replay_memory(buffer: Any, rows: int) -> int:
    """Bytes a fixed-capacity buffer fills once `rows` rows were added: its arrays are allocated
    zeroed at full size (`nbytes`) and a page takes memory when it is first written."""
    return int(buffer.nbytes * min(rows, buffer.capacity) // buffer.capacity)


def check_replay_memory(
    agent: Any, rows: int, limit: int | None, available: int | None
) -> str | None:
    """Refuse (ConfigError) a run whose replay buffer (`agent.replay`, or DAgger's aggregated
    `agent.dataset`: anything with `nbytes` and a `capacity` in rows, one row a step) would
    outgrow `limit`, the memory the machine has, by its last step: it would be killed part-way.
    Return a warning line where the memory it still has to fill is more than is free now
    (`available`), else None."""
    what = "replay" if getattr(agent, "replay", None) is not None else "dataset"
    buffer: Any = getattr(agent, what, None)
    if not hasattr(buffer, "capacity") or not hasattr(buffer, "nbytes"):
        return None
    full_at = min(rows, buffer.capacity)
    need = replay_memory(buffer, rows)
    row = buffer.nbytes / buffer.capacity
    if limit is not None and need > limit:
        name = next(
            (f for f in ("buffer_size", "dataset_capacity") if hasattr(agent.config, f)),
            "capacity",
        )
        raise ConfigError(
            f"{name}={buffer.capacity:,} fills {human_bytes(need)} of memory by step {full_at:,} "
            f"({row:,.0f} bytes a row), more than this machine's {human_bytes(limit)}; valid: "
            f"{name} below {int(limit // row):,}, or fewer steps"
        )
    more = need - replay_memory(buffer, len(buffer))
    if available is not None and more > available:
        return (
            f"warning: the {what} will fill {human_bytes(more)} more by step {full_at:,}, more "
            f"than the {human_bytes(available)} free now; the run may be killed if other "
            "processes do not give memory back"
        )
    return None


@dataclass
class _Schedule:
    """Next environment step at which `tick` logs a row, evaluates and checkpoints."""

    log: int
    eval: int | None
    """None when periodic evaluation is off (``eval_every=0``)."""
    checkpoint: int
    checkpoint_every: int

    def after(self, start: int, run: RunConfig) -> _Schedule:
        """This (saved) schedule continued from step `start`: entries already passed move to
        their next multiple (a finished run resumed with a larger target)."""
        log = self.log if self.log > start else _next_multiple(self.log, start, run.log_every)
        eval_ = self.eval
        if eval_ is not None and eval_ <= start:
            eval_ = _next_multiple(eval_, start, run.eval_every)
        every = self.checkpoint_every
        checkpoint = self.checkpoint
        if checkpoint <= start:
            checkpoint = _next_multiple(checkpoint, start, every)
        return _Schedule(log, eval_, checkpoint, every)


def _to_float(value: Any) -> float:
    """A metric as a Python float (tensors through `.item()`), as metrics rows write it."""
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def _next_multiple(due: int, now: int, every: int) -> int:
    """The first `due + k * every` (k >= 1) that lies after `now`."""
    return due + every * (1 + (now - due) // every)
