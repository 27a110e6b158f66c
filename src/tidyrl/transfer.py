"""Transfer: start a new run from another run's learned networks, optionally with its encoder
frozen (``tidyrl train ALGO ENV --init-from RUN_DIR [--freeze encoder]``, docs/transfer.md).

`init_from` copies every registered torch module (networks, target networks, running
observation and reward statistics) and registered tensor (SAC's temperature) of a checkpoint into
a freshly built agent of the same algorithm. Everything else starts fresh: counters, RNG
streams, optimizer moments, replay and rollout storage. Spaces must match (a same-shape Box with
other bounds is accepted, with a note: the networks see the same number of features).

`freeze_encoder` freezes each trainable network's *encoder*, every parameter but those of its
output layers, so that only the heads train:

    torch.nn.Sequential (the MLPs of DDPG/TD3/SAC actors)  the last layer holding parameters
    ActorCritic (PPO, A2C, TRPO, ...)      the last Linear of the actor and of the critic, and the
                                           Gaussian's state-independent log std
    QEnsemble (DDPG/TD3/SAC/D4PG critics)  the last ensemble layer of every member
    QNetwork (DQN, C51, Rainbow, soft Q)   the last layer of the advantage stream and, when
                                           dueling, of the value stream; the CNN, the shared
                                           layers and each stream's hidden layer are encoder

A frozen parameter has ``requires_grad=False`` and is removed from every registered optimizer,
so no update touches it (and Adam keeps no moments for it). Networks whose parameters are all
untrainable already (target networks, running statistics) are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from tidyrl.checkpoint import describe_space, read, restore_entry
from tidyrl.envs.make import space_to_dict
from tidyrl.errors import CheckpointError, ConfigError

Freeze = Literal["none", "encoder"]
CARRIED_KINDS = ("module", "tensor")
"""Checkpoint entries `init_from` copies: networks, statistics and learnable tensors."""


def init_from(agent: Any, path: str | Path) -> list[str]:
    """Load the networks of the checkpoint at `path` into `agent` (built fresh, same algorithm);
    return notes for the user (differing Box bounds). CheckpointError on any mismatch."""
    meta, tensors = check_source(agent.algo, path)
    notes = [
        note
        for role, space in (
            ("observation", agent.observation_space),
            ("action", agent.action_space),
        )
        if (note := compare_spaces(role, meta[f"{role}_space"], space_to_dict(space), path, agent))
    ]
    carried = {n: i for n, i in meta["state"].items() if i["kind"] in CARRIED_KINDS}
    ours = [n for n in agent._state_names if _kind(getattr(agent, n)) in CARRIED_KINDS]
    if sorted(carried) != sorted(ours):
        raise CheckpointError(
            f"--init-from '{path}' holds networks {sorted(carried)} but this {agent.algo} "
            f"config builds {sorted(ours)}; use the source run's architecture settings"
        )
    if not ours:
        raise CheckpointError(f"{agent.algo} has no networks for --init-from to load")
    for name, info in carried.items():
        try:
            restore_entry(agent, name, info, tensors)
        except CheckpointError as exc:  # e.g. other widths, or gSDE's log sigma on one side
            raise CheckpointError(
                f"--init-from '{path}': {exc}; build this run with the source run's network "
                "settings (its config.json: hidden, use_sde, ...)"
            ) from exc
    return notes


def check_source(algo: str, path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checkpoint at `path` (meta, tensors), when it is one an `algo` run can start from;
    CheckpointError otherwise. `tidyrl train` calls it before touching its run directory."""
    meta, tensors = read(path)
    source_algo = meta.get("algo")
    if _agent_class(source_algo) is not _agent_class(algo):
        raise CheckpointError(
            f"--init-from '{path}' holds a {source_algo} run; a {algo} run can start only "
            f"from a {algo} checkpoint (train the source task with {algo} first)"
        )
    return meta, tensors


def compare_spaces(
    role: str, saved: dict[str, Any], now: dict[str, Any], path: str | Path, agent: Any
) -> str | None:
    """None when the spaces are equal; a note when only a Box's bounds differ; else a one-line
    CheckpointError naming both spaces and what can be done."""
    if saved == now:
        return None
    same_shape = saved.get("shape") == now.get("shape") and saved.get("dtype") == now.get("dtype")
    if saved["type"] == now["type"] == "Box" and same_shape:
        return (
            f"the {role} space of '{agent.env_cfg.id}' has other bounds than the source run's "
            f"(same shape {tuple(now['shape'])}); its networks are loaded as they are"
        )
    raise CheckpointError(
        f"--init-from '{path}' was trained with {role} space {describe_space(saved)}, but "
        f"'{agent.env_cfg.id}' has {describe_space(now)}; fine-tuning needs the same spaces (a "
        "Box may differ only in its bounds): pick a variant of the source task with the same "
        "spaces, or train from scratch"
    )


def _agent_class(algo: Any) -> type | None:
    from tidyrl import registry

    try:
        cls, _ = registry.lookup(str(algo))
    except ConfigError:
        return None
    return cls


def _kind(obj: Any) -> str:
    if isinstance(obj, nn.Module):
        return "module"
    if isinstance(obj, torch.optim.Optimizer):
        return "optimizer"
    if isinstance(obj, torch.Tensor):
        return "tensor"
    return "other"


def output_layers(net: nn.Module) -> list[nn.Module]:
    """The layers whose outputs are `net`'s outputs (the table in the module docstring)."""
    declared = getattr(net, "output_layers", None)
    if callable(declared):
        layers: list[nn.Module] = declared()
        return layers
    if isinstance(net, nn.Sequential):
        holding = [m for m in net if any(True for _ in m.parameters())]
        return holding[-1:]
    raise ConfigError(
        f"--freeze encoder does not know the output layers of a {type(net).__name__}; it "
        "handles Sequential MLPs, ActorCritic, QEnsemble and QNetwork"
    )


def encoder_parameters(net: nn.Module) -> list[nn.Parameter]:
    """Every parameter of `net` outside its output layers and outside `net`'s own direct
    parameters (such as a policy's log std, which belongs to its head)."""
    head = {id(p) for layer in output_layers(net) for p in layer.parameters()}
    head |= {id(p) for p in net.parameters(recurse=False)}
    return [p for p in net.parameters() if id(p) not in head]


def freeze_encoder(agent: Any) -> list[str]:
    """Freeze the encoder of every trainable registered network of `agent` (module docstring);
    return the names of the networks frozen. ConfigError when there is nothing to freeze."""
    frozen: list[nn.Parameter] = []
    names = []
    for name, obj in agent.state_objects().items():
        if not isinstance(obj, nn.Module) or not any(p.requires_grad for p in obj.parameters()):
            continue
        params = [p for p in encoder_parameters(obj) if p.requires_grad]
        if params:
            frozen += params
            names.append(name)
    if not frozen:
        raise ConfigError(f"--freeze encoder: {agent.algo} has no trainable network encoder")
    ids = {id(p) for p in frozen}
    for p in frozen:
        p.requires_grad_(False)
    for obj in agent.state_objects().values():
        if isinstance(obj, torch.optim.Optimizer):
            for group in obj.param_groups:
                for p in group["params"]:
                    if id(p) in ids:
                        obj.state.pop(p, None)
                group["params"] = [p for p in group["params"] if id(p) not in ids]
    return names


def prepare(agent: Any) -> None:
    """Apply the run's `freeze` setting (every build of an agent: train, resume, load)."""
    if agent.run.freeze == "encoder":
        freeze_encoder(agent)
