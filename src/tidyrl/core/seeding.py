"""Seeding: one call makes torch, NumPy and Python's `random` reproducible for a run."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch's and Python's global generators; return a NumPy Generator for the agent.

    Agents draw their own randomness from the returned Generator (never from `np.random`'s
    global state), so two agents in one process do not disturb each other.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def resolve_device(name: str) -> torch.device:
    """Map 'auto' to cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
