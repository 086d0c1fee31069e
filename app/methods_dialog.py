"""Help › Methods and Weights: a compact table (method, state, steps, Set5 x4
PSNR, weights file, a Load/Replace button) readable at the dialog's size
without scrolling sideways, and below it the picked row's details: PSNR/SSIM
per data set and scale, the training data, who trained the file and how, its
licence and source. The rows come from app.model.method_rows; this class only
shows them and says which method's button was pressed."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model.method_rows import MethodRow, shown_path

COLUMNS = ("Method", "State", "Steps", "Set5 \u00d74", "Weights file", "")
FILE_COLUMN = COLUMNS.index("Weights file")
STATUS_TEXT = {"trained": "trained", "in training": "in training", "untrained": "untrained",
               "unusable": "unusable", "interpolation": "interpolation", "checking\u2026": "checking\u2026",
               "your model": "your model"}
STATUS_DETAIL = {"in training": "in training / not evaluated: below the trained floor",
                 "untrained": "untrained: output is not a result", "unusable": "unusable weights"}
DEFAULT_SIZE = (860, 600)
MAX_TABLE_HEIGHT = 330


def _table(columns: int, parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, columns, parent)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return table


def _rows_height(table: QTableWidget) -> int:
    """The height that shows the header and every row of `table`."""
    return (table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
            + sum(table.rowHeight(i) for i in range(table.rowCount())))


class MethodsDialog(QDialog):
    loadRequested = Signal(str)  # method name

    def __init__(self, rows: list[MethodRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Methods and Weights")
        self._rows: list[MethodRow] = []
        self.table = _table(len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(FILE_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics = _table(0, self)
        self.metrics.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.metrics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.metrics.verticalHeader().setVisible(True)
        self.metrics.setToolTip("PSNR (dB) and SSIM on the Y channel, as stored with the weights")
        self.metrics_title = QLabel(self)
        self.metrics_title.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        below = QHBoxLayout()
        below.addWidget(self.details, 1)
        figures = QVBoxLayout()
        figures.addWidget(self.metrics_title)
        figures.addWidget(self.metrics)
        figures.addStretch(1)
        below.addLayout(figures, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(below, 1)
        layout.addWidget(buttons)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_details(row))
        self.set_rows(rows)
        self.resize(*DEFAULT_SIZE)

    def rows(self) -> list[MethodRow]:
        return list(self._rows)

    def row(self, name: str) -> MethodRow:
        return next(r for r in self._rows if r.name == name)

    def load_button(self, name: str) -> QPushButton:
        index = [r.name for r in self._rows].index(name)
        button = self.table.cellWidget(index, len(COLUMNS) - 1)
        assert isinstance(button, QPushButton)
        return button

    def set_rows(self, rows: list[MethodRow]) -> None:
        current = self.table.currentRow()
        self._rows = list(rows)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            file_text = (shown_path(row.loaded_from) if row.loaded_from else
                         f"none (expected: {shown_path(row.expected_path)})" if row.expected_path else "\u2014")
            texts = (row.display, STATUS_TEXT.get(row.status, row.status), row.steps if row.learned else "\u2014",
                     row.set5_x4, file_text)
            tips = (f"{row.display} ({row.name}): {row.paper}",
                    row.problem or STATUS_DETAIL.get(row.status, texts[1]), texts[2],
                    "PSNR on the Y channel, Set5 \u00d74, as stored with the weights",
                    row.loaded_from or row.expected_path or file_text)
            for col, (text, tip) in enumerate(zip(texts, tips)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.table.setItem(i, col, item)
            button = QPushButton("Replace\u2026" if row.status in ("trained", "in training") else "Load\u2026")
            button.setEnabled(row.can_load_weights)
            button.setToolTip(f"Load a checkpoint for {row.display}" if row.can_load_weights else
                              "Your model file: File \u203a Load Model loads another" if row.model else
                              f"{row.display} has no weights")
            button.clicked.connect(lambda _c=False, n=row.name: self.loadRequested.emit(n))
            self.table.setCellWidget(i, len(COLUMNS) - 1, button)
        # As tall as its rows (up to a limit): the details below get the rest.
        self.table.resizeRowsToContents()
        self.table.setFixedHeight(min(_rows_height(self.table), MAX_TABLE_HEIGHT))
        if rows:
            self.table.setCurrentCell(min(max(current, 0), len(rows) - 1), 0)
            self._show_details(self.table.currentRow())

    def _show_details(self, index: int) -> None:
        if not 0 <= index < len(self._rows):
            self.details.setText("")
            self._show_grid([])
            return
        row = self._rows[index]
        lines = [f"<b>{escape(row.display)}</b>: {escape(row.paper)}",
                 f"<b>State:</b> {escape(STATUS_DETAIL.get(row.status, row.status))}"]
        if row.problem:
            lines.append(f"<span style='color:#d55'>Cannot be used: {escape(row.problem)}</span>")
        for label, value in (("Trained on", row.data), ("Trained by", row.trained_by), ("Training", row.training),
                             ("Licence", row.licence if row.learned else ""),
                             ("Source", row.source if row.learned else "")):
            if value and value != "\u2014":
                lines.append(f"<b>{label}:</b> {escape(value)}")
        for label, value in row.model:  # a user's model file
            lines.append(f"<b>{escape(label)}:</b> {escape(value)}")
        if row.loaded_from and not row.model:
            lines.append(f"<b>In use:</b> <code>{escape(shown_path(row.loaded_from))}</code>")
        elif row.expected_path:
            lines.append(f"<b>Read from:</b> <code>{escape(shown_path(row.expected_path))}</code>")
        self.details.setText("<br>".join(lines))
        self._show_grid(row.grid)

    def _show_grid(self, grid: list[list[str]]) -> None:
        """The picked row's PSNR / SSIM per data set (rows) and scale (columns)."""
        self.metrics.clear()
        self.metrics_title.setText("<b>PSNR (dB, Y)</b> per data set and scale; SSIM in each cell's tooltip"
                                   if grid else "No figures stored with this method")
        self.metrics.setVisible(bool(grid))
        if not grid:
            self.metrics.setRowCount(0)
            self.metrics.setColumnCount(0)
            return
        header, body = grid[0][1:], grid[1:]
        self.metrics.setColumnCount(len(header))
        self.metrics.setRowCount(len(body))
        self.metrics.setHorizontalHeaderLabels([f"\u00d7{h.lstrip('x')}" for h in header])
        self.metrics.setVerticalHeaderLabels([r[0] for r in body])
        for i, cells in enumerate(body):
            for j, text in enumerate(cells[1:]):
                psnr, _, ssim = text.partition(" / ")
                item = QTableWidgetItem(psnr)
                item.setToolTip(f"{cells[0]} \u00d7{header[j].lstrip('x')}: PSNR {psnr} dB"
                                + (f", SSIM {ssim}" if ssim else ""))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.metrics.setItem(i, j, item)
        self.metrics.resizeRowsToContents()
        self.metrics.setFixedHeight(_rows_height(self.metrics))
