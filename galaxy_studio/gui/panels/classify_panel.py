"""Classify: drop cutouts, see the predicted class, every class's probability and where the
network looked; classify folders to a table (CSV, ECSV, FITS or VOTable); send corrections and
suggestions to the project.

All model work (loading, classifying, explaining, writing the table, suggesting) runs in
JobRunner workers (explanations in a LatestRequestRunner: the newest request wins); the GUI
thread only blends the finished map over the image, which is cheap, so the opacity and
colour map follow the controls at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.tables import TABLE_FILE_FILTERS, table_path_for_filter
from galaxy_studio.events import CancelToken, EventSink, Noted
from galaxy_studio.gui.widgets.class_mapping_dialog import confirm_class_mapping
from galaxy_studio.gui.widgets.class_swatch import swatch_icon
from galaxy_studio.gui.widgets.drop_zone import DropZone
from galaxy_studio.gui.widgets.familiarity_note import ROW_TINT, FamiliarityNote, warning_icon
from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.job_progress import JobProgressRow
from galaxy_studio.gui.widgets.model_picker import ModelPicker
from galaxy_studio.gui.widgets.network_view_box import NetworkViewBox
from galaxy_studio.gui.widgets.probability_bars import ProbabilityBars
from galaxy_studio.gui.widgets.thumbnail_grid import rgb_to_qimage
from galaxy_studio.gui.worker import Job, JobRunner, LatestRequestRunner, R
from galaxy_studio.labels.class_mapping import map_class_names
from galaxy_studio.labels.errors import ProjectError
from galaxy_studio.model.config import COLOUR_MAPS, EXPLANATION_METHODS, EXPLANATION_TITLES
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.gui.session_signals import SessionSignals
    from galaxy_studio.model.classification import Classifier, ClassifyResult, Prediction
    from galaxy_studio.model.suggestions import SuggestResult

THUMBNAIL_SIZE = 48
PREDICTED_TARGET = "Predicted class"
CHECKPOINT_FILTER = "Classifier checkpoints (*.pt);;All files (*)"
_KEY_ROLE = Qt.ItemDataRole.UserRole
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PREDICTED_COLUMN = 2


def _familiarity_item(prediction: Prediction) -> QTableWidgetItem:
    """⚠ and "yes" for an unfamiliar input, with the score's percentile among the validation
    galaxies; sorted by that percentile, unfamiliar ones last."""
    percentile = prediction.ood_percentile
    text = "yes" if prediction.unfamiliar else "no"
    if percentile is not None:
        text += f" · {percentile:.0f}%ile"
    item = _SortableItem(text)
    item.setData(_SORT_ROLE, (prediction.unfamiliar, -1.0 if percentile is None else percentile))
    if prediction.unfamiliar:
        item.setIcon(warning_icon())
        item.setToolTip("\n".join(prediction.unfamiliar_reasons))
    return item


class _SortableItem(QTableWidgetItem):
    """Sorts by the number behind the text (confidence 9.5% after 10.2%, not before)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT_ROLE), other.data(_SORT_ROLE)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


@dataclass(frozen=True)
class Classified:
    """What classifying dropped cutouts gives the table: the model that did it (kept for
    explanations), its predictions and a thumbnail per prediction (None: unreadable)."""

    classifier: Classifier
    result: ClassifyResult
    thumbnails: list[np.ndarray | None]


@dataclass(frozen=True)
class Explanation:
    """One cutout's map, with the pixels it is drawn over and the colour table it asked for."""

    key: int
    rgb: np.ndarray
    values: np.ndarray
    colour_map: str
    table: np.ndarray
    # (left, top, side) of what the network reads, or None when it reads the whole cutout.
    box: tuple[int, int, int] | None


class ClassifyPanel(QWidget):
    KEY_ROLE = _KEY_ROLE
    status = Signal(str)
    # Review in Library: label the project's images most uncertain first.
    review_requested = Signal()

    def __init__(self, signals: SessionSignals, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = signals.session
        self._suggested_for: Path | None = None  # the project this panel stored suggestions in
        signals.project_changed.connect(self._fill_label_choice)
        signals.classes_changed.connect(self._fill_label_choice)
        signals.project_changed.connect(self.recolour)
        signals.classes_changed.connect(self.recolour)
        signals.class_mapping_changed.connect(self.recolour)
        self.classifier: Classifier | None = None
        self.predictions: list[Prediction] = []
        self.display_rgb: np.ndarray | None = None
        self.attribution: np.ndarray | None = None
        self._shown_key: int | None = None
        self._colour_tables: dict[str, np.ndarray] = {}
        self.jobs = JobRunner(self)
        self.jobs.finished.connect(self._refresh_buttons)
        # (model, its classes) read for a suggestion run that starts once that job has ended.
        self._pending_suggest: tuple[str, tuple[str, ...]] | None = None
        self.jobs.finished.connect(self._start_pending_suggest)
        self.jobs.event.connect(self._on_job_event)
        self.explainer = LatestRequestRunner(self)
        self._build()
        self.refresh_models()

    # Layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_results_side())
        splitter.addWidget(self._build_viewer_side())
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([640, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._build_model_row())
        layout.addWidget(splitter, 1)
        self._refresh_buttons()

    def _build_model_row(self) -> QHBoxLayout:
        self.model_combo = ModelPicker(
            28,
            "Finished training runs, best first by the lower bound of the test accuracy's 95% interval, "
            "or a checkpoint opened from a file",
        )
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.open_model_button = QPushButton("Open checkpoint…")
        self.open_model_button.clicked.connect(self.open_checkpoint_dialog)
        self.tta = QCheckBox("Rotations && flips (TTA)")
        self.tta.setToolTip("Average the probabilities over the 8 rotations by 90° and mirror images (8x slower)")
        self.batch_button = QPushButton("Classify folder to a table…")
        self.batch_button.setToolTip(
            "Classify every cutout of a folder into a CSV, ECSV, FITS or VOTable table with the class "
            "probabilities and, where the catalogue or the FITS header gives them, RA and Dec"
        )
        self.batch_button.clicked.connect(self.batch_dialog)
        self.job_progress = JobProgressRow(self.jobs)
        row = QHBoxLayout()
        row.addWidget(QLabel("Model"))
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.open_model_button)
        row.addWidget(self.tta)
        row.addWidget(self.batch_button)
        row.addWidget(self.job_progress)
        return row

    def _build_results_side(self) -> QWidget:
        self.drop_zone = DropZone("Drop FITS, JPEG, PNG or TIFF cutouts or folders here to classify them")
        self.drop_zone.paths_dropped.connect(self.classify_paths)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #f0b060;")
        self.message.hide()
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.drop_zone)
        layout.addWidget(self.message)
        layout.addWidget(self._build_table(), 1)
        layout.addLayout(self._build_project_row())
        return side

    def _build_project_row(self) -> QHBoxLayout:
        """Active learning for the open project, under the table it works from."""
        self.suggest_button = QPushButton("Suggest labels for project")
        self.suggest_button.setToolTip(
            "Store this model's predictions for the project's unlabelled images; "
            "the Library can then show the most uncertain first"
        )
        self.suggest_button.clicked.connect(self.suggest_for_project)
        self.review_button = QPushButton("Review in Library")
        self.review_button.setToolTip(
            "Label the project's images in the Library, most uncertain first, each with this model's suggestion: "
            "Enter accepts it, a class key overrides it"
        )
        self.review_button.clicked.connect(self.review_requested)
        self.review_button.hide()
        row = QHBoxLayout()
        row.addWidget(self.suggest_button)
        row.addWidget(self.review_button)
        row.addStretch(1)
        return row

    def _build_table(self) -> QTableWidget:
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["", "Cutout", "Predicted", "Confidence", "Entropy", "Unfamiliar"])
        self.table.horizontalHeaderItem(5).setToolTip(
            "⚠: the cutout looks unlike the model's training data (other bands, format, pixel scale or "
            "brightness, or an out-of-distribution score above 99% of the validation galaxies'); "
            "the number is that score's percentile among the validation galaxies"
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # A file name's start (a survey's prefix) and end (its number) both tell cutouts apart.
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setIconSize(QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE).size())
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 4)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(0, THUMBNAIL_SIZE + 8)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        for column in (2, 3, 4, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        return self.table

    def _build_viewer_side(self) -> QWidget:
        self.title = QLabel("Drop cutouts to classify them")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = ImageView()
        self.view.empty_text = "The selected cutout appears here with the explanation over it"
        self.view.overlay = self.view_box = NetworkViewBox()
        self.bars = ProbabilityBars()
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        self.familiarity = FamiliarityNote()
        layout.addWidget(self.title)
        layout.addWidget(self.familiarity)
        layout.addLayout(self._build_map_controls())
        layout.addWidget(self.view, 1)
        layout.addWidget(self.bars)
        layout.addLayout(self._build_add_row())
        return side

    def _build_map_controls(self) -> QHBoxLayout:
        self.method = QComboBox()
        for key in EXPLANATION_METHODS:
            self.method.addItem(EXPLANATION_TITLES[key], key)
        self.method.setCurrentIndex(EXPLANATION_METHODS.index("gradcam"))
        self.method.setToolTip("How the map is made (Captum)")
        self.method.currentIndexChanged.connect(self.explain_selected)
        self.target = QComboBox()
        self.target.setToolTip("The class whose evidence is shown")
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.target.currentIndexChanged.connect(self.explain_selected)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Opacity of the map over the image")
        self.opacity.valueChanged.connect(self._redraw_overlay)
        self.colour_map = QComboBox()
        self.colour_map.addItems(list(COLOUR_MAPS))
        self.colour_map.currentIndexChanged.connect(self._redraw_overlay)
        controls = QHBoxLayout()
        for label, widget in (
            ("Map", self.method),
            ("Class", self.target),
            ("Opacity", self.opacity),
            ("Colours", self.colour_map),
        ):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        return controls

    def _build_add_row(self) -> QHBoxLayout:
        self.label_choice = QComboBox()
        self.label_choice.setToolTip("The class to record in the project (correct the prediction here)")
        # Empty until a project or a model names the classes.
        self.label_choice.setPlaceholderText("The class to add a cutout as: the open project's or the model's")
        self.add_button = QPushButton("Add to project with this label")
        self.add_button.setToolTip("Add the cutout to the project open in the Library, labelled with this class")
        self.add_button.clicked.connect(self.add_to_project)
        row = QHBoxLayout()
        row.addWidget(self.label_choice, 1)
        row.addWidget(self.add_button)
        return row

    # Models ----------------------------------------------------------------------------

    def refresh_models(self) -> None:
        self.model_combo.refresh_runs()
        self._refresh_buttons()

    def add_checkpoint(self, path: str | Path) -> None:
        self.model_combo.add_checkpoint(path)

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a classifier checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.add_checkpoint(path)

    def model_path(self) -> str | None:
        return self.model_combo.currentData()

    def _on_model_changed(self) -> None:
        if self.classifier is not None and str(self.classifier.checkpoint) != self.model_path():
            self.classifier = None
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        busy = self.jobs.running
        has_model = self.model_path() is not None
        self.batch_button.setEnabled(has_model and not busy)
        self.suggest_button.setEnabled(has_model and not busy and self.session.project is not None)
        project = self.session.project_path
        self.review_button.setVisible(project is not None and project == self._suggested_for)
        self.drop_zone.setEnabled(not busy)
        self.add_button.setEnabled(self._shown_key is not None and self.session.project is not None)

    def refresh_project(self) -> None:
        """The Library opened or closed a project: the project buttons follow."""
        self._refresh_buttons()

    def showEvent(self, event: object) -> None:
        self.refresh_models()
        super().showEvent(event)

    # Classifying -----------------------------------------------------------------------

    def classify_paths(self, paths: list[str]) -> None:
        """Classify dropped or chosen files and folders; the results join the list."""
        model = self.model_path()
        if model is None:
            self._show_message("Choose a model first: train one in the Train tab, or Open checkpoint…")
            return
        if self.jobs.running:
            self._show_message("Wait for the running classification to finish (or cancel it)")
            return
        from galaxy_studio.data.thumbnails import make_thumbnail
        from galaxy_studio.model.classification import ClassifyConfig, classify, open_classifier

        config = ClassifyConfig(model, tuple(paths), tta=self.tta.isChecked())

        def job(emit: EventSink, cancel: CancelToken) -> Classified:
            classifier = open_classifier(config.model)
            result = classify(config, emit=emit, cancel=cancel)
            thumbnails: list[np.ndarray | None] = []
            for prediction in result.predictions:
                cancel.raise_if_set()
                try:
                    thumbnails.append(make_thumbnail(prediction.item, THUMBNAIL_SIZE))
                except Exception:  # noqa: BLE001 - it was just read; a thumbnail is not worth failing for
                    thumbnails.append(None)
            return Classified(classifier, result, thumbnails)

        self._start(job, "Classifying", self._add_results)

    def batch_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of cutouts to classify")
        if not folder:
            return
        out, chosen = QFileDialog.getSaveFileName(
            self, "Save the predictions as", str(Path(folder) / "predictions.csv"), ";;".join(TABLE_FILE_FILTERS)
        )
        if out:
            self.classify_folder_to_table(folder, *table_path_for_filter(out, chosen))

    def classify_folder_to_table(self, folder: str, out: str, fmt: str | None = None) -> None:
        """Classify a whole folder in the background into a table (CSV, ECSV, FITS or VOTable:
        `fmt`, else by the name), with progress and cancel; the results are not listed (a
        folder may hold tens of thousands)."""
        model = self.model_path()
        if model is None or self.jobs.running:
            return
        from galaxy_studio.model.classification import ClassifyConfig, classify, write_predictions

        config = ClassifyConfig(model, (folder,), tta=self.tta.isChecked())

        def job(emit: EventSink, cancel: CancelToken) -> ClassifyResult:
            result = classify(config, emit=emit, cancel=cancel)
            if result.predictions:
                write_predictions(result, out, fmt=fmt)
            return result

        self._start(job, f"Classifying {folder} to {Path(out).name}", partial(self._on_folder_classified, out))

    def suggest_for_project(self) -> None:
        project = self.session.project
        model = self.model_path()
        if project is None or model is None or self.jobs.running:
            return
        if self.classifier is not None and str(self.classifier.checkpoint) == model:
            self._suggest_with(model, self.classifier.classes)
            return

        def read_classes(emit: EventSink, cancel: CancelToken) -> tuple[str, ...]:
            from galaxy_studio.model.classification import open_classifier

            return open_classifier(model).classes

        self._start(read_classes, "Reading the model's classes", partial(self._queue_suggest, model))

    def _queue_suggest(self, model: str, classes: tuple[str, ...]) -> None:
        self._pending_suggest = (model, classes)

    def _start_pending_suggest(self) -> None:
        pending, self._pending_suggest = self._pending_suggest, None
        if pending is not None:
            self._suggest_with(*pending)

    def _suggest_with(self, model: str, classes: tuple[str, ...]) -> None:
        """Settle the model's class names against the project's (the mapping dialog, where
        they differ and are not stored yet), then store its suggestions in the background."""
        project = self.session.project
        if project is None or self.jobs.running:
            return
        source = f"The model {Path(model).parent.name if Path(model).is_file() else Path(model).name}"
        class_map = confirm_class_mapping(self, self.session, source, dict.fromkeys(classes, 1), noun="model class")
        if class_map is None:
            self.status.emit("Suggesting cancelled: nothing was stored")
            return
        from galaxy_studio.model.suggestions import SuggestConfig, suggest_labels

        config = SuggestConfig(str(project.path), model, tta=self.tta.isChecked(), class_map=class_map)

        def job(emit: EventSink, cancel: CancelToken) -> SuggestResult:
            return suggest_labels(config, emit=emit, cancel=cancel)

        self._start(job, f"Suggesting labels for {project.path.name}", self._on_suggested)

    def _start(self, job: Job[R], message: str, on_success: Callable[[R], None]) -> None:
        self.jobs.start(
            job,
            on_success=on_success,
            on_failure=self._on_job_failed,
            on_cancel=self._on_job_cancelled,
            uses_torch=True,
        )
        self._refresh_buttons()
        self.status.emit(message + "…")

    def _on_folder_classified(self, out: str, classified: ClassifyResult) -> None:
        self._report_failures(classified.failures)
        if classified.predictions:
            self.status.emit(
                f"Wrote {len(classified.predictions)} predictions to {out} ({len(classified.failures)} left out)"
            )
        else:
            self._show_message("No cutout in that folder could be classified; nothing was written")

    def _on_suggested(self, result: SuggestResult) -> None:
        self._report_failures(result.failures)
        self.session.changed_outside()
        counts = result.counts
        renamed = counts.mapped or counts.unmapped or counts.skipped
        self.status.emit(
            f"Stored {counted(result.stored, 'suggestion')} in the project"
            + (f" ({counts.describe('suggestion')})" if renamed else "")
            + ("; Review in Library shows the most uncertain first" if result.stored else "")
        )
        self._suggested_for = self.session.project_path if result.stored else None
        self._refresh_buttons()

    def _on_job_failed(self, message: str) -> None:
        self._show_message(message)
        self.status.emit(f"Failed: {message}")

    def _on_job_cancelled(self) -> None:
        self.status.emit("Cancelled; nothing was written")

    def _on_job_event(self, event: object) -> None:
        """A note is what the job decided in the user's stead (test-time views skipped for a
        network that takes them itself): the status bar says it."""
        if isinstance(event, Noted):
            self.status.emit(event.text)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _report_failures(self, failures: tuple[tuple[str, str], ...]) -> None:
        if not failures:
            self._show_message("")
            return
        shown = "\n".join(reason for _, reason in failures[:5])
        more = f"\n… and {len(failures) - 5} more" if len(failures) > 5 else ""
        self._show_message(f"{counted(len(failures), 'file')} left out:\n{shown}{more}")

    def _add_results(self, classified: Classified) -> None:
        classifier, result = classified.classifier, classified.result
        if self.classifier is None or self.classifier.classes != classifier.classes:
            self.predictions.clear()
            self.table.setRowCount(0)
        self.classifier = classifier
        self._report_failures(result.failures)
        self._set_classes(classifier.classes)
        self.table.setSortingEnabled(False)
        first_new = None
        for prediction, thumbnail in zip(result.predictions, classified.thumbnails):
            key = len(self.predictions)
            self.predictions.append(prediction)
            row = self.table.rowCount()
            self.table.insertRow(row)
            icon_item = QTableWidgetItem()
            if thumbnail is not None:
                icon_item.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(thumbnail))))
            name_item = _SortableItem(prediction.name)
            name_item.setToolTip(readable(prediction.path))
            name_item.setData(_KEY_ROLE, key)
            confidence = _SortableItem(f"{100 * prediction.confidence:.1f}%")
            confidence.setData(_SORT_ROLE, prediction.confidence)
            entropy = _SortableItem(f"{prediction.entropy:.3f}")
            entropy.setData(_SORT_ROLE, prediction.entropy)
            predicted = _SortableItem(prediction.predicted)
            self._style_predicted(predicted)
            familiarity = _familiarity_item(prediction)
            for column, item in enumerate((icon_item, name_item, predicted, confidence, entropy, familiarity)):
                if prediction.unfamiliar:
                    item.setBackground(ROW_TINT)
                self.table.setItem(row, column, item)
            if first_new is None:
                first_new = row
        self.table.setSortingEnabled(True)
        if result.predictions:
            self.status.emit(
                f"Classified {counted(len(result.predictions), 'cutout')} with {classifier.name}"
                + (f"; {len(result.failures)} left out" if result.failures else "")
            )
            row = self._row_of_key(len(self.predictions) - len(result.predictions))
            if row is not None:
                self.table.selectRow(row)

    def _set_classes(self, classes: tuple[str, ...]) -> None:
        current = self.target.currentText()
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItem(PREDICTED_TARGET, None)
        for index, name in enumerate(classes):
            self.target.addItem(name, index)
        self.target.setCurrentIndex(max(self.target.findText(current), 0))
        self.target.blockSignals(False)
        self._fill_label_choice()

    def _fill_label_choice(self) -> None:
        """The classes a cutout can be added as: the open project's (the model's spelling of a
        class, `spirals` for `spiral`, is read as the project's), else the model's."""
        project = self.session.project
        if project is not None:
            choices = list(project.classes)
        else:
            choices = list(self.classifier.classes) if self.classifier is not None else []
        shown = self._choice_for(self.label_choice.currentText(), choices)
        self.label_choice.clear()
        for style in self.session.class_styles(choices):
            self.label_choice.addItem(swatch_icon(style), style.name)
        self.label_choice.setCurrentText(shown)

    def _choice_for(self, class_name: str, choices: list[str]) -> str:
        """The model's class as the project spells it: a stored mapping, else a matching name."""
        project = self.session.project
        stored = project.class_aliases() if project is not None else None
        return map_class_names([class_name], choices, None, stored).class_of(class_name)

    def _style_predicted(self, item: QTableWidgetItem) -> None:
        """The predicted class's dot in the session's colour, named as the project has it."""
        style = self.session.class_style(item.text())
        item.setIcon(swatch_icon(style))
        item.setToolTip(style.name + (f" (key {style.key})" if style.key else ""))

    def _show_bars(self) -> None:
        if self._shown_key is None or self.classifier is None or self._shown_key >= len(self.predictions):
            self.bars.clear()
            return
        classes = self.classifier.classes
        probabilities = self.predictions[self._shown_key].probabilities
        self.bars.set_probabilities(classes, probabilities, self.session.class_styles(classes))

    def recolour(self) -> None:
        """Another project, or its classes changed: dots and bars take the new colours."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, PREDICTED_COLUMN)
            if item is not None:
                self._style_predicted(item)
        self._show_bars()

    def _row_of_key(self, key: int) -> int | None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 1)
            if item is not None and item.data(_KEY_ROLE) == key:
                return row
        return None

    # Showing and explaining ------------------------------------------------------------

    def selected_key(self) -> int | None:
        rows = self.table.selectionModel().selectedRows(1)
        return rows[0].data(_KEY_ROLE) if rows else None

    def _on_selection_changed(self) -> None:
        key = self.selected_key()
        if key is None or self.classifier is None:
            return
        prediction = self.predictions[key]
        self._shown_key = key
        self.familiarity.show_prediction(prediction)
        self._show_bars()
        self.label_choice.setCurrentText(
            self._choice_for(
                prediction.predicted, [self.label_choice.itemText(i) for i in range(self.label_choice.count())]
            )
        )
        self.title.setText(
            f"<b>{prediction.name}</b> · {prediction.predicted} "
            f"({100 * prediction.confidence:.1f}%) · entropy {prediction.entropy:.3f} · "
            f"margin {100 * prediction.margin:.1f}%"
        )
        self._refresh_buttons()
        self.explain_selected()

    def explain_selected(self) -> None:
        """Compute the chosen map for the shown cutout in the background; the latest request wins."""
        key = self._shown_key
        if key is None or self.classifier is None:
            return
        prediction = self.predictions[key]
        target = self.target.currentData()
        if target is None:
            target = self.classifier.classes.index(prediction.predicted)
        method, target = self.method.currentData(), int(target)
        classifier = self.classifier
        item: CatalogItem = prediction.item
        colour_map = self.colour_map.currentText()

        def job(emit: EventSink, cancel: CancelToken) -> Explanation:
            from galaxy_studio.data.catalog import read_item
            from galaxy_studio.data.display import render_rgb
            from galaxy_studio.model.explain import colour_map_table, explain_cutout, explainable_copy, outlined_box

            cutout = read_item(item)
            rgb = render_rgb(cutout)
            values = explain_cutout(explainable_copy(classifier.model), classifier.prep, cutout, target, method)
            box = outlined_box(classifier.prep, cutout.height, cutout.width)
            # matplotlib's colour maps cost an import: paid here, not on the GUI thread.
            return Explanation(key, rgb, values, colour_map, colour_map_table(colour_map), box)

        self.explainer.request(job, on_success=self._on_explained, on_failure=self._on_explain_failed, uses_torch=True)

    def _on_explained(self, explanation: Explanation) -> None:
        self._colour_tables[explanation.colour_map] = explanation.table
        if explanation.key != self._shown_key:
            return
        self.display_rgb, self.attribution = explanation.rgb, explanation.values
        self.view_box.box = explanation.box
        self._redraw_overlay()

    def _on_explain_failed(self, message: str) -> None:
        self.display_rgb = self.attribution = None
        self.view_box.box = None
        self.view.set_image(None)
        self.view.empty_text = f"No explanation: {message}"
        self.status.emit(f"No explanation: {message}")

    def _redraw_overlay(self) -> None:
        if self.display_rgb is None or self.attribution is None:
            return
        from galaxy_studio.model.explain import colour_map_table, overlay_rgb

        name = self.colour_map.currentText()
        if name not in self._colour_tables:
            self._colour_tables[name] = colour_map_table(name)
        blended = overlay_rgb(
            self.display_rgb, self.attribution, opacity=self.opacity.value() / 100, table=self._colour_tables[name]
        )
        self.view.set_image(blended, keep_view=True)

    # Project ---------------------------------------------------------------------------

    def add_to_project(self) -> None:
        """Record the chosen class for the shown cutout in the Library's project (adding the
        image first if it is new); saved the moment this returns, like any label."""
        project = self.session.project
        if project is None or self._shown_key is None:
            self._show_message("Open or create a project first (File → Open Project / New Project)")
            return
        prediction = self.predictions[self._shown_key]
        if self.classifier is not None and (
            confirm_class_mapping(
                self,
                self.session,
                f"The model {self.classifier.name}",
                dict.fromkeys(self.classifier.classes, 1),
                noun="model class",
            )
            is None
        ):
            self._show_message("Not added: the model's class names were not confirmed")
            return
        class_name = self.label_choice.currentText()
        if class_name not in project.classes:
            self._show_message(
                f"The project has no class {class_name!r}; its classes are: {', '.join(project.classes)}"
            )
            return
        try:
            self.session.add_and_label([prediction.item], class_name, remember_batch=False)
        except ProjectError as error:
            self._show_message(f"Not saved: {error}")
            return
        self._show_message("")
        self.status.emit(f"Added {prediction.name} to {project.path.name} as {class_name}")

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.explainer.shutdown()
