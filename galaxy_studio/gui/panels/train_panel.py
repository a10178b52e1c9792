"""Train: pick data and an architecture, watch the curves, keep the checkpoint, or
cross-validate the recipe.

The panel only builds a TrainConfig and runs `train_classifier` (or `cross_validate`) in a
worker thread; the training code never knows it is being watched. torch is imported by that
job, not here. It is the controller over its form (train_form.py), curves (train_curves.py),
results (train_results.py) and past runs (train_runs.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.errors import UserError
from galaxy_studio.eta import format_duration
from galaxy_studio.events import CancelToken, EpochEnded, EventSink, Noted, Progressed, Warned
from galaxy_studio.gui.panels.train_curves import TrainCurves
from galaxy_studio.gui.panels.train_form import TrainForm
from galaxy_studio.gui.panels.train_results import CV_RESULTS_TITLE, RESULTS_TITLE, TrainResultsBox
from galaxy_studio.gui.panels.train_runs import PastRunsBox
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.job_progress import JobProgress
from galaxy_studio.gui.widgets.settings_column import settings_column
from galaxy_studio.gui.worker import Job, JobRunner, R
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.cross_validation_results import read_cross_validation
from galaxy_studio.model.runs import CROSS_VALIDATION, RunSummary, is_cross_validation, new_run_dir
from galaxy_studio.model.training_time import TrainingTimeEstimate, seconds_left
from galaxy_studio.model.uncertainty import AccuracyEstimate
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.model.cross_validation_results import CrossValidationResult
    from galaxy_studio.model.training import TrainResult

SETTINGS_SIDE_WIDTH = 360
# The line under the buttons before any job, without and with data chosen.
IDLE_HINTS = {
    False: "Choose data and press Start.",
    True: "Press Start training, or Estimate time first.",
}
# Folds offered for cross-validation: 5 unless asked (each fold tests a fifth of the images).
CV_FOLDS_DEFAULT, CV_FOLDS_RANGE = 5, (2, 20)
# The `what` of cross_validate's Progressed events (model/cross_validation.FOLDS): the panel
# does not import that module, which imports torch.
FOLDS_PROGRESS = "folds"


def _folds_progress_only(emit: EventSink) -> EventSink:
    """A cross-validation's bar counts folds: each fold's batches would restart it every epoch
    (the label below it says the fold's epoch)."""

    def forward(event: object) -> None:
        if not isinstance(event, Progressed) or event.what == FOLDS_PROGRESS:
            emit(event)

    return forward


class TrainPanel(QWidget):
    status = Signal(str)

    def __init__(self, session: LabellingSession, library_data: LibraryData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.library_data = library_data
        self.runner = JobRunner(self)
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.result: TrainResult | None = None
        self._epoch_seconds: list[float] = []  # the running job's measured epochs, for its ETA
        self._epochs_kept = 0  # epochs the run folder holds (a resumed run's earlier ones too)
        # The running cross-validation: (fold, folds, seconds of the finished folds), else None,
        # and when its current fold began (time.monotonic).
        self._cv_progress: tuple[int, int, list[float]] | None = None
        self._fold_began = 0.0
        self._build()
        self.refresh_runs()

    @property
    def data_buttons(self) -> DataSourceButtons:
        return self.form.data_buttons

    # Layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        left = self._build_settings_side()
        right = self._build_results_side()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(left)
        layout.addWidget(right, 1)

    def _build_settings_side(self) -> QScrollArea:
        """Data and the main settings, the advanced ones behind a checkbox, the job buttons,
        scrolling: with the advanced settings open they are taller than a laptop's window, and
        squeezed they cut the weights file's report short."""
        self.form = TrainForm(self.library_data)
        self.form.status.connect(self.status)
        buttons = self._build_job_buttons()
        body = QWidget()
        body.setFixedWidth(SETTINGS_SIDE_WIDTH)
        left_layout = QVBoxLayout(body)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.addWidget(self.form)
        left_layout.addLayout(buttons)
        left_layout.addLayout(self._build_cross_validation_row())
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.progress_label)
        left_layout.addStretch(1)
        return settings_column(body, SETTINGS_SIDE_WIDTH)

    def _build_job_buttons(self) -> QHBoxLayout:
        self.estimate_button = QPushButton("Estimate time")
        self.estimate_button.setToolTip(
            "Time reading a sample of the images, a few training steps and validation on the chosen device"
        )
        self.estimate_button.clicked.connect(self.estimate)
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.job_progress = JobProgress(self.runner, self)
        self.cancel_button = self.job_progress.cancel_button
        buttons = QHBoxLayout()
        buttons.addWidget(self.estimate_button)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        self.progress = self.job_progress.bar
        self.progress_label = QLabel(IDLE_HINTS[False])
        self.progress_label.setWordWrap(True)
        self.form.data_edit.textChanged.connect(self._show_idle_hint)
        return buttons

    def _show_idle_hint(self, data: str) -> None:
        """Before any job, the line under the buttons says what to do next."""
        if self.progress_label.text() in IDLE_HINTS.values():
            self.progress_label.setText(IDLE_HINTS[bool(data.strip())])

    def _build_cross_validation_row(self) -> QHBoxLayout:
        self.cv_button = QPushButton("Cross-validate")
        self.cv_button.setToolTip(
            "Train one run per fold, each tested on a different share of the labelled images: every image is "
            "tested once, by a model that never saw it, so the accuracy rests on all of them rather than on one "
            "small test split. Takes about as many times as long as one run as there are folds; compare "
            "settings this way."
        )
        self.cv_button.clicked.connect(self.cross_validate)
        self.cv_folds = QSpinBox()
        self.cv_folds.setRange(*CV_FOLDS_RANGE)
        self.cv_folds.setValue(CV_FOLDS_DEFAULT)
        self.cv_folds.setSuffix(" folds")
        self.cv_folds.setToolTip("How many parts the labelled images are split into; each is tested once")
        row = QHBoxLayout()
        row.addWidget(self.cv_button)
        row.addWidget(self.cv_folds)
        row.addStretch(1)
        return row

    def _build_results_side(self) -> QSplitter:
        """The curves above, the test metrics and past runs below."""
        self.curves = TrainCurves()
        self.results = TrainResultsBox(self.session)
        self.past_runs = PastRunsBox()
        self.past_runs.runs.itemChanged.connect(self._overlay_runs)
        self.past_runs.runs.currentItemChanged.connect(self._show_selected_run)
        self.past_runs.resume_button.clicked.connect(self.resume_selected)
        self.past_runs.reuse_button.clicked.connect(self.reuse_selected)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.results)
        bottom.addWidget(self.past_runs)
        bottom.setSizes([780, 260])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.curves)
        right.addWidget(bottom)
        right.setSizes([420, 340])
        return right

    # Jobs ------------------------------------------------------------------------------

    def _ready(self) -> bool:
        if self.runner.running:
            return False
        if not self.form.data_edit.text().strip():
            QMessageBox.information(
                self,
                "No data",
                "Choose labelled data first: a folder with one "
                "sub-folder per class, a CSV, a Galaxy10 HDF5 file or a project.",
            )
            return False
        return True

    def estimate(self) -> None:
        if not self._ready():
            return
        config = self.form.config_or_message()
        if config is None:
            return

        def job(emit: EventSink, cancel: CancelToken) -> TrainingTimeEstimate:
            from galaxy_studio.model.training import estimate_training_time

            return estimate_training_time(config, emit=emit, cancel=cancel)

        self._start_job(job, "Timing reading, training steps and validation…", self._on_estimated)

    def start(self, config: TrainConfig | None = None) -> None:
        if config is None and not self._ready():
            return
        config = config or self.form.config_or_message()
        if config is None:
            return
        self._clear_results("Training…", RESULTS_TITLE)

        def job(emit: EventSink, cancel: CancelToken) -> TrainResult:
            from galaxy_studio.model.training import train_classifier

            return train_classifier(config, emit=emit, cancel=cancel)

        self._run_dir = config.out_dir
        self._epoch_seconds = []
        self._epochs_kept = 0
        self.progress_label.setToolTip("")
        self._start_job(job, f"Preparing {Path(config.data).name} on {config.device}…", self._on_trained)

    def cross_validate(self, config: TrainConfig | None = None, folds: int | None = None) -> None:
        """K-fold cross-validation of the form's settings into a new run folder, or of `config`
        (an unfinished one's, resumed: its finished folds are kept) into its own."""
        if config is None and not self._ready():
            return
        config = config or self.form.config_or_message()
        if config is None:
            return
        if folds is None:
            folds = self.cv_folds.value()
            config = self.form.config(out_dir=new_run_dir(f"{config.arch}-cv"))
        self._clear_results(f"Cross-validating ({counted(folds, 'fold')})…", CV_RESULTS_TITLE)

        def job(emit: EventSink, cancel: CancelToken) -> CrossValidationResult:
            from galaxy_studio.model.cross_validation import cross_validate

            return cross_validate(config, folds, emit=_folds_progress_only(emit), cancel=cancel)

        self._epoch_seconds = []
        self._epochs_kept = 0
        self._cv_progress = (1, folds, [])
        self.progress_label.setToolTip("")
        self._start_job(
            job,
            f"Cross-validating {Path(config.data).name} in {counted(folds, 'fold')}…",
            self._on_cross_validated,
            bar_format="%v / %m folds",
        )

    def _clear_results(self, message: str, title: str) -> None:
        self.curves.clear()
        self.results.clear(message, title)

    def resume_selected(self) -> None:
        run = self.past_runs.selected_run()
        if run is None or run.status != "unfinished" or self.runner.running:
            return
        try:
            config = TrainConfig.from_dict({**run.config, "out_dir": str(run.path)})
        except (UserError, TypeError, ValueError) as error:
            self.status.emit(f"{run.name}: its settings cannot be read ({error}), so it cannot be resumed")
            return
        if is_cross_validation(run):
            self.cross_validate(config, int((run.metrics or {})[CROSS_VALIDATION]["k"]))
            return
        self.start(config)
        self._epochs_kept = len(run.history)
        self.curves.add_history(run.history)

    def reuse_selected(self) -> None:
        """The selected run's data and settings in the form (and its folds, for a
        cross-validation), so that one change to a recipe is one edit."""
        run = self.past_runs.selected_run()
        if run is None or self.runner.running:
            return
        try:
            config = TrainConfig.from_dict(run.config)
        except (UserError, TypeError, ValueError) as error:
            self.status.emit(f"{run.name}: its settings cannot be read ({error})")
            return
        self.form.show_config(config)
        if is_cross_validation(run):
            self.cv_folds.setValue(int((run.metrics or {})[CROSS_VALIDATION]["k"]))
        self.status.emit(f"The settings of {run.name} are in the form: Start trains a new run with them")

    def _start_job(
        self, job: Job[R], message: str, on_success: Callable[[R], None], *, bar_format: str = "%v / %m"
    ) -> None:
        self.progress.setFormat(bar_format)
        self.progress_label.setText(message)
        self.status.emit(message)
        for button in (self.start_button, self.estimate_button, self.cv_button):
            button.setEnabled(False)
        self.past_runs.offer_actions(None, busy=True)
        self.runner.start(
            job, on_success=on_success, on_failure=self._on_failed, on_cancel=self._on_cancelled, uses_torch=True
        )

    def _on_event(self, event: object) -> None:
        if isinstance(event, EpochEnded):
            self.curves.add_epoch(event.epoch, (event.train_loss, event.val_loss), (event.train_acc, event.val_acc))
            self._epoch_seconds.append(event.seconds)
            self._epochs_kept += 1
            mean = sum(self._epoch_seconds) / len(self._epoch_seconds)
            left = seconds_left(self._epoch_seconds, event.epochs - event.epoch)
            fold = ""
            if self._cv_progress is not None:
                number, folds, finished = self._cv_progress
                fold = f"Fold {number}/{folds} · "
                if finished:
                    left += sum(finished) / len(finished) * (folds - number)
            time_left = f"about {format_duration(left)} left"
            self.job_progress.give_time_left(time_left)
            self.status.emit(
                f"{'Cross-validating' if fold else 'Training'}: {fold.lower()}epoch {event.epoch}/{event.epochs}, "
                + time_left
            )
            self.progress_label.setText(
                f"{fold}Epoch {event.epoch}/{event.epochs} · {mean:.1f} s per epoch · "
                f"{time_left} unless it stops early · validation accuracy "
                + ("–" if not math.isfinite(event.val_acc) else f"{100 * event.val_acc:.1f}%")
            )
        elif isinstance(event, Progressed) and event.what == FOLDS_PROGRESS and self._cv_progress is not None:
            self._next_fold(event.done)
        elif isinstance(event, Warned | Noted):
            self.status.emit(event.text)

    def _next_fold(self, done: int) -> None:
        """`done` folds are finished: the next one's curves start afresh. A fold's time is what
        it took from start to end (decoding, calibration and test too), not its epochs' alone;
        a fold finished earlier and reused took none and is not counted."""
        _, folds, finished = self._cv_progress or (0, 0, [])
        now = time.monotonic()
        if done > 0 and self._epoch_seconds:
            finished.append(now - self._fold_began)
        self._fold_began = now
        self._cv_progress = (min(done + 1, folds), folds, finished)
        self._epoch_seconds = []
        if 0 < done < folds:
            self.curves.clear()

    def _on_estimated(self, estimate: TrainingTimeEstimate) -> None:
        folds = self.cv_folds.value()
        self.progress_label.setText(
            f"{estimate.text()}\nCross-validating in {counted(folds, 'fold')} trains {folds} such runs: "
            f"about {format_duration(folds * estimate.total_seconds)}."
        )
        self.progress_label.setToolTip(f"Measured: {estimate.measured}.")

    def _on_trained(self, result: TrainResult) -> None:
        self.result = result
        metrics = result.metrics
        self.results.show_test_metrics(metrics)
        self.progress_label.setText(
            f"Done: {counted(result.epochs_run, 'epoch')} in {format_duration(result.seconds)}"
            + (" (stopped early)" if result.stopped_early else "")
            + f" · best epoch {result.best_epoch}\n"
            f"Checkpoint: {result.checkpoint}"
        )
        self.status.emit(f"Training finished: test accuracy {AccuracyEstimate.of(metrics).text()}")

    def _on_cross_validated(self, result: CrossValidationResult) -> None:
        self.results.show_cross_validation(result)
        accuracy = AccuracyEstimate.of(result.pooled_metrics()).text()
        self.progress_label.setText(
            f"Done: {counted(result.k, 'fold')} in {format_duration(result.seconds)} · accuracy {accuracy}\n"
            f"Folds: {readable(result.run_dir)}"
        )
        self.status.emit(f"Cross-validation finished: accuracy {accuracy} over every labelled image")

    def _on_failed(self, message: str) -> None:
        self.progress_label.setText(f"Failed: {message}")
        title = "Cross-validation failed" if self._cv_progress is not None else "Training failed"
        self.status.emit(title)
        QMessageBox.warning(self, title, message)

    def _on_cancelled(self) -> None:
        """Say what the run folder really kept: an epoch to resume from, or nothing yet."""
        if self._cv_progress is not None:
            self._on_cross_validation_cancelled(*self._cv_progress[:2])
            return
        if self._epochs_kept:
            text = (
                f"Cancelled. The last finished epoch ({self._epochs_kept}) is kept: select the run under "
                "Past runs and press Resume to continue."
            )
        else:
            text = "Cancelled before the first epoch finished: there is nothing to resume; Start training begins again."
        self.progress_label.setText(text)
        self.status.emit(text.split(":")[0] if self._epochs_kept else "Training cancelled before its first epoch")

    def _on_cross_validation_cancelled(self, fold: int, folds: int) -> None:
        """The finished folds are kept; the same settings continue with the fold that was cut short."""
        kept = fold - 1
        resume = "select the cross-validation under Past runs and press Resume to continue"
        if kept:
            text = f"Cancelled. {kept} of {counted(folds, 'fold')} finished and are kept: {resume} with fold {fold}."
        else:
            text = f"Cancelled during fold 1 of {folds}: {resume} it."
        self.progress_label.setText(text)
        self.status.emit(text.split(":")[0])

    def _on_finished(self) -> None:
        self._cv_progress = None
        self.start_button.setEnabled(True)
        self.estimate_button.setEnabled(True)
        self.cv_button.setEnabled(True)
        self.refresh_runs()

    # Past runs -------------------------------------------------------------------------

    def refresh_runs(self) -> None:
        self.past_runs.refresh()
        self._overlay_runs()

    def _overlay_runs(self) -> None:
        self.curves.show_references(self.past_runs.ticked_runs())

    def _show_selected_run(self, item: QListWidgetItem | None) -> None:
        run: RunSummary | None = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.past_runs.offer_actions(run, busy=self.runner.running)
        if run is None or self.runner.running:
            return
        if is_cross_validation(run):
            self._show_past_cross_validation(run)
        elif run.metrics:
            self.results.show_test_metrics(run.metrics)
        else:
            self.results.clear(f"{run.name}: {run.status} — no test metrics yet.", RESULTS_TITLE)

    def _show_past_cross_validation(self, run: RunSummary) -> None:
        result = read_cross_validation(run.path)
        if result is None:
            self._clear_results(f"{run.name}: its cv.json can no longer be read.", CV_RESULTS_TITLE)
        elif result.finished:
            self.results.show_cross_validation(result)
        else:
            self._clear_results(
                f"{run.name}: {len(result.folds)} of {counted(result.k, 'fold')} finished; Resume continues it.",
                CV_RESULTS_TITLE,
            )

    def recolour(self) -> None:
        """Another project, or its classes changed: the matrix takes their colours and keys."""
        self.results.recolour()

    def shutdown(self) -> None:
        self.runner.shutdown()
