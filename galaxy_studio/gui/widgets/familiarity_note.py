"""A note under a prediction that says when the input looks unlike the model's training data.

A probability from a model that never saw anything like the input (a single-band FITS stamp
shown to a network trained on colour JPEGs) looks as sure as any other; the note names the
reasons, so the number is read for what it is. It is hidden for familiar inputs.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

if TYPE_CHECKING:
    from galaxy_studio.model.classification import Prediction

WARNING_COLOUR = QColor("#f0b060")
# Rows of unfamiliar inputs are tinted with the warning colour, faint enough to read through.
ROW_TINT = QColor(240, 176, 96, 48)
ICON_SIZE = 16


def warning_icon(size: int = ICON_SIZE) -> QIcon:
    """A small amber warning sign drawn as a pixmap of `size` px: an icon never grows beyond
    its pixmap, so it stays small in a table whose icon size suits thumbnails."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = painter.font()
    font.setPixelSize(size)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(WARNING_COLOUR)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "⚠")
    painter.end()
    return QIcon(pixmap)


class FamiliarityNote(QFrame):
    """⚠ and the reasons an input looks unlike the training data; hidden otherwise."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("familiarityNote")
        self.setStyleSheet(
            f"#familiarityNote {{ border: 1px solid {WARNING_COLOUR.name()}; border-radius: 4px; "
            "background: rgba(240, 176, 96, 28); }"
        )
        self.icon = QLabel()
        self.icon.setPixmap(warning_icon(20).pixmap(20, 20))
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        self.hide()

    def show_prediction(self, prediction: Prediction | None) -> None:
        """Explain `prediction` when it is unfamiliar; hide for a familiar one or None."""
        reasons = [] if prediction is None else prediction.unfamiliar_reasons
        if not reasons:
            self.text.clear()
            self.hide()
            return
        items = "".join(f"<li>{escape(reason)}</li>" for reason in reasons)
        self.text.setText(
            "<b>This cutout looks unlike the model's training data</b>, so the probabilities may mean "
            f"little:<ul style='margin: 2px 0 0 -24px'>{items}</ul>"
        )
        self.show()
