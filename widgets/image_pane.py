"""A pane that shows decoded tiles of one image at the shared view.

The pane never decodes anything: it paints uint8 tiles handed to it (from
the render worker) at their lattice positions over a smoothly scaled copy of
the image itself. Which tiles a side holds and shows, in what order and
where, is `widgets.tile_layer` (no Qt); the marks over the image (labels,
divider, selection) are drawn by `widgets.pane_overlay`. Only tiles made for the current zoom are shown: the bicubic
preview, the coarse pass (scaled up) and the full tiles. Results of other
zooms are never scaled in as a "preview": under a new zoom the image itself
shows until that zoom's bicubic preview arrives. User input (wheel, drag, keys) becomes a
proposed `ViewState` in `viewRequested`; the window applies it to every pane
through `set_view`, which never emits, so panes cannot ping-pong.

All geometry is in physical pixels (logical size x devicePixelRatio), so a
tile at the view's zoom is blitted 1:1 onto the screen's pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFocusEvent,
    QFont,
    QHelpEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QRegion,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from inference.geometry import Lattice
from inference.render.view import ViewState, fit_zoom
from widgets import pane_overlay, tile_layer
from widgets.image_source import ImageSource, checker_brush, to_qimage
from widgets.loupe import Loupe
from widgets.pane_keys import PANE_KEYS, ZOOM_STEP, view_for_key
from widgets.pane_label import BlankStatus, PaneStatus
from widgets.tile_layer import MAX_TILE_BYTES_PER_SIDE, SideTiles, TileEntry, in_view

__all__ = ["MAX_TILE_BYTES_PER_SIDE", "ImagePane", "ImageSource", "TileEntry", "to_qimage"]

# Most wheel notches one event may zoom by (the view's zoom range is 2^13).
MAX_WHEEL_STEPS = 64
# Logical pixels either side of the split divider that grab it.
DIVIDER_GRAB = 6


class ImagePane(QWidget):
    """One pane of the viewer; side "a" is the whole pane, or the left part in split mode."""

    viewRequested = Signal(object)  # ViewState
    splitMoved = Signal(float)  # divider position, fraction of the width
    selectionChanged = Signal(object)  # (x0, y0, x1, y1) in image units, or None
    activated = Signal()  # clicked or focused
    resized = Signal()
    hovered = Signal(object)  # (x, y): the image point under the cursor; None once it leaves the image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 90)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._source: ImageSource | None = None
        self._view = ViewState(0.0, 0.0, 1.0)
        self._sides: dict[str, SideTiles[QImage]] = {"a": SideTiles(), "b": SideTiles()}
        self._status: dict[str, PaneStatus] = {"a": BlankStatus(), "b": BlankStatus()}
        self._split = False
        self._split_fraction = 0.5
        self._selection: tuple[float, float, float, float] | None = None
        self._select_mode = False
        self._show_overlay = False
        self._active = False
        self._drag: str | None = None  # "pan" | "divider" | "select"
        self._drag_last = QPointF()
        self._drag_start_image: tuple[float, float] | None = None
        self._hint = "Open an image (Ctrl+O) or drop one here"
        self._show_labels = True
        self._run_info: Callable[[str], str] | None = None
        self._plain = False  # painting for view_image: the image only, no labels, frame or selection
        self.loupe = Loupe(self)  # Z toggles it
        self.setWhatsThis(f"Keys: {PANE_KEYS}")

    # ---------------------------------------------------------------- state

    def set_source(self, source: ImageSource | None) -> None:
        """The image under the tiles (shared by all panes); clears the tiles."""
        self._source = source
        for side in self._sides.values():
            side.clear()
        self._selection = None
        self.update()

    def source(self) -> ImageSource | None:
        return self._source

    def set_view(self, view: ViewState) -> None:
        """Show `view` (never emits viewRequested)."""
        if view != self._view:
            self._view = view
            self.update()

    def view(self) -> ViewState:
        return self._view

    def physical_size(self) -> tuple[int, int]:
        dpr = self.devicePixelRatioF()
        return max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))

    def lattice(self) -> Lattice:
        return self._view.lattice(*self.physical_size())

    def set_split(self, enabled: bool, fraction: float | None = None) -> None:
        self._split = bool(enabled)
        if fraction is not None:
            self._split_fraction = min(0.95, max(0.05, float(fraction)))
        if not self._split:
            self._sides["b"].clear()
        self.update()

    def is_split(self) -> bool:
        return self._split

    def split_fraction(self) -> float:
        return self._split_fraction

    def set_select_mode(self, enabled: bool) -> None:
        self._select_mode = bool(enabled)
        self._update_cursor(None)

    def set_selection(self, selection: tuple[float, float, float, float] | None) -> None:
        self._selection = selection
        self.update()

    def selection(self) -> tuple[float, float, float, float] | None:
        return self._selection

    def set_active(self, active: bool) -> None:
        if active != self._active:
            self._active = active
            self.update()

    def set_show_overlay(self, show: bool) -> None:
        self._show_overlay = bool(show)
        self.update()

    def set_run_info(self, describe: Callable[[str], str] | None) -> None:
        """`describe(side)`: where and in which precision that side's method runs,
        in words, added to the label's tooltip (asked when the tooltip shows)."""
        self._run_info = describe

    def set_show_labels(self, show: bool) -> None:
        """Show or hide the corner labels (method, state, scores)."""
        self._show_labels = bool(show)
        self.update()

    def labels_shown(self) -> bool:
        return self._show_labels

    def view_image(self) -> QImage:
        """What the pane shows of the image, without labels, selection or
        active frame, at its physical size (for the clipboard)."""
        return self._plain_grab(self.rect())

    def _plain_grab(self, rect: QRect) -> QImage:
        """What the pane shows of `rect` (logical), the image only."""
        self._plain = True
        try:
            return self.grab(rect).toImage()
        finally:
            self._plain = False

    # ---------------------------------------------------------------- tiles

    def begin_generation(self, side: str, generation: int, coarse_zoom: float | None = None) -> None:
        """A new request went out for `side`: tiles of older generations stay
        as previews until the new ones replace them."""
        s = self._sides[side]
        s.generation = generation
        s.coarse_zoom = coarse_zoom

    def add_tile(self, side: str, zoom: float, u0: int, v0: int, rgb: np.ndarray, phase: str = "full",
                 generation: int = 0, view_zoom: float | None = None) -> None:
        """A decoded tile at lattice zoom `zoom`; `view_zoom` is the zoom of the
        view it was requested for (a coarse tile's; default: the pane's zoom
        for a coarse tile, `zoom` for the others)."""
        s = self._sides[side]
        arr = np.ascontiguousarray(rgb, dtype=np.uint8)
        if view_zoom is None:
            view_zoom = self._view.zoom if phase == "coarse" else zoom
        entry = TileEntry(float(zoom), float(zoom), int(u0), int(v0), phase, arr, to_qimage(arr), generation,
                          float(view_zoom))
        s.put(entry)
        lat = self.lattice()
        if s.trim(lat, self.physical_size(), self._image_size(), MAX_TILE_BYTES_PER_SIDE):
            self.update()  # a tile it showed went
        else:
            # Only where the tile lands: a whole-pane repaint per tile re-scaled
            # every preview layer on the GUI thread (tens of ms per tile).
            self._update_physical(self._tile_target(lat, entry))

    def in_view(self, tile: TileEntry[QImage], lattice: Lattice | None = None) -> bool:
        """A full tile of the current zoom that the pane shows now (`lattice`: the pane's, if known)."""
        return in_view(tile, lattice or self.lattice())

    def _image_size(self) -> tuple[int, int] | None:
        return (self._source.width, self._source.height) if self._source is not None else None

    def finish_generation(self, side: str) -> None:
        """Every tile of the current view has arrived: drop the previews."""
        self._sides[side].finish(self._view.zoom)
        self.update()

    def clear_tiles(self, side: str | None = None) -> None:
        for name in ([side] if side else list(self._sides)):
            self._sides[name].clear()
        self.update()

    def tile_count(self, side: str = "a") -> int:
        return len(self._sides[side].tiles)

    def set_overlay(self, side: str, zx: float, zy: float, u0: int, v0: int, rgba: np.ndarray | None) -> None:
        """A semi-transparent layer (e.g. an error map) on the lattice of (zx, zy)."""
        s = self._sides[side]
        if rgba is None:
            s.overlay = None
        else:
            arr = np.ascontiguousarray(rgba, dtype=np.uint8)
            s.overlay = TileEntry(float(zx), float(zy), int(u0), int(v0), "overlay", arr, to_qimage(arr))
        self.update()

    def set_status(self, side: str, status: PaneStatus) -> None:
        if status == self._status[side]:
            return
        # Repaint the corner label only (it is set on every tile).
        before = self._label_box(side)
        self._status[side] = status
        self.update(before.united(self._label_box(side)).toAlignedRect().adjusted(-1, -1, 1, 1))

    def status(self, side: str = "a") -> PaneStatus:
        return self._status[side]

    def pixel_at(self, side: str, x: float, y: float) -> tuple[int, int, int] | None:
        """The RGB (0-255) this pane shows of `side` at image point (x, y); None outside the image."""
        px, py = self._view.pane_point(x, y, *self.physical_size())
        return self._sides[side].pixel_at(self.lattice(), px, py, self._source.array if self._source else None)

    def _hover(self, pos: QPointF | None) -> None:
        """Say which image point is under the cursor (None: none); the loupe follows it."""
        src = self._source
        point = None if pos is None or src is None else self._view.image_point(*self._physical(pos),
                                                                                *self.physical_size())
        inside = point is not None and src is not None and 0 <= point[0] < src.width and 0 <= point[1] < src.height
        self.hovered.emit(point if inside else None)
        if pos is not None and inside and self.loupe.enabled:
            self.loupe.follow(pos, self._plain_grab)
        else:
            self.loupe.hide()

    def leaveEvent(self, event: QEvent) -> None:
        self._hover(None)
        super().leaveEvent(event)

    def composed(self, side: str = "a") -> tuple[np.ndarray, np.ndarray]:
        """(uint8 image, coverage mask) of what the full-resolution tiles at the
        current zoom show in this pane: what a user sees once decoding is done."""
        return self._sides[side].composed(self.lattice())

    # ---------------------------------------------------------------- painting

    def _background(self) -> QColor:
        dark = self.palette().color(QPalette.ColorRole.Window).lightness() < 128
        return QColor(32, 32, 34) if dark else QColor(200, 200, 203)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background())
        if self._source is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._hint)
            painter.end()
            return
        dpr = self.devicePixelRatioF()
        pw, ph = self.physical_size()
        lat = self.lattice()
        # The part to repaint (a tile's or the label's rectangle when only that changed), in physical pixels.
        dirty = QRectF(event.rect())
        dirty = QRectF(dirty.x() * dpr, dirty.y() * dpr, dirty.width() * dpr, dirty.height() * dpr)
        dirty_px = dirty.toAlignedRect().adjusted(-1, -1, 1, 1)
        painter.save()
        painter.scale(1.0 / dpr, 1.0 / dpr)
        divider = self._divider_x_physical()
        areas = [("a", QRectF(0, 0, pw, ph))]
        if self._split:
            areas = [("a", QRectF(0, 0, divider, ph)), ("b", QRectF(divider, 0, pw - divider, ph))]
        for name, clip in areas:
            area = QRegion(clip.toAlignedRect().intersected(dirty_px))
            if area.isEmpty():
                continue
            side = self._sides[name]
            self._paint_layers(painter, lat, side, area)
            if self._show_overlay and side.overlay is not None:
                painter.setClipRect(clip)
                painter.setOpacity(0.75)
                self._paint_tile(painter, lat, side.overlay, clip)
                painter.setOpacity(1.0)
        painter.setClipping(False)
        painter.restore()
        if self._plain:
            painter.end()
            return
        self._paint_selection(painter)
        if self._split:
            pane_overlay.paint_divider(painter, self._divider_x_logical(), self.height())
        if self._show_labels:
            self._paint_label(painter, "a")
            if self._split:
                self._paint_label(painter, "b")
        if self._active:
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        painter.end()

    def _paint_layers(self, painter: QPainter, lat: Lattice, side: SideTiles[QImage], area: QRegion) -> None:
        """The image, then the tiles in paint order, each only where no tile
        above it covers `area` (physical pixels). Smoothly scaling the image
        and every preview layer under tiles that hide them was the GUI
        thread's costliest work (10-30 ms a pane per repaint on a 2-core CPU)."""
        bounds = QRectF(area.boundingRect())
        cover = QRegion()
        shown: list[tuple[TileEntry[QImage], QRectF, QRegion]] = []
        # Top to bottom: what each tile still shows of `area`. Tiles are
        # opaque; a scaled one surely paints the pixels inside its target.
        for tile in reversed(side.paint_order(lat.zx)):
            target = self._tile_target(lat, tile)
            if not target.intersects(bounds):
                continue
            part = area.intersected(target.toAlignedRect()).subtracted(cover)
            if part.isEmpty():
                continue
            shown.append((tile, target, part))
            inner = QRect(math.ceil(target.left()), math.ceil(target.top()), 0, 0)
            inner.setRight(math.floor(target.right()) - 1)
            inner.setBottom(math.floor(target.bottom()) - 1)
            cover = cover.united(inner)
        below = area.subtracted(cover)
        if not below.isEmpty():
            painter.setClipRegion(below)
            self._paint_source(painter, lat)
        for tile, target, part in reversed(shown):
            painter.setClipRegion(part)
            self._draw_tile(painter, lat, tile, target)

    def _paint_source(self, painter: QPainter, lat: Lattice) -> None:
        src = self._source
        if src is None:
            return
        z = lat.zx
        image, scale = src.level_for(z)
        window = tile_layer.source_window(lat, src.width, src.height)
        if window is None:
            return
        x0, y0, x1, y1 = window
        target = QRectF(x0 * z - lat.u0, y0 * z - lat.v0, (x1 - x0) * z, (y1 - y0) * z)
        source = QRectF(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale)
        if src.transparent:  # the checkerboard the tiles show, under the image's transparency
            painter.fillRect(target, checker_brush(lat.u0, lat.v0))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, image, source)

    def _tile_target(self, lat: Lattice, tile: TileEntry[QImage]) -> QRectF:
        """Where a tile lands in the pane (physical pixels; see tile_layer.tile_target)."""
        return QRectF(*tile_layer.tile_target(lat, tile, self._image_size()))

    def _draw_tile(self, painter: QPainter, lat: Lattice, tile: TileEntry[QImage], target: QRectF) -> None:
        if tile.zx == lat.zx and tile.zy == lat.zy:
            # The view's own lattice: a 1:1 blit, pixel-exact.
            painter.drawImage(target.topLeft(), tile.image)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, tile.image)

    def _paint_tile(self, painter: QPainter, lat: Lattice, tile: TileEntry[QImage], clip: QRectF) -> None:
        # Tiles off the visible area are skipped before Qt sees them.
        target = self._tile_target(lat, tile)
        if target.intersects(clip):
            self._draw_tile(painter, lat, tile, target)

    def _update_physical(self, rect: QRectF) -> None:
        """Schedule a repaint of a rectangle given in physical pixels."""
        dpr = self.devicePixelRatioF()
        logical = QRectF(rect.x() / dpr, rect.y() / dpr, rect.width() / dpr, rect.height() / dpr)
        visible = logical.toAlignedRect().adjusted(-1, -1, 1, 1).intersected(self.rect())
        if not visible.isEmpty():
            self.update(visible)

    def _divider_x_logical(self) -> float:
        return self.width() * self._split_fraction

    def _divider_x_physical(self) -> float:
        return round(self._divider_x_logical() * self.devicePixelRatioF())

    def _paint_selection(self, painter: QPainter) -> None:
        if self._selection is not None:
            pane_overlay.paint_selection(painter, pane_overlay.selection_rect(
                self._selection, self._view, self.physical_size(), self.devicePixelRatioF()))

    def label_text(self, side: str = "a") -> list[str]:
        """The corner label's whole text, line by line (what its tooltip shows)."""
        return pane_overlay.whole_text(self._status[side])

    def label_lines(self, side: str = "a") -> list[str]:
        """The corner label's lines as shown: wrapped to the room its side has."""
        return pane_overlay.fitted_lines(self._status[side], self._label_font(side), self._label_room(side))

    def _label_room(self, side: str) -> float:
        """The widest a side's label may be (logical pixels): its side of the
        divider in split view, so the two labels never overlap."""
        return pane_overlay.label_room(self.width(), self._divider_x_logical() if self._split else None, side)

    def _label_font(self, side: str = "a") -> QFont:
        return pane_overlay.label_font(self.font(), self._label_room(side))

    def _label_box(self, side: str) -> QRectF:
        """The corner label's box (logical pixels): side "a" top left, "b" top right."""
        return pane_overlay.label_box(self.label_lines(side), self._label_font(side), self._label_room(side),
                                      None if side == "a" else self.width())

    def _paint_label(self, painter: QPainter, side: str) -> None:
        pane_overlay.paint_label(painter, self._status[side].state, self.label_lines(side), self._label_font(side),
                                 self._label_box(side))

    def tooltip_at(self, pos: QPointF) -> str:
        """The whole text of the label under `pos` (logical), or ""."""
        if not self._show_labels:
            return ""
        for side in (("a", "b") if self._split else ("a",)):
            if self._label_box(side).contains(pos):
                st = self._status[side]
                run = self._run_info(side) if self._run_info is not None else ""
                return "\n".join(self.label_text(side) + [t for t in (st.tooltip, run) if t])
        return ""

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            help_event = cast(QHelpEvent, event)  # what Qt sends with ToolTip
            text = self.tooltip_at(QPointF(help_event.pos()))
            if text:
                QToolTip.showText(help_event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    # ---------------------------------------------------------------- input

    def _physical(self, pos: QPointF) -> tuple[float, float]:
        dpr = self.devicePixelRatioF()
        return pos.x() * dpr, pos.y() * dpr

    def _near_divider(self, pos: QPointF) -> bool:
        return self._split and abs(pos.x() - self._divider_x_logical()) <= DIVIDER_GRAB

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Propose the view zoomed by `factor` about `anchor` (logical position; the centre if None)."""
        pw, ph = self.physical_size()
        px, py = self._physical(anchor) if anchor is not None else (pw / 2.0, ph / 2.0)
        self.viewRequested.emit(self._view.zoomed_about(self._view.zoom * factor, px, py, pw, ph))

    def fit_view(self) -> ViewState | None:
        if self._source is None:
            return None
        return ViewState.fit(self._source.width, self._source.height, *self.physical_size())

    def fit_zoom(self) -> float | None:
        if self._source is None:
            return None
        return fit_zoom(self._source.width, self._source.height, *self.physical_size())

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._source is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            steps = event.pixelDelta().y() / 60.0
        # A driver may report an absurd delta: ZOOM_STEP ** steps must stay a finite, non-zero factor.
        steps = max(-MAX_WHEEL_STEPS, min(MAX_WHEEL_STEPS, steps))
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.activated.emit()
        self.setFocus()
        if self._source is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        if self._near_divider(pos):
            self._drag = "divider"
        elif self._select_mode or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._drag = "select"
            pw, ph = self.physical_size()
            self._drag_start_image = self._view.image_point(*self._physical(pos), pw, ph)
            self._selection = None
            self.update()
        else:
            self._drag = "pan"
        self._drag_last = pos
        self._update_cursor(pos)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "divider":
            self.set_split(True, pos.x() / max(1, self.width()))
            self.splitMoved.emit(self._split_fraction)
        elif self._drag == "pan":
            dpr = self.devicePixelRatioF()
            dx, dy = (pos.x() - self._drag_last.x()) * dpr, (pos.y() - self._drag_last.y()) * dpr
            if dx or dy:
                self.viewRequested.emit(self._view.panned(dx, dy))
        elif self._drag == "select" and self._drag_start_image is not None:
            self._selection = self._selection_to(pos)
            self.update()
        self._drag_last = pos
        self._update_cursor(pos)
        self._hover(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag == "select" and self._drag_start_image is not None:
            self._selection = self._selection_to(event.position())
            self.selectionChanged.emit(self._selection)
            self.update()
        self._drag = None
        self._drag_start_image = None
        self._update_cursor(event.position())

    def _selection_to(self, pos: QPointF) -> tuple[float, float, float, float] | None:
        if self._drag_start_image is None or self._source is None:
            return None
        end = self._view.image_point(*self._physical(pos), *self.physical_size())
        return tile_layer.clamp_selection(self._drag_start_image, end, self._source.width, self._source.height)

    def _update_cursor(self, pos: QPointF | None) -> None:
        if self._drag == "pan":
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._drag == "divider" or (pos is not None and self._near_divider(pos)):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        elif self._select_mode:
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.setCursor(Qt.CursorShape.OpenHandCursor)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._source is None:
            super().keyPressEvent(event)
            return
        key = event.key()
        view = view_for_key(key, self._view, self.physical_size(), self.fit_view())
        if view is not None:
            self.viewRequested.emit(view)
        elif key == Qt.Key.Key_Z:
            self.loupe.enabled = not self.loupe.enabled
            self._hover(self.mapFromGlobal(QCursor.pos()).toPointF() if self.underMouse() else None)
        elif key == Qt.Key.Key_Escape and self._selection is not None:
            self._selection = None
            self.selectionChanged.emit(None)
            self.update()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def focusInEvent(self, event: QFocusEvent) -> None:
        self.activated.emit()
        super().focusInEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()
