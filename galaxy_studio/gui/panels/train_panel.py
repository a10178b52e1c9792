"""Train: pick data and an architecture, watch the curves, keep the checkpoint, or
cross-validate the recipe.

The panel only builds a TrainConfig and runs `train_classifier` (or `cross_validate`) in a
worker thread; the training code never knows it is being watched. torch is imported by that
job, not here.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
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
from galaxy_studio.gui.panels.cross_validation_report import describe_cross_validation
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.gui.widgets.confusion_view import ConfusionView
from galaxy_studio.gui.widgets.curve_plot import CurvePlot
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.job_progress import JobProgress
from galaxy_studio.gui.widgets.reliability_plot import ReliabilityPlot
from galaxy_studio.gui.widgets.settings_column import settings_column
from galaxy_studio.gui.widgets.settings_form import SettingsForm, tooltip
from galaxy_studio.gui.widgets.weights_file import WeightsFilePicker
from galaxy_studio.gui.worker import Job, JobRunner, R
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.model.calibration import describe_calibration
from galaxy_studio.model.config import ARCHITECTURE_SUMMARIES, TrainConfig
from galaxy_studio.model.cross_validation_results import read_cross_validation
from galaxy_studio.model.runs import (
    CROSS_VALIDATION,
    RunSummary,
    is_cross_validation,
    list_cross_validations,
    list_runs,
    new_run_dir,
    rank_runs,
)
from galaxy_studio.model.training_time import TrainingTimeEstimate, seconds_left
from galaxy_studio.model.uncertainty import AccuracyEstimate, sample_warnings
from galaxy_studio.path_text import readable
from galaxy_studio.settings import control_label, settings_of

if TYPE_CHECKING:
    from galaxy_studio.model.cross_validation_results import CrossValidationResult
    from galaxy_studio.model.training import TrainResult

TRAIN_COLOUR, VAL_COLOUR = "#5aa9ff", "#ffb454"
SETTINGS_SIDE_WIDTH = 360
# The line under the buttons before any job, without and with data chosen.
IDLE_HINTS = {
    False: "Choose data and press Start.",
    True: "Press Start training, or Estimate time first.",
}
# The TrainConfig settings the form shows, in its order; the rest keep their defaults.
MAIN_SETTINGS = ("arch", "size", "epochs", "augment", "device")
ADVANCED_SETTINGS = (
    "batch_size",
    "lr",
    "weight_decay",
    "patience",
    "keep",
    "crop_fraction",
    "rotations",
    "balance",
    "ema",
    "seed",
)
# After the weights file's row, which the form does not generate (a file picker with a check).
FINE_TUNING_SETTINGS = ("backbone_lr_scale",)
REFERENCE_COLOURS = ("#b48cff", "#7ee08a", "#ff7a8a", "#e0d46a", "#6ad8e0")
NOTE_STYLE = "color: #a8adb8;"  # a line that explains the control above it
# Folds offered for cross-validation: 5 unless asked (each fold tests a fifth of the images).
CV_FOLDS_DEFAULT, CV_FOLDS_RANGE = 5, (2, 20)
# The `what` of cross_validate's Progressed events (model/cross_validation.FOLDS): the panel
# does not import that module, which imports torch.
FOLDS_PROGRESS = "folds"
RESULTS_TITLE = "Results (test split)"
CV_RESULTS_TITLE = "Results (cross-validation: every labelled image tested once)"


def describe_metrics(metrics: dict) -> str:
    """The test-split metrics as a small HTML table: each accuracy with its number of images and
    95% interval, and above it, in the warning colour, why the numbers may say little."""

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}%"

    auc = "–" if metrics.get("macro_auc") is None else f"{metrics['macro_auc']:.3f}"
    warnings = metrics.get("warnings", sample_warnings(metrics))
    rows = [f'<tr><td colspan=2 style="{WARNING_STYLE}">⚠ {html.escape(text)}</td></tr>' for text in warnings]
    rows += [
        f"<tr><td>Accuracy</td><td><b>{AccuracyEstimate.of(metrics).text()}</b></td></tr>",
        f"<tr><td>Balanced accuracy</td><td>{pct(metrics.get('balanced_accuracy'))}</td></tr>",
        f"<tr><td>Macro ROC AUC</td><td>{auc}</td></tr>",
        f"<tr><td>Calibration error</td><td>{html.escape(describe_calibration(metrics, brief=True) or '–')}</td></tr>",
        f"<tr><td>Test images</td><td>{metrics.get('n', 'unknown')}</td></tr>",
    ]
    per_class = metrics.get("per_class") or {}
    if per_class:
        rows.append("<tr><td colspan=2><br><b>Class</b> — precision / recall (n, recall's 95% CI)</td></tr>")
        for name, values in per_class.items():
            interval = values.get("recall_ci95")
            spread = "" if interval is None else f", {100 * interval[0]:.0f}–{100 * interval[1]:.0f}%"
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{pct(values.get('precision'))} / {pct(values.get('recall'))}"
                f" ({values.get('support', 0)}{spread})</td></tr>"
            )
    notes = metrics.get("preprocessing_notes") or []
    if notes:
        rows.append("<tr><td colspan=2><br><b>Chosen from the data</b></td></tr>")
        rows += [f"<tr><td colspan=2>{html.escape(note)}</td></tr>" for note in notes]
    return "<table cellspacing=3>" + "".join(rows) + "</table>"


def describe_run(run: RunSummary) -> str:
    """Two lines: the run's name, then its test accuracy with n and interval in whole percent,
    which is what fits the narrow list (the image size is in the item's tooltip). A
    cross-validation says so on a line between, and gives its accuracy over every image or
    how many folds are done."""
    accuracy = AccuracyEstimate.of(run.metrics)
    if is_cross_validation(run):
        folds = (run.metrics or {})[CROSS_VALIDATION]
        shown = accuracy.text(digits=0) if accuracy.value is not None else f"{folds['finished']} of {folds['k']} done"
        return f"{run.name}\n{folds['k']}-fold cross-validation\n{shown}"
    return f"{run.name}\n{accuracy.text(digits=0) if accuracy.value is not None else run.status}"


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
        self._confusion_metrics: dict = {}
        self._epoch_seconds: list[float] = []  # the running job's measured epochs, for its ETA
        self._epochs_kept = 0  # epochs the run folder holds (a resumed run's earlier ones too)
        # The running cross-validation: (fold, folds, seconds of the finished folds), else None,
        # and when its current fold began (time.monotonic).
        self._cv_progress: tuple[int, int, list[float]] | None = None
        self._fold_began = 0.0
        self._build()
        self.refresh_runs()

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
        form = self._build_main_form()
        self._build_advanced_form()
        buttons = self._build_job_buttons()
        body = QWidget()
        body.setFixedWidth(SETTINGS_SIDE_WIDTH)
        left_layout = QVBoxLayout(body)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.addLayout(form)
        left_layout.addWidget(self.advanced)
        left_layout.addWidget(self.advanced_body)
        left_layout.addLayout(buttons)
        left_layout.addLayout(self._build_cross_validation_row())
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.progress_label)
        left_layout.addStretch(1)
        return settings_column(body, SETTINGS_SIDE_WIDTH)

    def _build_main_form(self) -> QFormLayout:
        self.data_edit = QLineEdit()
        self.data_buttons = DataSourceButtons(self.data_edit, self.library_data)
        self.data_buttons.status.connect(self.status)
        self.settings = SettingsForm(TrainConfig, MAIN_SETTINGS + ADVANCED_SETTINGS + FINE_TUNING_SETTINGS)
        controls = self.settings.controls
        self.arch = controls["arch"]
        self.size = controls["size"]
        self.epochs = controls["epochs"]
        self.augment = controls["augment"]
        self.device = controls["device"]
        form = QFormLayout()
        form.addRow("Data", self.data_edit)
        form.addRow("", self.data_buttons)
        self.settings.add_rows(form, MAIN_SETTINGS[:1])
        self.arch_summary = QLabel()
        self.arch_summary.setWordWrap(True)
        self.arch_summary.setStyleSheet(NOTE_STYLE)
        form.addRow("", self.arch_summary)
        self.settings.add_rows(form, MAIN_SETTINGS[1:])
        for index in range(self.arch.count()):
            summary = ARCHITECTURE_SUMMARIES.get(self.arch.itemText(index))
            if summary:
                self.arch.setItemData(index, summary, Qt.ItemDataRole.ToolTipRole)
        self.arch.currentTextChanged.connect(self._show_arch_summary)
        self._show_arch_summary(self.arch.currentText())
        return form

    def _show_arch_summary(self, arch: str) -> None:
        """What the chosen network is, under the choice (no line for one without a summary)."""
        summary = ARCHITECTURE_SUMMARIES.get(arch, "")
        self.arch_summary.setText(summary)
        self.arch_summary.setVisible(bool(summary))

    def _build_advanced_form(self) -> None:
        controls = self.settings.controls
        self.batch = controls["batch_size"]
        self.lr = controls["lr"]
        self.weight_decay = controls["weight_decay"]
        self.patience = controls["patience"]
        self.crop = controls["crop_fraction"]
        self.balance = controls["balance"]
        self.ema = controls["ema"]
        self.seed = controls["seed"]
        self.backbone_lr_scale = controls["backbone_lr_scale"]
        self.weights = WeightsFilePicker(self._check_weights)
        self.weights.setToolTip(tooltip(settings_of(TrainConfig)["pretrained"]))
        self.weights.changed.connect(self._weights_changed)
        self.arch.currentTextChanged.connect(lambda _name: self.weights.recheck())
        self.size.editingFinished.connect(self.weights.recheck)
        self._weights_changed()
        self.advanced = QCheckBox("Show advanced settings")
        advanced_form = QFormLayout()
        self.settings.add_rows(advanced_form, ADVANCED_SETTINGS)
        advanced_form.addRow(settings_of(TrainConfig)["pretrained"].label, self.weights)
        advanced_form.addRow(self.weights.report)
        self.settings.add_rows(advanced_form, FINE_TUNING_SETTINGS)
        self.advanced_body = QGroupBox("Advanced")
        self.advanced_body.setToolTip(
            "Defaults: the seed paper's optimiser, weights averaged; crop and rotations chosen from the data; "
            "random initial weights"
        )
        self.advanced_body.setLayout(advanced_form)
        self.advanced_body.setVisible(False)
        self.advanced.toggled.connect(self.advanced_body.setVisible)

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
        self.data_edit.textChanged.connect(self._show_idle_hint)
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
        plots_widget = self._build_plots()
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self._build_results_box())
        bottom.addWidget(self._build_runs_box())
        bottom.setSizes([780, 260])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(plots_widget)
        right.addWidget(bottom)
        right.setSizes([420, 340])
        return right

    def _build_plots(self) -> QWidget:
        self.loss_plot = CurvePlot("Loss", "cross-entropy")
        self.acc_plot = CurvePlot("Accuracy", "fraction correct")
        for plot in (self.loss_plot, self.acc_plot):
            plot.add_series("train", TRAIN_COLOUR)
            plot.add_series("validation", VAL_COLOUR)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.acc_plot)
        plots_widget = QWidget()
        plots_widget.setLayout(plots)
        return plots_widget

    def _build_results_box(self) -> QGroupBox:
        self.metrics_label = QLabel("Metrics on the held-out test split appear here when a run ends.")
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = ConfusionView()
        self.reliability = ReliabilityPlot()
        self.results_box = results_box = QGroupBox(RESULTS_TITLE)
        results_layout = QHBoxLayout(results_box)
        metrics_scroll = QScrollArea()
        metrics_scroll.setWidgetResizable(True)
        metrics_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        metrics_scroll.setWidget(self.metrics_label)
        results_layout.addWidget(metrics_scroll, 3)
        results_layout.addWidget(self.confusion, 3)
        results_layout.addWidget(self.reliability, 3)
        return results_box

    def _build_runs_box(self) -> QGroupBox:
        self.runs = QListWidget()
        self.runs.setToolTip(
            "Best first by the lower bound of the test accuracy's 95% interval, then unfinished runs; "
            "tick runs to overlay their validation curves; select one to see its results"
        )
        self.runs.itemChanged.connect(self._overlay_runs)
        self.runs.currentItemChanged.connect(self._show_selected_run)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected unfinished run from its last epoch")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.resume_selected)
        self.reuse_button = QPushButton("Use its settings")
        self.reuse_button.setToolTip(
            "Fill the form with the selected run's data and settings: change what you want to try, then Start "
            "trains a new run (the selected one stays as it is)"
        )
        self.reuse_button.setEnabled(False)
        self.reuse_button.clicked.connect(self.reuse_selected)
        run_buttons = QHBoxLayout()
        run_buttons.addWidget(self.resume_button)
        run_buttons.addWidget(self.reuse_button)
        runs_box = QGroupBox("Past runs (best first)")
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.addWidget(self.runs)
        runs_layout.addLayout(run_buttons)
        return runs_box

    def _check_weights(self, path: str) -> str:
        """What the weights file gives the chosen network (a ModelError when it does not fit).
        torch is imported here, when a file is chosen, not when the panel is built."""
        from galaxy_studio.model.pretrained import check_weights_file

        arch = self.arch.currentText()
        start = check_weights_file(arch, path, size=self.size.value())
        changes = [f"new last layer ({start.new[0].split(':')[0]})", *start.adapted]
        return (
            f"Fits {arch}: {start.loaded} tensors of {start.network}; {'; '.join(changes)}. "
            "The first convolution adapts to the data's bands."
        )

    def _weights_changed(self) -> None:
        self.backbone_lr_scale.setEnabled(self.weights.path() is not None)

    def config(self, out_dir: Path | None = None) -> TrainConfig:
        values = self.settings.values()
        return TrainConfig(
            data=self.data_edit.text().strip(),
            out_dir=str(out_dir or new_run_dir(values["arch"])),
            pretrained=self.weights.path(),
            **values,
        )

    def _config_or_message(self) -> TrainConfig | None:
        """The form's config, or None after saying why the form cannot train (a weights file
        for a network that takes none)."""
        try:
            return self.config()
        except UserError as error:
            QMessageBox.warning(self, "Cannot train", readable(error.text(control_label)))
            return None

    # Jobs ------------------------------------------------------------------------------

    def _ready(self) -> bool:
        if self.runner.running:
            return False
        if not self.data_edit.text().strip():
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
        config = self._config_or_message()
        if config is None:
            return

        def job(emit: EventSink, cancel: CancelToken) -> TrainingTimeEstimate:
            from galaxy_studio.model.training import estimate_training_time

            return estimate_training_time(config, emit=emit, cancel=cancel)

        self._start_job(job, "Timing reading, training steps and validation…", self._on_estimated)

    def start(self, config: TrainConfig | None = None) -> None:
        if config is None and not self._ready():
            return
        config = config or self._config_or_message()
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
        config = config or self._config_or_message()
        if config is None:
            return
        if folds is None:
            folds = self.cv_folds.value()
            config = self.config(out_dir=new_run_dir(f"{config.arch}-cv"))
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
        self.loss_plot.clear_series()
        self.acc_plot.clear_series()
        self.metrics_label.setText(message)
        self._show_scope(title)
        self.show_confusion({})

    def _show_scope(self, title: str) -> None:
        """Title the results box and its diagram after the images they measure."""
        self.results_box.setTitle(title)
        self.reliability.set_scope("test split" if title == RESULTS_TITLE else "all folds")

    def _selected_run(self) -> RunSummary | None:
        item = self.runs.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def resume_selected(self) -> None:
        run = self._selected_run()
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
        for record in run.history:
            epoch = record.get("epoch", 0)
            for plot, train, val in (
                (self.loss_plot, "train_loss", "val_loss"),
                (self.acc_plot, "train_acc", "val_acc"),
            ):
                plot.append("train", epoch, record.get(train, math.nan))
                plot.append("validation", epoch, record.get(val, math.nan))

    def reuse_selected(self) -> None:
        """The selected run's data and settings in the form, advanced ones shown where they
        differ from the defaults, so that one change to a recipe is one edit."""
        run = self._selected_run()
        if run is None or self.runner.running:
            return
        try:
            config = TrainConfig.from_dict(run.config)
        except (UserError, TypeError, ValueError) as error:
            self.status.emit(f"{run.name}: its settings cannot be read ({error})")
            return
        self.data_edit.setText(config.data)
        self.settings.show_config(config)
        if is_cross_validation(run):
            self.cv_folds.setValue(int((run.metrics or {})[CROSS_VALIDATION]["k"]))
        self.weights.set_path(config.pretrained)
        advanced = ADVANCED_SETTINGS + FINE_TUNING_SETTINGS
        if config.pretrained is not None or any(
            getattr(config, name) != self.settings.settings[name].default for name in advanced
        ):
            self.advanced.setChecked(True)
        self.status.emit(f"The settings of {run.name} are in the form: Start trains a new run with them")

    def _start_job(
        self, job: Job[R], message: str, on_success: Callable[[R], None], *, bar_format: str = "%v / %m"
    ) -> None:
        self.progress.setFormat(bar_format)
        self.progress_label.setText(message)
        self.status.emit(message)
        for button in (self.start_button, self.estimate_button, self.cv_button, self.resume_button, self.reuse_button):
            button.setEnabled(False)
        self.runner.start(
            job, on_success=on_success, on_failure=self._on_failed, on_cancel=self._on_cancelled, uses_torch=True
        )

    def _on_event(self, event: object) -> None:
        if isinstance(event, EpochEnded):
            for plot, train, val in (
                (self.loss_plot, event.train_loss, event.val_loss),
                (self.acc_plot, event.train_acc, event.val_acc),
            ):
                plot.append("train", event.epoch, train)
                plot.append("validation", event.epoch, val)
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
            self.loss_plot.clear_series()
            self.acc_plot.clear_series()

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
        self._show_scope(RESULTS_TITLE)
        self.metrics_label.setText(describe_metrics(metrics))
        self.show_confusion(metrics)
        self.progress_label.setText(
            f"Done: {counted(result.epochs_run, 'epoch')} in {format_duration(result.seconds)}"
            + (" (stopped early)" if result.stopped_early else "")
            + f" · best epoch {result.best_epoch}\n"
            f"Checkpoint: {result.checkpoint}"
        )
        self.status.emit(f"Training finished: test accuracy {AccuracyEstimate.of(metrics).text()}")

    def _on_cross_validated(self, result: CrossValidationResult) -> None:
        self._show_cross_validation(result)
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
        """Past runs and cross-validations, best first; a run's box ticks its curves onto the
        plots (a cross-validation has no curves of its own)."""
        self.runs.blockSignals(True)
        self.runs.clear()
        newest_first = sorted(list_runs() + list_cross_validations(), key=lambda run: run.modified, reverse=True)
        for run in rank_runs(newest_first):
            item = QListWidgetItem(describe_run(run))
            item.setData(Qt.ItemDataRole.UserRole, run)
            accuracy = AccuracyEstimate.of(run.metrics).text()
            if is_cross_validation(run):
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
                measured = f"accuracy over every labelled image {accuracy}"
            else:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked)
                measured = f"test accuracy {accuracy}"
            item.setToolTip(f"{readable(run.path)}\n{run.config.get('size', '?')} px · {measured}")
            self.runs.addItem(item)
        self.runs.blockSignals(False)
        self._overlay_runs()

    def _overlay_runs(self) -> None:
        loss_refs, acc_refs = [], []
        checked = [
            self.runs.item(i)
            for i in range(self.runs.count())
            if self.runs.item(i).checkState() == Qt.CheckState.Checked
        ]
        for number, item in enumerate(checked):
            run: RunSummary = item.data(Qt.ItemDataRole.UserRole)
            colour = REFERENCE_COLOURS[number % len(REFERENCE_COLOURS)]
            epochs = [record.get("epoch", i + 1) for i, record in enumerate(run.history)]
            loss_refs.append((f"{run.name} val", epochs, [r.get("val_loss", math.nan) for r in run.history], colour))
            acc_refs.append((f"{run.name} val", epochs, [r.get("val_acc", math.nan) for r in run.history], colour))
        self.loss_plot.set_references(loss_refs)
        self.acc_plot.set_references(acc_refs)

    def _show_selected_run(self, item: QListWidgetItem | None) -> None:
        run: RunSummary | None = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.resume_button.setEnabled(run is not None and run.status == "unfinished" and not self.runner.running)
        self.reuse_button.setEnabled(run is not None and not self.runner.running)
        if run is None or self.runner.running:
            return
        if is_cross_validation(run):
            self._show_past_cross_validation(run)
            return
        self._show_scope(RESULTS_TITLE)
        if run.metrics:
            self.metrics_label.setText(describe_metrics(run.metrics))
            self.show_confusion(run.metrics)
        else:
            self.metrics_label.setText(f"{run.name}: {run.status} — no test metrics yet.")
            self.show_confusion({})

    def _show_past_cross_validation(self, run: RunSummary) -> None:
        result = read_cross_validation(run.path)
        if result is None:
            self._clear_results(f"{run.name}: its cv.json can no longer be read.", CV_RESULTS_TITLE)
        elif result.finished:
            self._show_cross_validation(result)
        else:
            self._clear_results(
                f"{run.name}: {len(result.folds)} of {counted(result.k, 'fold')} finished; Resume continues it.",
                CV_RESULTS_TITLE,
            )

    def _show_cross_validation(self, result: CrossValidationResult) -> None:
        self._show_scope(CV_RESULTS_TITLE)
        self.metrics_label.setText(describe_cross_validation(result))
        self.show_confusion(result.pooled_metrics())

    def show_confusion(self, metrics: dict) -> None:
        """The matrix and reliability diagram of these test metrics (none: empty), the matrix
        in the session's class colours."""
        self._confusion_metrics = metrics
        self.reliability.show_metrics(metrics)
        if metrics.get("confusion"):
            classes = list(metrics["classes"])
            self.confusion.show_matrix(metrics["confusion"], classes, self.session.class_styles(classes))
        else:
            self.confusion.setRowCount(0)

    def recolour(self) -> None:
        """Another project, or its classes changed: the matrix takes their colours and keys."""
        self.show_confusion(self._confusion_metrics)

    def shutdown(self) -> None:
        self.runner.shutdown()
