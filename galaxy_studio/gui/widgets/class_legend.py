"""The labelling legend: every class with its key, colour and count, and overall progress."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from galaxy_studio.gui.widgets.class_swatch import style_colour
from galaxy_studio.labels.class_styles import ClassStyle


class ClassLegend(QWidget):
    """Click a class (or press its key) to label; counts and progress stay on screen."""

    class_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._buttons: dict[str, QPushButton] = {}
        self._styles: dict[str, ClassStyle] = {}
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(6)
        self.grid.setVerticalSpacing(3)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m labelled (%p%)")
        self.summary = QLabel()
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        status = QHBoxLayout()
        status.addWidget(self.progress, 2)
        status.addWidget(self.summary, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(status)
        layout.addLayout(self.grid)

    def set_classes(self, styles: list[ClassStyle]) -> None:
        """One button per class, in scheme order, with the session's colour and key."""
        while self.grid.count():
            widget = self.grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self._buttons.clear()
        self._styles = {style.name: style for style in styles}
        columns = 2 if len(styles) > 4 else 1
        rows = (len(styles) + columns - 1) // columns
        for position, style in enumerate(styles):
            name, colour = style.name, style_colour(style)
            button = QPushButton()
            button.setToolTip(f"Label as {name}" + (f" (key {style.key})" if style.key else ""))
            text_colour = "#{:02x}{:02x}{:02x}".format(*style.ink)
            button.setStyleSheet(
                "QPushButton { text-align: left; padding: 3px 8px; border-radius: 4px; "
                f"border-left: 10px solid {colour.name()}; background: #2e3036; color: #e6e6ea; }}"
                f"QPushButton:hover {{ background: {colour.darker(160).name()}; }}"
                f"QPushButton:pressed {{ background: {colour.name()}; color: {text_colour}; }}"
            )
            button.clicked.connect(lambda _=False, n=name: self.class_clicked.emit(n))
            self._buttons[name] = button
            self.grid.addWidget(button, position % rows, position // rows)
        self.set_counts({}, 0, 0, "")

    def set_counts(self, counts: dict[str, int], labelled: int, total: int, summary: str) -> None:
        for name, button in self._buttons.items():
            button.setText(f"{self._styles[name].caption}   ({counts.get(name, 0)})")
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(labelled)
        self.summary.setText(summary)

    def button_text(self, name: str) -> str:
        return self._buttons[name].text()

    def colour_of(self, name: str) -> QColor:
        return style_colour(self._styles[name])
