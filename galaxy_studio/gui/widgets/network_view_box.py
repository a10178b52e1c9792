"""The outline of what the network reads of a cutout, drawn over Classify's explanation.

A classifier reads the central crop of a cutout, so a saliency map stops at the crop's edge:
without the outline a map that is high there ends in a hard straight line that looks like a
drawing fault. The outline and its caption say where the network's view ends.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QTransform

CAPTION = "network's view"
_COLOUR = QColor(220, 222, 228, 170)


class NetworkViewBox:
    """An ImageView overlay; `box` is (left, top, side) in image pixels, or None (nothing drawn,
    as when the network reads the whole cutout)."""

    def __init__(self) -> None:
        self.box: tuple[int, int, int] | None = None

    def paint(self, painter: QPainter, transform: QTransform, widget: QRectF) -> None:
        if self.box is None:
            return
        left, top, side = self.box
        outline = transform.mapRect(QRectF(left, top, side, side))
        pen = QPen(_COLOUR, 1.0, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(outline)
        font = QFont(painter.font())
        font.setPointSizeF(max(font.pointSizeF() - 1, 7))
        painter.setFont(font)
        height = painter.fontMetrics().height()
        painter.drawText(QPointF(outline.left() + 4, outline.top() + height), CAPTION)
