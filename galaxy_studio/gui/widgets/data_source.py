"""The Folder… / File… / Library buttons that choose the data for a job.

The Train, Distill and Explore panels read the same kinds of data, so they offer the same
choices through this one row; each keeps its own line edit, which the buttons fill. A panel
first shown with no data chosen starts from what the Library shows, so a user who opened a
folder (or the demo) there does not have to find it again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from galaxy_studio.data.tables import TABLE_GLOBS

DATA_PLACEHOLDER = "class folders, CSV, Galaxy10 .h5 or .gsproj"
# What the Library shows that a panel's job can read, or None (see LibraryPanel.shown_source).
LibraryData = Callable[[], Path | None]
NO_LABELLED_DATA = "The Library shows no labelled data: open a project, or a folder with a sub-folder per class"


class DataSourceButtons(QWidget):
    """`library_data` gives what the Library shows that the panel can use (None: nothing);
    `status` says so, in `nothing_said`, when the Library button finds nothing."""

    status = Signal(str)

    def __init__(
        self,
        edit: QLineEdit,
        library_data: LibraryData,
        parent: QWidget | None = None,
        *,
        nothing_said: str = NO_LABELLED_DATA,
    ) -> None:
        super().__init__(parent)
        self.edit = edit
        self.library_data = library_data
        self.nothing_said = nothing_said
        edit.setPlaceholderText(DATA_PLACEHOLDER)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for text, slot, tip in (
            ("Folder…", self.choose_folder, "A folder with one sub-folder per class"),
            ("File…", self.choose_file, "A project, CSV or Galaxy10 HDF5 file"),
            (
                "Library",
                self.use_library,
                "What the Library shows: its labelling project, or the folder or file it opened",
            ),
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

    def use_library(self) -> None:
        path = self.library_data()
        if path is None:
            self.status.emit(self.nothing_said)
            return
        self.edit.setText(str(path))

    def fill_if_empty(self) -> None:
        """With no data chosen yet, take what the Library shows (a choice made is kept)."""
        if self.edit.text().strip():
            return
        path = self.library_data()
        if path is not None:
            self.edit.setText(str(path))


@runtime_checkable
class ChoosesData(Protocol):
    """A panel whose job reads data chosen with a row of these buttons."""

    data_buttons: DataSourceButtons
