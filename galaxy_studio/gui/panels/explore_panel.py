"""Explore: map every cutout of a project or folder by its embedding, lasso look-alikes and
label them together, cluster them (scored against the majority-class baseline), and find
the nearest neighbours of any cutout.

The panel builds an EmbedConfig and runs `embed`, `map_2d` and `cluster_embeddings` in
JobRunner workers (the neighbours' thumbnails in a LatestRequestRunner); the GUI thread only
recolours dots. Labels go to the session's open project as one batch of ordinary labels of
the session's labeller (one transaction), so Ctrl+Z (Edit → Undo Label) takes them back one
by one, *Undo batch* takes back exactly that batch, and the Library shows them at once
through the session's notices.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.eta import Eta, format_duration
from galaxy_studio.events import CancelToken, EventSink, Progressed
from galaxy_studio.explore.clustering import ClusterScore
from galaxy_studio.gui.panels.explore_clusters import ClusterBox
from galaxy_studio.gui.widgets.class_swatch import swatch_icon
from galaxy_studio.gui.widgets.cutout_loader import CutoutLoader
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.display_controls import DisplayControls
from galaxy_studio.gui.widgets.embedding_map import EmbeddingMap
from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.job_progress import JobProgressRow
from galaxy_studio.gui.widgets.model_picker import ModelPicker
from galaxy_studio.gui.widgets.similarity_strip import TILE_SIZE, SimilarityStrip
from galaxy_studio.gui.worker import Job, JobRunner, LatestRequestRunner, R
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.labels.schemes import CLASS_KEYS, class_colour
from galaxy_studio.model.config import DEVICES
from galaxy_studio.model.errors import ModelError
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.explore.embeddings import EmbedConfig, Embeddings
    from galaxy_studio.explore.similarity import SimilarityIndex
    from galaxy_studio.gui.session_signals import SessionSignals
    from galaxy_studio.labels.records import BatchUndone
    from galaxy_studio.labels.store import Project

SOURCES = (
    ("Autoencoder (trained here)", "autoencoder"),
    ("Trained classifier", "model"),
    ("Pretrained backbone", "backbone"),
)
BACKBONES = ("resnet18", "resnet50", "vgg11", "efficientnet_b0", "convnext_tiny")
PROJECTIONS = (("PCA", "pca"), ("t-SNE", "tsne"))
COLOUR_BY = ("Label", "Suggestion", "Cluster")
NEIGHBOURS = 12
UNLABELLED_RGBA = (120, 122, 132, 150)
CHECKPOINT_FILTER = "Classifier checkpoints (*.pt);;All files (*)"
WEIGHTS_FILTER = "Network weights (*.pt *.pth *.safetensors);;All files (*)"
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


@dataclass(frozen=True)
class MappedEmbeddings:
    """An embedding with its 2-D map and the index that finds each cutout's neighbours."""

    embeddings: Embeddings
    xy: np.ndarray
    index: SimilarityIndex


@dataclass(frozen=True)
class Clustering:
    """Cluster numbers per cutout, their score against the labels (None: nothing labelled),
    and the method and k that made them."""

    clusters: np.ndarray
    score: ClusterScore | None
    method: str
    k: int


@dataclass(frozen=True)
class LabelledBatch:
    """How many cutouts were saved with `class_name` (all or none: one transaction), and
    what stopped them (empty: nothing did)."""

    class_name: str
    saved: int
    problem: str


@dataclass(frozen=True)
class UndoneBatch:
    """What taking back the last batch did (None: nothing, because of `problem`)."""

    undone: BatchUndone | None
    problem: str


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
        self.legend_entries: list[tuple[str, int, tuple[int, int, int]]] = []
        self.labels = np.zeros(0, dtype=np.int64)
        self.suggested = np.zeros(0, dtype=np.int64)
        self.current: int | None = None
        self.cutout: Cutout | None = None
        self.user_settings: DisplaySettings | None = None
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
        self.thumbnails = LatestRequestRunner(self)
        self.loader = CutoutLoader(self)
        self.loader.shown.connect(self._on_cutout_shown)
        self.loader.failed.connect(self._on_cutout_failed)
        self._build()
        self.refresh_models()
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
        splitter.addWidget(self._build_viewer_side())
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
        escape.activated.connect(self.map.clear_selection)
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
        self.source = QComboBox()
        for title, key in SOURCES:
            self.source.addItem(title, key)
        self.source.setToolTip(
            "Where the vectors come from: an autoencoder trained on these cutouts (no labels "
            "needed), a classifier's penultimate layer, or a pretrained network's features"
        )
        self.source_options = QStackedWidget()
        self.source_options.addWidget(self._autoencoder_options())
        self.source_options.addWidget(self._model_options())
        self.source_options.addWidget(self._backbone_options())
        self._show_source_options(0)
        self.source.currentIndexChanged.connect(self._show_source_options)
        self.source.currentIndexChanged.connect(self._refresh_buttons)
        self.size = QSpinBox()
        self.size.setRange(16, 512)
        self.size.setSingleStep(8)
        self.size.setValue(64)
        self.size.setSuffix(" px")
        self.size.setToolTip(
            "Images are centre-cropped and resized to this size (autoencoder: a multiple of 8; "
            "a classifier reads images as it was trained)"
        )
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("auto: the GPU when there is one (CUDA or Apple), else the processor")
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
        row.addWidget(QLabel("Embedding"))
        row.addWidget(self.source)
        row.addWidget(self.source_options)
        row.addWidget(self.size)
        row.addWidget(self.device)
        row.addWidget(self.compute_button)
        row.addWidget(self.job_progress)
        return row

    def _show_source_options(self, position: int) -> None:
        """Only the shown options take room: a stack is otherwise as wide as its widest page."""
        for page in range(self.source_options.count()):
            policy = QSizePolicy.Policy.Preferred if page == position else QSizePolicy.Policy.Ignored
            self.source_options.widget(page).setSizePolicy(policy, policy)
        self.source_options.setCurrentIndex(position)
        self.source_options.adjustSize()

    @staticmethod
    def _options_row(*widgets: QWidget) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            row.addWidget(widget)
        return box

    def _autoencoder_options(self) -> QWidget:
        self.ae_epochs = QSpinBox()
        self.ae_epochs.setRange(1, 1000)
        self.ae_epochs.setValue(30)
        self.ae_epochs.setPrefix("epochs ")
        self.ae_epochs.setToolTip("Training epochs of the autoencoder (trained once, then reused from the cache)")
        self.ae_latent = QSpinBox()
        self.ae_latent.setRange(2, 1024)
        self.ae_latent.setValue(64)
        self.ae_latent.setPrefix("latent ")
        self.ae_latent.setToolTip("Length of the embedding vector")
        return self._options_row(self.ae_epochs, self.ae_latent)

    def _model_options(self) -> QWidget:
        self.model_combo = ModelPicker(
            26,
            "Finished training runs (best first), or a checkpoint opened from a file; "
            "the embedding is the network's penultimate layer",
        )
        self.model_combo.currentIndexChanged.connect(self._refresh_buttons)
        open_button = QPushButton("Open checkpoint…")
        open_button.clicked.connect(self.open_checkpoint_dialog)
        return self._options_row(self.model_combo, open_button)

    def _backbone_options(self) -> QWidget:
        self.backbone = QComboBox()
        self.backbone.setEditable(True)
        self.backbone.addItems(list(BACKBONES))
        self.backbone.setToolTip("A torchvision network name; its weights come from the file on the right")
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("weights file (.pth)")
        self.weights_edit.setToolTip("Weights you have locally (nothing is downloaded)")
        self.weights_edit.textChanged.connect(self._refresh_buttons)
        weights_button = QPushButton("Weights…")
        weights_button.clicked.connect(self.choose_weights)
        return self._options_row(self.backbone, self.weights_edit, weights_button)

    def _build_map_side(self) -> QWidget:
        self.colour_by = QComboBox()
        self.colour_by.addItems(list(COLOUR_BY))
        self.colour_by.setToolTip(
            "Colour the dots by their label in the project, the model's suggestion "
            "(Classify → Suggest labels), or their cluster"
        )
        self.colour_by.currentIndexChanged.connect(self.recolour)
        self.projection = QComboBox()
        for title, key in PROJECTIONS:
            self.projection.addItem(title, key)
        self.projection.setToolTip(
            "PCA: fast and faithful to large distances; t-SNE: keeps neighbourhoods, separates groups better, slower"
        )
        self.projection.currentIndexChanged.connect(self.reproject)
        self.lasso_button = QToolButton()
        self.lasso_button.setText("Lasso")
        self.lasso_button.setCheckable(True)
        self.lasso_button.setToolTip(
            "Drag round dots to select them (Shift+drag does this without the tool; "
            "hold Ctrl too to add to the selection; Esc clears)"
        )
        self.lasso_button.toggled.connect(lambda on: self.map.set_lasso_tool(on))
        fit_button = QToolButton()
        fit_button.setText("Fit")
        fit_button.setToolTip("Show the whole map (the mouse wheel zooms, dragging pans)")
        fit_button.clicked.connect(lambda: self.map.view_box.autoRange(padding=0.05))
        self.selection_label = QLabel("0 selected")
        self.class_choice = QComboBox()
        self.class_choice.setMinimumContentsLength(14)
        self.class_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_choice.setPlaceholderText("open a project to label")
        self.class_choice.setToolTip(
            "The class to give the selection (its key, 1–9 then 0 as in the Library, chooses and labels at once)"
        )
        self.label_button = QPushButton("Label selection")
        self.label_button.setToolTip(
            "Save this label for every selected cutout in the project "
            "(ordinary labels: Ctrl+Z undoes one, Undo batch all of them)"
        )
        self.label_button.clicked.connect(self.label_selection)
        self.undo_button = QPushButton("Undo batch")
        self.undo_button.setToolTip("Take back every label of the last selection or cluster labelled here")
        self.undo_button.clicked.connect(self.undo_batch)
        tools = QHBoxLayout()
        for caption, widget in (("Colour", self.colour_by), ("Map", self.projection)):
            tools.addWidget(QLabel(caption))
            tools.addWidget(widget)
        tools.addWidget(self.lasso_button)
        tools.addWidget(fit_button)
        tools.addStretch(1)
        labelling = QHBoxLayout()
        labelling.addWidget(self.selection_label)
        labelling.addStretch(1)
        labelling.addWidget(QLabel("Label as"))
        labelling.addWidget(self.class_choice)
        labelling.addWidget(self.label_button)
        labelling.addWidget(self.undo_button)

        self.map = EmbeddingMap()
        self.map.hideButtons()
        self.map.picked.connect(self.show_point)
        self.map.selection_changed.connect(self._on_selection_changed)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #a0a2aa; padding: 40px; background: #1b1d21;")
        self.legend = QLabel()
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        legend_scroll = QScrollArea()
        legend_scroll.setWidget(self.legend)
        legend_scroll.setWidgetResizable(True)
        legend_scroll.setFixedWidth(240)
        legend_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        map_with_legend = QWidget()
        map_row = QHBoxLayout(map_with_legend)
        map_row.setContentsMargins(0, 0, 0, 0)
        map_row.setSpacing(0)
        map_row.addWidget(self.map, 1)
        map_row.addWidget(legend_scroll)
        self.map_stack = QStackedWidget()
        self.map_stack.addWidget(self.empty)
        self.map_stack.addWidget(map_with_legend)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addLayout(tools)
        side_layout.addWidget(self.map_stack, 1)
        side_layout.addLayout(labelling)
        side_layout.addWidget(self._build_cluster_box())
        return side

    def _build_cluster_box(self) -> ClusterBox:
        self.clusters_box = ClusterBox()
        self.clusters_box.cluster_requested.connect(self.cluster)
        self.clusters_box.select_requested.connect(self.map.select_indices)
        self.clusters_box.label_requested.connect(self.label_rows)
        self.clusters_box.picked.connect(self._refresh_buttons)
        self.clusters_box.hide()
        return self.clusters_box

    def _build_viewer_side(self) -> QWidget:
        self.title = QLabel("Click a dot to see the cutout")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.controls = DisplayControls()
        self.controls.changed.connect(self._on_settings_changed)
        self.controls.hide()
        self.view = ImageView()
        self.view.empty_text = "The cutout you click on the map appears here"
        self.strip = SimilarityStrip()
        self.strip.neighbour_clicked.connect(self.show_point)
        self.strip_title = QLabel(f"Most similar cutouts (cosine similarity of the embeddings, {NEIGHBOURS} nearest)")
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.title)
        side_layout.addWidget(self.controls)
        side_layout.addWidget(self.view, 1)
        side_layout.addWidget(self.strip_title)
        side_layout.addWidget(self.strip)
        return side

    # Sources ---------------------------------------------------------------------------

    def refresh_models(self) -> None:
        self.model_combo.refresh_runs()
        self._refresh_buttons()

    def add_checkpoint(self, path: str | Path) -> None:
        self.model_combo.add_checkpoint(path)
        self.source.setCurrentIndex(self.source.findData("model"))

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a classifier checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.add_checkpoint(path)

    def choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights of the backbone", "", WEIGHTS_FILTER)
        if path:
            self.weights_edit.setText(path)

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
        self.refresh_models()
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

    def embed_config(self) -> EmbedConfig:
        from galaxy_studio.explore.embeddings import EmbedConfig

        source = self.source.currentData()
        return EmbedConfig(
            data=self.data_edit.text().strip(),
            source=source,
            model=self.model_combo.currentData() if source == "model" else None,
            backbone=self.backbone.currentText().strip() if source == "backbone" else None,
            weights_path=(self.weights_edit.text().strip() or None) if source == "backbone" else None,
            size=self.size.value(),
            device=self.device.currentText(),
            latent=self.ae_latent.value(),
            autoencoder_epochs=self.ae_epochs.value(),
        )

    def _source_problem(self) -> str | None:
        """Why Compute cannot start, in words, or None."""
        if not self.data_edit.text().strip():
            return "Choose the data first: a project, a folder or a catalogue"
        source = self.source.currentData()
        if source == "model" and self.model_combo.currentData() is None:
            return "Choose a classifier: train one in the Train tab, or Open checkpoint…"
        if source == "backbone" and not self.weights_edit.text().strip():
            return "Choose the backbone's weights file (nothing is downloaded)"
        return None

    # Computing -------------------------------------------------------------------------

    def compute(self) -> None:
        problem = self._source_problem()
        if problem is not None:
            self._say(problem)
            return
        if self.jobs.running:
            return
        try:
            config = self.embed_config()
        except ModelError as error:
            self._say(str(error))
            return
        method = self.projection.currentData()
        from galaxy_studio.explore.embeddings import embed
        from galaxy_studio.explore.projection import map_2d
        from galaxy_studio.explore.similarity import SimilarityIndex

        def job(emit: EventSink, cancel: CancelToken) -> MappedEmbeddings:
            embeddings = embed(config, emit=emit, cancel=cancel)
            xy = map_2d(embeddings.vectors, method, emit=emit, cancel=cancel)
            return MappedEmbeddings(embeddings, xy, SimilarityIndex(embeddings.vectors))

        self._start(job, f"Embedding {Path(config.data).name}", self._on_computed, uses_torch=True)

    def map_folder(self, folder: str | Path) -> None:
        """Embed and map a folder with the chosen source (the demo set opened on this tab)."""
        self.data_edit.setText(str(folder))
        self.compute()

    def reproject(self) -> None:
        """Draw the same embedding with the other projection."""
        if self.embeddings is None or self.jobs.running:
            return
        from galaxy_studio.explore.projection import map_2d

        vectors, method = self.embeddings.vectors, self.projection.currentData()

        def job(emit: EventSink, cancel: CancelToken) -> np.ndarray:
            return map_2d(vectors, method, emit=emit, cancel=cancel)

        self._start(job, f"Drawing the {self.projection.currentText()} map", self._on_reprojected)

    def cluster(self, k: int, method: str) -> None:
        if self.embeddings is None or self.jobs.running:
            return
        from galaxy_studio.explore.clustering import cluster_embeddings, score_clusters

        vectors, labels = self.embeddings.vectors, self.labels.copy()

        def job(emit: EventSink, cancel: CancelToken) -> Clustering:
            clusters = cluster_embeddings(vectors, k, method)
            score = score_clusters(clusters, labels) if np.any(labels >= 0) else None
            return Clustering(clusters, score, method, k)

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
        self.status.emit(f"{self.projection.currentText()} map drawn")

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
        self.strip.clear()
        self.view.set_image(None)
        self.title.setText("Click a dot to see the cutout")
        self._set_class_choices()
        self.refresh_labels()
        self.set_map(xy)
        self.map_stack.setCurrentIndex(1)
        self.clusters_box.show()
        self.status.emit(
            f"{len(embeddings)} cutouts embedded ({embeddings.source}, {embeddings.vectors.shape[1]} dimensions)"
        )

    def set_map(self, xy: np.ndarray) -> None:
        self.xy = xy
        assert self.embeddings is not None
        self.map.set_points(xy, [item.name for item in self.embeddings.items])
        self.recolour()
        if self.current is not None:
            self.map.set_current(self.current)

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
        for combo in (self.class_choice, self.clusters_box.class_choice):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for name, style in zip(self.class_names, styles):
                combo.addItem(swatch_icon(style), f"{style.key}: {name}" if style.key else name, name)
            combo.setCurrentIndex(max(combo.findData(current), 0))
            combo.blockSignals(False)

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
        data = self.data_edit.text().strip()
        data_is_project = project is not None and bool(data) and Path(data).resolve() == project.path.resolve()
        code_of = [position[self._class_of(name)] for name in self.embeddings.class_names]
        own = np.array([code_of[label] if label >= 0 else -1 for label in self.embeddings.labels], dtype=np.int64)
        labels = np.full(len(own), -1, dtype=np.int64) if data_is_project else own
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
        mode = self.colour_by.currentText()
        clusters = self.clusters_box.clusters
        if mode == "Cluster" and clusters is not None:
            codes = clusters.astype(np.int64)
            counts = Counter(codes.tolist())
            palette = [(*class_colour(c), 230) for c in range(int(codes.max()) + 1)]
            legend = [(f"cluster {c + 1}", counts[c], c) for c in sorted(counts)]
        else:
            values = self.suggested if mode == "Suggestion" else self.labels
            unlabelled = len(self.class_names)
            codes = np.where(values >= 0, values, unlabelled)
            counts = Counter(codes.tolist())
            styles = self.session.class_styles(self.class_names)
            palette = [(*style.colour, 230) for style in styles] + [UNLABELLED_RGBA]
            legend = [(style.caption, counts[c], c) for c, style in enumerate(styles) if counts[c]]
            if counts[unlabelled]:
                legend.append(
                    ("no suggestion" if mode == "Suggestion" else "unlabelled", counts[unlabelled], unlabelled)
                )
        self.map.set_colours(codes, palette)
        self.legend_entries = [(name, count, palette[code][:3]) for name, count, code in legend]
        self.legend.setText(
            "<table cellspacing=2>"
            + "".join(
                f"<tr><td style='color:rgb({r},{g},{b})'>●</td><td>{escape(name)}</td>"
                f"<td align=right style='color:#9a9ca4'>{count}</td></tr>"
                for name, count, code in legend
                for r, g, b, _ in [palette[code]]
            )
            + "</table>"
        )

    def _refresh_empty_hint(self) -> None:
        """What the empty map says, derived each time from what is true now: a job computing
        the map, the chosen data (the open project's current number of images), and how the
        last attempt ended. Called whenever one of those changes, so it never goes stale."""
        self.empty.setText(self.empty_hint())

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
        data_is_project = project is not None and bool(data) and Path(data).resolve() == project.path.resolve()
        if data_is_project:
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
                self.class_choice.setCurrentIndex(position)
                self.label_selection()
                return

    def label_selection(self) -> None:
        rows = self.map.selected_indices()
        if len(rows) == 0:
            self.status.emit("Select dots first: Shift+drag a lasso round them")
            return
        self.label_rows(rows, self.class_choice.currentData())

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
        session = self.session

        def job(emit: EventSink, cancel: CancelToken) -> LabelledBatch:
            try:
                session.add_and_label(items, class_name, emit=emit, cancel=cancel)
            except ProjectError as error:
                return LabelledBatch(class_name, 0, f"Labels NOT saved for {counted(len(items), 'cutout')}: {error}")
            return LabelledBatch(class_name, len(items), "")

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
        session = self.session

        def job(emit: EventSink, cancel: CancelToken) -> UndoneBatch:
            try:
                return UndoneBatch(session.undo_batch(), "")
            except ProjectError as error:
                return UndoneBatch(None, f"Undo batch failed, no label was taken back: {error}")

        self._start(job, "Taking back the last batch", self._on_undone)

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
        self.colour_by.setCurrentText("Cluster")
        self.recolour()
        self._refresh_buttons()

    # Viewer and neighbours -------------------------------------------------------------

    def show_point(self, row: int) -> None:
        """Show cutout `row` large, ring it on the map and list its nearest neighbours."""
        if self.embeddings is None or self.index is None or not 0 <= row < len(self.embeddings):
            return
        self.current = row
        self.map.set_current(row)
        item = self.embeddings.items[row]
        label = self.labels[row]
        described = self.class_names[label] if label >= 0 else "unlabelled"
        self.title.setText(f"<b>{item.name}</b> · {described}")
        self.title.setToolTip(readable(item.path))
        self.loader.load(item, self.user_settings)
        neighbours, similarities = self.index.nearest(row, NEIGHBOURS)
        self.strip.set_neighbours(neighbours, similarities, [self.embeddings.items[i].name for i in neighbours])
        self._show_neighbour_thumbnails([(int(i), self.embeddings.items[i]) for i in neighbours])

    def _show_neighbour_thumbnails(self, wanted: list[tuple[int, CatalogItem]]) -> None:
        from galaxy_studio.data.thumbnails import make_thumbnail

        def job(emit: EventSink, cancel: CancelToken) -> list[tuple[int, np.ndarray]]:
            made = []
            for row, item in wanted:
                cancel.raise_if_set()
                try:
                    made.append((row, make_thumbnail(item, TILE_SIZE)))
                except Exception:  # noqa: BLE001 - an unreadable neighbour keeps an empty tile, the rest still show
                    continue
            return made

        self.thumbnails.request(job, on_success=self._on_thumbnails, on_failure=self._on_thumbnails_failed)

    def _on_thumbnails(self, made: list[tuple[int, np.ndarray]]) -> None:
        for row, rgb in made:
            self.strip.set_thumbnail(row, rgb)

    def _on_thumbnails_failed(self, message: str) -> None:
        self.status.emit(f"No thumbnails for the neighbours: {message}")

    def _on_cutout_shown(self, request: int, cutout: Cutout, rgb: object, settings: DisplaySettings) -> None:
        if request != self.loader.latest:
            return
        keep_view = self.cutout is not None and self.cutout.source == cutout.source
        self.cutout = cutout
        self.controls.show()
        self.controls.set_bands(cutout.bands)
        self.controls.set_settings(settings)
        self.view.set_image(rgb, keep_view=keep_view)  # type: ignore[arg-type]

    def _on_cutout_failed(self, request: int, message: str) -> None:
        if request == self.loader.latest:
            self.cutout = None
            self.view.set_image(None)
            self.view.empty_text = f"Cannot show this cutout: {message}"
            self.view.update()

    def _on_settings_changed(self, settings: DisplaySettings) -> None:
        self.user_settings = settings
        if self.cutout is not None:
            self.loader.render(self.cutout, settings)

    # State -----------------------------------------------------------------------------

    def _refresh_buttons(self) -> None:
        busy = self.jobs.running
        has_map = self.embeddings is not None
        has_project = self.session.project is not None
        selected = len(self.map.selected_indices()) if has_map else 0
        self.compute_button.setEnabled(not busy and self._source_problem() is None)
        self.compute_button.setToolTip(
            self._source_problem()
            or "Embed every image and draw the map (cached: the same data and model load instantly the next time)"
        )
        self.projection.setEnabled(has_map and not busy)
        self.clusters_box.set_enabled(has_map=has_map, busy=busy, has_project=has_project)
        self.label_button.setEnabled(has_project and selected > 0 and not busy)
        hint = " · open a project to label" if selected and not has_project else ""
        self.selection_label.setText(f"{selected} selected{hint}")
        self.undo_button.setEnabled(has_project and self.session.last_batch is not None and not busy)

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.thumbnails.shutdown()
        self.loader.shutdown()
