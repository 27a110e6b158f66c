"""Taylor & Stone's transfer metrics (`tidyrl.bench.transfer`) against hand-computed values."""

from __future__ import annotations

import pytest

from tidyrl.bench.transfer import area_above, steps_to_threshold, transfer_metrics

# from scratch: 0 -> 2 -> 4 over steps 0, 10, 20; transferred: 2 -> 4 -> 4
SCRATCH = [(0, 0.0), (10, 2.0), (20, 4.0)]
TRANSFER = [(0, 2.0), (10, 4.0), (20, 4.0)]


def test_area_by_hand():
    # trapezoids above 0: (0 + 2) / 2 * 10 + (2 + 4) / 2 * 10 = 10 + 30
    assert area_above(SCRATCH, 0.0, 20) == pytest.approx(40.0)
    # (2 + 4) / 2 * 10 + 4 * 10 = 70; above baseline 1: 70 - 20
    assert area_above(TRANSFER, 0.0, 20) == pytest.approx(70.0)
    assert area_above(TRANSFER, 1.0, 20) == pytest.approx(50.0)
    assert area_above(TRANSFER, 0.0, 10) == pytest.approx(30.0)  # only steps <= end


def test_steps_to_threshold():
    assert steps_to_threshold(SCRATCH, 4.0) == 20
    assert steps_to_threshold(TRANSFER, 3.0) == 10
    assert steps_to_threshold(SCRATCH, 5.0) is None


def test_transfer_metrics_by_hand():
    m = transfer_metrics(TRANSFER, SCRATCH)
    assert m["jumpstart"] == 2.0 and m["asymptotic_gain"] == 0.0
    # threshold = scratch's final return 4: transfer at 10 steps, scratch at 20
    assert m["threshold"] == 4.0
    assert (m["steps_to_threshold_transfer"], m["steps_to_threshold_scratch"]) == (10, 20)
    assert m["steps_saved"] == 10
    # baseline = lowest return (0): (70 - 40) / 40
    assert m["area_ratio"] == pytest.approx(0.75)


def test_negative_returns_use_the_lowest_return_as_baseline():
    shift = -1000.0
    scratch = [(s, v + shift) for s, v in SCRATCH]
    transfer = [(s, v + shift) for s, v in TRANSFER]
    assert transfer_metrics(transfer, scratch)["area_ratio"] == pytest.approx(0.75)
    m = transfer_metrics(transfer, scratch, threshold=shift + 5.0)
    assert m["steps_saved"] is None and m["steps_to_threshold_transfer"] is None
