"""Labelling mode of the Library: one key per galaxy, auto-advance, undo, never a lost label.

The screen shows a label as saved only after the session's `label` has returned, which is
after SQLite committed it; a failure (full disk, another process holding the file) is shown
and nothing on screen pretends otherwise. The project, the labeller and the badges belong to
the session and the Library's project view; this object only turns keys into their actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QMessageBox

from galaxy_studio.gui.panels.library_project import LibraryProject
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.schemes import CLASS_KEYS

if TYPE_CHECKING:
    from galaxy_studio.gui.panels.library_panel import LibraryPanel

ZOOM_IN_KEYS = {Qt.Key.Key_Plus, Qt.Key.Key_Equal}


class LabellingMode(QObject):
    """Turns key presses in the Library into labels, moves and view changes."""

    status = Signal(str)

    def __init__(self, panel: LibraryPanel, view: LibraryProject) -> None:
        super().__init__(panel)
        self.panel = panel
        self.view = view
        self.session = view.session
        self.active = False
        for watched in (panel.grid, panel.view, panel.legend):
            watched.installEventFilter(self)
        panel.legend.class_clicked.connect(self.assign)

    # Actions ---------------------------------------------------------------------------

    def current_key(self) -> int | None:
        index = self.panel.grid.currentIndex()
        return self.panel.model.key_at(index.row()) if index.isValid() else None

    def assign(self, class_name: str) -> None:
        """Label the current image and move on; the badge appears (through the session's
        notice) only once the label is durable."""
        key = self.current_key()
        if self.session.project is None or key is None:
            return
        try:
            self.session.label(self.view.image_ids[key], class_name)
        except ProjectError as error:
            self._report_failure(error)
            return
        self.advance()

    def assign_position(self, position: int) -> None:
        project = self.session.project
        if project is not None and position < len(project.classes):
            self.assign(project.classes[position])

    def accept_suggestion(self) -> None:
        """Label the current image with the model's suggestion: an ordinary label, by me, undoable."""
        key = self.current_key()
        if self.session.project is None or key is None:
            return
        suggestion = self.view.suggestions.get(self.view.image_ids[key])
        if suggestion is None:
            self.status.emit("No model suggestion for this image (Classify → Suggest labels for project)")
            return
        self.assign(suggestion.class_name)

    def advance(self, step: int = 1) -> None:
        """Next image in the list; with an 'unlabelled' filter, the next still unlabelled one."""
        panel = self.panel
        rows = panel.model.rowCount()
        index = panel.grid.currentIndex()
        if rows == 0:
            return
        row = index.row() if index.isValid() else -1
        wanted = panel.unlabelled_filter()
        candidate = row + step
        while 0 <= candidate < rows:
            key = panel.model.key_at(candidate)
            if wanted is None or wanted(key):
                panel.select_row(candidate)
                return
            candidate += step
        self.status.emit("End of the list reached" if step > 0 else "Start of the list reached")

    def undo(self) -> None:
        self._undo_or_redo(redo=False)

    def redo(self) -> None:
        self._undo_or_redo(redo=True)

    def _undo_or_redo(self, *, redo: bool) -> None:
        if self.session.project is None:
            return
        try:
            image_id = self.session.redo() if redo else self.session.undo()
        except ProjectError as error:
            self._report_failure(error)
            return
        if image_id is None:
            self.status.emit("Nothing to redo" if redo else "Nothing to undo")
            return
        key = self.view.key_of_id[image_id]
        row = self.panel.model.row_of(key)
        if row is not None:
            self.panel.select_row(row)
        self.status.emit(("Redid" if redo else "Undid") + f" the label of {self.panel.model.catalog.items[key].name}")

    def _report_failure(self, error: ProjectError) -> None:
        self.status.emit(f"Label NOT saved: {error}")
        QMessageBox.warning(self.panel, "Label not saved", f"The label was not saved.\n\n{error}")

    # Keys ------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.active or self.session.project is None or event.type() != QEvent.Type.KeyPress:
            return False
        assert isinstance(event, QKeyEvent)
        return self.handle_key(event)

    def handle_key(self, event: QKeyEvent) -> bool:
        """Single keys without modifiers (keypad allowed); Ctrl+Z and friends are menu actions."""
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if modifiers not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
            return False
        key, text = event.key(), event.text()
        panel = self.panel
        if text and text in CLASS_KEYS and modifiers == Qt.KeyboardModifier.NoModifier:
            self.assign_position(CLASS_KEYS.index(text))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_A):
            self.accept_suggestion()
        elif key == Qt.Key.Key_Backspace:
            self.undo()
        elif key == Qt.Key.Key_S:
            self.advance()
        elif key in ZOOM_IN_KEYS:
            panel.zoom_in()
        elif key == Qt.Key.Key_Minus:
            panel.zoom_out()
        elif key == Qt.Key.Key_I:
            panel.controls.invert.toggle()
        elif key == Qt.Key.Key_R:
            panel.view.rotate_view()
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down) and panel.view.hasFocus():
            self.advance(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up) and panel.view.hasFocus():
            self.advance(-1)
        else:
            return False
        return True
