"""The installed Qt binding must not leak references to None/True: PySide6
6.12.0 does on Python < 3.12 and aborts a viewer session after a few thousand
signal emissions (pyproject excludes it; this catches an environment that
installed it anyway)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from PySide6 import QtCore
class Source(QtCore.QObject):
    changed = QtCore.Signal(int)
source = Source()
source.changed.connect(lambda value: None)
timer = QtCore.QTimer()
none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
for i in range(2000):
    source.changed.emit(i)
    timer.setInterval(5)
print(sys.getrefcount(None) - none_before, sys.getrefcount(True) - true_before)
"""


def test_signal_emission_does_not_leak_singleton_references() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    none_delta, true_delta = (int(v) for v in result.stdout.split())
    assert none_delta > -100 and true_delta > -100, result.stdout
