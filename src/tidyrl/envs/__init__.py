"""Environments: the factory that owns episode semantics, and tidyrl's own environments."""

from gymnasium.envs.registration import register, registry

from tidyrl.envs.make import Step, VecEnv, make_env, require_space, space_to_dict
from tidyrl.envs.variants import VARIANTS

if "tidyrl/GridWorld-v0" not in registry:
    register(
        id="tidyrl/GridWorld-v0",
        entry_point="tidyrl.envs.gridworld:GridWorldEnv",
        max_episode_steps=100,
    )

for _id, (_cls, _kwargs, _limit) in VARIANTS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point=f"tidyrl.envs.variants:{_cls}",
            kwargs=_kwargs,
            max_episode_steps=_limit,
        )

__all__ = ["Step", "VecEnv", "make_env", "require_space", "space_to_dict"]
