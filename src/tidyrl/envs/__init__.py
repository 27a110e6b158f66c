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

for _name, _expose in (("MaskedChoice-v0", True), ("MaskedChoiceUnmasked-v0", False)):
    if f"tidyrl/{_name}" not in registry:
        register(
            id=f"tidyrl/{_name}",
            entry_point="tidyrl.envs.masked:MaskedChoiceEnv",
            max_episode_steps=20,
            kwargs={"expose_mask": _expose},
        )

if "tidyrl/Chain-v0" not in registry:
    register(id="tidyrl/Chain-v0", entry_point="tidyrl.envs.chain:ChainEnv", max_episode_steps=20)

if "tidyrl/Maze-v0" not in registry:
    register(id="tidyrl/Maze-v0", entry_point="tidyrl.envs.maze:MazeEnv", max_episode_steps=1000)

if "tidyrl/DemoStart-v0" not in registry:  # Go-Explore's phase 2 (the backward algorithm)
    register(id="tidyrl/DemoStart-v0", entry_point="tidyrl.envs.demo_start:DemoStartEnv")

if "tidyrl/CartPoleNoVel-v1" not in registry:
    register(
        id="tidyrl/CartPoleNoVel-v1",
        entry_point="tidyrl.envs.pomdp:CartPoleNoVelEnv",
        max_episode_steps=500,
        reward_threshold=475.0,
    )

if "tidyrl/TMaze-v0" not in registry:  # episodes end after length + 1 steps
    register(id="tidyrl/TMaze-v0", entry_point="tidyrl.envs.pomdp:TMazeEnv", kwargs={"length": 10})

if "tidyrl/MiniPacman-v0" not in registry:
    register(
        id="tidyrl/MiniPacman-v0",
        entry_point="tidyrl.envs.minipacman:MiniPacmanEnv",
        max_episode_steps=1000,
        kwargs={"mode": "regular"},
    )

if "tidyrl/BitFlip-v0" not in registry:  # hindsight replay's test bed; n steps, then truncated
    register(id="tidyrl/BitFlip-v0", entry_point="tidyrl.envs.bitflip:BitFlipEnv")


for _id, (_cls, _kwargs, _limit) in VARIANTS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point=f"tidyrl.envs.variants:{_cls}",
            kwargs=_kwargs,
            max_episode_steps=_limit,
        )


MUJOCO_ENVS = tuple(
    f"{name}-v5"
    for name in (
        "Ant",
        "HalfCheetah",
        "Hopper",
        "Humanoid",
        "HumanoidStandup",
        "InvertedDoublePendulum",
        "InvertedPendulum",
        "Pusher",
        "Reacher",
        "Swimmer",
        "Walker2d",
    )
)
"""Gymnasium's MuJoCo locomotion and control tasks, for the algorithms' per-env presets."""

__all__ = ["MUJOCO_ENVS", "Step", "VecEnv", "make_env", "require_space", "space_to_dict"]
