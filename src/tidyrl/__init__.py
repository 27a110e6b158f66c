"""tidyrl: every classic deep RL method, readable, tested, proven to learn.

    import tidyrl
    agent = tidyrl.make("q-learning", "FrozenLake-v1", seed=0)
    agent.learn(20_000)
    stats = tidyrl.evaluate(agent, episodes=10)
"""

from tidyrl.agent import Agent
from tidyrl.api import evaluate, load, make
from tidyrl.errors import CheckpointError, ConfigError, EnvError, TidyError

__version__ = "0.1.0"

__all__ = [
    "Agent", "CheckpointError", "ConfigError", "EnvError", "TidyError", "__version__",
    "evaluate", "load", "make",
]
