"""Seeding: one call makes torch, NumPy and Python's `random` reproducible for a run."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from tidyrl.errors import ConfigError


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch's and Python's global generators; return a NumPy Generator for the agent.

    Agents draw their own randomness from the returned Generator (never from `np.random`'s
    global state), so two agents in one process do not disturb each other.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def device_available(name: str) -> bool:
    """Whether torch can use device `name` ('cpu', 'auto', 'cuda', 'cuda:1', 'mps') here."""
    kind = name.split(":", 1)[0]
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return True


def resolve_device(name: str) -> torch.device:
    """Map 'auto' to cuda when available, else cpu; a device this machine lacks is a
    ConfigError (one line, for every algorithm) rather than a silent fall back to the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not device_available(name):
        kind = name.split(":", 1)[0]
        built = torch.version.cuda is not None if kind == "cuda" else torch.backends.mps.is_built()
        why = "no such device is present" if built else f"torch {torch.__version__} has no {kind}"
        raise ConfigError(
            f"device={name} is not available on this machine ({why}); "
            "use device=cpu, or device=auto to take CUDA where there is one"
        )
    return torch.device(name)


@contextmanager
def preserved_rng(agent: Any) -> Iterator[None]:
    """Leave torch's generators (CPU, and CUDA once in use), Python's `random` and the agent's
    NumPy Generator (`agent.rng`, where it has one) as they were: what runs inside (an
    evaluation sampling its policy) draws from them but does not shift the draws of the
    training that continues after."""
    rng = getattr(agent, "rng", None)
    numpy_state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else None
    python_state = random.getstate()
    in_use = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    gpus = list(range(torch.cuda.device_count())) if in_use else []
    with torch.random.fork_rng(devices=gpus):
        try:
            yield
        finally:
            random.setstate(python_state)
            if isinstance(rng, np.random.Generator) and numpy_state is not None:
                rng.bit_generator.state = numpy_state
