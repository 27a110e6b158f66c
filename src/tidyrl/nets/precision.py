"""The compute precision of the hidden-to-hidden matmuls: float32, bfloat16, or whichever runs fast.

bfloat16 pays only where the hardware multiplies it natively: CPUs with AVX-512 BF16 (or AMX
tiles) and CUDA GPUs with bf16 units. Elsewhere torch emulates it, and an update runs many
times slower than in float32 instead of faster (figures in docs/performance.md). So ``"auto"``
picks bf16 only where it is native, and an explicit ``"bf16"`` on hardware without it runs (the
numbers are the same) but warns once.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "auto"]
PRECISIONS = ("fp32", "bf16", "auto")


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether `device` multiplies bfloat16 matrices natively (not by emulation)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


_WARNED: set[str] = set()


def compute_dtype(precision: str, device: torch.device | str = "cpu") -> torch.dtype | None:
    """The matmul dtype for `precision` on `device`: ``torch.bfloat16``, or None for float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    native = native_bf16(device)
    if precision == "auto":
        return torch.bfloat16 if native else None
    if not native and str(device) not in _WARNED:
        _WARNED.add(str(device))
        warnings.warn(
            f"precision='bf16' on a {torch.device(device).type} without native bfloat16 "
            "matmuls (no AVX-512 BF16 / AMX here): torch emulates it, typically several times "
            "slower than fp32; use precision='auto' or 'fp32'",
            RuntimeWarning,
            stacklevel=2,
        )
    return torch.bfloat16
