"""`tidyrl.loops.malloc`: with glibc's thresholds fixed, a training loop stops faulting pages in."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

import tidyrl
from tidyrl.loops import malloc

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a small training loop (512-unit MLP, batch 512, gradients dropped after each step) that prints
# the minor page faults of 100 steps, in a fresh process with or without the settings
LOOP = textwrap.dedent(
    """
    import resource, sys, torch
    from tidyrl.loops.malloc import keep_freed_memory
    if sys.argv[1] == "on":
        assert keep_freed_memory()
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
    default, kept = faults("off"), faults("on")
    # measured: ~40,000 faults with glibc's defaults (the loop's 1 MiB blocks are mapped and
    # unmapped, or trimmed, every step), a few hundred at most with the settings
    assert default > 5_000
    assert kept < default / 20


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's")
def test_keep_freed_memory_reports_success_and_is_idempotent():
    assert malloc.keep_freed_memory()
    assert malloc.keep_freed_memory()


def test_agents_apply_it_unless_the_run_turns_it_off(monkeypatch):
    calls: list[bool] = []
    monkeypatch.setattr(tidyrl.agent, "keep_freed_memory", lambda: calls.append(True) or True)
    tidyrl.make("dqn", "CartPole-v1", keep_freed_memory=False)
    assert calls == []
    tidyrl.make("dqn", "CartPole-v1")
    assert calls == [True]
