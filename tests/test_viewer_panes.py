"""Issue 21 (5, 6) in the window: interpolation panes are done while a model
still renders, and adding, removing or resizing a pane costs the other
panes no decode and never sends them back to a preview."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from app.main_window import MainWindow
from inference.catalog import is_interpolation
from inference.geometry import Lattice
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image, tiny_loader

METHODS = ["bicubic", "nearest", "liif"]


class LoggingLoader:
    """The tiny methods; every decode logged as (method, lattice), and the
    learned ones held at `gate` while it is closed."""

    def __init__(self) -> None:
        self.load = tiny_loader()
        self.decodes: list[tuple[str, Lattice]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, name: str, device: Any) -> Any:
        up = self.load(name, device)
        decode = up.decode_lattice
        learned = not is_interpolation(name)

        def logged(features: Any, lattice: Lattice, progress: Any = None) -> Any:
            if learned:
                self.gate.wait(WAIT_MS / 1000)
            self.decodes.append((name, lattice))
            return decode(features, lattice, progress)

        up.decode_lattice = logged
        return up


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    return write_png(tmp_path / "photo.png", sample_image(40, 48))


def states_seen(window: MainWindow) -> dict[int, list[str]]:
    """Every state the label of each pane's side "a" shows from now on, by pane uid."""
    seen: dict[int, list[str]] = {}
    for slot in window.slots():
        pane, uid = slot.pane, slot.state.uid
        seen[uid] = []
        original = pane.set_status

        def record(side: str, status: Any, _orig: Any = original, _log: list[str] = seen[uid]) -> None:
            if side == "a":
                _log.append(status.state)
            _orig(side, status)

        pane.set_status = record  # type: ignore[method-assign]
    return seen


def test_interpolation_panes_are_done_while_a_model_still_renders(qtbot, tmp_path: Path, image_file: Path) -> None:
    loader = LoggingLoader()
    window = make_window(qtbot, tmp_path, ["liif", "nearest", "liif", "bicubic"], loader=loader, methods=METHODS)
    open_image(qtbot, window, image_file)
    wait_done(qtbot, window)
    slots = window.slots()
    instant = [s for s in slots if s.sides["a"].method != "liif"]
    learned = [s for s in slots if s.sides["a"].method == "liif"]
    loader.gate.clear()  # the model's tiles of the next view wait
    try:
        window.set_zoom(window.model.view.zoom * 1.5)
        qtbot.waitUntil(lambda: all(s.sides["a"].state == "done" for s in instant), timeout=20000)
        assert all(s.sides["a"].busy() for s in learned)
        assert all("done" in s.pane.label_text()[0] for s in instant)
    finally:
        loader.gate.set()
    wait_done(qtbot, window)


def test_adding_a_pane_decodes_nothing_for_the_others(qtbot, tmp_path: Path, image_file: Path) -> None:
    loader = LoggingLoader()
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"], loader=loader, methods=METHODS)
    open_image(qtbot, window, image_file)
    window.set_zoom(window.model.view.zoom * 2)  # the image larger than the panes
    wait_done(qtbot, window)
    seen = states_seen(window)
    before = len(loader.decodes)
    window.grid.add_pane("nearest")
    qtbot.waitUntil(lambda: len(window.slots()) == 3, timeout=WAIT_MS)
    wait_done(qtbot, window)
    assert {name for name, _ in loader.decodes[before:]} <= {"nearest"}
    for uid, states in seen.items():
        assert "preview" not in states, f"pane {uid} went back to a preview: {states}"


def test_removing_a_pane_decodes_nothing_for_the_others(qtbot, tmp_path: Path, image_file: Path) -> None:
    loader = LoggingLoader()
    window = make_window(qtbot, tmp_path, ["bicubic", "liif", "nearest"], loader=loader, methods=METHODS)
    open_image(qtbot, window, image_file)
    window.set_zoom(window.model.view.zoom * 0.8)  # all of the image in each pane, with room around it
    wait_done(qtbot, window)
    seen = states_seen(window)
    before = len(loader.decodes)
    window.grid.remove_pane(2)
    wait_done(qtbot, window)
    qtbot.wait(100)  # the grid's new layout, and any render it asks for
    wait_done(qtbot, window)
    assert loader.decodes[before:] == []
    for uid, states in seen.items():
        assert "preview" not in states, f"pane {uid} went back to a preview: {states}"


def test_a_widened_pane_decodes_only_the_area_it_gained(qtbot, tmp_path: Path, image_file: Path) -> None:
    loader = LoggingLoader()
    window = make_window(qtbot, tmp_path, ["nearest", "liif"], loader=loader, methods=METHODS, size=(700, 500))
    open_image(qtbot, window, image_file)
    window.set_zoom(12.0)  # 576 x 480: larger than either pane
    wait_done(qtbot, window)
    old = {slot.sides["a"].method: slot.pane.lattice() for slot in window.slots()}
    seen = states_seen(window)
    before = len(loader.decodes)
    window.resize(window.width() + 40, window.height())
    qtbot.waitUntil(lambda: all(s.pane.lattice().width > old[s.sides["a"].method].width for s in window.slots()),
                    timeout=WAIT_MS)
    qtbot.wait(100)
    wait_done(qtbot, window)
    new = {slot.sides["a"].method: slot.pane.lattice() for slot in window.slots()}
    fresh = loader.decodes[before:]
    assert fresh, "the area the panes gained was not decoded"
    for name, lat in fresh:
        pane = "nearest" if name == "nearest" else "liif"  # bicubic: the liif pane's preview
        o, n = old[pane], new[pane]
        strips = [(n.u0 / n.zx, o.u0 / o.zx), ((o.u0 + o.width) / o.zx, (n.u0 + n.width) / n.zx)]
        x0, x1 = lat.u0 / lat.zx, (lat.u0 + lat.width) / lat.zx
        assert any(x0 < b and a < x1 for a, b in strips if b > a), f"{name} decoded {lat}: seen before"
    for uid, states in seen.items():
        assert "preview" not in states, f"pane {uid} went back to a preview: {states}"
