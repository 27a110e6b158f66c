"""tidyrl: every classic deep RL method, readable, tested, proven to learn.

import tidyrl
agent = tidyrl.make("q-learning", "FrozenLake-v1", seed=0)
agent.learn(20_000)
stats = tidyrl.evaluate(agent, episodes=10)
"""

from typing import Any

from tidyrl.errors import CheckpointError, ConfigError, EnvError, RunError, TidyError

__version__ = "0.1.0"

_LAZY = {
    "Agent": "tidyrl.agent",
    "make": "tidyrl.api",
    "load": "tidyrl.api",
    "evaluate": "tidyrl.api",
}


def __getattr__(name: str) -> Any:
    """Import torch-backed parts on first use, so `tidyrl --help` starts instantly."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tidyrl' has no attribute {name!r}")


__all__ = [
    "Agent",
    "CheckpointError",
    "ConfigError",
    "EnvError",
    "RunError",
    "TidyError",
    "__version__",
    "evaluate",
    "load",
    "make",
]
