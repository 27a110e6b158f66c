"""Ring storage: fixed-capacity arrays, one per field, overwritten oldest-first.

The storage knows nothing about sampling (samplers choose indices) or about n-step returns
(accumulators transform transitions before they arrive): Dopamine's separation of replay into
storage + sampler + accumulator, which lets uniform, prioritized and n-step replay compose.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tidyrl.errors import ConfigError


def nest(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`arrays` renamed `prefix/name`: one part's state inside a checkpoint's flat namespace."""
    return {f"{prefix}/{name}": value for name, value in arrays.items()}


def section(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries of `arrays` named `prefix/...`, without the prefix (inverse of `nest`)."""
    head = prefix + "/"
    return {name[len(head) :]: value for name, value in arrays.items() if name.startswith(head)}


def human_bytes(n: float) -> str:
    """Bytes for a message: 24.6 GB, 310.0 MB, 50.0 kB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.1f} kB"


def too_large(rows: int, row_bytes: int) -> ConfigError:
    """The error for buffer arrays the system will not reserve (numpy's MemoryError)."""
    return ConfigError(
        f"cannot reserve {human_bytes(rows * row_bytes)} for {rows:,} rows of {row_bytes:,} "
        "bytes; valid: a smaller buffer_size"
    )


class RingStorage:
    """Columns of shape (capacity, *field_shape); `add` appends a batch of rows, wrapping around."""

    def __init__(self, capacity: int, spec: Mapping[str, tuple[tuple[int, ...], np.dtype | type]]):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        try:
            self.columns = {
                name: np.zeros((self.capacity, *shape), dtype=dtype)
                for name, (shape, dtype) in spec.items()
            }
        except MemoryError as exc:  # more than the system lets one process reserve
            sizes = spec.values()
            row = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in sizes)
            raise too_large(self.capacity, row) from exc
        self.cursor = 0
        """Index of the next row to write."""
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return sum(column.nbytes for column in self.columns.values())

    def add(self, **rows: np.ndarray) -> np.ndarray:
        """Append a batch of rows (every field, same leading length); return their indices."""
        if set(rows) != set(self.columns):
            missing = set(self.columns) - set(rows)
            extra = set(rows) - set(self.columns)
            raise KeyError(
                f"RingStorage.add: missing fields {sorted(missing)}, unknown {sorted(extra)}"
            )
        n = len(next(iter(rows.values())))
        if n > self.capacity:
            raise ValueError(f"cannot add {n} rows to a storage of capacity {self.capacity}")
        index = (self.cursor + np.arange(n)) % self.capacity
        for name, value in rows.items():
            self.columns[name][index] = value
        self.cursor = (self.cursor + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        return index

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The rows written so far and the write position, for a checkpoint."""
        arrays = {f"columns/{name}": column[: self.size] for name, column in self.columns.items()}
        arrays["cursor"], arrays["size"] = np.asarray(self.cursor), np.asarray(self.size)
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into storage of the same capacity and fields)."""
        size = int(arrays["size"])
        if size > self.capacity:
            raise ValueError(f"{size} stored rows do not fit a capacity of {self.capacity}")
        for name, column in self.columns.items():
            column[:size] = arrays[f"columns/{name}"]
        self.cursor, self.size = int(arrays["cursor"]), size

    def get(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Rows at `index` (fancy indexing: copies)."""
        return {name: column[index] for name, column in self.columns.items()}

    def sample_uniform(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Indices drawn uniformly (with replacement) from the rows written so far."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty storage")
        return rng.integers(0, self.size, size=batch_size)
