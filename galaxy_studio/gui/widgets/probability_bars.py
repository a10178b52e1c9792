"""Every class's probability as a horizontal bar in the class's colour, the predicted one
in full colour and bold, the others dimmed."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from galaxy_studio.gui.widgets.class_swatch import style_colour
from galaxy_studio.labels.class_styles import ClassStyle

ROW_HEIGHT = 20
_TRACK = QColor(52, 55, 62)
_TEXT = QColor(226, 228, 234)
_DIMMED_ALPHA = 140


class ProbabilityBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: list[str] = []
        self.styles: list[ClassStyle] = []
        self.probabilities: list[float] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_probabilities(
        self, classes: Sequence[str], probabilities: Sequence[float], styles: Sequence[ClassStyle]
    ) -> None:
        """`classes` in the model's order; `styles` the session's for each, whose caption
        (key and the project's spelling) names the bar."""
        self.classes = list(classes)
        self.styles = list(styles)
        self.probabilities = [float(p) for p in probabilities]
        self.setFixedHeight(max(1, len(self.classes)) * ROW_HEIGHT + 4)
        self.update()

    def clear(self) -> None:
        self.set_probabilities([], [], [])

    def sizeHint(self) -> QSize:
        return QSize(320, max(1, len(self.classes)) * ROW_HEIGHT + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bold = QFont(self.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        name_width = min(
            max((metrics.horizontalAdvance(style.caption) for style in self.styles), default=0) + 10,
            self.width() // 2,
        )
        value_width = metrics.horizontalAdvance("100.0%") + 8
        track_width = max(10, self.width() - name_width - value_width)
        top = max(range(len(self.probabilities)), key=self.probabilities.__getitem__, default=-1)
        for row, (style, p) in enumerate(zip(self.styles, self.probabilities)):
            y = 2 + row * ROW_HEIGHT
            painter.setPen(_TEXT)
            painter.setFont(bold if row == top else self.font())
            shown = metrics.elidedText(style.caption, Qt.TextElideMode.ElideRight, name_width - 8)
            painter.drawText(
                QRectF(0, y, name_width - 6, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                shown,
            )
            track = QRectF(name_width, y + 4, track_width, ROW_HEIGHT - 8)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_TRACK)
            painter.drawRoundedRect(track, 3, 3)
            painter.setBrush(style_colour(style, 255 if row == top else _DIMMED_ALPHA))
            painter.drawRoundedRect(
                QRectF(track.x(), track.y(), track.width() * min(max(p, 0.0), 1.0), track.height()), 3, 3
            )
            painter.setPen(_TEXT)
            painter.drawText(
                QRectF(name_width + track_width + 4, y, value_width, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                f"{100 * p:.1f}%",
            )
        painter.end()
