"""Opening a file reads and decodes it off the GUI thread: while a big file
loads the window keeps repainting and responding and shows the current image;
the newest open wins; a bad file still gives one dialog and keeps the previous
image; closing in the middle of a load is clean.

A slow file is simulated by holding `load_image` at a gate the test opens, so
nothing here depends on how fast the machine is."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QMimeData, QObject, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from inference import imageio
from tests.gui_helpers import WAIT_MS, make_window, open_image, wait_done, write_png
from tests.tiny_methods import sample_image

GATE_TIMEOUT_S = 60.0


class GatedLoader:
    """`imageio.load_image` held, for the files named in `gated`, until `release()`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, gated: set[str]) -> None:
        self.gated = gated
        self.gate = threading.Event()
        self.started: set[str] = set()
        self.returned: set[str] = set()
        self._real = imageio.load_image
        monkeypatch.setattr(imageio, "load_image", self._load)

    def _load(self, path, *args, **kwargs):
        name = Path(path).name
        self.started.add(name)
        try:
            if name in self.gated:
                self.gate.wait(GATE_TIMEOUT_S)
            return self._real(path, *args, **kwargs)
        finally:
            self.returned.add(name)

    def release(self) -> None:
        self.gate.set()


class Dialogs:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shown: list[tuple[str, str]] = []
        monkeypatch.setattr(QMessageBox, "warning",
                            lambda parent, title, text, *a, **k: self.shown.append((str(title), str(text))))


class PaintCounter(QObject):
    def __init__(self, widget) -> None:
        super().__init__()
        self.paints = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch):
    loaders: list[GatedLoader] = []

    def make(*names: str) -> GatedLoader:
        loaders.append(GatedLoader(monkeypatch, set(names)))
        return loaders[-1]

    yield make
    for loader in loaders:  # never leave a loading thread waiting past the test
        loader.release()


def test_window_keeps_repainting_and_responding_while_a_slow_file_loads(qtbot, tmp_path: Path, gated) -> None:
    first = write_png(tmp_path / "first.png", sample_image(20, 24))
    big = write_png(tmp_path / "big.png", sample_image(30, 40, seed=5))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    assert open_image(qtbot, window, first)
    wait_done(qtbot, window)
    loader = gated("big.png")
    before_id, before_rgb = window.model.image_id, window.model.image_rgb.copy()
    finished: list[tuple[str, bool]] = []
    window.openFinished.connect(lambda path, ok: finished.append((path, ok)))

    window.open_path(big)
    # open_path came back while the file is still being read.
    qtbot.waitUntil(lambda: "big.png" in loader.started, timeout=WAIT_MS)
    assert "big.png" not in loader.returned and window.is_opening()
    assert window.statusBar().currentMessage() == "Opening big.png\u2026"

    # The event loop runs: a timer ticks, a pane repaints, and the current image zooms and renders.
    ticks: list[int] = []
    timer = QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    paints = PaintCounter(window.panes()[0])
    qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=WAIT_MS)
    window.set_zoom(3.0)
    qtbot.waitUntil(lambda: paints.paints > 0, timeout=WAIT_MS)
    wait_done(qtbot, window)
    timer.stop()
    assert window.model.view.zoom == 3.0 and window.model.image_id == before_id
    np.testing.assert_array_equal(window.model.image_rgb, before_rgb)
    assert all(p.composed()[1].any() for p in window.panes())
    assert "big.png" not in loader.returned and not finished

    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        loader.release()
    assert blocker.args == [str(big), True]
    assert window.model.image_rgb.shape[:2] == (30, 40) and window.model.image_id != before_id
    assert window.windowTitle().startswith("big.png") and window.file_actions.recent_files()[0] == str(big.resolve())
    assert "Opening" not in window.statusBar().currentMessage()
    wait_done(qtbot, window)


def test_a_newer_open_supersedes_one_still_loading(qtbot, tmp_path: Path, gated) -> None:
    first = write_png(tmp_path / "first.png", sample_image(20, 24))
    slow = write_png(tmp_path / "slow.png", sample_image(16, 18, seed=2))
    quick = write_png(tmp_path / "quick.png", sample_image(12, 30, seed=3))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    assert open_image(qtbot, window, first)
    loader = gated("slow.png")
    finished: list[tuple[str, bool]] = []
    opened: list[str] = []
    window.openFinished.connect(lambda path, ok: finished.append((path, ok)))
    window.imageOpened.connect(opened.append)

    window.open_path(slow)
    qtbot.waitUntil(lambda: "slow.png" in loader.started, timeout=WAIT_MS)
    assert open_image(qtbot, window, quick)
    assert window.model.loaded.path == str(quick) and window.model.image_rgb.shape[:2] == (12, 30)
    shown_id = window.model.image_id

    # The older file finishes later: its result is dropped.
    loader.release()
    qtbot.waitUntil(lambda: "slow.png" in loader.returned, timeout=WAIT_MS)
    qtbot.wait(100)  # time for a result, were one delivered
    assert finished == [(str(quick), True)] and opened == [str(quick)]
    assert window.model.image_id == shown_id and window.model.loaded.path == str(quick) and not window.is_opening()
    assert window.file_actions.recent_files()[:2] == [str(quick.resolve()), str(first.resolve())]


def test_a_bad_file_still_gives_one_dialog_and_keeps_the_previous_image(
        qtbot, tmp_path: Path, gated, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_png(tmp_path / "good.png", sample_image(20, 24))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    assert open_image(qtbot, window, good)
    wait_done(qtbot, window)
    dialogs = Dialogs(monkeypatch)
    loader = gated("broken.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    before_id, before_rgb = window.model.image_id, window.model.image_rgb.copy()

    window.open_path(broken)
    qtbot.waitUntil(lambda: "broken.png" in loader.started, timeout=WAIT_MS)
    assert window.statusBar().currentMessage() == "Opening broken.png\u2026" and not dialogs.shown
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        loader.release()
    assert blocker.args == [str(broken), False]
    assert len(dialogs.shown) == 1 and dialogs.shown[0][0] == "Cannot open image"
    assert "broken.png" in dialogs.shown[0][1] and "Traceback" not in dialogs.shown[0][1]
    assert window.model.image_id == before_id and window.model.loaded.path == str(good)
    np.testing.assert_array_equal(window.model.image_rgb, before_rgb)
    assert all(p.source() is not None and p.source().width == 24 for p in window.panes())
    assert "Opening" not in window.statusBar().currentMessage()
    assert window.file_actions.recent_files()[0] == str(good.resolve())


@pytest.mark.parametrize("bad", [False, True])
def test_closing_during_a_load_is_prompt_and_quiet(bad: bool, qtbot, tmp_path: Path, gated,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_png(tmp_path / "good.png", sample_image(20, 24))
    window = make_window(qtbot, tmp_path, ["bicubic", "liif"])
    assert open_image(qtbot, window, good)
    dialogs = Dialogs(monkeypatch)
    loader = gated("next.png")
    path = tmp_path / "next.png"
    if bad:
        path.write_text("not a picture")
    else:
        write_png(path, sample_image(10, 12, seed=7))
    finished: list[tuple[str, bool]] = []
    window.openFinished.connect(lambda p, ok: finished.append((p, ok)))
    shown_id = window.model.image_id

    window.open_path(path)
    qtbot.waitUntil(lambda: "next.png" in loader.started, timeout=WAIT_MS)
    window.close()  # returns with the file still being read: closing does not wait for it
    assert not window.isVisible() and "next.png" not in loader.returned

    loader.release()
    qtbot.waitUntil(lambda: "next.png" in loader.returned, timeout=WAIT_MS)
    qtbot.wait(100)  # time for a result, were one delivered
    assert not finished and not dialogs.shown
    assert window.model.image_id == shown_id and window.model.loaded.path == str(good)
    assert window.open_path(good) == 0  # a closed window opens nothing


def test_drops_and_recent_files_open_in_the_background_too(qtbot, tmp_path: Path, gated) -> None:
    first = write_png(tmp_path / "first.png", sample_image(20, 24))
    dropped = write_png(tmp_path / "dropped.png", sample_image(14, 16, seed=8))
    window = make_window(qtbot, tmp_path, ["bicubic"])
    assert open_image(qtbot, window, first)
    loader = gated("dropped.png")

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: "dropped.png" in loader.started, timeout=WAIT_MS)
    assert window.is_opening() and window.model.loaded.path == str(first)
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        loader.release()
    assert blocker.args == [str(dropped), True] and window.model.image_rgb.shape[:2] == (14, 16)

    # File > Open Recent > the first file: read in the background as well.
    recent = [a for a in window.acts.recent_menu.actions() if a.toolTip() == str(first.resolve())]
    with qtbot.waitSignal(window.openFinished, timeout=WAIT_MS) as blocker:
        recent[0].trigger()
        assert window.is_opening()
    assert blocker.args[1] and window.model.image_rgb.shape[:2] == (20, 24)


@pytest.mark.parametrize(("h", "w"), [(64, 96), (75, 101)])
def test_halved_copies_made_while_loading_match_the_ones_a_paint_makes(h: int, w: int) -> None:
    from app.image_opener import PreparedSource
    from inference.render import to_display
    from widgets.image_pane import ImageSource

    rgb8 = to_display(sample_image(h, w, seed=9))
    zoom = 0.2
    prepared, lazy = PreparedSource(rgb8, zoom), ImageSource(rgb8)
    assert len(prepared._levels) == 3  # made at once, down to the level `zoom` paints
    for level in range(1, 3):
        a, b = prepared._levels[level], lazy.level_for(0.5 ** level)[0]
        assert (a.width(), a.height()) == (b.width(), b.height()) == (w >> level, h >> level)
        ours, qt = (np.array([[img.pixelColor(x, y).getRgb()[:3] for x in range(img.width())]
                              for y in range(img.height())]) for img in (a, b))
        # Qt's smooth scaling truncates: up to about one grey level darker per halving.
        assert np.abs(ours - qt).max() <= 2 * level
        if h % (1 << level) == 0 and w % (1 << level) == 0:  # whole blocks: their exact average
            blocks = rgb8.reshape(h >> level, 1 << level, w >> level, 1 << level, 3).mean(axis=(1, 3))
            assert np.abs(ours - blocks).max() <= 0.5 * level
    assert prepared.level_for(zoom)[0] is prepared._levels[2]
