"""Demonstrations: expert episodes collected, stored, checked against an env and served in batches.

A `Demos` holds whole episodes as flat per-step arrays, in the order they were played:

    obs[i], actions[i], rewards[i], terminated[i], truncated[i], episode_starts[i]    i < N steps
    last_obs[e]                                                                      e < E episodes

A Dict observation space (Tuple ones arrive as Dicts) gives `obs` and `last_obs` as one array per
key, in the space's own dtype (uint8 images stay uint8, Discrete parts int64), as the replay
buffers store them; on disk each key is an array of its own, ``obs.KEY`` and ``last_obs.KEY``.

Step i is (s_i, a_i, r_i); `episode_starts[i]` marks the first step of an episode and the last
step of every episode has `terminated` or `truncated` set. The observation *after* an episode's
last action is `last_obs[e]`. Termination and truncation stay apart as everywhere in tidyrl
(`tidyrl.envs.make`): an episode that ended in a terminal state and one that a time limit cut
are not the same demonstration, and inverse RL treats them differently.

On disk (`Demos.save`, `load_demos`), one safetensors file holds the arrays; its header carries
a JSON description under the key ``tidyrl_demos``: the format version, the env (id, kwargs,
time limit), the observation and action spaces (as checkpoints describe them), the number of
episodes and steps, where the actions came from, and a SHA-256 of the arrays, so truncation and
bit rot are caught on load with a one-line `ConfigError`. Nothing is pickled. With the optional
`minari` package (``pip install 'tidyrl[imitation]'``) the same episodes are written to and read
from Minari's standard dataset directory (`save_minari`, `load_minari`).

`collect` rolls a policy (any tidyrl agent, via `agent_policy`, or a Python callable) out through
`tidyrl.envs.make.VecEnv`, the one owner of episode semantics; `Demos.sample` draws uniform
minibatches of (observation, action) pairs for behaviour cloning.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from tidyrl.config import EnvConfig, build, to_dict
from tidyrl.envs.make import VecEnv, make_env, space_to_dict
from tidyrl.envs.spaces import Obs, rows, stack, take
from tidyrl.errors import ConfigError, EnvError

FORMAT = "tidyrl-demos/1"
META_KEY = "tidyrl_demos"
ARRAYS = ("obs", "actions", "rewards", "terminated", "truncated", "episode_starts", "last_obs")
"""The arrays of a demos file, in checksum order (a Dict observation's `obs` and `last_obs`: one
array per key, ``obs.KEY``, in the space's key order)."""
OBSERVATIONS = ("obs", "last_obs")
"""The fields that hold observations (one array per key for a Dict observation space)."""
FORMATS = ("safetensors", "minari")
"""Formats `Demos.save` and `load_demos` handle."""

Policy = Callable[[Any], np.ndarray]
"""Maps a batch of observations to a batch of env actions."""


@dataclass(frozen=True)
class DemoBatch:
    """A minibatch of demonstrated (observation, action) pairs as tensors."""

    obs: torch.Tensor | dict[str, torch.Tensor]
    """Observations, shape (B, *observation shape): uint8 where they are stored as uint8 (image
    frames, a quarter of float32's memory; the network scales them), else float32; a Dict
    observation's as one tensor per key (`observation_tensor`)."""
    actions: torch.Tensor
    """Env actions: int64 (B,) for Discrete, float32 (B, *action shape) for Box."""

    def __len__(self) -> int:
        return len(self.actions)


def observation_tensor(array: np.ndarray) -> torch.Tensor:
    """Stored observations as a tensor: uint8 stays uint8 (the network scales it), other
    integers (a Dict's Discrete parts) become int64 (its encoder one-hots them), the rest
    float32."""
    if array.dtype == np.uint8:
        return torch.as_tensor(array)
    if np.issubdtype(array.dtype, np.integer):
        return torch.as_tensor(array, dtype=torch.int64)
    return torch.as_tensor(array, dtype=torch.float32)


@dataclass
class Demos:
    """Whole demonstrated episodes (see the module docstring for the array layout)."""

    obs: Obs
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_starts: np.ndarray
    last_obs: Obs
    observation_space: dict[str, Any]
    """`tidyrl.envs.make.space_to_dict` of the env's observation space."""
    action_space: dict[str, Any]
    env: dict[str, Any]
    """The `EnvConfig` the episodes were played in, as a dict (id, kwargs, max_episode_steps)."""
    source: dict[str, Any] = field(default_factory=dict)
    """Where the actions came from (expert, deterministic or sampled, seed)."""
    _tensors: tuple[torch.Tensor | dict[str, torch.Tensor], torch.Tensor] | None = field(
        default=None, repr=False
    )

    def __post_init__(self) -> None:
        problem = self._structure_problem()
        if problem:
            raise ConfigError(f"inconsistent demonstrations: {problem}")

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        observation_space: dict[str, Any],
        action_space: dict[str, Any],
        env: dict[str, Any],
        source: dict[str, Any] | None = None,
    ) -> Demos:
        """Demonstrations from the arrays named in `ARRAYS` (a Dict observation's per key,
        ``obs.KEY``, in `observation_space`'s key order) and their description."""
        keys = list(observation_space.get("spaces", {})) if observation_space else []
        obs, last_obs = (
            {k: arrays[f"{name}.{k}"] for k in keys} if keys else arrays[name]
            for name in OBSERVATIONS
        )
        return cls(
            obs=obs,
            actions=arrays["actions"],
            rewards=arrays["rewards"],
            terminated=arrays["terminated"],
            truncated=arrays["truncated"],
            episode_starts=arrays["episode_starts"],
            last_obs=last_obs,
            observation_space=observation_space,
            action_space=action_space,
            env=env,
            source=source or {},
        )

    def _structure_problem(self) -> str:
        if isinstance(self.obs, dict) != isinstance(self.last_obs, dict):
            return "obs and last_obs are not both per-key arrays"
        for name in OBSERVATIONS:
            value = getattr(self, name)
            if isinstance(value, dict) and len({len(v) for v in value.values()}) > 1:
                return f"the keys of {name} have different numbers of rows"
        n = rows(self.obs)
        for name in ARRAYS[1:-1]:
            if len(getattr(self, name)) != n:
                return f"{name} has {len(getattr(self, name))} rows, obs has {n}"
        if n == 0:
            return "no steps"
        if not self.episode_starts[0]:
            return "the first step does not start an episode"
        ends = self.terminated | self.truncated
        last = np.append(self.episode_starts[1:], True)
        if not np.array_equal(ends, last):
            return "episodes must end (terminated or truncated) exactly at their last step"
        if rows(self.last_obs) != int(self.episode_starts.sum()):
            return f"{rows(self.last_obs)} final observations for {self.n_episodes} episodes"
        if _shapes(self.last_obs) != _shapes(self.obs):
            return "last_obs and obs have different shapes"
        return ""

    # -- shape of the data ----------------------------------------------------------------------
    def __len__(self) -> int:
        return rows(self.obs)

    @property
    def n_episodes(self) -> int:
        return int(self.episode_starts.sum())

    def episode_bounds(self) -> list[tuple[int, int]]:
        """(start, end) step indices of every episode, end exclusive."""
        starts = np.flatnonzero(self.episode_starts).tolist()
        return list(zip(starts, [*starts[1:], len(self)], strict=True))

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of every episode."""
        return np.array([float(self.rewards[a:b].sum()) for a, b in self.episode_bounds()])

    def first(self, episodes: int) -> Demos:
        """The first `episodes` episodes (all of them when `episodes` is 0 or more than E)."""
        if episodes <= 0 or episodes >= self.n_episodes:
            return self
        end = self.episode_bounds()[episodes][0]
        return Demos(
            obs=take(self.obs, slice(0, end)),
            actions=self.actions[:end],
            rewards=self.rewards[:end],
            terminated=self.terminated[:end],
            truncated=self.truncated[:end],
            episode_starts=self.episode_starts[:end],
            last_obs=take(self.last_obs, slice(0, episodes)),
            observation_space=self.observation_space,
            action_space=self.action_space,
            env=self.env,
            source={**self.source, "episodes_used": episodes},
        )

    # -- checking against an env ----------------------------------------------------------------
    def check_spaces(
        self, observation_space: gym.Space[Any], action_space: gym.Space[Any], env_id: str
    ) -> None:
        """Raise EnvError naming both spaces when the demonstrations do not fit this env."""
        for role, mine, space in (
            ("observation", self.observation_space, observation_space),
            ("action", self.action_space, action_space),
        ):
            if mine != space_to_dict(space):
                raise EnvError(
                    f"demonstrations recorded on '{self.env.get('id')}' have {role} space "
                    f"{describe_space(mine)}, but environment '{env_id}' has "
                    f"{describe_space(space_to_dict(space))}"
                )

    # -- batches --------------------------------------------------------------------------------
    def tensors(self) -> tuple[torch.Tensor | dict[str, torch.Tensor], torch.Tensor]:
        """All observations (`observation_tensor`: uint8 ones kept as uint8; per key for a Dict)
        and actions as tensors, built once."""
        if self._tensors is None:
            obs = (
                {k: observation_tensor(v) for k, v in self.obs.items()}
                if isinstance(self.obs, dict)
                else observation_tensor(self.obs)
            )
            discrete = self.action_space["type"] == "Discrete"
            actions = torch.as_tensor(
                self.actions, dtype=torch.int64 if discrete else torch.float32
            )
            self._tensors = (obs, actions)
        return self._tensors

    def sample(self, batch_size: int, rng: np.random.Generator) -> DemoBatch:
        """A uniform minibatch of (observation, action) pairs, drawn with replacement."""
        obs, actions = self.tensors()
        index = torch.from_numpy(rng.integers(0, len(self), size=batch_size))
        picked = {k: v[index] for k, v in obs.items()} if isinstance(obs, dict) else obs[index]
        return DemoBatch(picked, actions[index])

    # -- files ----------------------------------------------------------------------------------
    def description(self) -> dict[str, Any]:
        """The JSON description stored beside the arrays."""
        returns = self.episode_returns()
        return {
            "format": FORMAT,
            "env": self.env,
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "episodes": self.n_episodes,
            "steps": len(self),
            "mean_return": float(returns.mean()),
            "source": self.source,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name (`array_names`), in checksum order."""
        out: dict[str, np.ndarray] = {}
        for name in array_names(self.observation_space):
            field_name, _, key = name.partition(".")
            value = getattr(self, field_name)
            out[name] = np.ascontiguousarray(value[key] if key else value)
        return out

    def save(self, path: str | Path, format: str = "safetensors") -> Path:
        """Write the demonstrations to `path` (a file, or a Minari directory); return it."""
        if format not in FORMATS:
            raise ConfigError(f"unknown demos format '{format}'; valid: {', '.join(FORMATS)}")
        if format == "minari":
            return save_minari(self, path)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = self.arrays()
        meta = {**self.description(), "sha256": checksum(arrays, list(arrays))}
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        save_file(arrays, str(tmp), metadata={META_KEY: json.dumps(meta)})
        os.replace(tmp, path)
        return path


def describe_space(space: dict[str, Any]) -> str:
    if space["type"] == "Discrete":
        return f"Discrete({space['n']})"
    if space["type"] == "Box":
        return f"Box(shape={tuple(space['shape'])}, dtype={space['dtype']})"
    if space["type"] == "Dict":
        parts = ", ".join(f"{k}: {describe_space(v)}" for k, v in space["spaces"].items())
        return f"Dict({parts})"
    return str(space.get("repr", space["type"]))


def array_names(observation_space: dict[str, Any]) -> list[str]:
    """The arrays of demonstrations with this observation space (`space_to_dict`), in checksum
    order: `ARRAYS`, a Dict observation's `obs` and `last_obs` one per key (``obs.KEY``, in the
    space's key order)."""
    keys = list(observation_space.get("spaces", {})) if observation_space else []
    return [
        f"{name}.{key}" if keys and name in OBSERVATIONS else name
        for name in ARRAYS
        for key in (keys if keys and name in OBSERVATIONS else [""])
    ]


def checksum(arrays: dict[str, np.ndarray], names: list[str] | None = None) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in `ARRAYS` order (or in the
    order of `names`, `array_names`'s for a Dict observation)."""
    digest = hashlib.sha256()
    for name in names or ARRAYS:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def require_demos(config: Any) -> None:
    """ConfigError unless `config.demos` names demonstrations (for configs with a `demos` field:
    the imitation algorithms and the GAIL reward plug-in)."""
    if not config.demos:
        raise ConfigError(
            f"{type(config).__name__}.demos is required: --set demos=FILE, a file written by "
            "`tidyrl demos collect RUN_DIR --episodes N --out FILE`"
        )


def demos_for(
    config: Any, observation_space: gym.Space[Any], action_space: gym.Space[Any], env_id: str
) -> Demos:
    """The demonstrations a config names (`config.demos`, its first `config.demo_episodes`
    episodes), checked against an env's spaces (a one-line error when they do not fit)."""
    demos = load_demos(config.demos).first(config.demo_episodes)
    demos.check_spaces(observation_space, action_space, env_id)
    return demos


def load_demos(path: str | Path) -> Demos:
    """Read demonstrations: a tidyrl demos file, or a Minari dataset directory.

    Every problem (no such file, not a demos file, truncated or altered data, inconsistent
    episodes) is a one-line `ConfigError`.
    """
    path = Path(path)
    if path.is_dir():
        for data in (path, path / "data"):  # a data directory, or Minari's DATASET/data layout
            if (data / "metadata.json").is_file():
                return load_minari(data)
        raise ConfigError(
            f"'{path}' is a directory but not a Minari dataset (no metadata.json); demos are "
            "written by `tidyrl demos collect RUN_DIR --episodes N --out FILE`"
        )
    local = minari_local_path(str(path)) if not path.exists() else None
    if local is not None:  # a Minari dataset id, e.g. "cartpole/expert-v0", in Minari's root
        return load_minari(local)
    if not path.is_file():
        raise ConfigError(
            f"no demonstrations at '{path}': write them with "
            "`tidyrl demos collect RUN_DIR --episodes N --out FILE`"
        )
    try:
        with safe_open(str(path), framework="np") as fh:
            header = fh.metadata() or {}
            arrays = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"'{path}' is not a readable demos file: {exc}") from exc
    if META_KEY not in header:
        raise ConfigError(f"'{path}' is a safetensors file without a {META_KEY} description")
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as exc:
        raise ConfigError(f"corrupted demos file '{path}': its description is not JSON") from exc
    if meta.get("format") != FORMAT:
        raise ConfigError(
            f"demos file '{path}' has format {meta.get('format')!r}; this tidyrl reads {FORMAT}"
        )
    names = array_names(meta.get("observation_space") or {})
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ConfigError(f"corrupted demos file '{path}': it lacks {', '.join(missing)}")
    if checksum(arrays, names) != meta.get("sha256"):
        raise ConfigError(
            f"corrupted demos file '{path}': its arrays do not match their recorded checksum"
        )
    try:
        return Demos.from_arrays(
            arrays,
            meta["observation_space"],
            meta["action_space"],
            meta["env"],
            meta.get("source", {}),
        )
    except KeyError as exc:
        raise ConfigError(f"corrupted demos file '{path}': its description lacks {exc}") from exc


# -- collecting ---------------------------------------------------------------------------------
def agent_policy(agent: Any, deterministic: bool = True) -> Policy:
    """The acting rule of a tidyrl agent as a `Policy` (its mode, or samples when not
    `deterministic`)."""

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.asarray(agent.predict(obs, deterministic=deterministic))

    return policy


def load_expert(path: str | Path) -> Any:
    """A trained tidyrl agent from a run directory or saved agent, to act as the expert."""
    from tidyrl.checkpoint import load

    return load(path, progress=False, run_dir=None)


def collect(
    policy: Policy,
    env: EnvConfig,
    episodes: int,
    seed: int = 0,
    source: dict[str, Any] | None = None,
) -> Demos:
    """Play `episodes` whole episodes with `policy` on one copy of `env` and record them.

    The env is reset with `seed` once; later episodes continue its random stream, so a seed
    fixes the whole dataset. Actions are stored as the env received them.
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {episodes}")
    vec = VecEnv(env, n_envs=1, seed=seed)
    obs_space, action_space = vec.single_observation_space, vec.single_action_space
    columns: dict[str, list[Any]] = {name: [] for name in ARRAYS}
    done_episodes, start = 0, True
    try:
        while done_episodes < episodes:
            obs = vec.obs
            actions = np.asarray(policy(obs))
            step = vec.step(actions)
            columns["obs"].append(take(obs, 0))
            columns["actions"].append(actions[0])
            columns["rewards"].append(float(step.rewards[0]))
            columns["terminated"].append(bool(step.terminated[0]))
            columns["truncated"].append(bool(step.truncated[0]))
            columns["episode_starts"].append(start)
            start = bool(step.dones[0])
            if start:
                columns["last_obs"].append(take(step.next_obs, 0))
                done_episodes += 1
    finally:
        vec.close()
    dtypes = {"rewards": np.float32, "terminated": bool, "truncated": bool, "episode_starts": bool}
    arrays: dict[str, Any] = {
        name: stack(values) if name in OBSERVATIONS else np.asarray(values, dtype=dtypes.get(name))
        for name, values in columns.items()
    }
    if isinstance(action_space, gym.spaces.Box):
        arrays["actions"] = arrays["actions"].astype(np.float32)
    else:
        arrays["actions"] = arrays["actions"].astype(np.int64)
    return Demos(
        **arrays,
        observation_space=space_to_dict(obs_space),
        action_space=space_to_dict(action_space),
        env=to_dict(env),
        source={"seed": seed, **(source or {})},
    )


# -- Minari -------------------------------------------------------------------------------------
def _minari() -> Any:
    try:
        import minari
    except ImportError as exc:
        raise ConfigError(
            "the minari format needs the minari package: pip install 'tidyrl[imitation]'"
        ) from exc
    return minari


def minari_local_path(dataset_id: str) -> Path | None:
    """The data directory of the Minari dataset `dataset_id` under Minari's local root
    ($MINARI_DATASETS_PATH, else ~/.minari/datasets, as Minari resolves it), or None when there
    is none there. Nothing is downloaded or created."""
    root = os.environ.get("MINARI_DATASETS_PATH") or Path.home() / ".minari" / "datasets"
    data = Path(root) / dataset_id / "data"
    return data if (data / "metadata.json").is_file() else None


def save_minari(demos: Demos, path: str | Path) -> Path:
    """Write the episodes as a Minari dataset directory at `path` (metadata.json + data file).

    Minari stores T + 1 observations per episode (the last one is `last_obs`). The tidyrl
    description rides along in Minari's metadata under ``tidyrl_demos``; `load_minari` reads it
    back, and reads Minari datasets written by other tools without it.
    """
    minari = _minari()
    from minari.data_collector.episode_buffer import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    path = Path(path)
    if path.exists():
        raise ConfigError(f"'{path}' already exists; Minari writes a new directory")
    env = make_env(build(EnvConfig, demos.env))
    try:
        storage = MinariStorage.new(
            path,
            observation_space=env.observation_space,
            action_space=env.action_space,
            env_spec=env.spec,
        )
    finally:
        env.close()
    storage.update_metadata(
        {
            "dataset_id": f"tidyrl/{_slug(demos.env['id'])}-demos-v0",
            "minari_version": minari.__version__,
            "algorithm_name": str(demos.source.get("algo", "")),
            META_KEY: json.dumps(demos.description()),
        }
    )
    buffers = []
    for e, (a, b) in enumerate(demos.episode_bounds()):
        buffers.append(
            EpisodeBuffer(
                id=e,
                observations=_joined(
                    take(demos.obs, slice(a, b)), take(demos.last_obs, slice(e, e + 1))
                ),
                actions=demos.actions[a:b],
                rewards=demos.rewards[a:b].astype(np.float64),
                terminations=demos.terminated[a:b],
                truncations=demos.truncated[a:b],
                infos={},
            )
        )
    storage.update_episodes(buffers)
    return path


def load_minari(path: str | Path) -> Demos:
    """Read a Minari dataset directory (written by `save_minari` or by other tools)."""
    _minari()
    from minari import MinariDataset

    try:
        dataset = MinariDataset(str(path))
    except (ValueError, KeyError, OSError) as exc:
        raise ConfigError(f"'{path}' is not a readable Minari dataset: {exc}") from exc
    metadata = dataset.storage.metadata
    described = json.loads(metadata[META_KEY]) if META_KEY in metadata else {}
    env_spec = dataset.env_spec
    env = described.get("env") or {
        "id": env_spec.id if env_spec is not None else "unknown",
        "kwargs": {},
        "max_episode_steps": None,
    }
    columns: dict[str, list[Any]] = {name: [] for name in ARRAYS}
    for episode in dataset.iterate_episodes():
        observations = episode.observations
        if isinstance(observations, dict):  # a Dict space: one array per key
            observations = {k: np.asarray(v) for k, v in observations.items()}
        else:
            observations = np.asarray(observations)
        steps = len(episode.actions)
        columns["obs"].append(take(observations, slice(0, steps)))
        columns["last_obs"].append(take(observations, slice(steps, steps + 1)))
        columns["actions"].append(np.asarray(episode.actions))
        columns["rewards"].append(np.asarray(episode.rewards, dtype=np.float32))
        columns["terminated"].append(np.asarray(episode.terminations, dtype=bool))
        columns["truncated"].append(np.asarray(episode.truncations, dtype=bool))
        starts = np.zeros(steps, dtype=bool)
        starts[:1] = True
        columns["episode_starts"].append(starts)
    if not columns["obs"]:
        raise ConfigError(f"Minari dataset '{path}' holds no episodes")
    arrays: dict[str, Any] = {name: _joined(*values) for name, values in columns.items()}
    return Demos(
        **arrays,
        observation_space=space_to_dict(dataset.observation_space),
        action_space=space_to_dict(dataset.action_space),
        env=env,
        source=described.get("source", {"minari": str(path)}),
    )


def _joined(*parts: Obs) -> Obs:
    """Batches of observations concatenated (per key for a Dict)."""
    first = parts[0]
    if isinstance(first, dict):
        return {
            k: np.concatenate([cast(dict[str, np.ndarray], p)[k] for p in parts]) for k in first
        }
    return np.concatenate(cast(list[np.ndarray], list(parts)))


def _shapes(obs: Obs) -> Any:
    """The shape of one observation (per key for a Dict)."""
    if isinstance(obs, dict):
        return {k: v.shape[1:] for k, v in obs.items()}
    return obs.shape[1:]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()
