"""File → Import Labels…: labels from a CSV, JSON or Galaxy10 file into the open project.

The CLI could import labels (`project import --map`) but the GUI never offered it. The file's
class names are counted first, so that names spelled otherwise than the project's classes are
settled in the class-mapping dialog before anything is written; the import itself runs off the
GUI thread and says what became of every label.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from galaxy_studio.data.tables import TABLE_GLOBS
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.widgets.class_mapping_dialog import confirm_class_mapping
from galaxy_studio.gui.worker import JobRunner
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.exchange import ExchangeReport, count_class_names, import_label_file
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.labels.store import Project

LABEL_FILE_FILTER = f"Label files ({TABLE_GLOBS} *.json *.h5 *.hdf5);;All files (*)"


class LabelImport(QObject):
    """Asks for a label file, settles its class names, imports it and reports the counts."""

    # One line for the status bar: the import's outcome or why nothing was imported.
    status = Signal(str)

    def __init__(self, session: LabellingSession, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.session = session
        self.parent_widget = parent_widget
        self.jobs = JobRunner(self)
        self.last_report: ExchangeReport | None = None

    def choose_and_import(self) -> None:
        if self.session.project is None:
            self.status.emit("Open or create a project first (File → Open Project / New Project)")
            return
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Import labels", "", LABEL_FILE_FILTER)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> bool:
        """Settle the file's class names (the dialog where they differ), then import in the
        background; False when nothing was started (no project, unreadable, cancelled)."""
        project = self.session.project
        if project is None or self.jobs.running:
            return False
        try:
            counts = count_class_names(project, path)
        except ProjectError as error:
            QMessageBox.warning(self.parent_widget, "Cannot import labels", str(error))
            return False
        renames = confirm_class_mapping(self.parent_widget, self.session, path.name, counts)
        if renames is None:
            self.status.emit("Import cancelled: nothing was imported")
            return False
        project_path = project.path

        def job(emit: EventSink, cancel: CancelToken) -> ExchangeReport:
            with Project.open(project_path) as writer:
                return import_label_file(writer, path, renames=renames, emit=emit, cancel=cancel)

        self.jobs.start(job, on_success=self._on_imported, on_failure=self._on_failed)
        self.status.emit(f"Importing labels from {path.name}…")
        return True

    def _on_imported(self, report: ExchangeReport) -> None:
        self.last_report = report
        self.session.changed_outside()
        self.status.emit(report.summary())

    def _on_failed(self, message: str) -> None:
        QMessageBox.warning(self.parent_widget, "Labels not imported", message)
        self.status.emit(f"Labels not imported: {message}")

    def shutdown(self) -> None:
        self.jobs.shutdown()
