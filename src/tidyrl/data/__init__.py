"""Typed batches and storage shared by the algorithms."""

from tidyrl.data.batch import Transition
from tidyrl.data.storage import RingStorage

__all__ = ["RingStorage", "Transition"]
