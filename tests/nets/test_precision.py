"""compute_dtype: "auto" picks bf16 only where it is native; explicit bf16 elsewhere warns."""

from __future__ import annotations

import warnings

import pytest
import torch

from tidyrl.nets import precision


def test_fp32_is_float32_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": True)
    assert precision.compute_dtype("fp32") is None


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": native)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        dtype = precision.compute_dtype("auto")
    assert dtype is (torch.bfloat16 if native else None)


def test_explicit_bf16_without_native_support_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": False)
    monkeypatch.setattr(precision, "_WARNED", set())
    with pytest.warns(RuntimeWarning, match="emulates"):
        assert precision.compute_dtype("bf16") is torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.compute_dtype("bf16") is torch.bfloat16


def test_explicit_bf16_with_native_support_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device="cpu": True)
    monkeypatch.setattr(precision, "_WARNED", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.compute_dtype("bf16") is torch.bfloat16


def test_unknown_precision_names_the_choices() -> None:
    with pytest.raises(ValueError, match="fp32, bf16, auto"):
        precision.compute_dtype("fp16")


def test_native_bf16_reads_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not precision.native_bf16("cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.native_bf16("cpu")
    assert not precision.native_bf16("meta")
