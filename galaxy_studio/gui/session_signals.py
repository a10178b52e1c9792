"""The labelling session's changes as Qt signals.

The session calls its listeners in the thread that made the change; a panel labelling a large
batch does so in a worker thread. Emitting a signal of this GUI-thread object from there makes
Qt queue the call to each connected slot into the GUI thread, so panels may touch widgets in
their slots whichever thread labelled.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from galaxy_studio.labels.session import (
    ClassesChanged,
    ClassMappingChanged,
    LabellerChanged,
    LabellingSession,
    LabelsChanged,
    ProjectClosed,
    ProjectOpened,
    SessionEvent,
)


class SessionSignals(QObject):
    """Subscribes to one session and re-emits each of its events as a signal. It lives as
    long as the session (the main window owns both)."""

    # A project was opened or closed (read the session for which).
    project_changed = Signal()
    # frozenset of image ids whose labels changed, or None: re-read every label.
    labels_changed = Signal(object)
    classes_changed = Signal(tuple)
    labeller_changed = Signal(str)
    # The stored class mapping changed: a tuple of (outside name, class or "" for skip).
    class_mapping_changed = Signal(tuple)

    def __init__(self, session: LabellingSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        session.subscribe(self._relay)

    def _relay(self, event: SessionEvent) -> None:
        if isinstance(event, (ProjectOpened, ProjectClosed)):
            self.project_changed.emit()
        elif isinstance(event, LabelsChanged):
            self.labels_changed.emit(event.image_ids)
        elif isinstance(event, ClassesChanged):
            self.classes_changed.emit(event.classes)
        elif isinstance(event, LabellerChanged):
            self.labeller_changed.emit(event.labeller)
        elif isinstance(event, ClassMappingChanged):
            self.class_mapping_changed.emit(event.aliases)
