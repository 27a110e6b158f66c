"""The public Python API: make, load, evaluate (learn/predict/save are Agent methods)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidyrl import registry, runtime
from tidyrl.config import EnvConfig, RunConfig, build
from tidyrl.errors import ConfigError, unknown

if TYPE_CHECKING:
    from tidyrl.agent import Agent


NO_PRESET = "none"
"""The --preset value that keeps an algorithm's defaults on an env with a per-env preset."""


def choose_preset(algo: str, preset: str | None, env_id: str | None) -> str | None:
    """The preset a run uses: `preset` when one is named (`none`: the defaults), else the one the
    algorithm's `ENV_PRESETS` lists for `env_id` (RL-Zoo-style per-env settings), else None."""
    if preset is not None:
        return None if preset == NO_PRESET else preset
    if env_id is None:
        return None
    cls, _ = registry.lookup(algo)
    return cls.ENV_PRESETS.get(env_id)


class TransferNote(UserWarning):
    """Something `init_from` accepted but the user should know (e.g. other Box bounds)."""


def resolve_config(
    algo: str,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    env_id: str | None = None,
) -> tuple[type[Agent], Any, RunConfig, dict[str, Any]]:
    """Defaults -> preset -> overrides, split between the algorithm config, the run config and
    the env config. Returns (Agent class, algorithm config, run config, env overrides). With
    `env_id` and no preset named, the algorithm's per-env preset applies (`choose_preset`)."""
    cls, fixed = registry.lookup(algo)
    overrides = dict(overrides or {})
    presets = getattr(cls, "PRESETS", {})
    values: dict[str, Any] = {}
    preset = choose_preset(algo, preset, env_id)
    if preset is not None:
        if preset not in presets:
            raise ConfigError(unknown(f"preset for {algo}", preset, [*presets, NO_PRESET]))
        values.update(presets[preset])
    values.update(overrides)
    algo_fields = {f.name for f in dataclasses.fields(cls.Config)}
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    env_fields = {"max_episode_steps", "env_kwargs"}
    algo_values, run_values, env_values = {}, {}, {}
    plugin_fields, plugin_values = reward_plugin_values(values, fixed, algo_fields | run_fields)
    for key, value in values.items():
        if key in fixed and key in overrides and str(overrides[key]) != str(fixed[key]):
            raise ConfigError(
                f"{algo} fixes {key}={fixed[key]!r}; use the matching algorithm id instead"
            )
        if key in algo_fields:
            algo_values[key] = value
        elif key in run_fields:
            run_values[key] = value
        elif key in env_fields:
            env_values[key] = value
        else:
            raise ConfigError(
                unknown(
                    f"config key for {algo}",
                    key,
                    algo_fields | run_fields | env_fields | plugin_fields,
                )
            )
    algo_values.update(fixed)
    if plugin_values:
        explicit = algo_values.get("reward_kwargs", {})
        explicit = json.loads(explicit) if isinstance(explicit, str) else dict(explicit)
        algo_values["reward_kwargs"] = {**explicit, **plugin_values}
    config = build(cls.Config, algo_values)
    run = build(RunConfig, run_values)
    return cls, config, run, env_values


def reward_plugin_values(
    values: dict[str, Any], fixed: dict[str, Any], taken: set[str]
) -> tuple[set[str], dict[str, Any]]:
    """The field names of the reward plug-in the values (or the id's fixed values) select, and
    the values given for them by name (``--set reward=gail demos=FILE``), removed from `values`
    to go into ``reward_kwargs``. Names in `taken` (the learner's and the run's) stay theirs."""
    reward = fixed.get("reward", values.get("reward"))
    if reward is None:
        return set(), {}
    from tidyrl.rewards import plugin_fields

    names = plugin_fields(str(reward)) - taken
    return names, {key: values.pop(key) for key in list(values) if key in names}


def env_config(env_id: str, env_values: dict[str, Any]) -> EnvConfig:
    """The EnvConfig for `env_id` with the `env_kwargs` / `max_episode_steps` overrides."""
    cfg: EnvConfig = build(
        EnvConfig,
        {
            "id": env_id,
            "kwargs": env_values.get("env_kwargs", {}),
            "max_episode_steps": env_values.get("max_episode_steps"),
        },
    )
    return cfg


def make(
    algo: str,
    env: str | EnvConfig,
    *,
    seed: int = 0,
    preset: str | None = None,
    run_dir: str | Path | None = None,
    **overrides: Any,
) -> Any:
    """Build an agent: `tidyrl.make("q-learning", "FrozenLake-v1", seed=0, alpha=0.1)`.

    Keyword arguments may name fields of the algorithm's config, of `RunConfig` (log_every,
    eval_every, progress, init_from, freeze, ...), or `max_episode_steps` / `env_kwargs` for the
    environment. Without `preset`, an env the algorithm keeps settings for gets them (its
    `ENV_PRESETS`, e.g. DQN on LunarLander-v3: RL-Zoo's); ``preset="none"`` keeps the defaults.
    With ``init_from=RUN_DIR`` the agent starts from that run's networks (`tidyrl.transfer`); a
    difference the load tolerates (Box bounds) is a `TransferNote` warning.
    """
    overrides["seed"] = seed
    if run_dir is not None:
        overrides["run_dir"] = str(run_dir)
    env_id = env if isinstance(env, str) else env.id
    cls, config, run, env_values = resolve_config(algo, preset, overrides, env_id)
    if isinstance(env, str):
        env = env_config(env, env_values)
    runtime.configure_for(cls, run)
    agent = cls(env, config, run, algo=algo)
    if run.init_from is not None or run.freeze != "none":
        from tidyrl.transfer import init_from, prepare

        try:
            notes = init_from(agent, run.init_from) if run.init_from is not None else []
            prepare(agent)
        except Exception:
            agent.close()
            raise
        for note in notes:
            warnings.warn(note, TransferNote, stacklevel=2)
    if run.run_dir is not None:
        from tidyrl.checkpoint import write_config

        write_config(agent, run.run_dir)
    return agent


def load(
    path: str | Path,
    env: str | EnvConfig | None = None,
    *,
    resume: bool = False,
    **run_overrides: Any,
) -> Any:
    """Load an agent saved with `agent.save(path)` or a run directory written by training.
    With `resume`, a run directory's run state as well (envs, replay, logger, schedule), so
    that `learn` continues the run exactly (docs/resume.md)."""
    from tidyrl.checkpoint import load as _load

    agent = _load(path, env=env, resume=resume, **run_overrides)
    runtime.configure_for(type(agent), agent.run)
    return agent


def evaluate(
    agent: Agent,
    episodes: int = 10,
    seed: int | None = None,
    deterministic: bool = True,
    video: str | Path | None = None,
) -> dict[str, Any]:
    """Mean/std return and mean length over `episodes` episodes on a fresh env."""
    return agent.evaluate(episodes=episodes, seed=seed, deterministic=deterministic, video=video)
