"""Reward plug-ins: learned rewards that a learner accepts through its `reward` config field.

DESIGN.md section 5: intrinsic and adversarial rewards (GAIL; later curiosity, ICM, RND, counts)
are plug-ins with ``reward(batch)`` and ``update(batch)`` (`tidyrl.rewards.base.RewardPlugin`),
not wrapper algorithms. A learner that accepts them has two config fields,

    reward: str              "env" (the environment's reward) or a plug-in name in `PLUGINS`
    reward_kwargs: dict      the plug-in's config fields (its own frozen dataclass)

calls `check_reward(self)` in its config's `__post_init__` (so a bad plug-in setting is a
one-line ConfigError at construction), `attach(self)` in its `__init__` (which builds the plug-in
and registers its state for checkpoints), and hands each batch to the plug-in before computing
its targets (`tidyrl.loops.on_policy.relabel_rollout` for the on-policy learners). `tidyrl.make`
and ``--set`` accept a plug-in's fields by their own names (``--set reward=gail demos=FILE``):
`tidyrl.api.resolve_config` routes them into `reward_kwargs`.

To add a plug-in: write ``rewards/<name>.py`` with a `RewardPlugin` subclass and its Config, and
add one line to `PLUGINS`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

from tidyrl.config import build
from tidyrl.errors import ConfigError, unknown

if TYPE_CHECKING:  # the base imports torch; the CLI's config resolution stays light
    from tidyrl.rewards.base import RewardPlugin

ENV_REWARD = "env"
"""The `reward` value that keeps the environment's own reward."""
PLUGINS: dict[str, tuple[str, str]] = {
    "gail": ("tidyrl.rewards.gail", "GAIL"),
    "curiosity": ("tidyrl.rewards.curiosity", "Curiosity"),
    "count": ("tidyrl.rewards.count", "Count"),
    "rnd": ("tidyrl.rewards.rnd", "RND"),
    "icm": ("tidyrl.rewards.icm", "ICM"),
}
"""Plug-in name -> (module, class), imported on first use."""
REWARDS = (ENV_REWARD, *PLUGINS)
"""The values a learner's `reward` field accepts."""

__all__ = [
    "ENV_REWARD",
    "PLUGINS",
    "REWARDS",
    "attach",
    "bonus_plugins",
    "check_reward",
    "plugin_class",
]


def plugin_class(name: str) -> type[RewardPlugin]:
    """The plug-in class registered as `name` (ConfigError naming the choices otherwise)."""
    if name not in PLUGINS:
        raise ConfigError(unknown("reward", name, REWARDS))
    module, cls = PLUGINS[name]
    plugin: type[RewardPlugin] = getattr(importlib.import_module(module), cls)
    return plugin


def plugin_fields(name: str) -> set[str]:
    """Config field names of plug-in `name` (empty for the env reward or an unknown name)."""
    if name not in PLUGINS:
        return set()
    return {f.name for f in dataclasses.fields(plugin_class(name).Config)}


def plugin_config(config: Any) -> Any:
    """The plug-in's config built from `config.reward_kwargs` (None for the env reward)."""
    if config.reward == ENV_REWARD:
        if config.reward_kwargs:
            raise ConfigError(
                f"{type(config).__name__}.reward_kwargs={config.reward_kwargs} set, but "
                f"reward={ENV_REWARD}; choose a reward plug-in: {', '.join(PLUGINS)}"
            )
        return None
    return build(plugin_class(config.reward).Config, config.reward_kwargs)


def bonus_plugins() -> tuple[str, ...]:
    """The plug-ins that add a bonus to the env's reward (``replaces_env_reward`` False)."""
    return tuple(n for n in PLUGINS if not plugin_class(n).replaces_env_reward)


def check_reward(config: Any, bonus_only: bool = False) -> None:
    """Validate a learner config's `reward` and `reward_kwargs` (one-line ConfigErrors); with
    `bonus_only` (a learner that adds plug-in rewards to the env's), only bonus plug-ins."""
    valid = (ENV_REWARD, *bonus_plugins()) if bonus_only else REWARDS
    if config.reward not in valid:
        raise ConfigError(
            f"{type(config).__name__}.reward: " + unknown("value", config.reward, valid)
        )
    plugin_config(config)


def attach(agent: Any, action_space: Any = None, on_policy: bool = False) -> RewardPlugin | None:
    """Build the plug-in `agent.config.reward` names for the agent's spaces (None for the env
    reward) and register its state with the agent as ``reward_<key>`` attributes. `on_policy`:
    the learner scores each rollout right after observing it (what an episodic count needs).

    `action_space` is the space of the actions the plug-in will see, when the learner stores
    them in another scale than the env's: DDPG, TD3 and SAC store the policy's [-1, 1] actions
    in their replay and pass a [-1, 1] Box of the same shape (None: the agent's own space)."""
    import gymnasium as gym  # here: the CLI's config resolution stays light

    config = plugin_config(agent.config)
    if config is None:
        return None
    cls = plugin_class(agent.config.reward)
    for field, off in (("episodic", False), ("episodic_gate", "none")):
        value = getattr(config, field, off)
        if value != off and not on_policy:  # a score fixed as the rollout is collected
            raise ConfigError(
                f"{agent.algo}: reward={agent.config.reward} {field}={str(value).lower()} needs "
                "an on-policy learner (ppo, trpo), which scores each rollout as it is "
                f"collected; set {field}={str(off).lower()}"
            )
    space = agent.observation_space
    if isinstance(space, gym.spaces.Dict):  # scored through its flat view (rewards.base.DictView)
        from tidyrl.rewards.base import DictView

        if bad := DictView.unsupported(space):
            raise ConfigError(
                f"{agent.algo}: reward={agent.config.reward} cannot encode Dict key(s) "
                f"{', '.join(bad)} of {space}; valid key spaces: Box, Discrete, MultiDiscrete, "
                "MultiBinary"
            )
    plugin = cls(
        config,
        agent.observation_space,
        agent.action_space if action_space is None else action_space,
        agent.env_cfg.id,
        agent.rng,
        getattr(agent.config, "n_envs", 1),
    )
    for key, obj in plugin.state_objects().items():
        setattr(agent, f"reward_{key}", obj)
        agent.register_state(f"reward_{key}")
    return plugin
