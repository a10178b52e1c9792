"""Labelling mode of the Library: one key per galaxy, auto-advance, undo, never a lost label.

The screen shows a label as saved only after `Project.label` has returned, which is after
SQLite committed it; a failure (full disk, another process holding the file) is shown
and nothing on screen pretends otherwise.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import QMessageBox

from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.schemes import CLASS_KEYS, class_colour
from galaxy_studio.labels.store import Project, Suggestion

if TYPE_CHECKING:
    from galaxy_studio.gui.panels.library_panel import LibraryPanel

ZOOM_IN_KEYS = {Qt.Key.Key_Plus, Qt.Key.Key_Equal}
STATS_DELAY_MS = 400
BACKUP_INTERVAL_MS = 10 * 60 * 1000


class LabellingMode(QObject):
    """Owns the open project for the Library panel and turns key presses into labels."""

    status = Signal(str)
    project_changed = Signal()
    # Any label of the project may have changed (a key, an undo, a reload): views that
    # colour by label (the Explore map) re-read them.
    labels_changed = Signal()

    def __init__(self, panel: "LibraryPanel", labeller: str) -> None:
        super().__init__(panel)
        self.panel = panel
        self.labeller = labeller
        self.project: Project | None = None
        self.active = False
        self.image_ids: list[int] = []
        self.key_of_id: dict[int, int] = {}
        self.mine: set[int] = set()
        self.suggestions: dict[int, Suggestion] = {}
        self.uncertain_first = False
        self._summary_text = ""
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(STATS_DELAY_MS)
        self._stats_timer.timeout.connect(self.refresh_summary)
        self._backup_timer = QTimer(self)
        self._backup_timer.setInterval(BACKUP_INTERVAL_MS)
        self._backup_timer.timeout.connect(self.back_up)
        for watched in (panel.grid, panel.view, panel.legend):
            watched.installEventFilter(self)
        panel.legend.class_clicked.connect(self.assign)

    # Project lifetime ------------------------------------------------------------------

    def set_project(self, project: Project | None) -> None:
        if self.project is not None and self.project is not project:
            self.project.close()
        self.project = project
        self.reload()
        self._go_to_first_unlabelled()
        if project is None:
            self._backup_timer.stop()
        else:
            self._backup_timer.start()
        self.project_changed.emit()

    def _go_to_first_unlabelled(self) -> None:
        """Resume where the labeller stopped: the first image without their label."""
        model = self.panel.model
        for row in range(model.rowCount()):
            if model.key_at(row) not in self.mine:
                self.panel.select_row(row)
                return

    def reload(self) -> None:
        """Rebuild the library from the project: images, labels, legend."""
        panel = self.panel
        if self.project is None:
            self.image_ids, self.key_of_id, self.mine, self.suggestions = [], {}, set(), {}
            panel.legend.hide()
            panel.show_order_choice(False)
            return
        records = self.project.images()
        self.suggestions = self.project.suggestions()
        if self.uncertain_first:
            position = {image_id: rank for rank, image_id in enumerate(self.project.most_uncertain_first())}
            records.sort(key=lambda record: position.get(record.id, len(position)))
        self.image_ids = [record.id for record in records]
        self.key_of_id = {image_id: key for key, image_id in enumerate(self.image_ids)}
        shown = self._shown_labels()
        classes = self.project.classes
        panel.show_project_items([record.item() for record in records], classes, shown)
        panel.legend.set_classes(classes, [QColor(*class_colour(i)) for i in range(len(classes))])
        panel.legend.show()
        panel.show_order_choice(True)
        missing = sum(1 for record in records if record.missing)
        if missing:
            self.status.emit(f"{missing} image(s) of the project are missing on disk: Project → Relink")
        self.refresh_counts()
        self.refresh_summary()
        self.labels_changed.emit()

    def _shown_labels(self) -> dict[int, str]:
        """Badges show my own label, else the consensus of the others (or an import)."""
        assert self.project is not None
        consensus = self.project.labels(None)
        mine = self.project.labels(self.labeller)
        self.mine = {self.key_of_id[i] for i in mine if i in self.key_of_id}
        shown = {self.key_of_id[i]: r.class_name for i, r in consensus.items() if i in self.key_of_id}
        shown.update({self.key_of_id[i]: r.class_name for i, r in mine.items() if i in self.key_of_id})
        return shown

    def back_up(self) -> None:
        """Opening backs up the state before a session; long sessions get one every few minutes."""
        if self.project is None:
            return
        try:
            self.project.back_up()
        except ProjectError as error:
            self.status.emit(f"Automatic backup failed (your labels are still saved): {error}")

    def set_uncertain_first(self, uncertain_first: bool) -> None:
        """Order the images by the model's uncertainty (highest entropy first), or as added."""
        self.uncertain_first = uncertain_first
        if self.project is not None:
            self.reload()
            self._go_to_first_unlabelled()

    def set_labeller(self, name: str) -> None:
        self.labeller = name
        if self.project is not None:
            self.reload()

    # Counts ----------------------------------------------------------------------------

    def refresh_counts(self) -> None:
        if self.project is None:
            return
        counts = Counter(self.panel.model.labels.values())
        total = len(self.image_ids)
        self.panel.legend.set_counts(dict(counts), len(self.panel.model.labels), total, self._summary_text)
        self._stats_timer.start()

    def refresh_summary(self) -> None:
        """Agreement needs every labeller's labels: computed a moment after the last key."""
        if self.project is None:
            return
        stats = self.project.stats()
        parts = [f"labeller: {self.labeller}", f"mine: {len(self.mine)}"]
        if len(stats.labellers) > 1:
            parts.append(f"{len(stats.labellers)} labellers")
            parts.append(f"{stats.disagreements} disagreements")
            if stats.agreement is not None:
                parts.append(f"agreement {stats.agreement:.0%}")
        self._summary_text = " · ".join(parts)
        self.panel.legend.summary.setText(self._summary_text)

    def disagreement_keys(self) -> set[int]:
        if self.project is None:
            return set()
        return {self.key_of_id[i] for i in self.project.disagreements() if i in self.key_of_id}

    def describe_labels(self, key: int) -> str:
        """Every labeller's label of one image, flagged when they disagree."""
        if self.project is None or key >= len(self.image_ids):
            return ""
        records = self.project.labels_for_image(self.image_ids[key])
        suggestion = self.suggestions.get(self.image_ids[key])
        hint = ""
        if suggestion is not None and key not in self.mine:
            hint = (f"  · model suggests <b>{suggestion.class_name}</b> ({suggestion.confidence:.0%}, "
                    f"entropy {suggestion.entropy:.2f}; Enter accepts)")
        if not records:
            return "unlabelled" + hint
        text = ", ".join(f"{r.labeller}: {r.class_name}" + (f" ({r.source})" if r.source != "human" else "")
                         for r in records)
        humans = {r.class_name for r in records if r.source == "human"}
        return text + ("  ⚠ labellers disagree" if len(humans) > 1 else "") + hint

    # Actions ---------------------------------------------------------------------------

    def current_key(self) -> int | None:
        index = self.panel.grid.currentIndex()
        return self.panel.model.key_at(index.row()) if index.isValid() else None

    def assign(self, class_name: str) -> None:
        """Label the current image and move on; the badge appears only once it is durable."""
        key = self.current_key()
        if self.project is None or key is None:
            return
        try:
            self.project.label(self.image_ids[key], class_name, labeller=self.labeller)
        except ProjectError as error:
            self._report_failure(error)
            return
        self.mine.add(key)
        self.panel.model.set_label(key, class_name)
        self.refresh_counts()
        self.panel.refresh_title()
        self.labels_changed.emit()
        self.advance()

    def assign_position(self, position: int) -> None:
        if self.project is not None and position < len(self.project.classes):
            self.assign(self.project.classes[position])

    def accept_suggestion(self) -> None:
        """Label the current image with the model's suggestion: an ordinary label, by me, undoable."""
        key = self.current_key()
        if self.project is None or key is None:
            return
        suggestion = self.suggestions.get(self.image_ids[key])
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
        if self.project is None:
            return
        try:
            image_id = self.project.redo(self.labeller) if redo else self.project.undo(self.labeller)
        except ProjectError as error:
            self._report_failure(error)
            return
        if image_id is None:
            self.status.emit("Nothing to redo" if redo else "Nothing to undo")
            return
        key = self.key_of_id[image_id]
        mine = self.project.labels(self.labeller).get(image_id)
        if mine is not None:
            self.mine.add(key)
            self.panel.model.set_label(key, mine.class_name)
        else:
            self.mine.discard(key)
            others = self.project.labels(None).get(image_id)
            self.panel.model.set_label(key, others.class_name if others else None)
        self.refresh_counts()
        self.labels_changed.emit()
        self.panel.refresh_title()
        row = self.panel.model.row_of(key)
        if row is not None:
            self.panel.select_row(row)
        self.status.emit(("Redid" if redo else "Undid") + f" the label of {self.panel.model.catalog.items[key].name}")

    def _report_failure(self, error: ProjectError) -> None:
        self.status.emit(f"Label NOT saved: {error}")
        QMessageBox.warning(self.panel, "Label not saved", f"The label was not saved.\n\n{error}")

    # Keys ------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self.active or self.project is None or event.type() != QEvent.Type.KeyPress:
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
