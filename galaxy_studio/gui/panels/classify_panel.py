"""Classify: drop cutouts, see the predicted class, every class's probability and where the
network looked; classify folders to a table (CSV, ECSV, FITS or VOTable); send corrections and
suggestions to the project.

All model work (loading, classifying, explaining, writing the table, suggesting) runs in
JobRunner workers (explanations in a LatestRequestRunner: the newest request wins). The panel
is the controller over its table of predictions (classify_table.py) and the viewer with the
explanation map (classify_viewer.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.tables import TABLE_FILE_FILTERS, table_path_for_filter
from galaxy_studio.events import CancelToken, EventSink, Noted
from galaxy_studio.gui.panels.classify_table import (
    KEY_ROLE,
    THUMBNAIL_SIZE,
    PredictionTable,
    ProjectLabel,
)
from galaxy_studio.gui.panels.classify_viewer import ClassifyViewer, Explanation
from galaxy_studio.gui.widgets.class_mapping_dialog import confirm_class_mapping
from galaxy_studio.gui.widgets.class_swatch import swatch_icon
from galaxy_studio.gui.widgets.drop_zone import DropZone
from galaxy_studio.gui.widgets.job_progress import JobProgressRow
from galaxy_studio.gui.widgets.model_picker import ModelPicker
from galaxy_studio.gui.worker import Job, JobRunner, LatestRequestRunner, R
from galaxy_studio.labels.class_mapping import map_class_names
from galaxy_studio.labels.consensus import counted_label
from galaxy_studio.labels.errors import ProjectError

if TYPE_CHECKING:
    from galaxy_studio.gui.session_signals import SessionSignals
    from galaxy_studio.model.classification import Classifier, ClassifyResult, Prediction
    from galaxy_studio.model.suggestions import SuggestResult

CHECKPOINT_FILTER = "Classifier checkpoints (*.pt);;All files (*)"


def _agreement(labels: Iterable[ProjectLabel | None]) -> str:
    """How the predictions of the cutouts the project has labelled compare with their labels."""
    labelled = [label for label in labels if label is not None and label.class_name is not None]
    if not labelled:
        return ""
    agreeing = sum(label.agrees for label in labelled)
    return f"; the model agrees with {agreeing} of the {counted(len(labelled), 'label')} the project has for them"


@dataclass(frozen=True)
class Classified:
    """What classifying dropped cutouts gives the table: the model that did it (kept for
    explanations), its predictions and a thumbnail per prediction (None: unreadable)."""

    classifier: Classifier
    result: ClassifyResult
    thumbnails: list[np.ndarray | None]


class ClassifyPanel(QWidget):
    KEY_ROLE = KEY_ROLE
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
        for changed in (
            signals.project_changed,
            signals.classes_changed,
            signals.class_mapping_changed,
            signals.labeller_changed,
        ):
            changed.connect(self._show_all_project_labels)
        signals.labels_changed.connect(self._on_labels_changed)
        self.classifier: Classifier | None = None
        self.predictions: list[Prediction] = []
        self._shown_key: int | None = None
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
        self.table = PredictionTable(self.session)
        self.table.show_project_column(self.session.project is not None)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        layout.addWidget(self.table, 1)
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

    def _build_viewer_side(self) -> ClassifyViewer:
        self.viewer = ClassifyViewer()
        self.viewer.method.currentIndexChanged.connect(self.explain_selected)
        self.viewer.target.currentIndexChanged.connect(self.explain_selected)
        self.viewer.add_button.clicked.connect(self.add_to_project)
        return self.viewer

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
        self.viewer.add_button.setEnabled(self._shown_key is not None and self.session.project is not None)

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
        self.viewer.set_classes(classifier.classes)
        self._fill_label_choice()
        first_key = len(self.predictions)
        self.predictions.extend(result.predictions)
        self.table.add_rows(first_key, list(result.predictions), classified.thumbnails)
        labels = self._show_project_labels(range(first_key, len(self.predictions)))
        if result.predictions:
            self.status.emit(
                f"Classified {counted(len(result.predictions), 'cutout')} with {classifier.name}"
                + (f"; {len(result.failures)} left out" if result.failures else "")
                + _agreement(labels.values())
            )
            row = self.table.row_of_key(first_key)
            if row is not None:
                self.table.selectRow(row)

    def _fill_label_choice(self) -> None:
        """The classes a cutout can be added as: the open project's (the model's spelling of a
        class, `spirals` for `spiral`, is read as the project's), else the model's."""
        project = self.session.project
        if project is not None:
            choices = list(project.classes)
        else:
            choices = list(self.classifier.classes) if self.classifier is not None else []
        label_choice = self.viewer.label_choice
        shown = self._choice_for(label_choice.currentText(), choices)
        label_choice.clear()
        for style in self.session.class_styles(choices):
            label_choice.addItem(swatch_icon(style), style.name)
        label_choice.setCurrentText(shown)

    def _choice_for(self, class_name: str, choices: list[str]) -> str:
        """The model's class as the project spells it: a stored mapping, else a matching name."""
        project = self.session.project
        stored = project.class_aliases() if project is not None else None
        return map_class_names([class_name], choices, None, stored).class_of(class_name)

    def _show_all_project_labels(self, *_: object) -> None:
        self._show_project_labels(range(len(self.predictions)))

    def _on_labels_changed(self, image_ids: frozenset[int] | None) -> None:
        if image_ids is None:
            self._show_all_project_labels()
        else:
            self._show_project_labels(self.table.keys_of_images(image_ids))

    def _show_project_labels(self, keys: Iterable[int]) -> dict[int, ProjectLabel | None]:
        """Show these cutouts' labels in the open project; the column hides without one."""
        self.table.show_project_column(self.session.project is not None)
        labels = self._project_labels(keys)
        self.table.show_project_labels(labels)
        return labels

    def _project_labels(self, keys: Iterable[int]) -> dict[int, ProjectLabel | None]:
        """The cutouts looked up in the open project (by path and row, as the Library adds
        them), each with the label that counts for this labeller; empty without a project."""
        project = self.session.project
        if project is None:
            return {}
        predictions = {key: self.predictions[key] for key in keys}
        classes = project.classes
        spelled = {
            name: self._choice_for(name, classes) or name for name in {p.predicted for p in predictions.values()}
        }
        labels: dict[int, ProjectLabel | None] = {}
        for key, prediction in predictions.items():
            image_id = project.image_id(prediction.path, prediction.index)
            if image_id is None:
                labels[key] = None
                continue
            record = counted_label(project.labels_for_image(image_id), labeller=self.session.labeller)
            labels[key] = ProjectLabel(
                image_id, None if record is None else record.class_name, spelled[prediction.predicted]
            )
        return labels

    def _show_bars(self) -> None:
        if self._shown_key is None or self.classifier is None or self._shown_key >= len(self.predictions):
            self.viewer.bars.clear()
            return
        classes = self.classifier.classes
        probabilities = self.predictions[self._shown_key].probabilities
        self.viewer.bars.set_probabilities(classes, probabilities, self.session.class_styles(classes))

    def recolour(self) -> None:
        """Another project, or its classes changed: dots and bars take the new colours."""
        self.table.recolour()
        self._show_bars()

    # Showing and explaining ------------------------------------------------------------

    def selected_key(self) -> int | None:
        return self.table.selected_key()

    def _on_selection_changed(self) -> None:
        key = self.selected_key()
        if key is None or self.classifier is None:
            return
        prediction = self.predictions[key]
        self._shown_key = key
        self.viewer.familiarity.show_prediction(prediction)
        self._show_bars()
        label_choice = self.viewer.label_choice
        label_choice.setCurrentText(
            self._choice_for(prediction.predicted, [label_choice.itemText(i) for i in range(label_choice.count())])
        )
        self.viewer.title.setText(
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
        target = self.viewer.target.currentData()
        if target is None:
            target = self.classifier.classes.index(prediction.predicted)
        method, target = self.viewer.method.currentData(), int(target)
        classifier = self.classifier
        item: CatalogItem = prediction.item
        colour_map = self.viewer.colour_map.currentText()

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
        self.viewer.remember_colour_table(explanation)
        if explanation.key == self._shown_key:
            self.viewer.show_explanation(explanation)

    def _on_explain_failed(self, message: str) -> None:
        self.viewer.show_no_explanation(message)
        self.status.emit(f"No explanation: {message}")

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
        class_name = self.viewer.label_choice.currentText()
        if class_name not in project.classes:
            self._show_message(
                f"The project has no class {class_name!r}; its classes are: {', '.join(project.classes)}"
            )
            return
        before = self._project_labels([self._shown_key]).get(self._shown_key)
        try:
            self.session.add_and_label([prediction.item], class_name, remember_batch=False)
        except ProjectError as error:
            self._show_message(f"Not saved: {error}")
            return
        self._show_message("")
        if before is None:
            self.status.emit(f"Added {prediction.name} to {project.path.name} as {class_name}")
        elif before.class_name in (None, class_name):
            self.status.emit(f"Labelled {prediction.name} as {class_name} in {project.path.name}")
        else:
            self.status.emit(
                f"Relabelled {prediction.name} in {project.path.name}: {before.class_name} → {class_name} "
                "(Edit → Undo Label takes it back)"
            )

    def shutdown(self) -> None:
        self.jobs.shutdown()
        self.explainer.shutdown()
