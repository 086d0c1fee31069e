"""Opening image files off the GUI thread.

Reading and decoding a file (a 24-megapixel photo, a 16-bit TIFF with an ICC
conversion) takes seconds, and so does preparing what the panes paint (the
8-bit display copy, the halved copies for the fitted view): all of it runs in
a background thread, so the window keeps repainting and responding.

A separate reference (File › Open Reference) is read the same way by an
opener that makes no display copy: it is scored against, never painted.

Each open gets a generation; only the newest one's result is delivered, so a
file opened while another is loading wins and the older result is dropped.

The loading thread touches no QObject: it hands its result to a plain queue
that the GUI thread polls while a load is pending. A window closed in the
middle of a load therefore goes at once (the thread is a daemon and cannot
reach anything Qt has already deleted); the result is simply never collected.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from inference import imageio
from inference.imageio import ImageLoadError, LoadedImage, quantise
from inference.render.tiles import to_display
from inference.render.view import fit_zoom
from widgets.image_pane import ImageSource, to_qimage

# How often the GUI thread looks for a finished load while one is pending:
# short next to any load worth a thread, and costs nothing otherwise.
POLL_MS = 10


def _halve_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """float32 `x` at half its size along `axis` (0 or 1), each output pixel the
    area average of the input span it covers, as Qt's smooth scaling makes it
    (for an odd size a span is a little over two pixels: up to four taps)."""
    n = x.shape[axis]
    m = max(1, n // 2)
    if n == 2 * m:
        pairs = (x[0::2], x[1::2]) if axis == 0 else (x[:, 0::2], x[:, 1::2])
        out = pairs[0] + pairs[1]
        out *= 0.5
        return out
    span = n / m
    lo = np.arange(m) * span
    first = np.floor(lo).astype(np.intp)
    shape = [1] * x.ndim
    shape[axis] = m
    out = np.zeros_like(np.take(x, first, axis=axis))
    for tap in range(4):
        index = first + tap
        overlap = np.clip(np.minimum(lo + span, index + 1) - np.maximum(lo, index), 0.0, None)
        term = np.take(x, np.minimum(index, n - 1), axis=axis)
        term *= (overlap / span).astype(np.float32).reshape(shape)
        out += term
    return out


def halved(rgb8: np.ndarray) -> np.ndarray:
    """A uint8 (h, w, 3) (or premultiplied (h, w, 4)) image at (h // 2, w // 2), area-averaged. numpy lets go
    of the GIL where QImage.scaled holds it (~0.2 s for 24 MP, stalling the GUI
    thread even from a background thread)."""
    x = _halve_axis(_halve_axis(rgb8.astype(np.float32), 0), 1)
    x += 0.5
    return np.ascontiguousarray(x.astype(np.uint8))


class PreparedSource(ImageSource):
    """An ImageSource whose halved copies, down to those `zoom` paints, are made
    at once (in the loading thread) rather than by the first paint."""

    def __init__(self, rgb8: np.ndarray, zoom: float | None = None, alpha8: np.ndarray | None = None) -> None:
        super().__init__(rgb8, alpha8)
        self._arrays = [self.painted]  # the halved copies' pixels, which their QImages view
        if zoom is None:
            return
        level = 0  # the level `level_for(zoom)` picks
        while zoom <= 0.5 ** (level + 1) and min(self.width, self.height) * 0.5 ** (level + 1) >= 8:
            level += 1
        while self.level_count <= level:
            self._arrays.append(halved(self._arrays[-1]))
            self.add_level(to_qimage(self._arrays[-1], self.transparent))


@dataclass
class OpenedImage:
    """A file read, decoded and made ready to show: nothing left for the GUI thread but to swap it in."""

    loaded: LoadedImage
    rgb: np.ndarray  # (h, w, 3) contiguous float32: what the panes and the render worker get
    # The display copy, its halved copies for the fitted view already made (None: not asked for).
    source: ImageSource | None


@dataclass
class OpenResult:
    generation: int
    path: str
    image: OpenedImage | None  # None: refused, see `error`
    error: str = ""  # names the file and the problem


def prepare_image(path: str, fit_pane: tuple[int, int] | None = None, display: bool = True) -> OpenedImage:
    """Everything opening `path` costs, in the calling thread. With `fit_pane`
    (physical pixels of a pane), the copies a fitted view paints are made too;
    without `display`, no display copy at all. Raises ImageLoadError (whose
    message names the file) or, past the decode, whatever numpy raises."""
    loaded = imageio.load_image(path)  # looked up at call time: tests slow it down or make it fail
    rgb = np.ascontiguousarray(loaded.rgb, dtype=np.float32)
    if not display:
        return OpenedImage(loaded, rgb, None)
    h, w = rgb.shape[:2]
    alpha8 = quantise(loaded.alpha, 8) if loaded.alpha is not None else None  # a checkerboard shows through
    source = PreparedSource(to_display(rgb), fit_zoom(w, h, *fit_pane) if fit_pane is not None else None, alpha8)
    return OpenedImage(loaded, rgb, source)


class _Latest:
    """The newest generation, shared with the loading threads (a plain object:
    they must hold no reference to a QObject the GUI thread may delete)."""

    def __init__(self) -> None:
        self.generation = 0


def _load_in_thread(generation: int, path: str, fit_pane: tuple[int, int] | None, display: bool, latest: _Latest,
                    results: queue.SimpleQueue[OpenResult]) -> None:
    try:
        result = OpenResult(generation, path, prepare_image(path, fit_pane, display))
    except ImageLoadError as error:
        result = OpenResult(generation, path, None, str(error))
    except MemoryError:
        result = OpenResult(generation, path, None, f"{path}: not enough memory to show this image")
    except Exception as error:  # noqa: BLE001 - anything else is still a message, never a crash
        result = OpenResult(generation, path, None, f"{path}: {error}")
    if latest.generation == generation:  # a superseded image is freed here, not queued
        results.put(result)


class ImageOpener(QObject):
    """Starts loads in background threads and delivers the newest one's result
    on the GUI thread through `finished`. Without `display` the images
    delivered have no display copy (`OpenedImage.source` is None)."""

    finished = Signal(object)  # OpenResult of the newest open

    def __init__(self, parent: QObject | None = None, display: bool = True) -> None:
        super().__init__(parent)
        self._display = display
        self._latest = _Latest()
        self._results: queue.SimpleQueue[OpenResult] = queue.SimpleQueue()
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._collect)

    @property
    def busy(self) -> bool:
        """A load is pending whose result has not been delivered yet."""
        return self._poll.isActive()

    def open(self, path: str | Path, fit_pane: tuple[int, int] | None = None) -> int:
        """Start loading `path`; supersedes any load still pending. Returns its generation."""
        self._latest.generation += 1
        generation = self._latest.generation
        thread = threading.Thread(target=_load_in_thread, name=f"open-image-{generation}", daemon=True,
                                  args=(generation, str(path), fit_pane, self._display, self._latest,
                                        self._results))
        thread.start()
        self._poll.start()
        return generation

    def cancel(self) -> None:
        """Drop every pending load: nothing more is delivered (loads already
        decoding run to their end in the background and are freed)."""
        self._latest.generation += 1
        self._poll.stop()

    @Slot()
    def _collect(self) -> None:
        newest: OpenResult | None = None
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            if result.generation == self._latest.generation:
                newest = result
        if newest is None:
            return
        self._poll.stop()  # before delivering: the receiver may run a modal dialog (a nested event loop)
        self.finished.emit(newest)
