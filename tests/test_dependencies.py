"""The installed environment: pygame and pygame-ce both install the `pygame` module, so with
both present which one Python imports depends on install order. tidyrl (like gymnasium >= 1.3,
mpe2 and minigrid) depends on pygame-ce; CI fails when plain pygame is installed beside it."""

from __future__ import annotations

import importlib.metadata
import re

from tests.helpers import ROOT


def installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_pygame_and_pygame_ce_are_not_both_installed():
    assert installed("pygame-ce"), "tidyrl depends on pygame-ce: pip install pygame-ce"
    assert not installed("pygame"), (
        "pygame and pygame-ce are both installed and overwrite each other's `pygame` module: "
        "pip uninstall -y pygame pygame-ce && pip install -c constraints.txt pygame-ce"
    )


def test_tidyrl_declares_pygame_ce_and_pins_it():
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("]", 1)[0]
    names = re.findall(r'"([A-Za-z0-9_.-]+)', block)
    assert "pygame-ce" in names and "pygame" not in names
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    assert any(p.startswith("pygame-ce==") for p in pins)
    assert not any(p.startswith("pygame==") for p in pins)
