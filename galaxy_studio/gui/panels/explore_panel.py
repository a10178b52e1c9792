"""Explore: map every cutout of a project or folder by its embedding, lasso look-alikes and
label them together, cluster them (scored against the majority-class baseline), and find
the nearest neighbours of any cutout.

The panel is the controller: it wires the embedding source (explore_source), the map area
(explore_map), the clusters box (explore_clusters) and the viewer (explore_viewer) to the
jobs (explore_jobs) and the session. It builds an EmbedConfig from the source and runs
`embed`, `map_2d` and `cluster_embeddings` in JobRunner workers (the viewer reads the cutout
and the neighbours' thumbnails in workers of its own); the GUI thread only recolours dots.
Labels go to the session's open project as one batch of ordinary labels of the session's
labeller (one transaction), so Ctrl+Z (Edit → Undo Label) takes them back one by one,
*Undo batch* takes back exactly that batch, and the Library shows them at once through the
session's notices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.eta import Eta, format_duration
from galaxy_studio.events import Progressed
from galaxy_studio.explore.clustering import ClusterScore
from galaxy_studio.gui.panels.explore_clusters import ClusterBox
from galaxy_studio.gui.panels.explore_jobs import (
    Clustering,
    LabelledBatch,
    MappedEmbeddings,
    UndoneBatch,
    clustering_job,
    labelling_job,
    mapping_job,
    projection_job,
    undo_batch_job,
)
from galaxy_studio.gui.panels.explore_map import MapArea
from galaxy_studio.gui.panels.explore_source import EmbeddingSource
from galaxy_studio.gui.panels.explore_viewer import NEIGHBOURS, CutoutViewer
from galaxy_studio.gui.widgets.class_swatch import swatch_icon
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.job_progress import JobProgressRow
from galaxy_studio.gui.worker import Job, JobRunner, R
from galaxy_studio.labels.schemes import CLASS_KEYS
from galaxy_studio.model.errors import ModelError

if TYPE_CHECKING:
    from galaxy_studio.explore.embeddings import Embeddings
    from galaxy_studio.explore.similarity import SimilarityIndex
    from galaxy_studio.gui.session_signals import SessionSignals
    from galaxy_studio.labels.store import Project

EMPTY_HINT = (
    "<h3>Nothing to explore yet</h3>"
    "<p>Open a project (<i>File → Open Project</i>) or choose a folder of cutouts above, "
    "pick where the embedding comes from and press <b>Compute</b>.</p>"
)
PREPARING_TEXT = "Listing the images and loading the neural-network library (seconds on the first run)"
MAP_HINT = (
    "<p>Every cutout becomes a dot; similar galaxies land close together. Draw a lasso "
    "(<b>Shift</b>+drag, or the Lasso tool) round a group and press a class key "
    "<b>1–9</b> to label them all.</p>"
)


def image_ids(project: Project, items: Sequence[CatalogItem]) -> list[int | None]:
    """The project's id of each item (None: not in the project)."""
    ids = {(record.path, record.index): record.id for record in project.images()}
    return [ids.get((item.path, item.index)) for item in items]


class ExplorePanel(QWidget):
    status = Signal(str)

    def __init__(self, signals: SessionSignals, library_data: LibraryData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = signals.session
        self.library_data = library_data
        self.embeddings: Embeddings | None = None
        self.index: SimilarityIndex | None = None
        self.xy: np.ndarray | None = None
        self.class_names: list[str] = []
        self.labels = np.zeros(0, dtype=np.int64)
        self.suggested = np.zeros(0, dtype=np.int64)
        self.current: int | None = None
        self.map_message = ""
        self._labels_stale = False
        self._job_message = ""
        self._job_progress = ""
        self._job_eta = Eta()
        self._job_started = 0.0
        # While a job computes the map, the empty map's text is redrawn every second, so the time
        # it has run for moves even while a stage (loading torch, a long epoch) reports nothing.
        self._job_clock = QTimer(self)
        self._job_clock.setInterval(1000)
        self._job_clock.timeout.connect(self._refresh_empty_hint)
        self.jobs = JobRunner(self)
        self.jobs.event.connect(self._on_job_event)
        self.jobs.finished.connect(self._on_job_finished)
        self._build()
        self.source.refresh_models()
        signals.project_changed.connect(self.refresh_project)
        signals.labels_changed.connect(self._on_labels_changed)
        signals.labeller_changed.connect(self._on_labeller_changed)
        signals.classes_changed.connect(self.refresh_project)
        self.refresh_project()

    # Layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._build_source_row())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_map_side())
        self.viewer = CutoutViewer()
        self.viewer.neighbour_clicked.connect(self.show_point)
        self.viewer.status.connect(self.status)
        splitter.addWidget(self.viewer)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([820, 600])
        layout.addWidget(splitter, 1)
        for key in CLASS_KEYS:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda k=key: self.label_selection_with_key(k))
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self.map_area.map.clear_selection)
        self._refresh_buttons()

    def _build_source_row(self) -> QHBoxLayout:
        self.data_edit = QLineEdit()
        self.data_edit.setToolTip("Every image of this project or folder is embedded, labelled or not")
        self.data_edit.textChanged.connect(self._refresh_buttons)
        self.data_edit.textChanged.connect(self._refresh_empty_hint)
        self.data_buttons = DataSourceButtons(
            self.data_edit,
            self.library_data,
            nothing_said="The Library shows nothing to map: open a project, a folder or a catalogue there",
        )
        self.data_buttons.status.connect(self.status)
        self.source = EmbeddingSource()
        self.source.changed.connect(self._refresh_buttons)
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        # Percent and time left only: the empty map says what runs in full, and a described bar
        # ("training the autoencoder, epoch 11/30 92/270 · 46 s left") clipped in this crowded row.
        self.job_progress = JobProgressRow(self.jobs, width=170, describe=False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Data"))
        row.addWidget(self.data_edit, 1)
        row.addWidget(self.data_buttons)
        row.addSpacing(10)
        row.addWidget(self.source)
        row.addWidget(self.compute_button)
        row.addWidget(self.job_progress)
        return row

    def _build_map_side(self) -> QWidget:
        self.map_area = MapArea()
        self.map_area.recolour_requested.connect(self.recolour)
        self.map_area.reproject_requested.connect(self.reproject)
        self.map_area.label_requested.connect(self.label_selection)
        self.map_area.undo_requested.connect(self.undo_batch)
        self.map_area.map.picked.connect(self.show_point)
        self.map_area.map.selection_changed.connect(self._on_selection_changed)
        self.clusters_box = ClusterBox()
        self.clusters_box.cluster_requested.connect(self.cluster)
        self.clusters_box.select_requested.connect(self.map_area.map.select_indices)
        self.clusters_box.label_requested.connect(self.label_rows)
        self.clusters_box.picked.connect(self._refresh_buttons)
        self.clusters_box.hide()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.map_area, 1)
        side_layout.addWidget(self.clusters_box)
        return side

    # The source and the session --------------------------------------------------------

    def add_checkpoint(self, path: str | Path) -> None:
        """Embed with the classifier at `path`, as Open checkpoint… does (the screenshot scripts do this)."""
        self.source.add_checkpoint(path)

    def refresh_project(self) -> None:
        """The session opened or closed a project: offer it as the data, relabel the map."""
        project = self.session.project
        if project is not None and not self.data_edit.text().strip():
            self.data_edit.setText(str(project.path))
        self._set_class_choices()
        self.refresh_labels()
        self._refresh_empty_hint()
        self._refresh_buttons()

    def showEvent(self, event: object) -> None:
        self.source.refresh_models()
        if self._labels_stale:
            self.refresh_labels()
            self._refresh_empty_hint()
        super().showEvent(event)

    def _on_labels_changed(self, image_ids: frozenset[int] | None) -> None:
        """Re-read the labels now if the map is on screen, else when it is next shown: each key
        pressed in the Library's labelling mode changes them, and re-reading a large project
        for a hidden map would slow every key down. A change of unnamed images (None) may have
        added images, so the empty map's count of them is re-read too."""
        if self.isVisible():
            self.refresh_labels()
            if image_ids is None:
                self._refresh_empty_hint()
        else:
            self._labels_stale = True

    def _on_labeller_changed(self, labeller: str) -> None:
        """The map shows the labeller's own labels first, so another labeller recolours it."""
        self._on_labels_changed(None)

    def _source_problem(self) -> str | None:
        """Why Compute cannot start, in words, or None."""
        if not self.data_edit.text().strip():
            return "Choose the data first: a project, a folder or a catalogue"
        return self.source.problem()

    # Computing -------------------------------------------------------------------------

    def compute(self) -> None:
        problem = self._source_problem()
        if problem is not None:
            self._say(problem)
            return
        if self.jobs.running:
            return
        try:
            config = self.source.config(self.data_edit.text().strip())
        except ModelError as error:
            self._say(str(error))
            return
        job = mapping_job(config, self.map_area.projection.currentData())
        self._start(job, f"Embedding {Path(config.data).name}", self._on_computed, uses_torch=True)

    def map_folder(self, folder: str | Path) -> None:
        """Embed and map a folder with the chosen source (the demo set opened on this tab)."""
        self.data_edit.setText(str(folder))
        self.compute()

    def reproject(self) -> None:
        """Draw the same embedding with the other projection."""
        if self.embeddings is None or self.jobs.running:
            return
        projection = self.map_area.projection
        job = projection_job(self.embeddings.vectors, projection.currentData())
        self._start(job, f"Drawing the {projection.currentText()} map", self._on_reprojected)

    def cluster(self, k: int, method: str) -> None:
        if self.embeddings is None or self.jobs.running:
            return
        job = clustering_job(self.embeddings.vectors, self.labels.copy(), k, method)
        self._start(job, f"Clustering into {k} groups", self._on_clustered)

    def _start(self, job: Job[R], message: str, on_success: Callable[[R], None], *, uses_torch: bool = False) -> None:
        self.jobs.start(
            job,
            on_success=on_success,
            on_failure=self._on_job_failed,
            on_cancel=self._on_job_cancelled,
            uses_torch=uses_torch,
        )
        self._job_message, self._job_progress, self._job_eta = message, "", Eta()
        self._job_started = time.monotonic()
        self._job_clock.start()
        self.map_message = ""
        self._refresh_buttons()
        self._refresh_empty_hint()
        self.status.emit(message + "…")

    def _on_job_event(self, event: object) -> None:
        if isinstance(event, Progressed) and event.total > 0:
            self._job_progress = f"{event.what}: {event.done}/{event.total} · {self._job_eta.describe(event)}"
            if self.embeddings is None:
                self._refresh_empty_hint()

    def _on_job_finished(self) -> None:
        if not self.jobs.running:
            self._job_message = self._job_progress = ""
            self._job_clock.stop()
        self._refresh_buttons()
        self._refresh_empty_hint()

    def _on_computed(self, mapped: MappedEmbeddings) -> None:
        self.set_embeddings(mapped.embeddings, mapped.xy, mapped.index)

    def _on_reprojected(self, xy: np.ndarray) -> None:
        self.set_map(xy)
        self.status.emit(f"{self.map_area.projection.currentText()} map drawn")

    def _on_clustered(self, clustering: Clustering) -> None:
        self.set_clusters(clustering.clusters, clustering.score, clustering.method, clustering.k)

    def _on_job_failed(self, message: str) -> None:
        self._say(f"Failed: {message}")

    def _on_job_cancelled(self) -> None:
        self._say("Cancelled; the map is as it was")

    def _say(self, text: str) -> None:
        self.status.emit(text)
        self.map_message = text
        if self.embeddings is None:
            self._refresh_empty_hint()

    # Showing the map -------------------------------------------------------------------

    def set_embeddings(self, embeddings: Embeddings, xy: np.ndarray, index: SimilarityIndex) -> None:
        self.embeddings, self.index = embeddings, index
        self.clusters_box.clear()
        self.current = None
        self.viewer.clear()
        self._set_class_choices()
        self.refresh_labels()
        self.set_map(xy)
        self.map_area.show_map()
        self.clusters_box.show()
        self.status.emit(
            f"{len(embeddings)} cutouts embedded ({embeddings.source}, {embeddings.vectors.shape[1]} dimensions)"
        )

    def set_map(self, xy: np.ndarray) -> None:
        self.xy = xy
        assert self.embeddings is not None
        self.map_area.map.set_points(xy, [item.name for item in self.embeddings.items])
        self.recolour()
        if self.current is not None:
            self.map_area.map.set_current(self.current)

    def _class_of(self, name: str) -> str:
        """A data class as the session names it: `spirals/` is the project's `spiral`."""
        return self.session.class_style(name).name

    def _set_class_choices(self) -> None:
        """The project's classes, then any the data brings that the project lacks, each with
        the session's key and colour."""
        project = self.session.project
        names = list(project.classes) if project is not None else []
        if self.embeddings is not None:
            names += [name for name in map(self._class_of, self.embeddings.class_names) if name not in names]
        self.class_names = list(dict.fromkeys(names))
        styles = self.session.class_styles(self.class_names)
        for combo in (self.map_area.class_choice, self.clusters_box.class_choice):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for name, style in zip(self.class_names, styles):
                combo.addItem(swatch_icon(style), f"{style.key}: {name}" if style.key else name, name)
            combo.setCurrentIndex(max(combo.findData(current), 0))
            combo.blockSignals(False)

    def _data_is_project(self) -> bool:
        """Whether the data chosen is the open project itself rather than a folder or catalogue."""
        project = self.session.project
        data = self.data_edit.text().strip()
        return project is not None and bool(data) and Path(data).resolve() == project.path.resolve()

    def _image_ids(self) -> list[int | None]:
        """The project's id of each embedded image (None: not in the project)."""
        project = self.session.project
        if self.embeddings is None:
            return []
        if project is None:
            return [None] * len(self.embeddings)
        return image_ids(project, self.embeddings.items)

    def refresh_labels(self) -> None:
        """Labels and suggestions as the project has them now (a label or an undo anywhere
        recolours the map). Data that is not the open project keeps its own labels (folder
        names, catalogue column) unless the project labels the same image."""
        self._labels_stale = False
        if self.embeddings is None:
            return
        self._set_class_choices()
        position = {name: i for i, name in enumerate(self.class_names)}
        project = self.session.project
        code_of = [position[self._class_of(name)] for name in self.embeddings.class_names]
        own = np.array([code_of[label] if label >= 0 else -1 for label in self.embeddings.labels], dtype=np.int64)
        labels = np.full(len(own), -1, dtype=np.int64) if self._data_is_project() else own
        suggested = np.full(len(own), -1, dtype=np.int64)
        if project is not None:
            # The label that counts for the labeller; a model's guesses do not colour the map.
            counted = {
                image_id: record.class_name
                for image_id, record in project.counted_labels(self.session.labeller).items()
            }
            suggestions = project.suggestions()
            for row, image_id in enumerate(self._image_ids()):
                if image_id is None:
                    continue
                if image_id in counted:
                    labels[row] = position[counted[image_id]]
                if image_id in suggestions:
                    suggested[row] = position.get(suggestions[image_id].class_name, -1)
        self.labels, self.suggested = labels, suggested
        if self.xy is not None:
            self.recolour()

    def recolour(self) -> None:
        if self.embeddings is None or self.xy is None:
            return
        styles = self.session.class_styles(self.class_names)
        self.map_area.colour_dots(self.labels, self.suggested, self.clusters_box.clusters, styles)

    def _refresh_empty_hint(self) -> None:
        """What the empty map says, derived each time from what is true now: a job computing
        the map, the chosen data (the open project's current number of images), and how the
        last attempt ended. Called whenever one of those changes, so it never goes stale."""
        self.map_area.empty.setText(self.empty_hint())

    def empty_hint(self) -> str:
        if self.jobs.running and self._job_message:
            progress = escape(self._job_progress) if self._job_progress else PREPARING_TEXT
            running = format_duration(time.monotonic() - self._job_started)
            return (
                f"<h3>{escape(self._job_message)}…</h3><p>{progress}</p>"
                f"<p>Running for {running}. The map appears here when it is done; "
                "<b>Cancel</b> (top right) stops it.</p>"
            )
        project = self.session.project
        data = self.data_edit.text().strip()
        if self._data_is_project():
            assert project is not None
            count = project.image_count()
            text = f"<h3>Project {escape(project.path.name)}</h3>" + (
                f"<p>Press <b>Compute</b> to map its {count:,} cutouts (an autoencoder is trained on "
                "them first unless you pick a trained classifier).</p>"
                if count
                else "<p>The project has no images yet: add cutouts to it in the "
                "<i>Library</i> (<i>File → Add Files…</i>), then press <b>Compute</b>.</p>"
            )
        elif data:
            text = (
                f"<h3>{escape(Path(data).name)}</h3><p>Press <b>Compute</b> to map every cutout of it (an "
                "autoencoder is trained on them first unless you pick a trained classifier).</p>"
            )
        else:
            text = EMPTY_HINT
        if self.map_message:
            text += f"<p style='color:#f0b060'>{escape(self.map_message)}</p>"
        return text + MAP_HINT

    # Selection and labels --------------------------------------------------------------

    def _on_selection_changed(self, count: int) -> None:
        self._refresh_buttons()

    def label_selection_with_key(self, key: str) -> None:
        """The class whose key this is in the Library labels the selection."""
        for position, style in enumerate(self.session.class_styles(self.class_names)):
            if style.key == key:
                self.map_area.class_choice.setCurrentIndex(position)
                self.label_selection()
                return

    def label_selection(self) -> None:
        rows = self.map_area.map.selected_indices()
        if len(rows) == 0:
            self.status.emit("Select dots first: Shift+drag a lasso round them")
            return
        self.label_rows(rows, self.map_area.class_choice.currentData())

    def label_rows(self, rows: np.ndarray, class_name: str | None) -> None:
        """Save `class_name` for these embedded images in the open project (adding images it
        lacks first) as one batch of the session's labeller: one transaction, so all are saved
        or none. Files new to the project are read first, so this runs in a worker."""
        project = self.session.project
        if project is None or self.embeddings is None:
            self.status.emit("Open or create a project first (File → Open Project / New Project): labels live there")
            return
        if class_name is None or self.jobs.running:
            return
        if class_name not in project.classes:
            self.status.emit(f"The project has no class {class_name!r}; its classes are: {', '.join(project.classes)}")
            return
        items = [self.embeddings.items[int(row)] for row in rows]
        job = labelling_job(self.session, items, class_name)
        self._start(job, f"Labelling {counted(len(items), 'cutout')} as {class_name}", self._on_labelled)

    def _on_labelled(self, batch: LabelledBatch) -> None:
        project = self.session.project
        if batch.problem:
            self.status.emit(batch.problem)
        elif batch.saved and project is not None:
            self.status.emit(
                f"Labelled {counted(batch.saved, 'cutout')} as {batch.class_name} in {project.path.name} "
                f"(Undo batch takes {'it' if batch.saved == 1 else 'them'} back)"
            )

    def undo_batch(self) -> None:
        """Take back the session's last batch, and only its labels (see Project.undo_batch)."""
        if self.session.project is None or self.session.last_batch is None or self.jobs.running:
            return
        self._start(undo_batch_job(self.session), "Taking back the last batch", self._on_undone)

    def _on_undone(self, result: UndoneBatch) -> None:
        if result.undone is None:
            self.status.emit(result.problem)
            return
        kept = f"; {len(result.undone.kept)} kept their later label" if result.undone.kept else ""
        self.status.emit(f"Took back {counted(len(result.undone.image_ids), 'label')}{kept}")

    # Clusters --------------------------------------------------------------------------

    def set_clusters(self, clusters: np.ndarray, score: ClusterScore | None, method: str, k: int) -> None:
        assert self.embeddings is not None
        title = self.clusters_box.set_clusters(clusters, score, method, k, self.class_names, self.embeddings.source)
        self.status.emit(f"{counted(len(set(clusters.tolist())), 'cluster')} ({title})")
        self.map_area.colour_by.setCurrentText("Cluster")
        self.recolour()
        self._refresh_buttons()

    # Viewer and neighbours -------------------------------------------------------------

    def show_point(self, row: int) -> None:
        """Show cutout `row` large, ring it on the map and list its nearest neighbours."""
        if self.embeddings is None or self.index is None or not 0 <= row < len(self.embeddings):
            return
        self.current = row
        self.map_area.map.set_current(row)
        label = self.labels[row]
        described = self.class_names[label] if label >= 0 else "unlabelled"
        neighbours, similarities = self.index.nearest(row, NEIGHBOURS)
        items = self.embeddings.items
        self.viewer.show_cutout(items[row], described, [(int(i), items[i]) for i in neighbours], similarities)

    # State -----------------------------------------------------------------------------

    def _refresh_buttons(self) -> None:
        busy = self.jobs.running
        has_map = self.embeddings is not None
        has_project = self.session.project is not None
        self.compute_button.setEnabled(not busy and self._source_problem() is None)
        self.compute_button.setToolTip(
            self._source_problem()
            or "Embed every image and draw the map (cached: the same data and model load instantly the next time)"
        )
        self.clusters_box.set_enabled(has_map=has_map, busy=busy, has_project=has_project)
        can_undo = self.session.last_batch is not None
        self.map_area.set_enabled(has_map=has_map, busy=busy, has_project=has_project, can_undo=can_undo)

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.viewer.shutdown()
