"""Configuration: frozen dataclasses, validation helpers, overrides from the CLI.

Every algorithm declares `@dataclass(frozen=True) class XConfig` whose field docstrings are the CLI
help. Fields shared by every run (seed, logging, checkpoint cadence, the environment) live in
`RunConfig` and `EnvConfig` here. Resolution order: class defaults, then a named preset, then
explicit overrides (`--set KEY=VALUE` or keyword arguments of `tidyrl.make`).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast

from tidyrl.errors import ConfigError, unknown


def check_range(
    obj: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ConfigError naming the field and the allowed range when `obj.name` is outside it."""
    value = getattr(obj, name)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ConfigError(
            f"{type(obj).__name__}.{name}={value!r} is out of range; allowed {lb}{lo}, {hi}{rb}"
        )


def check_hidden(obj: Any, name: str = "hidden", allow_empty: bool = False) -> None:
    """Raise ConfigError unless `obj.name` is one or more layer widths >= 1 (or none at all,
    with `allow_empty`: output layers straight on the encoder)."""
    hidden = getattr(obj, name)
    if (not hidden and not allow_empty) or (hidden and min(hidden) < 1):
        need = "zero or more" if allow_empty else "one or more"
        raise ConfigError(f"{type(obj).__name__}.{name}={hidden!r}: need {need} layer widths >= 1")


def check_choice(obj: Any, name: str, choices: typing.Sequence[str]) -> None:
    """Raise ConfigError when `obj.name` is not one of `choices`."""
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(f"{type(obj).__name__}.{name}: " + unknown("value", str(value), choices))


@dataclass(frozen=True)
class EnvConfig:
    """Which environment to build and how."""

    id: str = "CartPole-v1"
    """Gymnasium id, or `module:EnvId` to import `module` first."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments passed to `gymnasium.make`."""
    max_episode_steps: int | None = None
    """Truncate episodes after this many steps (None: the env's own limit, or a 10,000-step cap
    for envs that have none, so no episode can run forever)."""

    def __post_init__(self) -> None:
        if self.max_episode_steps is not None:
            check_range(self, "max_episode_steps", 1)


@dataclass(frozen=True)
class RunConfig:
    """Bookkeeping shared by every algorithm: seeding, logging, evaluation, checkpoints."""

    seed: int = 0
    """Seed for torch, NumPy and the environments."""
    device: str = "cpu"
    """Torch device: cpu, cuda, or auto (cuda when available)."""
    log_every: int = 1000
    """Environment steps between rows of metrics.csv."""
    eval_every: int = 0
    """Environment steps between evaluations during training (0: only at the end)."""
    eval_episodes: int = 10
    """Episodes per evaluation."""
    eval_deterministic: bool = True
    """Evaluate the policy's mode (greedy action, mean action). False: sample actions as in
    training, for tasks where the mode can loop in place (a greedy MiniGrid policy turning until
    the time limit; rl-starter-files evaluates MiniGrid agents by sampling). Either way an
    evaluation leaves the training's random generators as they were, so evaluating never
    changes what a run learns."""
    checkpoint_every: int = 0
    """Environment steps between periodic checkpoints (0: about 10 per run, at least 1,000
    apart)."""
    save_best: bool = False
    """Save the agent (as `save`: the policy, no run state) to run_dir/best each time an
    evaluation (those eval_every schedules, and the final one) beats every earlier one
    (Stable-Baselines3's EvalCallback with best_model_save_path); needs run_dir and
    eval_every."""
    stop_at_return: float | None = None
    """End training at the first evaluation whose mean return reaches this value (SB3's
    StopTrainingOnRewardThreshold); the run closes there (an on-policy learner at the end of
    the rollout it is collecting) with its final row and checkpoint. Needs eval_every."""
    run_dir: str | None = None
    """Where config.json, metrics.csv and checkpoint/ go (None: nothing is written)."""
    progress: bool = False
    """Show a live progress bar on stderr (the CLI turns it on unless --quiet)."""
    tensorboard: bool = True
    """Also write TensorBoard events under run_dir/tb when the tensorboard package is installed."""
    torch_threads: int | None = None
    """torch intra-op threads for this process (None: the algorithm's choice, 1 for the small-MLP
    learners; 0: leave torch's setting alone, by default one per core)."""
    init_from: str | None = None
    """Run directory or saved agent of the same algorithm whose networks (and observation
    statistics) this run starts from; counters, optimizer state and storage start fresh
    (docs/transfer.md)."""
    freeze: Literal["none", "encoder"] = "none"
    """"encoder": train only the output layers of each network, every other parameter frozen
    (docs/transfer.md defines the encoder of each network family)."""
    workers: int = 0
    """Ray actors that collect experience, each holding a share of the env copies and a copy
    of the policy (A3C: an env copy each, sending gradients) (0: collect in this process, and Ray
    is never imported; docs/distributed.md)."""
    ray_address: str | None = None
    """Address of a running Ray cluster to join with workers > 0 (None: start Ray on this
    machine, or join the cluster that RAY_ADDRESS names)."""
    worker_timeout: float = 300.0
    """Seconds to wait for a worker's answer before the run stops with its checkpoint."""
    keep_freed_memory: bool = True
    """Fix glibc's malloc thresholds so the training loop reuses the memory it frees instead of
    faulting fresh pages in every update (`tidyrl.runtime`, docs/performance.md).
    Process-wide; no effect off glibc."""

    def __post_init__(self) -> None:
        check_range(self, "log_every", 1)
        check_range(self, "eval_every", 0)
        check_range(self, "eval_episodes", 1)
        check_range(self, "checkpoint_every", 0)
        if (self.save_best or self.stop_at_return is not None) and self.eval_every == 0:
            raise ConfigError(
                "save_best and stop_at_return act on the evaluations during training; set "
                "eval_every > 0 (e.g. --set eval_every=10000)"
            )
        if self.save_best and self.run_dir is None:
            raise ConfigError("save_best writes run_dir/best; give the run a run_dir")
        check_range(self, "workers", 0)
        check_range(self, "worker_timeout", 0.0, low_open=True)
        if self.ray_address is not None and self.workers == 0:
            raise ConfigError("ray_address needs workers > 0 (the Ray actors that collect)")
        if self.torch_threads is not None:
            check_range(self, "torch_threads", 0)
        check_choice(self, "device", ("cpu", "cuda", "auto", "mps"))


def field_docs(cls: type) -> dict[str, str]:
    """Field docstrings of a dataclass (the string literal that follows each field)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith(" ") else source)
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _convert(value: Any, hint: Any, where: str) -> Any:
    """Coerce a CLI string (or a JSON value) to the type named by a dataclass field's hint."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: cannot parse {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: " + unknown("value", str(value), [str(a) for a in args]))
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            items: list[Any] = [s.strip() for s in text.split(",") if s.strip()]
        else:
            items = list(value)
        item_hint = args[0] if args else str
        return tuple(_convert(v, item_hint, where) for v in items)
    if origin is dict or hint is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: expected a JSON object, got {value!r}") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from exc
        if not number.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    if hint is float:
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from exc
        if not math.isfinite(number):  # inf passes every one-sided range check; NaN fails none
            raise ConfigError(f"{where}={value!r}: expected a finite number")
        return number
    if hint is str:
        return str(value)
    return value


def build(cls: type, overrides: dict[str, Any] | None = None, base: Any = None) -> Any:
    """Instantiate dataclass `cls` from `base` (or its defaults) with string or typed overrides.

    Unknown keys raise ConfigError with a suggestion and the valid keys; values are converted to
    the field's type; the dataclass's own `__post_init__` then validates ranges.
    """
    overrides = dict(overrides or {})
    names = {f.name for f in fields(cls)}
    for key in overrides:
        if key not in names:
            raise ConfigError(unknown(f"config key for {cls.__name__}", key, names))
    hints = typing.get_type_hints(cls)
    converted = {k: _convert(v, hints[k], f"{cls.__name__}.{k}") for k, v in overrides.items()}
    try:
        if base is not None:
            return dataclasses.replace(base, **converted)
        return cls(**converted)
    except TypeError as exc:  # e.g. a required field missing
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def to_dict(obj: Any) -> dict[str, Any]:
    """JSON-ready dict of a (frozen) dataclass; tuples become lists."""
    return cast(dict[str, Any], json.loads(json.dumps(dataclasses.asdict(obj), default=str)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config written by `to_dict`, rejecting keys the class no longer has."""
    return build(cls, data)


def parse_assignments(items: typing.Iterable[str]) -> dict[str, str]:
    """Parse `KEY=VALUE` strings from the command line."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out
