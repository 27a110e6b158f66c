"""Network building blocks composed by the algorithms."""

from tidyrl.nets.mlp import mlp

__all__ = ["mlp"]
