"""The confusion matrix as a heatmap table: rows are true classes, columns predictions.

Headers carry each class's colour and key from the session's palette, so a row reads as the
same class as the Library's badges even when the model lists its classes in another order
or spelling."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from galaxy_studio.gui.widgets.class_swatch import style_colour, swatch_icon
from galaxy_studio.labels.class_styles import ClassStyle


def heat_colour(fraction: float) -> QColor:
    """Dark blue (0) to bright cyan-white (1): readable counts on a dark theme."""
    fraction = float(np.clip(fraction, 0.0, 1.0))
    return QColor(int(30 + 150 * fraction), int(40 + 170 * fraction), int(60 + 190 * fraction))


# The most of the view's width the row captions (the class names) may take: long names are
# cut short (the tooltip has them whole) rather than pushing the counts out of sight.
CAPTION_SHARE = 0.45
CAPTION_MIN_WIDTH = 48  # the swatch and key
COLUMN_WIDTH = 22  # the least a column of counts needs before captions give way
EMPTY_TEXT = "The confusion matrix\n(rows: true class, columns: predicted)\nappears here when a run ends"


class ConfusionView(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(20)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setToolTip("Rows: true class · columns: predicted class (by key) · colour: fraction of the row")
        self.header_colours: list[QColor] = []

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_captions()

    def _fit_captions(self) -> None:
        """Captions take at most CAPTION_SHARE of the width, and less when the columns need it
        (Galaxy10's ten classes), but keep room for the swatch and key."""
        header = self.verticalHeader()
        room_left = self.width() - 2 * self.frameWidth() - self.columnCount() * COLUMN_WIDTH
        wanted = min(int(CAPTION_SHARE * self.width()), room_left)
        header.setFixedWidth(min(header.sizeHint().width(), max(CAPTION_MIN_WIDTH, wanted)))

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(QColor(140, 142, 150))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)

    def show_matrix(self, matrix: list[list[int]] | np.ndarray, classes: list[str], styles: list[ClassStyle]) -> None:
        """`classes` in the model's order and spelling; `styles` the session's for each."""
        counts = np.asarray(matrix, dtype=int)
        self.clear()
        self.setRowCount(len(classes))
        self.setColumnCount(len(classes))
        self.header_colours = [style_colour(style) for style in styles]
        for position, (name, style) in enumerate(zip(classes, styles)):
            icon, colour = swatch_icon(style), style_colour(style)
            shown = style.name if style.name == name else f"{style.name} ({name})"
            row = QTableWidgetItem(icon, style.caption)
            row.setForeground(colour)
            row.setToolTip(f"true {shown}")
            self.setVerticalHeaderItem(position, row)
            column = QTableWidgetItem(icon, style.key or style.name[:3])
            column.setForeground(colour)
            column.setToolTip(f"predicted {shown}")
            self.setHorizontalHeaderItem(position, column)
        self._fit_captions()
        totals = counts.sum(axis=1, keepdims=True).clip(min=1)
        for row in range(len(classes)):
            for column in range(len(classes)):
                fraction = counts[row, column] / totals[row, 0]
                cell = QTableWidgetItem(f"{counts[row, column]}")
                cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                cell.setBackground(heat_colour(fraction))
                cell.setForeground(QColor(10, 10, 14) if fraction > 0.55 else QColor(230, 232, 238))
                cell.setToolTip(
                    f"true {classes[row]}, predicted {classes[column]}: "
                    f"{counts[row, column]} ({fraction:.0%} of the row)"
                )
                self.setItem(row, column, cell)
