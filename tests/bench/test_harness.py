"""The benchmark harness end to end on tiny tasks: records, report, regression gate, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tidyrl import cli
from tidyrl.bench.record import FORMAT, git_commit, load_records
from tidyrl.bench.report import check_solved, write_report
from tidyrl.bench.runner import execute, plan
from tidyrl.bench.suite import Peer, Suite, Task

DET_LAKE = {"env_kwargs": {"is_slippery": False}}
TASK = Task("q-learning", "FrozenLake-v1", 3000, threshold=1.0, overrides=DET_LAKE, eval_every=1000)
SUITE = Suite("tiny", "tabular", (TASK,), seeds=(0, 1))


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return out, [execute(SUITE, 0, seed, "tidyrl", 1, out) for seed in (0, 1)]


def test_a_record_holds_provenance_curve_speed_memory_and_ceilings(records):
    out, (record, _) = records
    assert record["format"] == FORMAT and "error" not in record
    prov = record["provenance"]
    assert {"commit", "versions", "cpu", "cores", "python"} <= set(prov)
    assert prov["versions"]["torch"] and prov["versions"]["gymnasium"]
    assert [p["step"] for p in record["curve"]] == [1000, 2000, 3000]
    assert record["final_eval"]["episodes"] == 10
    assert record["final_eval"]["mean_return"] == record["curve"][-1]["mean_return"]
    # deterministic FrozenLake 4x4 is solved well within 3,000 Q-learning steps
    assert record["solved"] and record["time_to_threshold"]["steps"] <= 3000
    wall = record["train_wall_s"]
    assert 0 < wall <= record["total_wall_s"]
    assert record["env_steps_per_s"] == pytest.approx(record["steps"] / wall, rel=0.01)
    assert record["peak_rss_mb"] > 10
    ceilings = record["ceilings"]
    assert ceilings["raw_env_steps_per_s"] > 0 and ceilings["random_episodes"] > 0
    assert 0.0 <= ceilings["random_return"] < 0.2  # random walks rarely reach the goal
    assert len(load_records(out)) == 2


def test_report_is_regenerated_from_records(records, tmp_path):
    out, _ = records
    md = write_report(out, tmp_path / "RESULTS.md", {"tiny": SUITE})
    text = md.read_text()
    assert "### Suite `tiny`" in text
    assert "2/2 ≥ 1" in text  # both seeds solved
    assert "IQM" in text and (tmp_path / "plots" / "iqm.png").is_file()
    assert (tmp_path / "plots" / "tiny.png").is_file()
    assert write_report(out, tmp_path / "again.md", {"tiny": SUITE}).read_text() == text


def test_regression_gate(records):
    _, recs = records
    assert check_solved(SUITE, recs) == []
    hard = Suite("tiny", "tabular", (Task(**{**TASK.__dict__, "threshold": 2.0}),))
    problems = check_solved(hard, recs)
    assert len(problems) == 1 and "0/2 seeds reached 2" in problems[0]


def test_plan_alternates_libraries_and_filters():
    peer_task = Task("q-learning", "FrozenLake-v1", 10, peer=Peer("DQN"))
    suite = Suite("s", "tabular", (TASK, peer_task), seeds=(0, 1, 2))
    jobs = plan(suite, suite.seeds, "", peers=True)
    assert [(j.task_index, j.seed, j.library) for j in jobs] == [
        (0, 0, "tidyrl"), (0, 1, "tidyrl"), (0, 2, "tidyrl"),
        (1, 0, "tidyrl"), (1, 0, "peer"),
        (1, 1, "peer"), (1, 1, "tidyrl"),
        (1, 2, "tidyrl"), (1, 2, "peer"),
    ]  # fmt: skip
    assert all(j.library == "tidyrl" for j in plan(suite, (0,), "", peers=False))
    assert plan(suite, (0,), "no such task", peers=True) == []


def test_a_failing_run_is_recorded_not_raised(tmp_path):
    bad = Suite(
        "bad", "tabular", (Task("q-learning", "FrozenLake-v1", 100, overrides={"alpha": 7}),)
    )
    record = execute(bad, 0, 0, "tidyrl", 1, tmp_path)
    assert "alpha" in record["error"]
    assert json.loads(next(tmp_path.rglob("*.json")).read_text())["error"] == record["error"]


def test_peer_run_with_identical_settings(tmp_path):
    pytest.importorskip("stable_baselines3")
    suite = Suite(
        "peer",
        "tabular",
        (
            Task(
                "q-learning", "FrozenLake-v1", 600, threshold=1.0, overrides=DET_LAKE,
                eval_every=300,
                peer=Peer("DQN", {"learning_starts": 100, "learning_rate": "lin_1e-3",
                                  "policy_kwargs": {"net_arch": [16], "activation_fn": "Tanh"}}),
            ),
        ),
    )  # fmt: skip
    record = execute(suite, 0, 0, "peer", 1, tmp_path)
    assert "error" not in record, record.get("traceback")
    assert record["library"] == "sb3" and record["peer_name"] == "sb3 DQN"
    assert [p["step"] for p in record["curve"]] == [300, 600]
    assert record["provenance"]["versions"]["stable-baselines3"]
    assert record["train_wall_s"] <= record["total_wall_s"]


def test_cli_bench_list_and_errors(capsys):
    assert cli.main(["bench", "list"]) == 0
    out = capsys.readouterr().out
    assert "quick [quick]" in out and "tabular [tabular]" in out
    assert cli.main(["bench", "run", "no-such-suite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown benchmark suite 'no-such-suite'" in err[0]
    assert "quick" in err[0]
    assert cli.main(["bench", "run", "quick", "--seeds", "a,b"]) == 2
    capsys.readouterr()
    assert cli.main(["bench", "run", "quick", "--task", "nothing-matches"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its tasks: 'q-learning 4x4-det FrozenLake-v1'" in err[0]


def test_task_filter_starts_at_a_word():
    ddpg = Task("ddpg", "LunarLanderContinuous-v3", 1_000)
    sddpg = Task("sddpg", "LunarLanderContinuous-v3", 1_000)
    recurrent = Task("recurrent-ppo", "CartPole-v1", 1_000)
    assert ddpg.matches("DDPG lunarlander") and not sddpg.matches("ddpg LunarLander")
    assert sddpg.matches("sddpg") and not recurrent.matches("ppo")
    assert recurrent.matches("cartpole") and recurrent.matches("") and not ddpg.matches("Lander")


def test_cli_bench_run_in_parallel_processes_with_check(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tidyrl", "bench", "run", "quick", "--task", "value-iteration",
         "--out", str(tmp_path), "--check", "--jobs", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "every task reached its threshold" in result.stdout
    assert len(list(tmp_path.rglob("*.json"))) == 2


def test_commit_is_dirty_for_code_changes_not_for_bench_outputs(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "src.py").write_text("x = 1\n")
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "r.json").write_text("{}\n")
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("old\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_commit(str(tmp_path))
    assert clean != "unknown" and not clean.endswith("+dirty")
    # a run's own records and report do not change the measured code ...
    (results / "r.json").write_text('{"new": 1}\n')
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("new\n")
    assert git_commit(str(tmp_path)) == clean
    # ... from a subdirectory too, and a code change does
    assert git_commit(str(results)) == clean
    (tmp_path / "src.py").write_text("x = 2\n")
    assert git_commit(str(results)) == clean + "+dirty"


def test_suites_come_from_the_benchmarks_folder(tmp_path, monkeypatch, capsys):
    suites = tmp_path / "mine" / "suites"
    suites.mkdir(parents=True)
    (suites / "toy.py").write_text(
        "from tidyrl.bench.suite import Suite, Task\n"
        "SUITES = [Suite('toy', 'tabular', (Task('q-learning', 'FrozenLake-v1', 10),))]\n"
    )
    (suites / "_private.py").write_text("raise RuntimeError('helpers are not collected')\n")
    assert cli.main(["bench", "list", "--benchmarks", str(tmp_path / "mine")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("toy [tabular]")
    monkeypatch.setenv("TIDYRL_BENCHMARKS", str(tmp_path / "mine"))
    assert cli.main(["bench", "list"]) == 0
    assert "toy [tabular]" in capsys.readouterr().out
    assert cli.main(["bench", "run", "quick"]) == 2  # that folder has no quick suite
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown benchmark suite 'quick'" in err[0] and "toy" in err[0]


def test_the_repositorys_suites_name_a_family_of_the_report():
    """A suite's family picks its RESULTS.md section; a misspelt one (``actor-critic`` for
    ``actor_critic``) would open a section of its own."""
    from pathlib import Path

    from tidyrl.bench.folder import all_suites
    from tidyrl.bench.report import FAMILIES

    suites = all_suites(Path(__file__).parents[2] / "benchmarks")
    assert len(suites) > 20
    assert {name: s.family for name, s in suites.items() if s.family not in FAMILIES} == {}


def test_a_missing_benchmarks_folder_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TIDYRL_BENCHMARKS")
    monkeypatch.chdir(tmp_path)  # no ./benchmarks here
    for argv in (["bench", "list"], ["bench", "run", "quick"], ["bench", "report"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--benchmarks DIR" in err[0] and "TIDYRL_BENCHMARKS" in err[0]
    assert cli.main(["bench", "list", "--benchmarks", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_whole_process_records_render_as_one_side_by_side_table(tmp_path):
    from tidyrl.bench.report import WHOLE_PROCESS_FORMAT, whole_process_section

    def record(library: str, seed: int, wall: float, ret: float) -> None:
        data = {
            "format": WHOLE_PROCESS_FORMAT,
            "task": "ppo",
            "algo": "ppo",
            "env": "CartPole-v1",
            "steps": 1000,
            "seed": seed,
            "library": library,
            "wall_s": wall,
            "eval_mean": ret,
            "eval_std": 0.0,
            "command": "tidyrl train ppo CartPole-v1",
            "provenance": {"commit": "abc1234"},
        }
        (tmp_path / f"{library}-{seed}.json").write_text(json.dumps(data))

    for seed, (ours, theirs) in enumerate([(10.0, 20.0), (12.0, 18.0), (11.0, 30.0)]):
        record("tidyrl", seed, ours, 500.0)
        record("sb3", seed, theirs, 480.0 + seed)
    lines = whole_process_section(tmp_path)
    row = next(line for line in lines if line.startswith("| ppo |"))
    assert "10.0 / 12.0 / 11.0" in row and "20.0 / 18.0 / 30.0" in row
    assert "**0.55×**" in row  # median 11 / median 20
    assert "480.0 / 481.0 / 482.0" in row
    assert whole_process_section(tmp_path / "none") == []


def test_distributed_records_render_as_one_section(tmp_path):
    from tidyrl.bench.report import DISTRIBUTED_FORMAT, distributed_section

    def record(part: str, **body: object) -> None:
        data = {"format": DISTRIBUTED_FORMAT, "part": part, "note": "a note", **body}
        (tmp_path / f"{part}.json").write_text(json.dumps(data))

    assert distributed_section(tmp_path) == []
    runs = [{"import": 1.0, "ray_init": r, "four_workers_ready": 2 * r} for r in (3.0, 5.0, 4.0)]
    record("startup", runs=runs)
    rows = [
        {
            "workers": 0,
            "steps": 8192,
            "collect_steps_per_second": 1000.4,
            "train_steps_per_second": 800.0,
        },
        {
            "workers": 2,
            "steps": 8192,
            "collect_steps_per_second": 1500.0,
            "train_steps_per_second": 900.0,
        },
    ]
    record("throughput", algo="ppo", env="HalfCheetah-v5", settings={"n_envs": 4}, rows=rows)
    curves = [{"seed": 0, "workers": 2, "seconds": 12.0, "eval_return": [[5000, 99.6]]}]
    record("curve", algo="ppo", env="CartPole-v1", runs=curves)
    text = "\n".join(distributed_section(tmp_path))
    assert "`ray.init` of a local Ray 4.0 s, a run's 4 workers ready 8.0 s" in text  # medians
    assert "| in-process | 8,192 | 1000 | 800 |" in text and "| 2 | 8,192 | 1500 | 900 |" in text
    assert "| 0 | 2 | 5,000: 100 | 12 |" in text


def test_peer_action_noise_is_rl_zoos_normal_noise_on_each_action():
    """RL-Zoo's `noise_type: normal, noise_std: 0.1` for SB3's TD3: the JSON spelling
    `{"normal": 0.1}` becomes NormalActionNoise with that std on every action component."""
    pytest.importorskip("stable_baselines3")
    from tidyrl.bench.folder import peers

    kwargs = peers().peer_kwargs({"action_noise": {"normal": 0.1}, "gamma": 0.9}, action_dim=3)
    noise = kwargs["action_noise"]
    assert type(noise).__name__ == "NormalActionNoise" and kwargs["gamma"] == 0.9
    draws = np.stack([noise() for _ in range(4000)])
    assert draws.shape == (4000, 3)
    np.testing.assert_allclose(draws.std(axis=0), 0.1, rtol=0.05)
