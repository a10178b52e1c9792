"""File → Class Mappings…: the class mapping stored in the project, to review and forget.

A mapping confirmed once is applied silently afterwards; this is where a wrong one is seen and
taken back (a forgotten name is proposed afresh, in the mapping dialog, the next time it comes).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.gui.widgets.class_mapping_dialog import SKIP_TEXT
from galaxy_studio.labels.class_mapping import SKIP
from galaxy_studio.labels.session import LabellingSession


class StoredMappingsDialog(QDialog):
    """The stored outside name -> project class pairs, with Forget for the selected rows."""

    def __init__(self, session: LabellingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Class mappings of this project")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Outside name", "Read as"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.forget_button = QPushButton("Forget Selected")
        self.forget_button.clicked.connect(self.forget_selected)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.forget_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.note, self.table, buttons):
            layout.addWidget(widget)
        self.resize(520, 300)
        self.refresh()

    def refresh(self) -> None:
        aliases = self.session.require_project().class_aliases()
        self.table.setRowCount(len(aliases))
        for row, (outside, inside) in enumerate(aliases.items()):
            self.table.setItem(row, 0, QTableWidgetItem(outside))
            self.table.setItem(row, 1, QTableWidgetItem(SKIP_TEXT if inside == SKIP else inside))
        self.note.setText(
            f"{counted(len(aliases), 'stored mapping')}. Folder, label-file and model class names are read this way "
            "without asking; forget one to be asked again."
            if aliases
            else "No stored mapping: names spelled as the project's classes need none."
        )
        self.forget_button.setEnabled(bool(aliases) and not self.session.require_project().read_only)

    def forget_selected(self) -> int:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        names = [self.table.item(row, 0).text() for row in rows]
        forgotten = self.session.forget_class_aliases(names) if names else 0
        self.refresh()
        return forgotten
