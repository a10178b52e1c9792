"""The main window: menus, status bar, drag-and-drop, and the panels."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from galaxy_studio import __version__
from galaxy_studio import paths as app_paths
from galaxy_studio.data.formats import IMAGE_SUFFIXES
from galaxy_studio.events import CancelToken, EventSink, Progressed
from galaxy_studio.gui.panels.library_panel import LibraryPanel
from galaxy_studio.gui.worker import JobRunner

IMAGE_FILTER = "Cutouts ({});;All files (*)".format(" ".join(f"*{s}" for s in IMAGE_SUFFIXES))
CATALOGUE_FILTER = "Catalogues (*.csv *.h5 *.hdf5);;All files (*)"
FORMATS_TEXT = (
    "<b>Images</b>: FITS (.fits, .fit, .fts, .fits.gz, tile-compressed .fz; single or multi-extension, "
    "one band, g/r/z bands or cubes), JPEG, PNG, TIFF (8/16-bit, grey, palette, RGBA, CMYK).<br>"
    "<b>Catalogues</b>: a folder (recursive); a folder with one sub-folder per class; a CSV with a "
    "path column and optional label, ra, dec columns; the Galaxy10 DECaLS HDF5 file."
)


def dropped_paths(urls: list[QUrl]) -> list[str]:
    return [url.toLocalFile() for url in urls if url.isLocalFile()]


def settings_store() -> QSettings:
    """Window geometry only; stored under the app's config dir (GALAXY_STUDIO_HOME honoured)."""
    return QSettings(str(app_paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Galaxy Studio")
        self.setAcceptDrops(True)
        self.library = LibraryPanel()
        self.library.status.connect(self.show_message)
        self.setCentralWidget(self.library)
        self.jobs = JobRunner(self)
        self.jobs.event.connect(self._on_job_event)
        self.jobs.finished.connect(self._on_job_finished)
        self.jobs.failed.connect(lambda message: self.show_message(f"Failed: {message}"))
        self._build_status_bar()
        self._build_menus()
        self._restore_geometry()

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.jobs.cancel)
        self.cancel_button.hide()
        self.version_label = QLabel(f"v{__version__}")
        bar = self.statusBar()
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.version_label)
        self.show_message("Ready. Open a folder or drop cutouts on the window.")

    def _action(self, text: str, slot: object, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self._action("&Open Files…", self.open_files_dialog, QKeySequence.StandardKey.Open))
        file_menu.addAction(self._action("Open &Folder…", self.open_folder_dialog, "Ctrl+Shift+O",
                                         "A folder of cutouts, or one sub-folder per class"))
        file_menu.addAction(self._action("Open &Catalogue…", self.open_catalogue_dialog, "Ctrl+Shift+C",
                                         "A CSV with a path column, or the Galaxy10 DECaLS HDF5 file"))
        file_menu.addAction(self._action("&Add Files…", self.add_files_dialog, "Ctrl+Shift+A",
                                         "Add cutouts to what is already open"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("Open &Demo Data", self.open_demo, None,
                                         "Procedural galaxies of the 10 Galaxy10 classes"))
        file_menu.addAction(self._action("C&lear Library", self.library.clear))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self._action("Zoom &In", self.library.zoom_in, QKeySequence.StandardKey.ZoomIn))
        view_menu.addAction(self._action("Zoom &Out", self.library.zoom_out, QKeySequence.StandardKey.ZoomOut))
        view_menu.addAction(self._action("&Fit to Window", self.library.view.fit, "Ctrl+0"))
        view_menu.addAction(self._action("&Actual Size", self.library.view.set_actual_size, "Ctrl+1"))
        view_menu.addSeparator()
        self.invert_action = self._action("In&vert", self._toggle_invert, "Ctrl+I")
        view_menu.addAction(self.invert_action)
        view_menu.addAction(self._action("&Automatic Display", self.library.reset_display, "Ctrl+R",
                                         "Each cutout with its own default stretch"))
        view_menu.addAction(self._action("Show Skipped Files…", self.library.show_problems))

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("Supported &Formats", self.show_formats))
        help_menu.addAction(self._action("&About Galaxy Studio", self.show_about))

    def _toggle_invert(self) -> None:
        controls = self.library.controls
        controls.invert.setChecked(not controls.invert.isChecked())

    # Opening ---------------------------------------------------------------------------

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open cutouts", "", IMAGE_FILTER)
        if files:
            self.library.open_paths(files, replace=True)

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add cutouts", "", IMAGE_FILTER)
        if files:
            self.library.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of cutouts")
        if folder:
            self.library.open_paths([folder], replace=True)

    def open_catalogue_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a catalogue", "", CATALOGUE_FILTER)
        if path:
            self.library.open_paths([path], replace=True)

    def open_demo(self) -> None:
        """Create the demo set once (in the background, with progress) and open it."""
        from galaxy_studio.data.synthetic import ensure_demo_set

        if self.jobs.running:
            self.show_message("Wait for the running job to finish first")
            return

        def build(emit: EventSink, cancel: CancelToken) -> Path:
            return ensure_demo_set(emit=emit, cancel=cancel)

        self.jobs.succeeded.connect(self._open_built_demo, Qt.ConnectionType.SingleShotConnection)
        self.progress.setFormat("Demo galaxies %v/%m")
        self.jobs.start(build)
        self.progress.show()
        self.cancel_button.show()

    def _open_built_demo(self, folder: Path) -> None:
        self.library.open_paths([folder], replace=True)

    def _on_job_event(self, event: object) -> None:
        if isinstance(event, Progressed):
            self.progress.setMaximum(max(event.total, 1))
            self.progress.setValue(event.done)

    def _on_job_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    # Drag and drop ---------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if dropped_paths(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event.mimeData().urls())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.library.open_paths(paths)

    # Help, messages, lifetime ----------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def show_formats(self) -> None:
        QMessageBox.information(self, "Supported formats", FORMATS_TEXT)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About Galaxy Studio",
            f"<h3>Galaxy Studio {__version__}</h3><p>View, label, train on, distill and classify "
            "galaxy cutouts on your own machine.</p>",
        )

    def _restore_geometry(self) -> None:
        geometry = settings_store().value("geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            return
        self.resize(1440, 880)

    def closeEvent(self, event: QCloseEvent) -> None:
        settings_store().setValue("geometry", self.saveGeometry())
        self.jobs.shutdown()
        self.library.shutdown()
        super().closeEvent(event)
