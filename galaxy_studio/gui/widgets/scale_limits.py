"""The pixel-value histogram with the display limits on it, which the user drags or types.

As in DS9's Scale dialog: the bars show where the pixel values lie, the two lines
mark the values shown as black and white. Dragging a line or typing a value sets
the user's own limits; "Auto limits" returns to the interval menu's choice.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QDoubleValidator, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QWidget

from galaxy_studio.data.display import PixelHistogram

GRAB_DISTANCE_PX = 6
_BAR_COLOUR = QColor(150, 160, 180)
_SHOWN_COLOUR = QColor(90, 140, 220, 60)
_LOW_COLOUR = QColor(90, 170, 255)
_HIGH_COLOUR = QColor(255, 190, 80)


def format_value(value: float) -> str:
    return f"{value:.5g}"


class HistogramPlot(QWidget):
    """Bars of log(1 + count); `limits_dragged` while a limit line is moved, `limits_dropped` on release."""

    limits_dragged = Signal(float, float)
    limits_dropped = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(220, 56)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.histogram: PixelHistogram | None = None
        self.limits = (0.0, 1.0)
        self._dragging: int | None = None
        self.setToolTip(
            "Pixel values of the band or bands shown; drag the blue (black level) or orange (white level) line"
        )

    def set_histogram(self, histogram: PixelHistogram | None, limits: tuple[float, float]) -> None:
        self.histogram = histogram
        self.limits = limits
        self.update()

    def x_of(self, value: float) -> float:
        """Widget x of a pixel value."""
        if self.histogram is None:
            return 0.0
        low, high = float(self.histogram.edges[0]), float(self.histogram.edges[-1])
        return (value - low) / (high - low) * self.width()

    def value_at(self, x: float) -> float:
        if self.histogram is None:
            return 0.0
        low, high = float(self.histogram.edges[0]), float(self.histogram.edges[-1])
        return low + min(max(x, 0.0), float(self.width())) / self.width() * (high - low)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(28, 29, 33))
        if self.histogram is None or not self.histogram.counts.any():
            return
        counts = np.log1p(self.histogram.counts.astype(float))
        top = counts.max() or 1.0
        bar_width = self.width() / len(counts)
        height = self.height() - 2
        low_x, high_x = sorted((self.x_of(self.limits[0]), self.x_of(self.limits[1])))
        painter.fillRect(QRectF(low_x, 0, high_x - low_x, self.height()), _SHOWN_COLOUR)
        for k, value in enumerate(counts):
            bar = value / top * height
            painter.fillRect(QRectF(k * bar_width, self.height() - bar, max(bar_width - 0.5, 0.5), bar), _BAR_COLOUR)
        for x, colour in ((low_x, _LOW_COLOUR), (high_x, _HIGH_COLOUR)):
            painter.setPen(QPen(colour, 2))
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))

    def _nearest_line(self, x: float) -> int | None:
        distances = [abs(self.x_of(limit) - x) for limit in self.limits]
        best = int(np.argmin(distances))
        return best if distances[best] <= GRAB_DISTANCE_PX else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.histogram is not None and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = self._nearest_line(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        if self._dragging is None:
            near = self.histogram is not None and self._nearest_line(x) is not None
            self.setCursor(Qt.CursorShape.SizeHorCursor if near else Qt.CursorShape.ArrowCursor)
            return
        limits = list(self.limits)
        limits[self._dragging] = self.value_at(x)
        self.limits = (limits[0], limits[1])
        self.update()
        self.limits_dragged.emit(*self.limits)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging is not None:
            self._dragging = None
            low, high = sorted(self.limits)
            if high > low:
                self.limits_dropped.emit(low, high)


class ScaleLimits(QWidget):
    """Histogram plus Low/High boxes; `limits_changed(tuple | None)`, None meaning automatic."""

    limits_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = HistogramPlot()
        self.low = self._value_box("Black level: pixel values at or below it are shown black")
        self.high = self._value_box("White level: pixel values at or above it are shown white")
        self.auto_limits = QPushButton("Auto limits")
        self.auto_limits.setToolTip("Limits from the Interval menu again")
        self.auto_limits.clicked.connect(lambda: self.limits_changed.emit(None))
        self.mode = QLabel()
        self.plot.limits_dragged.connect(self._show_values)
        self.plot.limits_dropped.connect(lambda low, high: self.limits_changed.emit((low, high)))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)  # the mode's words clear the pane's edge
        layout.addWidget(self.plot, 1)
        for caption, box in (("Low", self.low), ("High", self.high)):
            label = QLabel(caption)
            label.setBuddy(box)
            layout.addWidget(label)
            layout.addWidget(box)
        layout.addWidget(self.auto_limits)
        layout.addWidget(self.mode)

    def _value_box(self, tip: str) -> QLineEdit:
        box = QLineEdit()
        box.setValidator(QDoubleValidator())
        box.setFixedWidth(box.fontMetrics().horizontalAdvance("-0.00000e+00") + 12)
        box.setToolTip(tip)
        box.editingFinished.connect(self._on_typed)
        return box

    def set_state(
        self, histogram: PixelHistogram | None, limits: tuple[float, float], manual: bool, per_band: bool = False
    ) -> None:
        """Show the histogram of the current image and the limits in use (manual: the user's own;
        per_band: each shown band has its own automatic limits, and the lines show the red one's)."""
        self.plot.set_histogram(histogram, limits)
        self._show_values(*limits)
        self.mode.setText("your limits" if manual else ("automatic, per band" if per_band else "automatic"))
        self.mode.setToolTip(
            "Each band has its own limits; the lines show the first (red) band's. Typed or dragged limits apply to all."
            if per_band and not manual
            else ""
        )
        self.auto_limits.setEnabled(manual)

    def _show_values(self, low: float, high: float) -> None:
        self.low.setText(format_value(low))
        self.high.setText(format_value(high))

    def _on_typed(self) -> None:
        try:
            low, high = float(self.low.text()), float(self.high.text())
        except ValueError:
            return
        unchanged = (self.low.text(), self.high.text()) == tuple(format_value(v) for v in self.plot.limits)
        if not unchanged and math.isfinite(low) and math.isfinite(high) and low < high:
            self.limits_changed.emit((low, high))
