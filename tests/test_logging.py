"""Run logging: metrics.csv stays rectangular as columns appear, resumes truncate cleanly, and
plotting aggregates seeds as documented."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from tidyrl.logging import CsvWriter, RunLogger, read_metrics
from tidyrl.plotting import aggregate, curve, pick_metric


def raw_rows(path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_header_grows_and_file_stays_rectangular(tmp_path):
    path = tmp_path / "metrics.csv"
    writer = CsvWriter(path)
    writer.write({"step": 1, "wall_time": 0.5})
    writer.write({"step": 2, "wall_time": 1.0, "loss": 0.25})
    writer.write({"step": 3, "eval_return": 7.5})
    writer.write({"step": 4, "wall_time": 2.0, "loss": 0.125})
    rows = raw_rows(path)
    assert rows[0] == ["step", "wall_time", "loss", "eval_return"]
    assert all(len(r) == 4 for r in rows)
    assert rows[1:] == [
        ["1", "0.5", "", ""],
        ["2", "1", "0.25", ""],
        ["3", "", "", "7.5"],
        ["4", "2", "0.125", ""],
    ]


def test_a_new_writer_continues_an_existing_file(tmp_path):
    path = tmp_path / "metrics.csv"
    CsvWriter(path).write({"step": 1, "a": 1})
    writer = CsvWriter(path)
    assert writer.columns == ["step", "a"]
    writer.write({"step": 2, "a": 2, "b": 3})
    assert raw_rows(path) == [["step", "a", "b"], ["1", "1", ""], ["2", "2", "3"]]


def test_whole_floats_are_written_as_integers(tmp_path):
    path = tmp_path / "metrics.csv"
    CsvWriter(path).write({"step": 1000.0, "x": 2.5, "n": 3, "big": 1e20})
    assert raw_rows(path)[1] == ["1000", "2.5", "3", "1e+20"]


def test_truncate_after(tmp_path):
    path = tmp_path / "metrics.csv"
    writer = CsvWriter(path)
    for step in (100, 200, 300, 400):
        writer.write({"step": step, "x": step / 100})
    writer.write({"step": 500, "x": 5.0, "y": 1.0})
    writer.truncate_after(300)
    assert [r["step"] for r in read_metrics(path)] == [100, 200, 300]
    assert raw_rows(path)[0] == ["step", "x", "y"]  # the header keeps every column
    writer.truncate_after(300)  # idempotent
    writer.write({"step": 350, "x": 3.5})
    assert [r["step"] for r in read_metrics(path)] == [100, 200, 300, 350]
    CsvWriter(tmp_path / "absent.csv").truncate_after(10)  # nothing to do, no error
    assert not (tmp_path / "absent.csv").exists()


def test_run_logger_truncates_on_resume(tmp_path):
    logger = RunLogger(tmp_path, total=300, tensorboard=False)
    for step in (100, 200, 300):
        logger.row({"step": step, "wall_time": 0.0})
    logger.close()
    resumed = RunLogger(tmp_path, total=400, initial=200, tensorboard=False)
    resumed.row({"step": 300, "wall_time": 0.0, "loss": 1.0})
    resumed.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [100, 200, 300]
    assert read_metrics(tmp_path)[-1]["loss"] == 1.0


def test_read_metrics_round_trip(tmp_path):
    path = tmp_path / "metrics.csv"
    written = [
        {"step": 10, "wall_time": 0.25, "episode_return": -3.5},
        {"step": 20, "wall_time": 0.5, "episode_return": 1e-7, "eval_return": 2.0},
        {"step": 30, "wall_time": 0.75, "episode_return": 123456.789},
    ]
    writer = CsvWriter(path)
    for row in written:
        writer.write(row)
    assert read_metrics(path) == written  # empty cells are left out, numbers come back exact
    assert read_metrics(tmp_path) == written  # a run directory works too


def test_read_metrics_skips_text_cells(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,note,x\n1,hello,2\n")
    assert read_metrics(path) == [{"step": 1.0, "x": 2.0}]


def test_aggregate_by_hand():
    a = (np.array([0.0, 10.0]), np.array([0.0, 10.0]))
    b = (np.array([0.0, 10.0]), np.array([2.0, 4.0]))
    grid, mean, std, lo, hi = aggregate([a, b], points=3)
    np.testing.assert_allclose(grid, [0.0, 5.0, 10.0])
    # a: 0, 5, 10; b: 2, 3, 4
    np.testing.assert_allclose(mean, [1.0, 4.0, 7.0])
    np.testing.assert_allclose(std, [1.0, 1.0, 3.0])
    np.testing.assert_allclose(lo, [0.0, 3.0, 4.0])
    np.testing.assert_allclose(hi, [2.0, 5.0, 10.0])


def test_aggregate_stops_at_the_shortest_run():
    long = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0]))
    short = (np.array([5.0, 10.0]), np.array([4.0, 6.0]))
    grid, mean, *_ = aggregate([long, short], points=6)
    np.testing.assert_allclose(grid, [5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    np.testing.assert_allclose(mean, (np.linspace(0.5, 1.0, 6) + np.linspace(4.0, 6.0, 6)) / 2)


def test_curve_and_metric_choice():
    rows = [
        {"step": 1.0, "episode_return": 1.0},
        {"step": 2.0, "episode_return": 3.0, "eval_return": 5.0},
    ]
    steps, values = curve(rows, "episode_return")
    assert steps.tolist() == [1.0, 2.0] and values.tolist() == [1.0, 3.0]
    # eval_return is preferred only where every run has at least two points of it
    assert pick_metric([rows], None) == "episode_return"
    rows.append({"step": 3.0, "eval_return": 6.0})
    assert pick_metric([rows], None) == "eval_return"
    from tidyrl.errors import TidyError

    with pytest.raises(TidyError, match="no run logged metric 'loss'"):
        pick_metric([rows], "loss")


def test_tensorboard_events_hold_the_logged_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = RunLogger(tmp_path, total=200, tensorboard=True)
    logger.row({"step": 100, "wall_time": 0.1, "episode_return": -3.5})
    logger.row({"step": 200, "wall_time": 0.2, "episode_return": 1.5})
    logger.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Scalars("episode_return")
    assert [(s.step, s.value) for s in scalars] == [(100, -3.5), (200, 1.5)]
