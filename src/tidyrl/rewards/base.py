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

A plug-in that *adds* a bonus (`replaces_env_reward = False`: curiosity, counts, RND, ICM) also
has

    observe(batch, n_envs) -> None                 new experience, each transition exactly once,
                                                   rows time-major [T, n_envs] (visit counts,
                                                   running statistics)

and an `intrinsic_coef` beta in its config: the learner learns from r + beta * C, C = `reward`.
An on-policy learner hands each fresh rollout to `observe`, then `update`, then `reward`
(`tidyrl.loops.on_policy.relabel_rollout`), or, for a plug-in that `trains_on_minibatches`
(RND, ICM), to `observe`, then `reward`, then `update` on each of its own minibatches in every
epoch; an off-policy learner hands each env step to
`observe` as it is collected and each sampled replay minibatch to `update` and `reward` when it
computes its targets (e.g. DQN's y = r + beta C + gamma max_a' Q'(s', a')): `observe_step` and
`bonus_rewards` below are those two seams, one line each in DQN, DDPG, TD3 and SAC.

Dict observations (MiniGrid's {image, direction}) reach a plug-in through one seam, `DictView`:
the batch carries them raw and flat (each key flattened, keys concatenated in sorted order), and
`obs_batch` hands the plug-in their *encoded* flat view, which is also the plug-in's
`observation_space` (a float32 Box), so its networks and statistics are built as for a vector:

    uint8 image key      flattened, scaled to [0, 1] by its bound (as `obs_batch` scales frames)
    Discrete key         one-hot over its n values (`start` subtracted); MultiDiscrete: one
                         one-hot per sub-value, concatenated
    categorical key      an integer Box named in the plug-in's `categorical_keys` (RND):
                         one one-hot per element over [low, high], as a MultiDiscrete
    other Box, MultiBinary  flattened as floats

This is gymnasium's `spaces.flatten` layout (one-hot for Discrete) with images scaled. One-hot,
not the raw index: an index would impose an order on unordered values (direction 3 is not
"more" than 1) on RND's and ICM's networks. RND whitens every column of the view by its running
statistics, so the keys' scales do not matter to it; ICM's encoder learns its own features of
the view. MiniGrid's image is a grid of such indices (object, colour, state) in a uint8 Box, so
it is scaled like a frame unless a plug-in names the key in `categorical_keys`; then every value
of every cell is a column of its own (a key, object 5, is not "more" than a door, object 4).
SimHash counts (`tidyrl.rewards.count`) are the one consumer for which scale matters
(the sign of A g follows the largest key), so the count plug-in counts Discrete keys exactly and
hashes each continuous key at unit norm (`DictView.parts` tells them apart). GAIL reads the
learner's pairs and the demonstrated ones (stored per key, `tidyrl.data.demos`) through the
same view.

A plug-in is configured by a frozen dataclass (`Config`), built from the learner's
``reward_kwargs`` with the usual one-line errors. Subclasses are one level deep (like agents) and
are registered by name in `tidyrl.rewards.PLUGINS`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from tidyrl.data.batch import Experience, flat_observation_tensor
from tidyrl.errors import ConfigError

DICT_KEY_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete)
"""The spaces a Dict observation's keys may have for a reward plug-in (MultiBinary is a Box
here: gymnasium's MultiBinary is not, so it is listed in `DictView.supported`)."""


class DictPart:
    """One key of a Dict observation in the raw flat batch and in the encoded view."""

    def __init__(
        self, key: str, space: gym.Space[Any], raw: int, enc: int, categorical: bool = False
    ) -> None:
        self.key = key
        self.discrete = categorical or isinstance(
            space, gym.spaces.Discrete | gym.spaces.MultiDiscrete
        )
        """True: one-hot in the view (counted exactly); False: floats (hashed)."""
        if isinstance(space, gym.spaces.Discrete):
            nvec, start = np.array([int(space.n)]), np.array([int(space.start)])
        elif isinstance(space, gym.spaces.MultiDiscrete):
            nvec, start = space.nvec.reshape(-1), space.start.reshape(-1)
        elif categorical:  # an integer Box of indices: one one-hot per element over [low, high]
            assert isinstance(space, gym.spaces.Box)
            start = space.low.reshape(-1).astype(np.int64)
            nvec = space.high.reshape(-1).astype(np.int64) - start + 1
        else:
            nvec = start = np.zeros(0, dtype=np.int64)
        self.nvec = torch.as_tensor(nvec, dtype=torch.long)
        """Values of each one-hot sub-value (Discrete: [n])."""
        self.start = torch.as_tensor(start, dtype=torch.long)
        width = int(np.prod(space.shape or (1,)))
        self.raw = slice(raw, raw + width)
        """Columns of this key in the raw flat batch."""
        self.scale = 1.0
        """Divisor of a uint8 Box (its largest bound), else 1."""
        if isinstance(space, gym.spaces.Box) and space.dtype == np.uint8:
            self.scale = float(np.max(space.high))
        if self.discrete:
            low, high = np.zeros(int(nvec.sum())), np.ones(int(nvec.sum()))
        elif isinstance(space, gym.spaces.Box):
            low, high = space.low.reshape(-1) / self.scale, space.high.reshape(-1) / self.scale
        else:  # MultiBinary
            low, high = np.zeros(width), np.ones(width)
        self.low, self.high = low.astype(np.float32), high.astype(np.float32)
        self.enc = slice(enc, enc + len(low))
        """Columns of this key in the encoded view."""

    def encode(self, raw: torch.Tensor) -> torch.Tensor:
        """This key's columns of a raw flat batch [B, D_raw] -> its encoded columns [B, d]."""
        x = raw[:, self.raw]
        if not self.discrete:
            return x / self.scale if self.scale != 1.0 else x
        index = x.long() - self.start
        hot = [F.one_hot(index[:, i], int(n)) for i, n in enumerate(self.nvec.tolist())]
        return torch.cat(hot, dim=1).float()


class DictView:
    """The encoded flat view of a Dict observation space (module docstring): keys in sorted
    order, each a `DictPart`; `space` is the view's float32 Box."""

    def __init__(self, space: gym.spaces.Dict, categorical: tuple[str, ...] = ()) -> None:
        self.parts: list[DictPart] = []
        raw = enc = 0
        for key in sorted(space.spaces):
            part = DictPart(key, space.spaces[key], raw, enc, key in categorical)
            self.parts.append(part)
            raw, enc = part.raw.stop, part.enc.stop
        self.raw_width = raw
        low = np.concatenate([p.low for p in self.parts])
        high = np.concatenate([p.high for p in self.parts])
        self.space = gym.spaces.Box(low, high, dtype=np.float32)

    @staticmethod
    def unsupported(space: gym.spaces.Dict) -> list[str]:
        """The keys whose spaces the view cannot encode (nested spaces, text, graphs)."""
        ok = (*DICT_KEY_SPACES, gym.spaces.MultiBinary)
        return [k for k, s in space.spaces.items() if not isinstance(s, ok)]

    @staticmethod
    def categorical_candidates(space: gym.spaces.Dict) -> list[str]:
        """The keys that may be encoded as indices (`categorical_keys`): integer Boxes."""
        return sorted(
            k
            for k, s in space.spaces.items()
            if isinstance(s, gym.spaces.Box) and np.issubdtype(s.dtype, np.integer)
        )

    def encode(self, obs: Any) -> torch.Tensor:
        """A raw flat batch [B, D_raw] (or a dict of tensors per key) -> the view [B, D]."""
        raw = flat_observation_tensor(obs)
        return torch.cat([part.encode(raw) for part in self.parts], dim=1)


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
    trains_on_minibatches: ClassVar[bool] = False
    """True: an on-policy learner scores each rollout with the plug-in that collected it, then
    trains the plug-in on the rollout's minibatches in each of its epochs (`score_then_train`),
    as RND and ICM train their predictors beside the policy's loss; False: one `update` on the
    whole rollout, then the updated plug-in scores it (`learn_and_score`: GAIL's discriminator,
    seed 000's model, counts)."""

    def __init__(
        self,
        config: Any,
        observation_space: gym.Space[Any],
        action_space: gym.Space[Any],
        env_id: str = "",
        rng: np.random.Generator | None = None,
        n_envs: int = 1,
    ) -> None:
        self.config = config
        categorical = tuple(getattr(config, "categorical_keys", ()))
        valid = (
            DictView.categorical_candidates(observation_space)
            if isinstance(observation_space, gym.spaces.Dict)
            else []
        )
        if bad := [k for k in categorical if k not in valid]:
            raise ConfigError(
                f"reward={self.name} categorical_keys {', '.join(bad)} are not integer Box keys "
                f"of a Dict observation ({observation_space}); valid: {', '.join(valid) or 'none'}"
            )
        self.view = (
            DictView(observation_space, categorical)
            if isinstance(observation_space, gym.spaces.Dict)
            else None
        )
        """The encoded flat view of Dict observations (None: a flat space)."""
        self.observation_space = observation_space if self.view is None else self.view.space
        """The space of what `obs_batch` returns: the env's, or the view's Box for a Dict."""
        self.env_observation_space = observation_space
        """The env's own observation space (a Dict stays a Dict here)."""
        self.action_space = action_space
        self.env_id = env_id
        self.rng = rng if rng is not None else np.random.default_rng(0)
        """The learner's NumPy generator (saved in its checkpoints) for the plug-in's draws."""
        self.n_envs = n_envs
        """The learner's parallel envs (the width of the rows `observe` receives)."""

    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        """Per-transition rewards [B] for `batch` (called under no_grad)."""
        raise NotImplementedError

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """Learn from `batch` (the learner's latest experience); return metrics as tensors."""
        raise NotImplementedError

    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        """Take in freshly collected experience, rows time-major [T, n_envs] (default: nothing)."""

    def state_objects(self) -> dict[str, Any]:
        """Modules, optimizers and tensors that make up the plug-in's learnable state."""
        return {}

    @property
    def intrinsic_coef(self) -> float:
        """beta of r + beta * C for a bonus (its config's `intrinsic_coef`); 1 otherwise."""
        return float(getattr(self.config, "intrinsic_coef", 1.0))

    def obs_batch(self, obs: Any) -> torch.Tensor:
        """Observations from an Experience ([B, D] flat) or a replay batch ([B, *shape]) as float
        [B, *shape] in the space's shape; uint8 images scaled to [0, 1] by their bound (255 for
        Atari frames, 1 for MinAtar's 0/1 layers). Dict observations (flat, or a replay's dict
        of tensors) come back as their encoded view [B, D] (`DictView`)."""
        if self.view is not None:
            return self.view.encode(obs)
        space = self.observation_space
        x: torch.Tensor = obs.reshape(len(obs), *(space.shape or ())).float()
        if space.dtype == np.uint8 and isinstance(space, gym.spaces.Box):
            x = x / float(np.max(space.high))
        return x


def frame_channels(observation_space: gym.Space[Any], env_id: str = "") -> int:
    """Channels of the newest frame of a (C, H, W) observation: 1 for a frame stack of grayscale
    frames (Atari), all C for a single multi-channel frame (MinAtar's object layers)."""
    shape = tuple(observation_space.shape or ())
    if len(shape) != 3:
        return 0
    return shape[0] if env_id.startswith("MinAtar/") else 1


def learn_and_score(
    plugin: RewardPlugin, batch: ExperienceLike
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`plugin.update(batch)`, then the updated plug-in's rewards C [B] for `batch`; returns
    (C, metrics), the metrics with the mean plug-in reward as ``<name>_reward``.

    Plug-ins keep their networks on the CPU: a minibatch sampled on another device (a learner
    with device=cuda) is scored on a CPU copy and C comes back on the batch's device."""
    first = next(iter(batch.obs.values())) if isinstance(batch.obs, dict) else batch.obs
    device = first.device if isinstance(first, torch.Tensor) else torch.device("cpu")
    if device.type != "cpu":
        batch = batch.to("cpu")  # type: ignore[attr-defined]
    metrics = dict(plugin.update(batch))
    with torch.no_grad():
        rewards = plugin.reward(batch).float()
    metrics[f"{plugin.name}_reward"] = rewards.mean()
    return rewards.to(device), {name: value.to(device) for name, value in metrics.items()}


def score_then_train(
    plugin: RewardPlugin, batch: Experience, epochs: int, minibatch_size: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The rewards C [B] of `batch` from the plug-in as it stood while the batch was collected,
    then `epochs` passes of `plugin.update` over shuffled minibatches of `minibatch_size` rows
    (the learner's own epochs and minibatches); returns (C, the last update's metrics with the
    mean reward as ``<name>_reward``). The order is the RND paper's (section 2.4): a state
    novel when it was visited is paid as novel, whatever this rollout's training then learns."""
    with torch.no_grad():
        rewards = plugin.reward(batch).float()
    metrics: dict[str, torch.Tensor] = {}
    for _ in range(epochs):
        order = torch.as_tensor(plugin.rng.permutation(len(batch)))
        for start in range(0, len(batch), minibatch_size):
            metrics = dict(plugin.update(batch.rows(order[start : start + minibatch_size])))
    metrics[f"{plugin.name}_reward"] = rewards.mean()
    return rewards, metrics


class StepLike(Protocol):
    """What `observe_step` reads from a vector-env step (`tidyrl.envs.make.Step`)."""

    @property
    def next_obs(self) -> Any: ...
    @property
    def terminated(self) -> np.ndarray: ...
    @property
    def truncated(self) -> np.ndarray: ...


def observe_step(
    plugin: RewardPlugin | None, obs: Any, actions: np.ndarray, step: StepLike
) -> None:
    """Hand one vector-env step (one row per env copy, in the scale of the actions the learner
    stores) to `plugin.observe`, each new transition exactly once; nothing without a plug-in."""
    if plugin is not None:
        batch = Experience.of_step(obs, actions, step.next_obs, step.terminated, step.truncated)
        plugin.observe(batch, len(batch))


def bonus_rewards(
    plugin: RewardPlugin | None, batch: Any
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The rewards an off-policy target learns from on a sampled minibatch: r + beta C after the
    plug-in learned from the batch and scored it (`learn_and_score`), with its metrics and the
    mean env reward as ``extrinsic_reward``; without a plug-in, `batch.rewards` itself and no
    metrics. C carries no gradient, so no critic loss reaches the plug-in's networks."""
    if plugin is None:
        return batch.rewards, {}
    bonus, metrics = learn_and_score(plugin, batch)
    metrics["extrinsic_reward"] = batch.rewards.mean()
    return batch.rewards + plugin.intrinsic_coef * bonus, metrics
