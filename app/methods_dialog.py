"""Help › Methods and Weights: per method, trained or not, source and licence,
steps, the metrics stored with the weights, where weights are expected, and a
button to load or replace them. The rows come from app.method_rows; this
class only shows them and says which method's button was pressed."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model.method_rows import MethodRow, shown_path

COLUMNS = ("Method", "Status", "Source", "Licence", "Steps", "Metrics", "Weights file", "")
STATUS_TEXT = {"trained": "trained", "in training": "in training / not evaluated: below the trained floor",
               "untrained": "untrained: output is not a result", "unusable": "unusable weights",
               "interpolation": "interpolation", "checking\u2026": "checking\u2026"}


class MethodsDialog(QDialog):
    loadRequested = Signal(str)  # method name

    def __init__(self, rows: list[MethodRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Methods and Weights")
        self._rows: list[MethodRow] = []
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Weights file"), QHeaderView.ResizeMode.Stretch)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_details(row))
        self.set_rows(rows)
        self.resize(1120, 400)

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
            texts = (f"{row.display} ({row.name})", STATUS_TEXT.get(row.status, row.status), row.source, row.licence,
                     row.steps, row.metrics, file_text)
            for col, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(row.problem if col == 1 and row.problem else
                                (row.loaded_from or row.expected_path or text) if col == 6 else text)
                self.table.setItem(i, col, item)
            button = QPushButton("Replace\u2026" if row.status in ("trained", "in training") else "Load\u2026")
            button.setEnabled(row.can_load_weights)
            button.setToolTip(f"Load a checkpoint for {row.display}" if row.can_load_weights else
                              f"{row.display} has no weights")
            button.clicked.connect(lambda _c=False, n=row.name: self.loadRequested.emit(n))
            self.table.setCellWidget(i, len(COLUMNS) - 1, button)
        if rows:
            self.table.setCurrentCell(min(max(current, 0), len(rows) - 1), 0)
            self._show_details(self.table.currentRow())

    def _show_details(self, index: int) -> None:
        if not 0 <= index < len(self._rows):
            self.details.setText("")
            return
        row = self._rows[index]
        lines = [f"<b>{row.display}</b>: {row.paper}"]
        if row.problem:
            lines.append(f"<span style='color:#d55'>Cannot be used: {row.problem}</span>")
        if row.expected_path:
            lines.append(f"Shipped weights are read from <code>{row.expected_path}</code>")
        if row.loaded_from:
            lines.append(f"In use: <code>{row.loaded_from}</code>")
        self.details.setText("<br>".join(lines))
