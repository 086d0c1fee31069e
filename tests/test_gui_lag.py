"""The GUI event-loop lag probe (benchmarks/gui_lag.py) on a toy scenario, the
render worker's thread-count option, and the pane's partial repaints: a pane
repainted piece by piece (a tile, a label) shows exactly what a full repaint
shows. No timing thresholds here: the speed target lives in the benchmark."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from app.model import SideStatus
from app.render_worker import WORKER_THREADS_ENV, cpu_worker_threads
from benchmarks.gui_lag import markdown, run_probe, write
from inference.render import ViewState, to_display
from tests.tiny_methods import sample_image, tiny_methods_loader
from widgets.image_pane import ImagePane, ImageSource


def test_probe_reports_finite_lag_and_ticks_that_fit_the_duration(qapp, tmp_path: Path) -> None:
    image = tmp_path / "tiny.png"
    Image.fromarray(to_display(sample_image(24, 32))).save(image)
    interval = 5.0
    report = run_probe(image=image, methods=("liif",), zooms=(2, 4), size=(420, 300), dwell_s=0.5,
                       interval_ms=interval, worker_threads=1, loader=tiny_methods_loader(), tile=32,
                       wheel=False, split=False, complete=None, freeze_gc=False, log=None)
    assert report["worker_torch_threads"] == 1
    names = [s["scenario"] for s in report["scenarios"]]
    assert names == ["idle (no decode)", "open image (fit)", "liif: switch method, ×2", "liif: zoom ×4",
                     "liif: drag-pan at ×4"]
    for s in report["scenarios"]:
        assert s["ticks"] >= 1, s["scenario"]
        for key in ("max_lag_ms", "p99_lag_ms", "p95_lag_ms", "median_lag_ms"):
            assert math.isfinite(s[key]) and s[key] >= 0, (s["scenario"], key, s[key])
        assert s["max_lag_ms"] >= s["p99_lag_ms"] >= s["p95_lag_ms"] >= s["median_lag_ms"]
        # A 5 ms timer cannot tick more often than every 5 ms, nor fewer times
        # than its longest gap allows.
        span_ms = s["duration_s"] * 1e3
        assert s["ticks"] <= span_ms / interval * 1.1 + 2, s
        assert s["ticks"] >= span_ms / (interval + s["max_lag_ms"]) - 2, s
        if s["worst_gap"] is not None:
            assert s["worst_gap"]["lag_ms"] == pytest.approx(s["max_lag_ms"], abs=0.02)
    # The probe watched real decoding: tiles arrived, panes were painted.
    assert sum(s["decoded_mpx"] for s in report["scenarios"]) > 0
    assert sum(s["paints"] for s in report["scenarios"]) > 0
    assert report["ticks"] > 50 and report["cpu"] and report["platform"]

    json_path, md_path = write(report, "test", tmp_path)
    assert json.loads(json_path.read_text())["summary"]["gaps_over_50ms"] == report["summary"]["gaps_over_50ms"]
    assert "| liif: zoom ×4 |" in md_path.read_text() == markdown(report, "test, 1 worker thread(s)") + "\n"


def test_worker_threads_come_from_the_argument_then_the_environment_then_every_core(monkeypatch) -> None:
    monkeypatch.delenv(WORKER_THREADS_ENV, raising=False)
    assert cpu_worker_threads(None, 2) == 2  # every core: the worker runs at a lower priority
    assert cpu_worker_threads(None, 8) == 8
    assert cpu_worker_threads(None, 0) == 1
    monkeypatch.setenv(WORKER_THREADS_ENV, "1")
    assert cpu_worker_threads(None, 2) == 1
    assert cpu_worker_threads(3, 2) == 3
    monkeypatch.setenv(WORKER_THREADS_ENV, "lots")
    assert cpu_worker_threads(None, 4) == 4
    monkeypatch.setenv(WORKER_THREADS_ENV, "0")
    assert cpu_worker_threads(None, 4) == 4


def screen_pixels(widget) -> np.ndarray:
    """What the window system shows of `widget` (its backing store), RGB."""
    image = widget.screen().grabWindow(widget.winId()).toImage()
    return rgb_of(image)


def rgb_of(image) -> np.ndarray:
    image = image.convertToFormat(image.Format.Format_RGB888)
    raw = np.array(image.constBits()).reshape(image.height(), image.bytesPerLine())
    return raw[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def random_pane(qtbot, rng: np.random.Generator, size: tuple[int, int], image_hw: tuple[int, int],
                view: ViewState) -> ImagePane:
    """A pane of `size` showing a random image of `image_hw` at `view`."""
    pane = ImagePane()
    qtbot.addWidget(pane)
    pane.resize(*size)
    pane.set_source(ImageSource((rng.random((*image_hw, 3)) * 255).astype(np.uint8)))
    pane.set_view(view)
    return pane


@pytest.mark.parametrize("split", [False, True])
def test_a_pane_repainted_tile_by_tile_shows_what_a_full_repaint_shows(qtbot, split: bool) -> None:
    rng = np.random.default_rng(3)
    pane = random_pane(qtbot, rng, (240, 160), (40, 60), ViewState(30.3, 20.6, 4.0))
    pane.set_split(split, 0.43)
    pane.show()
    qtbot.waitExposed(pane)

    def tile(size: int) -> np.ndarray:
        return (rng.random((size, size, 3)) * 255).astype(np.uint8)

    # Layers as a zoom-in leaves them: old previews at other zooms (scaled),
    # this view's coarse pass (scaled), its bicubic preview and full tiles.
    pane.begin_generation("a", 2)
    arrivals = [(3.0, "full", 1, u, v, 24) for u in range(0, 180, 24) for v in range(0, 120, 24)]
    arrivals += [(1.0, "coarse", 2, u, v, 16) for u in range(0, 60, 16) for v in range(0, 40, 16)]
    arrivals += [(4.0, "preview", 2, u, v, 32) for u in range(0, 240, 32) for v in range(0, 160, 32) if (u + v) % 64]
    arrivals += [(4.0, "full", 2, u, v, 32) for u in range(0, 240, 32) for v in range(0, 160, 32) if u % 64]
    for k, (zoom, phase, generation, u, v, size) in enumerate(arrivals):
        for side in (("a", "b") if split else ("a",)):
            pane.add_tile(side, zoom, u, v, tile(size), phase, generation)
        if k % 7 == 0:
            pane.set_status("a", SideStatus("LIIF", "refining", 0.1 * k, ["note"] * (k % 3)))
            qtbot.wait(5)
            full = rgb_of(pane.grab().toImage())
            assert np.array_equal(screen_pixels(pane), full), f"after {k + 1} tiles"
    qtbot.wait(5)
    assert np.array_equal(screen_pixels(pane), rgb_of(pane.grab().toImage()))


def test_hidden_layers_are_not_painted_but_the_picture_is_the_same(qtbot) -> None:
    """Layers under opaque tiles are skipped; the pane must still show what
    painting every layer bottom to top shows."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter

    rng = np.random.default_rng(5)
    pane = random_pane(qtbot, rng, (200, 140), (30, 40), ViewState(21.7, 14.2, 5.0))
    pane.begin_generation("a", 3)
    for zoom, phase, generation, step in ((2.5, "full", 1, 20), (3.5, "preview", 2, 28), (1.25, "coarse", 3, 10),
                                          (5.0, "preview", 3, 40), (5.0, "full", 3, 40)):
        for u in range(0, int(40 * zoom), step):
            for v in range(0, int(30 * zoom), step):
                if rng.random() < 0.6:
                    pane.add_tile("a", zoom, u, v, (rng.random((step, step, 3)) * 255).astype(np.uint8), phase,
                                  generation)
    shown = rgb_of(pane.grab().toImage())

    # Every layer, bottom to top, with no culling.
    reference = QImage(pane.size(), QImage.Format.Format_RGB32)
    painter = QPainter(reference)
    painter.fillRect(reference.rect(), pane._background())
    lat = pane.lattice()
    pane._paint_source(painter, lat)
    for t in pane._sides["a"].paint_order(lat.zx):
        pane._draw_tile(painter, lat, t, pane._tile_target(lat, t))
    painter.end()
    below_label = slice(int(pane._label_box("a").bottom()) + 2, None)
    assert np.array_equal(shown[below_label], rgb_of(reference)[below_label])
    assert QRectF(pane.rect()).height() > pane._label_box("a").bottom() + 20


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities through os.setpriority (Unix)")
def test_the_render_worker_thread_runs_at_lower_priority_than_the_gui() -> None:
    """Its torch threads inherit the niceness, so when the worker uses every
    core the GUI thread still gets a CPU first."""
    import threading

    from app.render_worker import WORKER_NICENESS, lower_priority

    seen: dict[str, int] = {}

    def worker() -> None:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        lower_priority()
        seen["before"], seen["after"] = before, os.getpriority(os.PRIO_PROCESS, tid)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["after"] == min(19, seen["before"] + WORKER_NICENESS) > seen["before"]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == seen["before"]  # the caller's own is untouched
