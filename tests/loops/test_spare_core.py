"""spare_core counts the cores this process may run on, not the machine's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tidyrl.loops.spare_core import usable_cores


def test_usable_cores_is_the_affinity_set():
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))
    else:
        assert usable_cores() == (os.cpu_count() or 1)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_core_gets_no_helper_thread():
    # as under `taskset -c 0`: one usable core, so no helper thread that would share it
    code = (
        "import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "import torch; torch.set_num_threads(1)\n"
        "from tidyrl.loops.spare_core import spare_core, usable_cores\n"
        "print(usable_cores(), spare_core() is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "True"]
