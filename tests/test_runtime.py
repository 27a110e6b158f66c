"""`tidyrl.runtime`: the one owner of process-level settings (threads, denormals, malloc, the
side-by-side helper); agents themselves change no global state."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch

import tidyrl
from tidyrl import runtime

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a small training loop (512-unit MLP, batch 512, gradients dropped after each step) that prints
# the minor page faults of 100 steps, in a fresh process with or without the settings
LOOP = textwrap.dedent(
    """
    import resource, sys, torch
    from tidyrl.runtime import keep_freed_memory_in_process
    if sys.argv[1] == "on":
        assert keep_freed_memory_in_process()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 1),
    )
    x = torch.randn(512, 8)
    def step():
        net(x).square().mean().backward()
        for p in net.parameters():
            p.grad = None
    for _ in range(5):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
def test_fixed_thresholds_stop_the_page_faults_of_a_training_loop():
    # measured: 9,000-40,000 faults with glibc's defaults (the loop's 1 MiB blocks are mapped
    # and unmapped, or trimmed, every step), a few hundred at most with the settings. glibc's
    # dynamic mmap threshold can settle before the loop in a fresh process (once in a CI run
    # the default loop faulted once), so the defaults get up to three fresh processes; a
    # process with the settings once faulted 513 times beside 9,445 under a loaded CI run, so
    # it gets up to three too, and the bar is an order of magnitude.
    default = 0
    for _ in range(3):
        default = max(default, faults("off"))
        if default > 5_000:
            break
    assert default > 5_000
    kept = default
    for _ in range(3):
        kept = min(kept, faults("on"))
        if kept < default / 20:
            break
    assert kept < default / 10


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
def test_keep_freed_memory_reports_success_and_is_idempotent():
    assert runtime.keep_freed_memory_in_process()
    assert runtime.keep_freed_memory_in_process()


def test_make_applies_it_unless_the_run_turns_it_off(monkeypatch):
    calls: list[bool] = []
    monkeypatch.setattr(runtime, "keep_freed_memory_in_process", lambda: calls.append(True))
    tidyrl.make("dqn", "CartPole-v1", keep_freed_memory=False)
    assert calls == []
    tidyrl.make("dqn", "CartPole-v1")
    assert calls == [True]


def test_building_an_agent_class_directly_changes_no_process_setting(monkeypatch):
    from tidyrl.algos.value.dqn import DQN

    calls: list[str] = []
    monkeypatch.setattr(runtime, "keep_freed_memory_in_process", lambda: calls.append("malloc"))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(f"threads={n}"))
    monkeypatch.setattr(torch, "set_flush_denormal", lambda on: calls.append("denormal"))
    DQN("CartPole-v1").close()
    assert calls == []
    runtime.configure(default_threads=1)
    assert "denormal" in calls and "malloc" in calls


def test_flush_denormal_turns_subnormal_results_into_zero():
    try:
        torch.set_flush_denormal(False)
        tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 subnormal
        assert float(tiny * 1.0) != 0.0
        runtime.configure(keep_freed_memory=False)
        assert float(tiny * 1.0) == 0.0
    finally:
        torch.set_flush_denormal(True)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_core_runs_both_steps_on_its_own_thread():
    # as under `taskset -c 0`: one usable core, so no helper thread that would only share it
    code = (
        "import os, threading; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "import torch; torch.set_num_threads(1)\n"
        "from tidyrl.runtime import run_side_by_side\n"
        "me = threading.get_ident()\n"
        "a, b = run_side_by_side(threading.get_ident, threading.get_ident)\n"
        "print(a == me, b == me)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_side_by_side_runs_the_second_step_on_a_helper_when_a_core_is_spare(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(runtime, "spare_core", lambda: pool)
    me = threading.get_ident()
    first, second = runtime.run_side_by_side(threading.get_ident, threading.get_ident)
    assert first == me and second != me
    pool.shutdown()


def test_side_by_side_waits_for_the_helper_when_the_first_step_fails(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(runtime, "spare_core", lambda: pool)
    done: list[bool] = []
    release = threading.Event()

    def second() -> None:
        release.wait(5)
        done.append(True)

    def first() -> None:
        release.set()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        runtime.run_side_by_side(first, second)
    assert done == [True]  # the helper had finished before the error reached the caller
    pool.shutdown()


CHILD_OF_A_KILLED_PARENT = """
import multiprocessing, sys, time
from pathlib import Path

def job(pid_file):
    from tidyrl import runtime
    assert runtime.exit_with_parent()
    Path(pid_file).write_text(str(__import__("os").getpid()))
    time.sleep(120)  # a long benchmark run

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[2])
    child = context.Process(target=job, args=(sys.argv[1],))
    child.start()
    time.sleep(120)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper (this container's PID 1 may not reap)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_child_process_ends_when_its_parent_is_killed(tmp_path, start_method):
    """A SIGKILLed `tidyrl bench run` cannot stop its job processes (spawned), nor a killed A3C
    run its workers (forked); before this they trained on for the rest of their run. A child
    that called `exit_with_parent` ends as soon as its parent does."""
    script, pid_file = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(CHILD_OF_A_KILLED_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file), start_method])
    try:
        for _ in range(600):  # the child imports torch first
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        child = int(pid_file.read_text())
        assert _running(child)
    finally:
        parent.kill()
        parent.wait()
    for _ in range(100):
        if not _running(child):
            break
        time.sleep(0.1)
    assert not _running(child)


def test_exit_with_parent_does_nothing_outside_a_multiprocessing_child():
    assert runtime.exit_with_parent() is False
