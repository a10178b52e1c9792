"""The main window: menus, status bar, drag-and-drop, and the panels."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QByteArray, QSettings, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from galaxy_studio import __version__
from galaxy_studio import paths as app_paths
from galaxy_studio.count_text import counted
from galaxy_studio.data.formats import IMAGE_SUFFIXES
from galaxy_studio.data.tables import TABLE_GLOBS
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.closing import stop_jobs_before_closing
from galaxy_studio.gui.panel_tabs import PanelTabs, ShutsDown
from galaxy_studio.gui.panels.label_import import LabelImport
from galaxy_studio.gui.panels.library_panel import LibraryPanel
from galaxy_studio.gui.samp_window import SampWindow
from galaxy_studio.gui.session_signals import SessionSignals
from galaxy_studio.gui.widgets.data_source import ChoosesData
from galaxy_studio.gui.widgets.drop_zone import paths_of_urls
from galaxy_studio.gui.widgets.job_progress import JobProgressRow
from galaxy_studio.gui.widgets.scheme_dialog import choose_scheme
from galaxy_studio.gui.widgets.stored_mappings_dialog import StoredMappingsDialog
from galaxy_studio.gui.worker import JobRunner
from galaxy_studio.labels.backups import restore_backup
from galaxy_studio.labels.errors import ProjectDamaged, ProjectError
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.gui.panels.classify_panel import ClassifyPanel
    from galaxy_studio.gui.panels.distill_panel import DistillPanel
    from galaxy_studio.gui.panels.explore_panel import ExplorePanel
    from galaxy_studio.gui.panels.train_panel import TrainPanel

IMAGE_FILTER = "Cutouts ({});;All files (*)".format(" ".join(f"*{s}" for s in IMAGE_SUFFIXES))
CATALOGUE_FILTER = f"Catalogues ({TABLE_GLOBS} *.h5 *.hdf5);;All files (*)"
PROJECT_FILTER = "Galaxy Studio projects (*.gsproj);;All files (*)"
BACKUP_INTERVAL_MS = 10 * 60 * 1000
LABELLING_KEYS_TEXT = (
    "<table>"
    "<tr><td><b>1–9, 0</b></td><td>label with class 1–10 and go to the next image</td></tr>"
    "<tr><td><b>S</b></td><td>skip to the next image</td></tr>"
    "<tr><td><b>Enter</b>, A</td><td>accept the model's suggestion (Classify → Suggest labels)</td></tr>"
    "<tr><td><b>Backspace</b>, Ctrl+Z</td><td>undo the last label</td></tr>"
    "<tr><td><b>Ctrl+Shift+Z</b></td><td>redo</td></tr>"
    "<tr><td><b>Arrows</b></td><td>move through the images</td></tr>"
    "<tr><td><b>+ / −</b></td><td>zoom</td></tr>"
    "<tr><td><b>I</b></td><td>invert</td></tr>"
    "<tr><td><b>R</b></td><td>rotate the view by 90°</td></tr>"
    "</table><p>Every label is saved to the project file the moment you press the key.</p>"
)
FORMATS_TEXT = (
    "<b>Images</b>: FITS (.fits, .fit, .fts, .fits.gz, tile-compressed .fz; single or multi-extension, "
    "one band, g/r/z bands or cubes), JPEG, PNG, TIFF (8/16-bit, grey, palette, RGBA, CMYK).<br>"
    "<b>Catalogues</b>: a folder (recursive); a folder with one sub-folder per class; a CSV with a "
    "path column and optional label, ra, dec columns; the Galaxy10 DECaLS HDF5 file."
)


def settings_store() -> QSettings:
    """Window geometry only; stored under the app's config dir (GALAXY_STUDIO_HOME honoured)."""
    return QSettings(str(app_paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Galaxy Studio")
        self.setAcceptDrops(True)
        self._closing = False
        self.session = LabellingSession()
        self.session_signals = SessionSignals(self.session, self)
        self.session_signals.project_changed.connect(self._on_project_changed)
        self._backup_timer = QTimer(self)
        self._backup_timer.setInterval(BACKUP_INTERVAL_MS)
        self._backup_timer.timeout.connect(self.back_up)
        self.library = LibraryPanel(self.session_signals)
        self.library.status.connect(self.show_message)
        self.label_import = LabelImport(self.session, self)
        self.label_import.status.connect(self.show_message)
        self.tabs = PanelTabs()
        self.tabs.setDocumentMode(True)
        self.tabs.add_panel("library", "Library", lambda: self.library)
        self.tabs.add_panel("train", "Train", self._build_train)
        self.tabs.add_panel("distill", "Distill", self._build_distill)
        self.tabs.add_panel("classify", "Classify", self._build_classify)
        self.tabs.add_panel("explore", "Explore", self._build_explore)
        self.tabs.currentChanged.connect(self._offer_library_data)
        self.library.catalog_changed.connect(self._offer_library_data)
        self.setCentralWidget(self.tabs)
        self.jobs = JobRunner(self)
        self.samp = SampWindow(self)
        self._build_status_bar()
        self._build_menus()
        self._on_project_changed()
        self._restore_geometry()

    # Panels other than the Library are built when first shown (gui/panel_tabs.py) ----------

    def _build_train(self) -> TrainPanel:
        from galaxy_studio.gui.panels.train_panel import TrainPanel

        panel = TrainPanel(self.session, partial(self.library.shown_source, labelled=True))
        panel.status.connect(self.show_message)
        self.session_signals.project_changed.connect(panel.recolour)
        self.session_signals.classes_changed.connect(panel.recolour)
        self.session_signals.class_mapping_changed.connect(panel.recolour)
        return panel

    def _build_distill(self) -> DistillPanel:
        from galaxy_studio.gui.panels.distill_panel import DistillPanel

        panel = DistillPanel(self.session, partial(self.library.shown_source, labelled=True))
        panel.status.connect(self.show_message)
        return panel

    def _build_classify(self) -> ClassifyPanel:
        from galaxy_studio.gui.panels.classify_panel import ClassifyPanel

        panel = ClassifyPanel(self.session_signals)
        panel.status.connect(self.show_message)
        panel.review_requested.connect(self.review_suggestions)
        panel.refresh_project()
        return panel

    def _build_explore(self) -> ExplorePanel:
        from galaxy_studio.gui.panels.explore_panel import ExplorePanel

        panel = ExplorePanel(self.session_signals, partial(self.library.shown_source, labelled=False))
        panel.status.connect(self.show_message)
        return panel

    def review_suggestions(self) -> None:
        """From Classify's stored suggestions to labelling them: the Library, most uncertain first."""
        self.tabs.show_panel("library")
        self.library.review_suggestions()

    def _offer_library_data(self, _index: int = -1) -> None:
        """A panel shown with no data chosen starts from what the Library shows (or shows
        later: the demo opens in the background)."""
        panel = self.tabs.currentWidget()
        if isinstance(panel, ChoosesData):
            panel.data_buttons.fill_if_empty()

    @property
    def train(self) -> TrainPanel:
        return cast("TrainPanel", self.tabs.panel("train"))

    @property
    def distill(self) -> DistillPanel:
        return cast("DistillPanel", self.tabs.panel("distill"))

    @property
    def classify(self) -> ClassifyPanel:
        return cast("ClassifyPanel", self.tabs.panel("classify"))

    @property
    def explore(self) -> ExplorePanel:
        return cast("ExplorePanel", self.tabs.panel("explore"))

    def show_panel(self, name: str) -> QWidget:
        """Make the panel `name` ("library", "train", "distill", "classify", "explore") the
        current tab, building it first if it was never shown."""
        return self.tabs.show_panel(name)

    def _build_status_bar(self) -> None:
        self.job_progress = JobProgressRow(self.jobs, width=320, describe=False)
        self.job_progress.bar.setTextVisible(True)
        self.version_label = QLabel(f"v{__version__}")
        bar = self.statusBar()
        bar.addPermanentWidget(self.job_progress)
        bar.addPermanentWidget(self.samp.state_label)
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
        file_menu.addAction(
            self._action(
                "Open &Folder…",
                self.open_folder_dialog,
                "Ctrl+Shift+O",
                "A folder of cutouts, or one sub-folder per class",
            )
        )
        file_menu.addAction(
            self._action(
                "Open &Catalogue…",
                self.open_catalogue_dialog,
                "Ctrl+Shift+C",
                "A CSV with a path column, or the Galaxy10 DECaLS HDF5 file",
            )
        )
        file_menu.addAction(
            self._action("&Add Files…", self.add_files_dialog, "Ctrl+Shift+A", "Add cutouts to what is already open")
        )
        file_menu.addSeparator()
        file_menu.addAction(
            self._action(
                "&New Project…",
                self.new_project_dialog,
                QKeySequence.StandardKey.New,
                "A labelling project: one file that keeps every label",
            )
        )
        file_menu.addAction(self._action("Open &Project…", self.open_project_dialog, "Ctrl+Shift+P"))
        self.close_project_action = self._action("Close Pro&ject", self.close_project)
        file_menu.addAction(self.close_project_action)
        self.relink_action = self._action(
            "&Relink Missing Files…", self.relink_dialog, None, "Find moved images again by their content"
        )
        file_menu.addAction(self.relink_action)
        self.import_labels_action = self._action(
            "&Import Labels…",
            self.label_import.choose_and_import,
            None,
            "Labels from a CSV, JSON or Galaxy10 file; class names spelled otherwise are matched first",
        )
        file_menu.addAction(self.import_labels_action)
        self.class_mappings_action = self._action(
            "Class &Mappings…", self.class_mappings_dialog, None, "Review or forget the stored class-name mapping"
        )
        file_menu.addAction(self.class_mappings_action)
        file_menu.addSeparator()
        file_menu.addAction(
            self._action("Open &Demo Data", self.open_demo, None, "Procedural galaxies of the 10 Galaxy10 classes")
        )
        file_menu.addAction(
            self._action(
                "Distill the Demo Data",
                self.open_distill_demo,
                None,
                "Build a small buffer on the demo galaxies and watch STM distil it",
            )
        )
        file_menu.addAction(self._action("C&lear Library", self.library.clear))
        file_menu.addSeparator()
        self.samp.add_to_menu(file_menu)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action("&Undo Label", self.library.labelling.undo, QKeySequence.StandardKey.Undo)
        self.redo_action = self._action("&Redo Label", self.library.labelling.redo, "Ctrl+Shift+Z")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(
            self._action("&Labeller Name…", self.labeller_dialog, None, "The name your labels are saved under")
        )

        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self._action("Zoom &In", self.library.zoom_in, QKeySequence.StandardKey.ZoomIn))
        view_menu.addAction(self._action("Zoom &Out", self.library.zoom_out, QKeySequence.StandardKey.ZoomOut))
        view_menu.addAction(self._action("&Fit to Window", self.library.view.fit, "Ctrl+0"))
        view_menu.addAction(self._action("&Actual Size", self.library.view.set_actual_size, "Ctrl+1"))
        view_menu.addSeparator()
        self.labelling_action = self._action(
            "&Labelling Mode",
            self.set_labelling_mode,
            "Ctrl+L",
            "Keys 1-9, 0 label and advance; Backspace undoes; S skips",
        )
        self.labelling_action.setCheckable(True)
        view_menu.addAction(self.labelling_action)
        self.invert_action = self._action("In&vert", self._toggle_invert, "Ctrl+I")
        view_menu.addAction(self.invert_action)
        view_menu.addAction(
            self._action(
                "&Automatic Display", self.library.reset_display, "Ctrl+R", "Each cutout with its own default stretch"
            )
        )
        view_menu.addAction(self._action("Show Skipped Files…", self.library.show_problems))
        view_menu.addSeparator()
        # Ctrl+1 is "actual size" (as in image viewers), so the tabs take Alt+number.
        for number in range(1, self.tabs.count() + 1):
            title = self.tabs.tabText(number - 1)
            view_menu.addAction(
                self._action(
                    f"Go to {title}", lambda _=False, i=number - 1: self.tabs.setCurrentIndex(i), f"Alt+{number}"
                )
            )

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&Labelling Keys", self.show_labelling_keys, "F1"))
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

        self.job_progress.bar.setFormat("Demo galaxies %v/%m")
        self.jobs.start(build, on_success=self._open_built_demo, on_failure=self._on_job_failed)

    def open_distill_demo(self) -> None:
        if self.distill.runner.running:
            self.show_message("A distillation job is running; cancel it first")
            return
        self.tabs.setCurrentWidget(self.distill)
        self.distill.start_demo()

    def _open_built_demo(self, folder: Path) -> None:
        self.library.open_paths([folder], replace=True)
        if self.tabs.current_name() == "explore":
            self.explore.map_folder(folder)

    def _on_job_failed(self, message: str) -> None:
        self.show_message(f"Failed: {message}")

    # Projects --------------------------------------------------------------------------

    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New labelling project", "labels.gsproj", PROJECT_FILTER)
        if not path:
            return
        path = path if path.endswith(".gsproj") else path + ".gsproj"
        open_items = list(self.library.catalog.items) if self.session.project is None else []
        open_classes = list(self.library.catalog.classes) if open_items else []
        try:
            scheme = choose_scheme(self, open_classes, self.library.catalog.source)
            if scheme is None:
                return
            self.session.create(Path(path), scheme)
        except ProjectError as error:
            QMessageBox.warning(self, "Cannot create the project", str(error))
            return
        self.set_labelling_mode(True)
        if (
            open_items
            and QMessageBox.question(
                self,
                "Add the open cutouts?",
                f"Add the {len(open_items)} cutouts shown in the library to the new project?",
            )
            == QMessageBox.StandardButton.Yes
        ):
            self.library.open_paths(sorted({item.path for item in open_items}))

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a labelling project", "", PROJECT_FILTER)
        if path:
            self.open_project(Path(path))

    def open_project(self, path: Path) -> bool:
        """Open with an integrity check; a damaged file offers the newest automatic backup."""
        try:
            self.session.open(path)
        except ProjectDamaged as error:
            if not error.backups:
                QMessageBox.critical(self, "Project damaged", f"{error}\n\nNo automatic backup exists.")
                return False
            answer = QMessageBox.question(
                self,
                "Project damaged",
                f"{error}\n\nRestore the newest automatic backup ({error.backups[0].name})? "
                "The damaged file is kept beside it.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
            try:
                restore_backup(path, error.backups[0])
                self.session.open(path)
            except ProjectError as again:
                QMessageBox.critical(self, "Cannot restore the backup", str(again))
                return False
        except ProjectError as error:
            QMessageBox.warning(self, "Cannot open the project", str(error))
            return False
        self.set_labelling_mode(True)
        return True

    def close_project(self) -> None:
        self.set_labelling_mode(False)
        self.library.clear()

    def relink_dialog(self) -> None:
        project = self.session.project
        if project is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Where are the moved images?", str(project.path.parent))
        if not folder:
            return
        try:
            found = project.relink([Path(folder)])
        except ProjectError as error:
            QMessageBox.warning(self, "Relink failed", str(error))
            return
        self.session.changed_outside()
        self.show_message(f"Relinked {counted(found, 'image')} by their content")

    def class_mappings_dialog(self) -> None:
        if self.session.project is not None:
            StoredMappingsDialog(self.session, self).exec()

    def labeller_dialog(self) -> None:
        name, ok = QInputDialog.getText(
            self, "Labeller name", "Your labels are saved under this name:", text=self.session.labeller
        )
        name = name.strip()
        if ok and name:
            self.session.set_labeller(name, remember=True)
            self.show_message(f"Labelling as {name}")

    def set_labelling_mode(self, active: bool) -> None:
        labelling = self.library.labelling
        active = bool(active) and self.session.project is not None
        labelling.active = active
        self.labelling_action.setChecked(active)
        if active:
            self.library.grid.setFocus()
            self.show_message(
                "Labelling: keys 1-9 and 0 label and advance · Backspace undo · S skip · "
                "arrows move · +/- zoom · I invert · R rotate"
            )

    def back_up(self) -> None:
        """Opening backs up the state before a session; long sessions get one every few minutes."""
        try:
            self.session.back_up()
        except ProjectError as error:
            self.show_message(f"Automatic backup failed (your labels are still saved): {error}")

    def _on_project_changed(self) -> None:
        project = self.session.project
        has_project = project is not None
        if has_project:
            self._backup_timer.start()
        else:
            self._backup_timer.stop()
        for action in (
            self.close_project_action,
            self.relink_action,
            self.import_labels_action,
            self.class_mappings_action,
            self.labelling_action,
            self.undo_action,
            self.redo_action,
        ):
            action.setEnabled(has_project)
        self.setWindowTitle(
            f"{readable(project.path.name)} — Galaxy Studio" if project is not None else "Galaxy Studio"
        )
        if not has_project:
            self.set_labelling_mode(False)
        classify = self.tabs.built("classify")
        if classify is not None:
            cast("ClassifyPanel", classify).refresh_project()

    def show_labelling_keys(self) -> None:
        QMessageBox.information(self, "Labelling keys", LABELLING_KEYS_TEXT)

    # Drag and drop ---------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_of_urls(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if paths_of_urls(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_of_urls(event.mimeData().urls())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self.tabs.current_name() == "classify":
            self.classify.classify_paths(paths)
            return
        self.tabs.setCurrentWidget(self.library)
        self.library.open_paths(paths)

    # Help, messages, lifetime ----------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(readable(text))

    def show_formats(self) -> None:
        QMessageBox.information(self, "Supported formats", FORMATS_TEXT)

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Galaxy Studio",
            f"<h3>Galaxy Studio {__version__}</h3><p>View, label, train on, distill and classify "
            "galaxy cutouts on your own machine.</p>",
        )

    def _restore_geometry(self) -> None:
        geometry = settings_store().value("geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            return
        self.resize(1440, 880)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:  # closed again while the first close waits for the jobs to stop
            event.ignore()
            return
        self._closing = True
        try:
            settings_store().setValue("geometry", self.saveGeometry())
            stop_jobs_before_closing(self)
            self.jobs.shutdown()
            for panel in self.tabs.built_panels():
                if isinstance(panel, ShutsDown):
                    panel.shutdown()
            self.label_import.shutdown()
            self.samp.shutdown()
            self.session.close()
        finally:
            self._closing = False
        super().closeEvent(event)
