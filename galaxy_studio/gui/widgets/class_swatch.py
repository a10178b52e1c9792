"""A class's colour as Qt draws it: a QColor, a round dot icon, or a dot in rich text.

Every panel that names a class draws it through these, from the session's ClassStyle, so
a class looks the same wherever it appears.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from galaxy_studio.labels.class_styles import ClassStyle


def style_colour(style: ClassStyle, alpha: int = 255) -> QColor:
    return QColor(*style.colour, alpha)


def swatch_icon(style: ClassStyle, size: int = 12) -> QIcon:
    """A filled dot of the class's colour, for table cells, headers and drop-downs."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(style_colour(style))
    painter.drawEllipse(QRectF(1, 1, size - 2, size - 2))
    painter.end()
    return QIcon(pixmap)


def swatch_html(style: ClassStyle) -> str:
    """The dot and the class (key first) for a rich-text label."""
    return f"<span style='color:{style.hex}'>●</span>&nbsp;{escape(style.caption)}"
