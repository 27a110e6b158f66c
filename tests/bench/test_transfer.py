"""Taylor & Stone's transfer metrics (`tidyrl.bench.transfer`) against hand-computed values."""

from __future__ import annotations

import pytest

from tidyrl.bench.record import agent_path
from tidyrl.bench.report import write_report
from tidyrl.bench.runner import execute
from tidyrl.bench.suite import Suite, Task
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


# -- wiring: suites name a source and a baseline, the runner keeps and loads agents, the report
# -- sets fine-tuned against scratch seed by seed

TINY_PPO = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 2}


def tiny_task(label: str, env: str = "CartPole-v1", **kwargs) -> Task:
    return Task("ppo", env, 256, threshold=475, overrides=TINY_PPO, label=label, **kwargs)


TRANSFER_SUITE = Suite(
    "tiny-transfer",
    "transfer",
    (
        tiny_task(
            "fine-tuned", "tidyrl/CartPoleLongPole-v1", init_from="source", baseline="scratch"
        ),
        tiny_task("scratch", "tidyrl/CartPoleLongPole-v1", eval_every=128),
        tiny_task("source"),
    ),
    seeds=(0,),
)


def transfer_row(text: str, name: str) -> list[str]:
    """The cells of task `name`'s row in the report's transfer table."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| task | env | source"))
    row = next(line for line in lines[start:] if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in row.split("|")[1:-1]]


def test_suites_check_the_tasks_they_name():
    with pytest.raises(ValueError, match="init_from='nope', which is no task"):
        Suite("s", "transfer", (tiny_task("a", init_from="nope"),))
    with pytest.raises(ValueError, match="cannot start from 'b', a sac task"):
        Suite(
            "s",
            "transfer",
            (tiny_task("a", init_from="b"), Task("sac", "Pendulum-v1", 10, label="b")),
        )
    with pytest.raises(ValueError, match="goes round in a circle: a -> b -> a"):
        Suite("s", "transfer", (tiny_task("a", init_from="b"), tiny_task("b", init_from="a")))
    assert [TRANSFER_SUITE.stage(t) for t in TRANSFER_SUITE.tasks] == [1, 0, 0]
    assert TRANSFER_SUITE.sources == {"source"}
    assert TRANSFER_SUITE.start_evaluated == {"fine-tuned", "scratch"}


def test_a_fine_tuned_task_starts_from_its_source_and_the_report_compares(tmp_path):
    fine_tuned = execute(TRANSFER_SUITE, 0, 0, "tidyrl", 1, tmp_path)
    assert "source task 'source' kept no agent" in fine_tuned["error"]  # sources run first
    records = [execute(TRANSFER_SUITE, i, 0, "tidyrl", 1, tmp_path) for i in (2, 1, 0)]
    source, scratch, fine_tuned = records
    assert not any("error" in r for r in records), [r.get("error") for r in records]
    kept = agent_path(tmp_path, TRANSFER_SUITE, TRANSFER_SUITE.task("source"), 0)
    assert fine_tuned["transfer"]["source_agent"] == str(kept)
    assert fine_tuned["transfer"]["source_steps"] == 256
    assert [p["step"] for p in scratch["curve"]] == [0, 128, 256]  # evaluated at step 0 too
    assert source["curve"][0]["step"] > 0  # neither fine-tuned nor a baseline: no step-0 eval
    assert (kept / "checkpoint" / "meta.json").is_file()
    assert fine_tuned["curve"][0]["step"] == 0
    expected = transfer_metrics(
        [(p["step"], p["mean_return"]) for p in fine_tuned["curve"]],
        [(p["step"], p["mean_return"]) for p in scratch["curve"]],
    )
    report = write_report(tmp_path, tmp_path / "RESULTS.md", {"tiny-transfer": TRANSFER_SUITE})
    cells = transfer_row(report.read_text(), "fine-tuned")
    assert cells[2] == "source (256 steps)" and cells[3] == "scratch" and cells[4] == "0"
    assert cells[5] == f"{expected['jumpstart']:.1f}"
    assert cells[7] == f"{expected['threshold']:.1f}"


def test_the_step_ratio_by_hand(tmp_path):
    """Two synthetic records: scratch reaches its final return 4 at step 20, the fine-tuned
    learner at step 10, so the ratio is 50% (the target, met)."""
    from tidyrl.bench.record import FORMAT, write_record

    def record(label, curve, **task):
        return {
            "format": FORMAT,
            "suite": "hand",
            "family": "transfer",
            "library": "tidyrl",
            "seed": 0,
            "task": {
                "name": label,
                "env": "E",
                "algo": "ppo",
                "steps": 20,
                "threshold": None,
                **task,
            },
            "curve": [{"step": s, "mean_return": v, "std_return": 0.0} for s, v in curve],
            "final_eval": {"mean_return": curve[-1][1], "std_return": 0.0},
            "solved": False,
            "time_to_threshold": None,
            "train_wall_s": 1.0,
            "env_steps_per_s": 20.0,
            "update_steps_per_s": 1.0,
            "peak_rss_mb": 1.0,
            "ceilings": {
                "raw_env_steps_per_s": 1.0,
                "random_return": 0.0,
                "update_probe_per_s": None,
            },
            "steps": 20,
            "updates": 1,
            "provenance": {"commit": "c", "date": "d", "cpu": "x", "cores": 1, "versions": {}},
        }

    write_record(tmp_path / "a.json", record("scratch", SCRATCH))
    write_record(tmp_path / "b.json", record("tuned", TRANSFER, baseline="scratch"))
    cells = transfer_row(write_report(tmp_path, tmp_path / "RESULTS.md", {}).read_text(), "tuned")
    # jump-start 2, asymptotic gain 0, threshold 4, 10 vs 20 steps, area ratio (70-40)/40
    assert cells[5:] == ["2.0", "0.0", "4.0", "10", "20", "50% (1/1 ≤ 50%)", "0.75"]
