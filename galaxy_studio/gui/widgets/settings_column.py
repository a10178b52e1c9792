"""The settings side of a job panel (Train, Distill): a column that scrolls vertically when
its settings are taller than the window, instead of squeezing them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QWidget


def settings_column(body: QWidget, least_width: int) -> QScrollArea:
    """`body` in a frameless vertical scroll area as wide as the body needs (at least
    `least_width`) beside a scroll bar, so that nothing is cut off when it scrolls."""
    column = QScrollArea()
    column.setWidgetResizable(True)
    column.setFrameShape(QScrollArea.Shape.NoFrame)
    column.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    column.setWidget(body)
    scroll_bar = column.verticalScrollBar().sizeHint().width()
    column.setFixedWidth(max(least_width, body.minimumSizeHint().width()) + scroll_bar)
    return column
