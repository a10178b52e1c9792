"""Compass (N and E arrows) and RA/Dec grid drawn over the image view, from the cutout's WCS.

The arrows point where the WCS says north and east are, through the view's own
transform, so they stay right when the image is rotated, mirrored or turned in
the view. Without a WCS the corner says so instead of drawing arrows.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF, QTransform

from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.orientation import Compass, GridLine, compass, sky_grid

COMPASS_LENGTH = 46
COMPASS_MARGIN = 18
NO_WCS_TEXT = "No WCS: north unknown"
_NORTH_COLOUR = QColor(255, 214, 90)
_EAST_COLOUR = QColor(120, 200, 255)
_GRID_COLOUR = QColor(110, 235, 130, 210)


class SkyOverlay:
    """What ImageView draws on top of the pixels; `show_compass` and `show_grid` switch the parts."""

    def __init__(self) -> None:
        self.show_compass = True
        self.show_grid = False
        self.compass: Compass | None = None
        self.grid: list[GridLine] = []
        self.has_image = False

    def set_cutout(self, cutout: Cutout | None) -> None:
        """Read the orientation and grid of a newly shown cutout (None: nothing shown)."""
        self.has_image = cutout is not None
        self.compass = compass(cutout) if cutout is not None else None
        self.grid = sky_grid(cutout) if cutout is not None else []

    def paint(self, painter: QPainter, transform: QTransform, widget: QRectF) -> None:
        if not self.has_image:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self.show_grid and self.grid:
            self._paint_grid(painter, transform, widget)
        if self.show_compass:
            self._paint_compass(painter, transform, widget)

    def _paint_grid(self, painter: QPainter, transform: QTransform, widget: QRectF) -> None:
        pen = QPen(_GRID_COLOUR, 1.2)
        font = QFont(painter.font())
        font.setPointSizeF(max(font.pointSizeF() - 1, 7))
        painter.setFont(font)
        for line in self.grid:
            path = QPainterPath()
            first: QPointF | None = None
            pen_down = False
            for x, y in line.points:
                if not (math.isfinite(x) and math.isfinite(y)):
                    pen_down = False
                    continue
                # Display pixel centres sit at integer coordinates; the view draws pixel k over [k, k+1].
                point = transform.map(QPointF(x + 0.5, y + 0.5))
                if pen_down:
                    path.lineTo(point)
                else:
                    path.moveTo(point)
                    pen_down = True
                first = first or point
            painter.setPen(pen)
            painter.drawPath(path)
            if first is not None:
                self._paint_label(painter, line.label, first, widget)

    @staticmethod
    def _paint_label(painter: QPainter, text: str, at: QPointF, widget: QRectF) -> None:
        metrics = painter.fontMetrics()
        width, height = metrics.horizontalAdvance(text) + 6, metrics.height() + 2
        x = min(max(at.x() + 2, widget.left() + 2), widget.right() - width - 2)
        y = min(max(at.y() - height - 2, widget.top() + 2), widget.bottom() - height - 2)
        box = QRectF(x, y, width, height)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(_GRID_COLOUR.lighter(130))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_compass(self, painter: QPainter, transform: QTransform, widget: QRectF) -> None:
        metrics = painter.fontMetrics()
        if self.compass is None:
            width = metrics.horizontalAdvance(NO_WCS_TEXT) + 12
            box = QRectF(widget.right() - width - 8, widget.top() + 8, width, metrics.height() + 6)
            painter.fillRect(box, QColor(0, 0, 0, 160))
            painter.setPen(QColor(220, 220, 225))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, NO_WCS_TEXT)
            return
        reach = COMPASS_LENGTH + metrics.height()
        centre = QPointF(widget.right() - reach - COMPASS_MARGIN, widget.top() + reach + COMPASS_MARGIN)
        painter.setBrush(QColor(0, 0, 0, 110))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(centre, reach + 4, reach + 4)
        for label, vector, colour in (("N", self.compass.north, _NORTH_COLOUR), ("E", self.compass.east, _EAST_COLOUR)):
            direction = screen_direction(transform, vector)
            tip = centre + direction * COMPASS_LENGTH
            painter.setPen(QPen(colour, 2.2))
            painter.drawLine(centre, tip)
            painter.setBrush(colour)
            painter.drawPolygon(_arrow_head(tip, direction))
            text_at = centre + direction * (COMPASS_LENGTH + metrics.height() * 0.6)
            box = QRectF(text_at.x() - 8, text_at.y() - metrics.height() / 2, 16, metrics.height())
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        painter.setBrush(Qt.BrushStyle.NoBrush)


def screen_direction(transform: QTransform, vector: tuple[float, float]) -> QPointF:
    """A display-pixel direction as a unit vector on screen, through the view's zoom and rotation."""
    origin = transform.map(QPointF(0.0, 0.0))
    moved = transform.map(QPointF(*vector)) - origin
    length = float(np.hypot(moved.x(), moved.y())) or 1.0
    return QPointF(moved.x() / length, moved.y() / length)


def _arrow_head(tip: QPointF, direction: QPointF) -> QPolygonF:
    side = QPointF(-direction.y(), direction.x())
    back = tip - direction * 9
    return QPolygonF([tip, back + side * 4.5, back - side * 4.5])
