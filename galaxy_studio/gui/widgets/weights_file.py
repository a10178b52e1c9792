"""A weights file to start a network from: its name above Choose… and Clear, and `report`, a
label that says what the file gives the chosen network, or why it does not fit, checked as
soon as it is chosen. The panel places `report` on a row of its own, as wide as its form:
a long message wrapped into a narrow field column would be clipped.

The check is the panel's (it knows the architecture and the image size) and is run again
whenever the panel says the network changed; the widget only shows its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from galaxy_studio.errors import UserError
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.path_text import readable
from galaxy_studio.settings import control_label

WEIGHTS_FILTER = "PyTorch weights (*.pth *.pt *.bin *.ckpt);;All files (*)"
NO_FILE_TEXT = "None: the network starts from random weights."

Check = Callable[[str], str]


class WeightsFilePicker(QWidget):
    """`path()` is the chosen file or None; `fits()` whether the last check passed."""

    changed = Signal()

    def __init__(self, check: Check, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._check = check
        self._path: str | None = None
        self._fits = True
        self.name_edit = QLineEdit()
        self.name_edit.setReadOnly(True)
        self.name_edit.setPlaceholderText("no file")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("A torchvision state dict (.pth) you have: nothing is downloaded")
        self.choose_button.clicked.connect(self.choose)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Start from random weights")
        self.clear_button.clicked.connect(self.clear)
        self.report = QLabel(NO_FILE_TEXT)
        self.report.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.name_edit)
        layout.addLayout(buttons)
        self._show()

    def path(self) -> str | None:
        return self._path

    def fits(self) -> bool:
        return self._fits

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights to start from", "", WEIGHTS_FILTER)
        if path:
            self.set_path(path)

    def set_path(self, path: str | None) -> None:
        """Show `path` (None: no file) and check it against the current network."""
        self._path = path
        self.recheck()
        self.changed.emit()

    def clear(self) -> None:
        self.set_path(None)

    def recheck(self) -> None:
        """Check the file again, for the network as the panel now describes it."""
        details = ""
        if self._path is None:
            self._fits, text = True, NO_FILE_TEXT
        else:
            try:
                self._fits, text = True, self._check(self._path)
            except UserError as error:
                self._fits, text = False, _brief(error.message, self._path)
                details = readable(error.text(control_label))
        self.report.setText(text)
        self.report.setToolTip(details)
        self._show()

    def _show(self) -> None:
        self.name_edit.setText("" if self._path is None else readable(Path(self._path).name))
        self.name_edit.setToolTip(readable(self._path or ""))
        self.clear_button.setEnabled(self._path is not None)
        self.report.setStyleSheet("" if self._fits else WARNING_STYLE)


def _brief(message: str, path: str) -> str:
    """The message without the file's path (its name is in the box above) and without the
    parenthesised particulars (which tensors differ), which the tooltip keeps, so that it
    fits the narrow settings column. It starts in lower case, as it continues the name."""
    return readable(message.removeprefix(f"{path}: ").split(" (", 1)[0] + ".")
