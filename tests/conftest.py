"""Shared test set-up: offscreen Qt, deterministic small torch."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Every GUI slot connected through app.gui_thread.connect_gui records a call off the GUI thread.
os.environ["IMPLICIT_ZOOM_CHECK_GUI_THREAD"] = "1"
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seeded_torch() -> None:
    import torch

    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _gui_slots_on_the_gui_thread() -> Iterator[None]:
    """Fails a test in which any GUI slot ran on another thread (app.gui_thread)."""
    yield
    module = sys.modules.get("app.gui_thread")
    if module is not None and module.violations:
        found = list(module.violations)
        module.violations.clear()
        pytest.fail("GUI slots ran off the GUI thread: " + "; ".join(found[:5]))
