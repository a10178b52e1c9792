"""The Details tab: one labelled row per fact about the shown cutout, in words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.details import detail_rows
from galaxy_studio.data.display import explain_auto


class DetailsView(QTableWidget):
    """Rows from data.details plus why Auto displays the cutout as it does."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.horizontalHeader().hide()
        self.verticalHeader().hide()
        self.setShowGrid(False)
        self.setWordWrap(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def show_cutout(self, cutout: Cutout) -> None:
        self.set_rows([*detail_rows(cutout), ("Auto display", explain_auto(cutout))])

    def show_message(self, message: str) -> None:
        self.set_rows([("Problem", message)])

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        self.setRowCount(len(rows))
        for row, (label, text) in enumerate(rows):
            name = QTableWidgetItem(label)
            name.setForeground(Qt.GlobalColor.gray)
            name.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            value = QTableWidgetItem(text)
            value.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            self.setItem(row, 0, name)
            self.setItem(row, 1, value)

    def clear_rows(self) -> None:
        self.setRowCount(0)

    def text(self) -> str:
        """All rows as "label: text" lines (what a copy would give; tests read it)."""
        return "\n".join(f"{self.item(r, 0).text()}: {self.item(r, 1).text()}" for r in range(self.rowCount()))
