"""The Folder… / File… / Project buttons that choose labelled data for a job.

The Train and Distill panels read the same kinds of labelled data, so they offer the same
choices through this one row; each keeps its own line edit, which the buttons fill.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from galaxy_studio.data.tables import TABLE_GLOBS

DATA_PLACEHOLDER = "folder per class, CSV, Galaxy10 .h5 or a .gsproj project"


class DataSourceButtons(QWidget):
    """Emits `status` with a message when the Project button finds no open project."""

    status = Signal(str)

    def __init__(
        self, edit: QLineEdit, current_project: Callable[[], Path | None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.edit = edit
        self.current_project = current_project
        edit.setPlaceholderText(DATA_PLACEHOLDER)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for text, slot, tip in (
            ("Folder…", self.choose_folder, "A folder with one sub-folder per class"),
            ("File…", self.choose_file, "A project, CSV or Galaxy10 HDF5 file"),
            ("Project", self.use_project, "The labelling project open in the Library"),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            layout.addWidget(button)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder with one sub-folder per class")
        if folder:
            self.edit.setText(folder)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Labelled data", "", f"Labelled data (*.gsproj {TABLE_GLOBS} *.h5 *.hdf5);;All files (*)"
        )
        if path:
            self.edit.setText(path)

    def use_project(self) -> None:
        project = self.current_project()
        if project is None:
            self.status.emit("No project is open in the Library")
            return
        self.edit.setText(str(project))
