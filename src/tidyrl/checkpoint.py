"""Checkpoints: a directory of safetensors + JSON, written atomically, never pickled.

Layout of a saved agent (`agent.save(path)` or a run directory):

    path/config.json               the fully resolved config (algorithm, env, run, algorithm config)
    path/checkpoint/state.safetensors   every registered tensor: module parameters and buffers,
                                   optimizer moments, tables, torch's RNG state
    path/checkpoint/meta.json      config, counters, NumPy RNG state, optimizer hyper-parameters,
                                   observation/action spaces, library versions, SHA-256 of the
                                   tensor file
    path/checkpoint/resume.safetensors  training checkpoints only: what a resumed run needs beyond
                                   the learnable state (`Agent.resume_state`): each env copy's
                                   actions since its reset and its observation, replay buffers,
                                   other registered run state; its JSON half (seeds, episode
                                   accumulators, recent returns, schedule) is meta.json's "resume"

`load(path, resume=True)` (what `tidyrl resume` does) restores the run state too, so a resumed
run continues exactly (docs/resume.md); a plain load restores the policy and leaves it out.

Writing goes to a temporary sibling directory whose files and directory entry are fsynced before
it is renamed into place; the previous checkpoint is kept as `.checkpoint.old` until the rename
succeeded, so a process killed at any moment (or a machine losing power) leaves one complete
checkpoint. A write that fails (a full disk, a read-only directory) removes its temporary
directory, puts the previous checkpoint back where it was, and raises one line naming the cause.
Loading verifies the checksum, the format version, the algorithm and the spaces, and reports any
problem as a one-line `CheckpointError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from tidyrl.config import EnvConfig, RunConfig, to_dict
from tidyrl.core.seeding import device_available
from tidyrl.envs.make import space_to_dict
from tidyrl.errors import CheckpointError, ConfigError, write_error

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoint"
TENSORS_FILE = "state.safetensors"
RESUME_FILE = "resume.safetensors"
META_FILE = "meta.json"
CONFIG_FILE = "config.json"


def _versions() -> dict[str, str]:
    from tidyrl import __version__

    return {
        "tidyrl": __version__,
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    """Write `data` and flush it to the disk (not only to the page cache) before returning."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make the directory entries of `path` (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_config_dict(agent: Any) -> dict[str, Any]:
    """What config.json holds: enough to rebuild the agent and continue its run."""
    return {
        "algo": agent.algo,
        "env": to_dict(agent.env_cfg),
        "run": to_dict(agent.run),
        "config": to_dict(agent.config),
        "target_steps": agent.counters["target"],
    }


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write `arrays` as safetensors straight to `path` (a replay buffer is not copied into
    one bytes object first), flush it to the disk; return its SHA-256."""
    # (np.ascontiguousarray would turn 0-d counters into shape (1,))
    save_numpy({k: np.require(v, requirements="C") for k, v in arrays.items()}, str(path))
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    return _sha256(path)


def _verified(directory: Path, name: str, sha256: str | None) -> Path:
    """`directory/name`, once it exists and matches its recorded checksum."""
    file = directory / name
    if not file.is_file():
        raise CheckpointError(f"corrupted checkpoint '{directory}': {name} is missing")
    if _sha256(file) != sha256:
        raise CheckpointError(
            f"corrupted checkpoint '{directory}': {name} does not match its recorded checksum"
        )
    return file


def read_run_state(path: str | Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a training checkpoint's run state (verified against its checksum)."""
    file = _verified(locate(path), RESUME_FILE, meta.get("resume_sha256"))
    try:
        with safe_open(str(file), framework="np") as fh:
            return {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"corrupted checkpoint '{file.parent}': {exc}") from exc


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.flush()
        os.fsync(fh.fileno())


def write_config(agent: Any, run_dir: str | Path) -> Path:
    """Write `run_dir/config.json` (the resolved config) atomically; return its path. A failed
    write leaves the previous file and no temporary one, and raises one line."""
    root = Path(run_dir)
    tmp = root / f".{CONFIG_FILE}.tmp-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _write_json(tmp, run_config_dict(agent))
        os.replace(tmp, root / CONFIG_FILE)
        _fsync_dir(root)
    except OSError as exc:
        _remove(tmp)
        raise write_error(exc, f"'{root / CONFIG_FILE}'") from exc
    return root / CONFIG_FILE


def _remove(path: Path) -> None:
    """Delete a file or directory tree if it exists, ignoring errors (best-effort cleanup)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _collect(agent: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    kinds: dict[str, Any] = {}
    for name, obj in agent.state_objects().items():
        if isinstance(obj, torch.nn.Module):
            kinds[name] = {"kind": "module"}
            for key, value in obj.state_dict().items():
                tensors[f"module/{name}/{key}"] = value.detach().cpu().contiguous().clone()
        elif isinstance(obj, torch.optim.Optimizer):
            state = obj.state_dict()
            scalars: dict[str, dict[str, Any]] = {}
            for pid, slots in state["state"].items():
                for key, value in slots.items():
                    if isinstance(value, torch.Tensor):
                        tensors[f"optim/{name}/{pid}/{key}"] = (
                            value.detach().cpu().contiguous().clone()
                        )
                    else:
                        scalars.setdefault(str(pid), {})[key] = value
            kinds[name] = {
                "kind": "optimizer",
                "param_groups": state["param_groups"],
                "scalars": scalars,
            }
        elif isinstance(obj, np.ndarray):
            kinds[name] = {"kind": "array", "dtype": str(obj.dtype)}
            tensors[f"array/{name}"] = torch.from_numpy(np.ascontiguousarray(obj).copy())
        elif isinstance(obj, torch.Tensor):
            kinds[name] = {"kind": "tensor"}
            tensors[f"tensor/{name}"] = obj.detach().cpu().contiguous().clone()
        elif isinstance(obj, torch.Generator):  # an agent's own random stream
            kinds[name] = {"kind": "generator"}
            tensors[f"generator/{name}"] = obj.get_state()
        else:
            raise TypeError(f"cannot checkpoint {name!r} of type {type(obj).__name__}")
    tensors["rng/torch"] = torch.get_rng_state()
    return tensors, kinds


def save(agent: Any, path: str | Path, run_state: bool = False) -> Path:
    """Write `path/config.json` and `path/checkpoint/` atomically; return the checkpoint dir.
    With `run_state` (training checkpoints) it holds the run state a resume needs as well.

    On an OSError (a full disk, a read-only directory) the temporary directory is removed, the
    previous checkpoint stays (or is put back) at `path/checkpoint`, and a one-line TidyError
    (`RunError` for a full disk) names the cause."""
    root = Path(path)
    target = root / CHECKPOINT_DIR
    tmp = root / f".{CHECKPOINT_DIR}.tmp-{os.getpid()}"
    old = root / f".{CHECKPOINT_DIR}.old"
    tensors, kinds = _collect(agent)
    data = safetensors_bytes(tensors)
    meta = {
        "format_version": FORMAT_VERSION,
        **run_config_dict(agent),
        "counters": dict(agent.counters),
        "numpy_rng": agent.rng.bit_generator.state,
        "state": kinds,
        "extra": agent.extra_state(),
        "observation_space": space_to_dict(agent.observation_space),
        "action_space": space_to_dict(agent.action_space),
        "versions": _versions(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    resume_arrays: dict[str, np.ndarray] = {}
    if run_state:
        meta["resume"], resume_arrays = agent.resume_state()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in [*root.glob(f".{CHECKPOINT_DIR}.tmp-*"), *root.glob(f".{CONFIG_FILE}.tmp-*")]:
            _remove(stale)  # leftovers of a process killed mid-save: the complete one is elsewhere
        tmp.mkdir()
        _write_bytes(tmp / TENSORS_FILE, data)
        if run_state:
            meta["resume_sha256"] = _write_arrays(tmp / RESUME_FILE, resume_arrays)
        _write_json(tmp / META_FILE, meta)
        _fsync_dir(tmp)
        if target.exists():
            _remove(old)
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(root)
    except OSError as exc:
        _remove(tmp)
        if old.is_dir() and not target.exists():  # failed between the two renames
            with contextlib.suppress(OSError):
                os.replace(old, target)
        raise write_error(exc, f"the checkpoint in '{root}'", kept_checkpoint(root)) from exc
    try:
        write_config(agent, root)
    finally:
        _remove(old)
    return target


def kept_checkpoint(root: str | Path) -> str:
    """What a failed save or run leaves: the step of the checkpoint on disk, if any."""
    try:
        meta = json.loads((locate(root) / META_FILE).read_text())
        return f"the checkpoint of step {int(meta['counters']['steps'])} is kept"
    except (CheckpointError, OSError, ValueError, KeyError, TypeError):
        return "no earlier checkpoint exists"


def locate(path: str | Path) -> Path:
    """The checkpoint directory for a run dir, a saved-agent dir or a checkpoint dir."""
    path = Path(path)
    for candidate in (path / CHECKPOINT_DIR, path, path / f".{CHECKPOINT_DIR}.old"):
        if (candidate / META_FILE).is_file():
            return candidate
    if not path.exists():
        raise CheckpointError(f"no checkpoint at '{path}': the path does not exist")
    raise CheckpointError(
        f"no checkpoint at '{path}': expected {CHECKPOINT_DIR}/{META_FILE} and "
        f"{CHECKPOINT_DIR}/{TENSORS_FILE} (written by agent.save or tidyrl train)"
    )


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a checkpoint; return (meta, tensors)."""
    directory = locate(path)
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"corrupted checkpoint '{directory}': {META_FILE} is not valid JSON"
        ) from exc
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise CheckpointError(
            f"corrupted checkpoint '{directory}': {META_FILE} lacks format_version"
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{directory}' has format {meta['format_version']}; this tidyrl reads "
            f"format {FORMAT_VERSION}"
        )
    tensor_file = _verified(directory, TENSORS_FILE, meta.get("sha256"))
    try:
        tensors = load_file(str(tensor_file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"corrupted checkpoint '{directory}': {exc}") from exc
    return meta, tensors


def restore(agent: Any, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Load registered state, counters and RNG states into a freshly built agent."""
    for name, info in meta["state"].items():
        if name not in agent._state_names:
            raise CheckpointError(
                f"checkpoint has state {name!r} that {agent.algo} does not define"
            )
        restore_entry(agent, name, info, tensors)
    missing = [n for n in agent._state_names if n not in meta["state"]]
    if missing:
        raise CheckpointError(f"checkpoint lacks state {missing} needed by {agent.algo}")
    agent.counters.update({k: int(v) for k, v in meta["counters"].items()})
    agent.rng.bit_generator.state = meta["numpy_rng"]
    torch.set_rng_state(tensors["rng/torch"])
    agent.load_extra_state(meta.get("extra", {}))


def restore_entry(
    agent: Any, name: str, info: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> None:
    """Load one registered object `name` (of checkpoint kind `info["kind"]`) in place."""
    obj = getattr(agent, name)
    kind = info["kind"]
    try:
        if kind == "module":
            prefix = f"module/{name}/"
            sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            obj.load_state_dict(sd)
        elif kind == "optimizer":
            prefix = f"optim/{name}/"
            state: dict[int, dict[str, Any]] = {}
            for key, value in tensors.items():
                if key.startswith(prefix):
                    pid, slot = key[len(prefix) :].split("/", 1)
                    state.setdefault(int(pid), {})[slot] = value
            for pid, scalars in info["scalars"].items():
                state.setdefault(int(pid), {}).update(scalars)
            obj.load_state_dict({"state": state, "param_groups": info["param_groups"]})
        elif kind == "array":
            array = tensors[f"array/{name}"].numpy().astype(info["dtype"], copy=True)
            # a table the agent starts empty (0 rows) takes the checkpoint's number of rows
            skip = int(isinstance(obj, np.ndarray) and obj.ndim > 0 and len(obj) == 0)
            if isinstance(obj, np.ndarray) and obj.shape[skip:] != array.shape[skip:]:
                expected = ("any",) * skip + obj.shape[skip:]
                raise CheckpointError(
                    f"checkpoint table {name!r} has shape {array.shape}, the agent "
                    f"expects {expected}"
                )
            setattr(agent, name, array)
        elif kind == "tensor":
            obj.data.copy_(tensors[f"tensor/{name}"])
        elif kind == "generator":
            obj.set_state(tensors[f"generator/{name}"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint does not fit {agent.algo}'s {name!r}: "
            + " ".join(line.strip() for line in str(exc).splitlines())  # one line, every part
        ) from exc


def check_spaces(
    meta: dict[str, Any],
    observation_space: gym.Space[Any],
    action_space: gym.Space[Any],
    env_id: str,
) -> None:
    """Fail clearly when the env's spaces differ from those the checkpoint was trained on."""
    for role, space in (("observation", observation_space), ("action", action_space)):
        saved = meta[f"{role}_space"]
        now = space_to_dict(space)
        if saved != now:
            raise CheckpointError(
                f"checkpoint was trained with {role} space {describe_space(saved)}, but "
                f"environment '{env_id}' has {describe_space(now)}"
            )


def describe_space(space: dict[str, Any]) -> str:
    if space["type"] == "Discrete":
        return f"Discrete({space['n']})"
    if space["type"] == "Box":
        return f"Box(shape={tuple(space['shape'])}, dtype={space['dtype']})"
    if space["type"] == "Dict":
        inner = ", ".join(f"{k}: {describe_space(v)}" for k, v in space["spaces"].items())
        return f"Dict({inner})"
    return cast(str, space.get("repr", space["type"]))


def load(
    path: str | Path,
    env: str | EnvConfig | None = None,
    *,
    resume: bool = False,
    **run_overrides: Any,
) -> Any:
    """Rebuild an agent from a checkpoint (optionally on another, space-compatible env). With
    `resume` (and the checkpoint's own env), a training checkpoint's run state too: the envs
    replayed to where they were, replay buffers, logger and schedule (docs/resume.md)."""
    from tidyrl import registry
    from tidyrl.config import build

    meta, tensors = read(path)
    try:
        cls, _ = registry.lookup(meta["algo"])
        config = build(cls.Config, meta["config"])
        env_cfg = build(EnvConfig, meta["env"])
        run_dict = dict(meta["run"])
        if "device" not in run_overrides and not device_available(str(run_dict.get("device"))):
            # tensors are stored on the CPU: a run trained on a GPU loads on a machine without one
            run_dict["device"] = "cpu"
        if not resume:  # a loaded agent acts in this process: no Ray workers to start
            run_dict.update(workers=0, ray_address=None)
        run_dict.update(run_overrides)
        run = build(RunConfig, run_dict)
    except KeyError as exc:
        raise CheckpointError(f"corrupted checkpoint '{path}': meta.json lacks {exc}") from exc
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint '{path}' does not fit this tidyrl: {exc}") from exc
    if env is not None:
        env_cfg = EnvConfig(id=env) if isinstance(env, str) else env
    agent = cls(env_cfg, config, run, algo=meta["algo"])
    try:
        from tidyrl.transfer import prepare

        prepare(agent)  # a frozen encoder leaves the optimizers without those parameters
        check_spaces(meta, agent.observation_space, agent.action_space, env_cfg.id)
        restore(agent, meta, tensors)
        if resume and env is None and "resume" in meta:
            agent.load_resume_state(meta["resume"], read_run_state(path, meta))
    except KeyError as exc:
        agent.close()
        raise CheckpointError(f"corrupted checkpoint '{path}': meta.json lacks {exc}") from exc
    except ValueError as exc:
        agent.close()
        raise CheckpointError(f"checkpoint '{path}' cannot resume this run: {exc}") from exc
    return agent
