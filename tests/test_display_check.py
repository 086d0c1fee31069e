"""The viewer without a screen ends with one line on stderr and exit code 2,
never Qt's abort (a core dump and its plugin list)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.display_check import display_problem

ROOT = Path(__file__).resolve().parent.parent


def viewer(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in env_changes}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    return subprocess.run([sys.executable, str(ROOT / "main.py")], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 / Wayland checks are Linux-only")
@pytest.mark.parametrize(("env_changes", "words"), [
    ({"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None}, "DISPLAY is not set"),
    ({"QT_QPA_PLATFORM": "nonsense"}, "names no installed Qt platform"),
    ({"DISPLAY": ":97", "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": "xcb"}, "does not answer"),
])
def test_no_display_is_one_line_and_exit_2(env_changes: dict[str, str | None], words: str) -> None:
    result = viewer(env_changes)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("cannot start the viewer")
    assert "Aborted" not in result.stderr and "core dumped" not in result.stderr


def test_headless_platforms_and_a_set_wayland_display_pass() -> None:
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    if sys.platform.startswith("linux"):
        assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
        assert "WAYLAND_DISPLAY" in (display_problem({"QT_QPA_PLATFORM": "wayland"}) or "")
