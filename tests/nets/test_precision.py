"""compute_dtype: "auto" picks bf16 only where it is native; explicit bf16 elsewhere warns."""

from __future__ import annotations

import warnings

import pytest
import torch

from tidyrl.nets import precision


def test_fp32_critics_compute_float32_products_and_bf16_rounds_the_hidden_ones() -> None:
    from tidyrl.nets.critics import QEnsemble

    torch.manual_seed(0)
    critic = QEnsemble(5, 2, (64, 64), n_critics=2)
    obs, actions = torch.randn(32, 5), torch.randn(32, 2)
    # the reference: each member as a plain float64 MLP
    x = torch.cat([obs, actions], -1).double()
    first_w = critic.first.weight.double().view(2, 64, -1)
    first_b = critic.first.bias.double().view(2, 1, 64)
    h = torch.relu(x @ first_w.mT + first_b)
    for layer in critic.layers[:-1]:
        h = torch.relu(h @ layer.weight.double() + layer.bias.double())
    last = critic.layers[-1]
    reference = h @ last.weight.double() + last.bias.double()
    with torch.no_grad():
        critic.compute_dtype = precision.compute_dtype("fp32")
        fp32 = critic(obs, actions).double()
        critic.compute_dtype = torch.bfloat16  # as precision="bf16" sets it
        bf16 = critic(obs, actions).double()
    fp32_error = (fp32 - reference).abs().max().item()
    bf16_error = (bf16 - reference).abs().max().item()
    assert fp32_error < 1e-5
    assert 10 * fp32_error < bf16_error < 5e-2  # rounded to bf16's 8-bit mantissa, not beyond


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
