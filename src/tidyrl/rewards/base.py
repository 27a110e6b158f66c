"""The reward plug-in protocol (DESIGN.md section 5: learned rewards are plug-ins, not wrappers).

A reward plug-in turns experience into per-transition rewards and learns from experience:

    reward(batch: Experience) -> Tensor [B]        one reward per transition, no gradient needed
    update(batch: Experience) -> dict[str, Tensor] one round of the plug-in's own learning,
                                                   its metrics as tensors (no .item(), no I/O)

`batch` is a `tidyrl.data.batch.Experience` (or any batch with the same fields, such as a replay
`Transition`): raw flattened observations, the actions the environment received, the true
successor observations and the `terminated` / `truncated` flags, kept apart. An Experience has no
reward field on purpose: a plug-in that *replaces* the environment's reward (adversarial
imitation) cannot read it, and one that *adds* to it (curiosity) leaves the adding to the learner.

The plug-in's learnable state (networks, optimizers, running statistics) is returned by
`state_objects()`; `tidyrl.rewards.attach` registers each object with the agent under the name
``reward_<key>``, so checkpoints save, load and resume it like the agent's own networks. State
that is not a tensor (e.g. a visitation count table as a dict) belongs in a NumPy array or tensor
so that it travels the same way.

A plug-in is configured by a frozen dataclass (`Config`), built from the learner's
``reward_kwargs`` with the usual one-line errors. Subclasses are one level deep (like agents) and
are registered by name in `tidyrl.rewards.PLUGINS`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np
import torch


class ExperienceLike(Protocol):
    """What a plug-in reads from a batch: `Experience` and `Transition` both qualify."""

    @property
    def obs(self) -> torch.Tensor: ...
    @property
    def actions(self) -> torch.Tensor: ...
    @property
    def next_obs(self) -> torch.Tensor: ...
    @property
    def terminated(self) -> torch.Tensor: ...
    @property
    def truncated(self) -> torch.Tensor: ...


class RewardPlugin:
    """Base of every reward plug-in: the protocol above and the spaces it was built for."""

    Config: ClassVar[type]
    """The plug-in's frozen config dataclass."""
    name: ClassVar[str] = ""
    """Registry name (`reward=NAME`); also the prefix of the mean-reward metric."""
    replaces_env_reward: ClassVar[bool] = True
    """True when the learner optimizes the plug-in's reward instead of the env's (imitation);
    False when it adds to it (curiosity bonuses)."""

    def __init__(
        self,
        config: Any,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
        env_id: str = "",
        rng: np.random.Generator | None = None,
    ) -> None:
        self.config = config
        self.observation_space = observation_space
        self.action_space = action_space
        self.env_id = env_id
        self.rng = rng if rng is not None else np.random.default_rng(0)
        """The learner's NumPy generator (saved in its checkpoints) for the plug-in's draws."""

    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        """Per-transition rewards [B] for `batch` (called under no_grad)."""
        raise NotImplementedError

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """Learn from `batch` (the learner's latest experience); return metrics as tensors."""
        raise NotImplementedError

    def state_objects(self) -> dict[str, Any]:
        """Modules, optimizers and tensors that make up the plug-in's learnable state."""
        return {}
