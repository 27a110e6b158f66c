"""What a checkpoint needs to rebuild a vector env exactly: each copy's reset seed and the
actions of its current episode.

`VecEnv` seeds every reset it makes: episode 0 of copy i with ``seed + i`` (Gymnasium's vector
convention), every later episode with `episode_seed` (a function of the run seed, the copy and
the episode index), so the seeds of *future* resets follow from three integers and continue
identically after a resume. `EpisodeTrace` keeps, per copy, the index of the episode it is in
and the actions taken since that episode's reset.

`restore_env` rebuilds the state: it resets copy i with the seed of its current episode and
replays the recorded actions. For an environment whose dynamics are a function of the reset
seed and the actions (every Gymnasium environment that draws its randomness from
``self.np_random``, classic control, Box2D, MuJoCo, toy text; ALE, which reseeds its own
generator from the reset seed) this reproduces its internal state, random generator included,
bit for bit, at the cost of re-running one partial episode per copy. The episode return and
length accumulators and the observation are restored from the checkpoint, and the replayed
observation is compared with the saved one.

Limits (docs/resume.md): an environment that reads the wall clock, threads or an unseeded
generator, or that carries state across resets (an episode counter, a curriculum, a level set
grown during training) is rebuilt only as far as replay can rebuild it; `restore_env` warns when
the replayed observation differs from the saved one, and starts a fresh episode on a copy whose
replay ends its episode early.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from tidyrl.envs.spaces import stack, take

if TYPE_CHECKING:
    from tidyrl.envs.make import VecEnv


def episode_seed(seed: int, index: int, episode: int) -> int:
    """Reset seed of episode `episode` of copy `index` in a run seeded with `seed`: ``seed +
    index`` for the first episode, then a 32-bit word drawn from NumPy's `SeedSequence` of the
    three integers (distinct triples give independent seeds; 32 bits suit every env that seeds
    a legacy `RandomState`)."""
    if episode == 0:
        return seed + index
    return int(np.random.SeedSequence((seed, index, episode)).generate_state(1)[0])


class EpisodeTrace:
    """Per copy: the index of its current episode and the actions taken since its reset."""

    def __init__(
        self, n_envs: int, seed: int, action_space: gym.Space[Any], first: int = 0
    ) -> None:
        self.n_envs = n_envs
        self.seed = seed
        self.first = first
        """Run-wide index of copy 0 (`VecEnv.first`): the index the seeds are drawn for."""
        self.episodes = [0] * n_envs
        """Index of the episode each copy is in (0: the one its first reset began)."""
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        """Discrete actions are kept (and replayed) as Python ints, as `VecEnv.step` passes
        them; other actions as rows of the array the agent gave."""
        self._empty = np.zeros(
            (0, *(action_space.shape or ())),
            dtype=np.int64 if self.discrete else action_space.dtype,
        )
        self._actions: list[list[Any]] = [[] for _ in range(n_envs)]

    def restart(self, seed: int | None) -> list[int | None]:
        """Seeds of a reset of every copy (typed as `SyncVectorEnv.reset` takes them): with
        `seed`, a new run of episodes from episode 0; without, each copy's next episode."""
        if seed is not None:
            self.seed = seed
            self.episodes = [0] * self.n_envs
        else:
            self.episodes = [k + 1 for k in self.episodes]
        self._actions = [[] for _ in range(self.n_envs)]
        return [self.current_seed(i) for i in range(self.n_envs)]

    def current_seed(self, index: int) -> int:
        """Reset seed of the episode copy `index` is in."""
        return episode_seed(self.seed, self.first + index, self.episodes[index])

    def next_seed(self, index: int) -> int:
        """Reset seed of the episode copy `index` begins next."""
        return episode_seed(self.seed, self.first + index, self.episodes[index] + 1)

    def record(self, actions: np.ndarray, ended: Iterable[int]) -> None:
        """One vector step: every copy took its row of `actions`; the copies in `ended` were
        reset (with `next_seed`) and begin their next episode."""
        rows = actions.tolist() if self.discrete else np.array(actions)
        for episode, row in zip(self._actions, rows):
            episode.append(row)
        for i in ended:
            self.episodes[i] += 1
            self._actions[i] = []

    def actions(self, index: int) -> np.ndarray:
        """The actions copy `index` took since its current episode's reset, stacked."""
        taken = self._actions[index]
        if not taken:
            return self._empty
        return np.array(taken, dtype=np.int64) if self.discrete else np.stack(taken)

    def load(self, seed: int, episodes: list[int], actions: list[np.ndarray]) -> None:
        """Take the state `restore_env` replayed: the run seed, each copy's episode index and
        its actions since that episode's reset."""
        self.seed, self.episodes = seed, list(episodes)
        self._actions = [a.tolist() if self.discrete else list(a) for a in actions]


def _spaces(space: gym.Space[Any]) -> Iterator[gym.Space[Any]]:
    """`space` and its subspaces (Dict, Tuple), depth first: each has its own generator."""
    yield space
    children = getattr(space, "spaces", None)
    if isinstance(children, dict):
        children = list(children.values())
    for child in children or ():
        yield from _spaces(child)


def env_state(venv: VecEnv) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON part and the arrays of `venv`'s state (see the module docstring)."""
    trace = venv.trace
    state = {
        "n_envs": venv.n_envs,
        "seed": trace.seed,
        "episodes": list(trace.episodes),
        "returns": venv._returns.tolist(),
        "lengths": venv._lengths.tolist(),
        "action_space_rng": [
            space.np_random.bit_generator.state for space in _spaces(venv.single_action_space)
        ],
    }
    arrays = {f"actions/{i}": trace.actions(i) for i in range(venv.n_envs)}
    if isinstance(venv.obs, dict):  # Dict observations: one array per key
        arrays.update({f"obs.{key}": np.asarray(value) for key, value in venv.obs.items()})
    else:
        arrays["obs"] = np.asarray(venv.obs)
    if venv.masks is not None:
        arrays["masks"] = venv.masks
    return state, arrays


def merge_states(
    parts: list[tuple[dict[str, Any], dict[str, np.ndarray]]],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One state of all the run's copies from the states of consecutive shares of them (the
    vector envs of `tidyrl.distributed`'s workers, in copy order): the state the one vector env
    of every copy would save, so a run checkpointed by workers resumes in-process, or on
    another number of workers. The action space's generator is the first share's (it draws
    only `sample_actions`, which the on-policy learners never call)."""
    states = [state for state, _ in parts]
    state = {
        "n_envs": sum(int(s["n_envs"]) for s in states),
        "seed": states[0]["seed"],
        "episodes": [k for s in states for k in s["episodes"]],
        "returns": [r for s in states for r in s["returns"]],
        "lengths": [n for s in states for n in s["lengths"]],
        "action_space_rng": states[0]["action_space_rng"],
    }
    arrays: dict[str, np.ndarray] = {}
    first = 0
    for part, part_arrays in parts:
        for i in range(int(part["n_envs"])):
            arrays[f"actions/{first + i}"] = part_arrays[f"actions/{i}"]
        first += int(part["n_envs"])
    joined = {k for k in parts[0][1] if not k.startswith("actions/")}
    for key in joined:  # obs (or obs.KEY), masks: one row per copy
        arrays[key] = np.concatenate([part_arrays[key] for _, part_arrays in parts])
    return state, arrays


def split_state(
    state: dict[str, Any], arrays: dict[str, np.ndarray], sizes: list[int]
) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The inverse of `merge_states`: the states of consecutive shares of `sizes` copies."""
    if sum(sizes) != int(state["n_envs"]):
        raise ValueError(
            f"the checkpoint holds {state['n_envs']} env copies, this run has {sum(sizes)}"
        )
    parts = []
    first = 0
    for n in sizes:
        rows = slice(first, first + n)
        part = {
            **state,
            "n_envs": n,
            "episodes": state["episodes"][rows],
            "returns": state["returns"][rows],
            "lengths": state["lengths"][rows],
        }
        part_arrays = {f"actions/{i}": arrays[f"actions/{first + i}"] for i in range(n)}
        for key, value in arrays.items():
            if not key.startswith("actions/"):
                part_arrays[key] = value[rows]
        parts.append((part, part_arrays))
        first += n
    return parts


def restore_env(venv: VecEnv, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Bring the freshly built `venv` to the saved state: reset each copy with the seed of its
    current episode and replay its actions (see the module docstring for what is exact)."""
    n = venv.n_envs
    if state["n_envs"] != n:
        raise ValueError(f"the checkpoint holds {state['n_envs']} env copies, this run has {n}")
    seed, episodes = int(state["seed"]), [int(k) for k in state["episodes"]]
    actions = [arrays[f"actions/{i}"] for i in range(n)]
    keyed = {k[len("obs.") :]: v for k, v in arrays.items() if k.startswith("obs.")}
    saved_obs = keyed or arrays["obs"]
    observations = []
    for i, env in enumerate(venv.envs.envs):
        discrete = venv.trace.discrete
        index = venv.trace.first + i
        obs, complete = _replay(env, episode_seed(seed, index, episodes[i]), actions[i], discrete)
        if not complete:
            warnings.warn(
                f"environment '{venv.cfg.id}' (copy {i}) ended its episode while replaying "
                f"{len(actions[i])} recorded actions: it is not deterministic given its reset "
                "seed, so this copy starts a fresh episode and the resumed run is not exact",
                RuntimeWarning,
                stacklevel=2,
            )
            episodes[i] += 1
            obs, _ = env.reset(seed=episode_seed(seed, index, episodes[i]))
            actions[i] = actions[i][:0]
            state["returns"][i], state["lengths"][i] = 0.0, 0
        elif not _same(obs, take(saved_obs, i)):
            warnings.warn(
                f"environment '{venv.cfg.id}' (copy {i}) replayed its episode to another "
                "observation than the checkpoint's: it is not deterministic given its reset seed "
                "and actions, so the resumed run is not exact",
                RuntimeWarning,
                stacklevel=2,
            )
        observations.append(obs)
    venv.trace.load(seed, episodes, actions)
    venv.obs = stack(observations)
    if "masks" in arrays:  # the masks of the observations above (deterministic, as they are)
        venv.masks = np.array(arrays["masks"], dtype=bool)
    venv._returns[:] = state["returns"]
    venv._lengths[:] = state["lengths"]
    spaces = _spaces(venv.single_action_space)
    for space, rng in zip(spaces, state["action_space_rng"], strict=True):
        space.np_random.bit_generator.state = rng


def _same(obs: Any, saved: Any) -> bool:
    """Whether a replayed observation (an array or a dict of arrays) equals the saved one."""
    if isinstance(saved, dict):
        return isinstance(obs, dict) and all(np.array_equal(obs[k], v) for k, v in saved.items())
    return bool(np.array_equal(np.asarray(obs), saved))


def _replay(
    env: gym.Env[Any, Any], seed: int, actions: np.ndarray, discrete: bool
) -> tuple[Any, bool]:
    """Reset `env` with `seed` and step `actions`; the last observation, and False where the
    episode ended before the last action (the env is not deterministic given seed and
    actions)."""
    obs, _ = env.reset(seed=seed)
    for action in actions.tolist() if discrete else actions:
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return obs, False
    return obs, True
