"""Distill: watch a trajectory-matching distillation turn noise or real cutouts into
prototypes, live, and keep what it made.

The panel is a controller over the form (distill_form.py), two curve plots, the prototype
grid, a large image view and the past-runs list. Every long action (building a buffer,
timing an iteration, distilling, evaluating, exporting) runs through a JobRunner; the
engine never knows it is watched. Pause parks the job at its next iteration boundary (see
gui/worker.py); cancel stops it there and keeps the run folder's last checkpoint, if one was
saved yet, which Resume (or a later session, from Past runs) continues. What a stop kept is
read from the run folder, never assumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings, render_rgb
from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.distill.readability import describe_readability, is_readable
from galaxy_studio.distill.runs import (
    distill_runs_dir,
    load_snapshot,
    read_distill_run,
    save_evaluation,
    snapshot_steps,
)
from galaxy_studio.eta import Eta, format_duration
from galaxy_studio.events import (
    BufferPlanned,
    CancelToken,
    EventSink,
    IterationFinished,
    MetricLogged,
    Progressed,
    SnapshotTaken,
    StageAdvanced,
    Warned,
)
from galaxy_studio.gui.panels.distill_form import DistillForm, buffer_classes, describe_buffer
from galaxy_studio.gui.panels.distill_runs import DistillRunsBox
from galaxy_studio.gui.widgets.curve_plot import CurvePlot
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.display_controls import DisplayControls
from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.job_progress import JobProgress
from galaxy_studio.gui.widgets.prototype_grid import PrototypeGrid
from galaxy_studio.gui.widgets.settings_column import settings_column
from galaxy_studio.gui.worker import Job, JobHandle, JobRunner, R
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.uncertainty import mean_accuracy_text
from galaxy_studio.run_folders import RunSummary, new_run_folder

if TYPE_CHECKING:
    from galaxy_studio.distill.experts import BufferResult
    from galaxy_studio.distill.runner import DistillResult

MATCHING_COLOUR, VALIDATION_COLOUR, LR_COLOUR, STAGE_COLOUR = "#5aa9ff", "#ffb454", "#7ee08a", "#c8a2ff"
WARNING_STYLE = "color: #ff9a8a;"
SMOOTHING_WINDOW = 25
# The runner's readability measures of each snapshot, in is_readable's order.
LIVE_READABILITY = ("outside_fraction", "std_ratio", "colour_outside_fraction")
# The settings column's width beside its scroll bar when the form itself needs less.
SETTINGS_SIDE_WIDTH = 372
EVALUATION_ROWS = (
    ("distilled", "Distilled"),
    ("random_real", "Random real"),
    ("class_mean", "Class mean"),
    ("full", "Full training set"),
)
# How much a second of measured iteration time is trusted against the newest one.
_PACE_MEMORY = 0.8


@dataclass(frozen=True)
class IterationEstimate:
    """Two timed iterations: the device they ran on and the seconds one took."""

    device: str
    seconds: float


def prototype_cutout(picture: np.ndarray, name: str) -> Cutout:
    """A prototype as a three-band cutout, so the stretch controls apply to it as to any image."""
    return Cutout(picture.astype(np.float32) / 255.0, ["R", "G", "B"], name, "png")


def _timing_key(config: DistillConfig) -> tuple[object, ...]:
    """The settings that decide what one distillation iteration costs."""
    return (config.device, config.buffer, config.method, config.ipc, config.syn_steps, config.memory, config.precision)


class DistillPanel(QWidget):
    status = Signal(str)

    def __init__(self, session: LabellingSession, library_data: LibraryData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.library_data = library_data
        self.runner = JobRunner(self)
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.runner.paused_changed.connect(self._on_paused_changed)
        self.exporter = JobRunner(self)
        self.exporter.finished.connect(self._update_buttons)
        self.config: DistillConfig | None = None
        self.run_dir: Path | None = None
        self.result: DistillResult | None = None
        self.evaluation: dict[str, Any] | None = None
        self.iteration = 0
        self.message = ""
        self._distilling: JobHandle[DistillResult] | None = None
        self._evaluating: JobHandle[dict[str, Any]] | None = None
        self._eta = Eta()
        self._after_job: Callable[[], None] | None = None
        self._steps: list[int] = []
        self._live_pictures: tuple[np.ndarray, np.ndarray, int] | None = None
        self._live_readability: dict[str, float] = {}
        self._follow_live = True
        self._pace: float | None = None
        self._last_progress: tuple[float, int] | None = None
        self._job_message = ""
        self._viewed: int | None = None
        self._estimate_config: DistillConfig | None = None
        self._measured: tuple[tuple[object, ...], float] | None = None
        self._live_listed = False
        self._build()
        self.refresh_runs()

    @property
    def data_buttons(self) -> DataSourceButtons:
        return self.form.data_buttons

    # Layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        left = self._build_settings_side()
        plots_widget = self._build_plots()
        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(self._build_prototype_box())
        middle.addWidget(self._build_viewer_box())
        middle.setSizes([340, 680])
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self._build_results_box())
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(plots_widget)
        right.addWidget(middle)
        right.addWidget(bottom)
        right.setSizes([230, 420, 190])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(left)
        layout.addWidget(right, 1)
        self._update_buttons()

    def _build_settings_side(self) -> QScrollArea:
        """The form, the job buttons and progress, the evaluation choice and past runs, scrolling."""
        self.form = DistillForm(self.library_data)
        self.form.status.connect(self.status)
        self.form.buffer_changed.connect(self._on_buffer_changed)
        self.form.run_settings.connect_changes(self._refresh_measured_note)
        self.form.buffer_changed.connect(self._refresh_measured_note)
        self.form.build_button.clicked.connect(self.build_buffer)
        buttons = self._build_job_buttons()
        eval_row = self._build_evaluation_row()
        runs_box = self._build_runs_box()
        left_body = QWidget()
        left_layout = QVBoxLayout(left_body)
        left_layout.setContentsMargins(0, 0, 6, 0)
        left_layout.addWidget(self.form)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.progress_label)
        left_layout.addWidget(self.device_note)
        left_layout.addLayout(eval_row)
        left_layout.addWidget(runs_box, 1)
        return settings_column(left_body, SETTINGS_SIDE_WIDTH)

    def _build_job_buttons(self) -> QHBoxLayout:
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setToolTip("Time two iterations of these settings on the chosen device")
        self.estimate_button.clicked.connect(self.estimate)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop after the current iteration and wait; Resume continues in place")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.job_progress = JobProgress(self.runner, self)
        self.cancel_button = self.job_progress.cancel_button
        self.cancel_button.setToolTip("Stop after the current iteration; the last checkpoint is kept")
        buttons = QHBoxLayout()
        for button in (self.estimate_button, self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        self.progress = self.job_progress.bar
        self.progress.setFormat("%v / %m")
        self.progress_label = QLabel("Choose data and a buffer, then press Start.")
        self.progress_label.setWordWrap(True)
        self.device_note = QLabel("Device: auto picks a CUDA or Apple GPU when there is one, else the CPU.")
        self.device_note.setWordWrap(True)
        self.device_note.setStyleSheet("color: #b8bcc6;")

        return buttons

    def _build_evaluation_row(self) -> QHBoxLayout:
        self.evaluate_when_done = QCheckBox("Evaluate when done:")
        self.evaluate_when_done.setChecked(True)
        self.evaluate_when_done.setToolTip(
            "Train fresh nets on the prototypes and on the baselines; test them on the real test split"
        )
        self.eval_nets = QSpinBox()
        self.eval_nets.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.eval_nets.setRange(1, 20)
        self.eval_nets.setValue(3)
        self.eval_nets.setToolTip("Fresh networks per training set (MTT: 5)")
        self.eval_epochs = QSpinBox()
        self.eval_epochs.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.eval_epochs.setRange(2, 5000)
        self.eval_epochs.setValue(300)
        self.eval_epochs.setToolTip("Epochs per evaluation net (MTT: 1000)")
        for box in (self.eval_nets, self.eval_epochs):
            box.setFixedWidth(box.fontMetrics().horizontalAdvance("00000") + 12)
        eval_row = QHBoxLayout()
        eval_row.setSpacing(4)
        eval_row.addWidget(self.evaluate_when_done)
        eval_row.addWidget(self.eval_nets)
        eval_row.addWidget(QLabel("nets ×"))
        eval_row.addWidget(self.eval_epochs)
        eval_row.addWidget(QLabel("epochs"))
        eval_row.addStretch(1)

        return eval_row

    def _build_runs_box(self) -> DistillRunsBox:
        self.runs_box = DistillRunsBox()
        self.runs_box.chosen.connect(self._show_selected_run)
        self.runs_box.resume.connect(self.resume_run)
        self.runs_box.evaluate.connect(self.evaluate_run)
        self.runs_box.reuse.connect(self.reuse_run)
        return self.runs_box

    def _build_plots(self) -> QWidget:
        self.loss_plot = CurvePlot("Matching loss", "normalised distance", "iteration", steady_axes=True)
        self.loss_plot.add_series("matching", MATCHING_COLOUR, symbols=False)
        self.loss_plot.add_series("validation", VALIDATION_COLOUR, symbols=False)
        self.lr_plot = CurvePlot("Learned step size", "lr", "iteration", steady_axes=True)
        self.lr_plot.add_series("lr", LR_COLOUR, symbols=False)
        self.smoothing = QCheckBox("Smooth")
        self.smoothing.setToolTip(f"Mean of the last {SMOOTHING_WINDOW} iterations")
        self.smoothing.toggled.connect(self._apply_plot_options)
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.log_scale.toggled.connect(self._apply_plot_options)
        plot_options = QHBoxLayout()
        plot_options.addWidget(self.smoothing)
        plot_options.addWidget(self.log_scale)
        plot_options.addStretch(1)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 3)
        plots.addWidget(self.lr_plot, 2)
        plots_widget = QWidget()
        plots_layout = QVBoxLayout(plots_widget)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addLayout(plots)
        plots_layout.addLayout(plot_options)

        return plots_widget

    def _build_prototype_box(self) -> QGroupBox:
        self.grid = PrototypeGrid()
        self.grid.picked.connect(self.show_prototype)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 0)
        self.timeline.setToolTip("Scrub through the saved snapshots; the right end follows the live run")
        self.timeline.valueChanged.connect(self._on_timeline)
        self.timeline_label = QLabel("no snapshot")
        self.timeline_label.setMinimumWidth(150)
        self.gif_button = QPushButton("GIF…")
        self.gif_button.setToolTip("Export the evolution as an animated GIF")
        self.gif_button.clicked.connect(lambda: self.export_evolution("gif"))
        self.strip_button = QPushButton("PNG strip…")
        self.strip_button.setToolTip("Export evenly spaced snapshots side by side")
        self.strip_button.clicked.connect(lambda: self.export_evolution("strip"))
        timeline_row = QHBoxLayout()
        timeline_row.addWidget(self.timeline, 1)
        timeline_row.addWidget(self.timeline_label)
        timeline_row.addWidget(self.gif_button)
        timeline_row.addWidget(self.strip_button)
        grid_box = QGroupBox("Prototypes (a row per class)")
        grid_layout = QVBoxLayout(grid_box)
        grid_layout.addWidget(self.grid, 1)
        grid_layout.addLayout(timeline_row)

        return grid_box

    def _build_viewer_box(self) -> QGroupBox:
        self.view = ImageView()
        self.view.empty_text = "Click a prototype to see it large"
        self.view.setMinimumSize(120, 120)
        self.controls = DisplayControls()
        self.controls.set_settings(DisplaySettings(stretch="linear", interval="minmax", linked=True))
        self.controls.hide_band_choice()
        self.controls.changed.connect(lambda _settings: self._render_viewed())
        self.view_caption = QLabel("")
        view_box = QGroupBox("Prototype")
        view_layout = QVBoxLayout(view_box)
        view_layout.addWidget(self.view, 1)
        view_layout.addWidget(self.view_caption)
        view_layout.addWidget(self.controls)

        return view_box

    def _build_results_box(self) -> QGroupBox:
        self.table = QTableWidget(len(EVALUATION_ROWS), 4)
        self.table.setHorizontalHeaderLabels(["images", "epochs", "lr", "test accuracy"])
        self.table.setVerticalHeaderLabels([title for _, title in EVALUATION_ROWS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + 4 * 22 + 6)
        self.table.setToolTip(
            "Fresh nets trained on each set, tested on the real test split: mean ± std over the nets, "
            "then the number of test images and the 95% interval they allow"
        )
        self.export_buttons: dict[str, QPushButton] = {}
        export_row = QHBoxLayout()
        for kind, text in (("npz", "Export .npz…"), ("png", "PNG grid…"), ("fits", "FITS cube…")):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, chosen=kind: self.export_synthetic(chosen))
            export_row.addWidget(button)
            self.export_buttons[kind] = button
        results_box = QGroupBox("Evaluation and export")
        results_layout = QVBoxLayout(results_box)
        self.readability_label = QLabel("")
        self.readability_label.setWordWrap(True)
        self.readability_label.setToolTip(
            "Whether the prototypes still look like images: pixels outside the real images' range, pixels in "
            "colours no real pixel has (bands drifted apart), their spread against the real images', and how far "
            "the nearest real image is"
        )
        results_layout.addWidget(self.table, 1)
        results_layout.addWidget(self.readability_label)
        results_layout.addLayout(export_row)

        return results_box

    # Buttons and state ----------------------------------------------------------------

    def _update_buttons(self) -> None:
        busy = self.runner.running
        for widget in (self.start_button, self.estimate_button, self.form.build_button):
            widget.setEnabled(not busy)
        self.pause_button.setEnabled(self._is_running(self._distilling))
        self.pause_button.setText("Resume" if self.runner.pause_requested else "Pause")
        finished = self.run_dir is not None and (self.run_dir / "synthetic.npz").is_file()
        for button in self.export_buttons.values():
            button.setEnabled(finished and not self.exporter.running)
        has_steps = bool(self._steps)
        self.gif_button.setEnabled(has_steps and not self.exporter.running)
        self.strip_button.setEnabled(has_steps and not self.exporter.running)
        self.runs_box.set_busy(busy)

    def _on_buffer_changed(self, folder: str) -> None:
        names = buffer_classes(folder) if folder else ()
        if names and not self.runner.running:
            self.grid.set_class_names(names)

    def _apply_plot_options(self) -> None:
        window = SMOOTHING_WINDOW if self.smoothing.isChecked() else 1
        for plot in (self.loss_plot, self.lr_plot):
            plot.set_smoothing(window)
            plot.set_log_y(self.log_scale.isChecked())

    # Jobs ------------------------------------------------------------------------------

    def _start_job(
        self, job: Job[R], message: str, on_success: Callable[[R], None], on_cancel: Callable[[], None] | None = None
    ) -> JobHandle[R]:
        self._eta = Eta()
        self.message = ""
        self._job_message = message
        self.progress_label.setStyleSheet("")
        self.progress_label.setText(message)
        self.status.emit(message)  # the status bar says what runs now, not what ran before
        handle = self.runner.start(
            job,
            on_success=on_success,
            on_failure=self._on_failed,
            on_cancel=on_cancel or self._on_cancelled,
            uses_torch=True,
        )
        self._update_buttons()
        return handle

    @staticmethod
    def _is_running(handle: JobHandle[Any] | None) -> bool:
        return handle is not None and handle.running

    def _data_and_buffer_ready(self, need_buffer: bool = True) -> bool:
        if self.runner.running:
            return False
        if not self.form.data_edit.text().strip():
            self._say(
                "Choose labelled data first: a folder with one sub-folder per class, a CSV, "
                "a Galaxy10 HDF5 file or a project."
            )
            return False
        if need_buffer and not (Path(self.form.buffer_edit.text().strip()) / "buffer.json").is_file():
            self._say("Choose a buffer folder, or press Build buffer to train experts on the data.")
            return False
        return True

    def _say(self, text: str, warning: bool = False) -> None:
        self.message = text
        self.progress_label.setStyleSheet(WARNING_STYLE if warning else "")
        self.progress_label.setText(text)
        self.status.emit(text)

    def build_buffer(self, config: BufferConfig | None = None, then: Callable[[], None] | None = None) -> None:
        if config is None and not self._data_and_buffer_ready(need_buffer=False):
            return
        config = config or self.form.buffer_config()

        def job(emit: EventSink, cancel: CancelToken) -> BufferResult:
            from galaxy_studio.distill.experts import train_experts

            return train_experts(config, emit=emit, cancel=cancel)

        self._after_job = then
        self._start_job(job, f"Building a buffer in {config.out_dir}…", self._on_buffer_built)

    def start_demo(self) -> None:
        """Build (once) the demo data and buffer, then distil them live (see distill/demo.py).
        The form shows the demo's own settings from the first moment, not its defaults."""
        from galaxy_studio import paths
        from galaxy_studio.distill.demo import (
            DEMO_BUFFER_NAME,
            demo_buffer_config,
            demo_distill_config,
            ensure_demo_buffer,
        )

        if self.runner.running:
            return
        buffer_config = demo_buffer_config(paths.distill_demo_dir())
        self.form.show_buffer_config(buffer_config)
        self.form.run_settings.show_config(
            demo_distill_config(Path(buffer_config.out_dir), paths.distill_demo_dir(), distill_runs_dir())
        )

        def job(emit: EventSink, cancel: CancelToken) -> tuple[Path, Path]:
            return ensure_demo_buffer(emit=emit, cancel=cancel)

        self._start_job(
            job, f"Preparing the demo galaxies and the '{DEMO_BUFFER_NAME}' buffer…", self._on_demo_prepared
        )

    def _on_demo_prepared(self, prepared: tuple[Path, Path]) -> None:
        self._after_job = partial(self._start_demo_run, *prepared)

    def _start_demo_run(self, data: Path, buffer: Path) -> None:
        from galaxy_studio.distill.demo import demo_distill_config

        self.form.data_edit.setText(str(data))
        self.form.buffer_edit.setText(str(buffer))
        self.start(demo_distill_config(buffer, data, new_run_folder(distill_runs_dir(), "demo-stm")))

    def estimate(self) -> None:
        if not self._data_and_buffer_ready():
            return
        config = self.form.distill_config(distill_runs_dir() / "estimate")

        def job(emit: EventSink, cancel: CancelToken) -> IterationEstimate:
            from galaxy_studio.distill.timing import estimate_iteration_seconds
            from galaxy_studio.model.prediction import resolve_device

            return IterationEstimate(
                resolve_device(config.device).type, estimate_iteration_seconds(config, emit=emit, cancel=cancel)
            )

        self._estimate_config = config
        self._start_job(job, "Timing two iterations…", self._on_iteration_timed)

    def start(self, config: DistillConfig | None = None, history: list[dict[str, Any]] | None = None) -> None:
        if config is None:
            if not self._data_and_buffer_ready():
                return
            try:
                config = self.form.distill_config(new_run_folder(distill_runs_dir(), self.form.method.currentText()))
            except ModelError as error:
                self._say(str(error), warning=True)
                return
        if self.runner.running:
            return
        self.form.show_config(config)
        self.config, self.run_dir, self.result, self.evaluation = config, Path(config.out_dir), None, None
        self.iteration, self._pace, self._last_progress = 0, None, None
        self._live_listed = False
        self._reset_views(buffer_classes(config.buffer))
        self._plot_history(history or [])
        self._steps = snapshot_steps(self.run_dir)
        self._follow_live = True
        self._sync_timeline()
        self._note_device(config.device)

        def job(emit: EventSink, cancel: CancelToken) -> DistillResult:
            from galaxy_studio.distill.runner import distill

            return distill(config, emit=emit, cancel=cancel)

        self._after_job = self._evaluate_finished_run if self.evaluate_when_done.isChecked() else None
        self._distilling = self._start_job(
            job, f"Loading {Path(config.data).name} and the buffer…", self._on_distilled, self._on_distill_cancelled
        )
        self._update_buttons()

    def _reset_views(self, classes: tuple[str, ...]) -> None:
        self.loss_plot.clear_series()
        self.lr_plot.clear_series()
        self.grid.clear()
        self.grid.set_class_names(classes)
        self._live_pictures = None
        self._live_readability = {}
        self._show_evaluation(None)
        self.view.set_image(None)
        self._viewed = None
        self.view_caption.setText("")

    def _note_device(self, device: str, seconds: float | None = None, iterations: int | None = None) -> None:
        import torch

        gpu = torch.cuda.is_available() or torch.backends.mps.is_available()
        if device == "cpu" or (device == "auto" and not gpu):
            text = (
                "No GPU: distillation runs on the CPU, one to two orders of magnitude slower than on a GPU."
                if not gpu
                else "Runs on the CPU as chosen."
            )
        else:
            text = f"Runs on {'CUDA' if torch.cuda.is_available() else 'Apple MPS'}."
        if seconds is not None:
            text += f" About {seconds:.2f} s per iteration measured"
            text += (
                f"; {counted(iterations, 'iteration')} ≈ {format_duration(seconds * iterations)} at most."
                if iterations
                else "."
            )
        elif device in ("cpu", "auto") and not gpu:
            text += " Press Estimate to time an iteration, or watch the pace once it runs."
        self.device_note.setText(text)

    def _refresh_measured_note(self) -> None:
        """Keep the measured pace true to the form: the total follows Iterations, and a change
        to what an iteration costs (device, buffer, method, IPC, syn steps, memory mode) drops
        the measurement instead of quoting it for settings it was not measured with."""
        if self._measured is None or self._estimate_config is None:
            return
        try:
            config = self.form.distill_config(Path(self._estimate_config.out_dir))
        except (ModelError, ValueError):
            return
        key, seconds = self._measured
        if key != _timing_key(config):
            self._measured = None
            self._note_device(config.device)
            return
        self._note_device(config.device, seconds, config.iterations)

    def _evaluate_finished_run(self) -> None:
        if self.run_dir is not None and (self.run_dir / "synthetic.npz").is_file():
            self.evaluate(self.run_dir)

    def evaluate(self, run_dir: Path) -> None:
        from galaxy_studio.distill.evaluate import EvaluationProtocol

        config = self.config
        protocol = EvaluationProtocol(
            nets=self.eval_nets.value(),
            epochs=self.eval_epochs.value(),
            device=config.device if config is not None else "auto",
        )

        def job(emit: EventSink, cancel: CancelToken) -> dict[str, Any]:
            from galaxy_studio.distill.evaluate import evaluate_synthetic

            report = evaluate_synthetic(run_dir, None, protocol, emit=emit, cancel=cancel)
            save_evaluation(run_dir, report)
            return report

        self._after_job = None
        self._evaluating = self._start_job(
            job,
            f"Evaluating: {counted(protocol.nets, 'fresh net')} per training set, {counted(protocol.epochs, 'epoch')}…",
            self._on_evaluated,
        )

    def toggle_pause(self) -> None:
        if self.runner.pause_requested:
            self.runner.resume()
            self.progress_label.setText(f"Resumed at iteration {self.iteration}.")
        else:
            self.runner.pause()
            self.progress_label.setText("Pausing after the current iteration…")
        self._update_buttons()

    def _on_paused_changed(self, paused: bool) -> None:
        if paused:
            run = read_distill_run(self.run_dir) if self.run_dir is not None else None
            kept = (
                f"Cancel keeps the checkpoint of iteration {run.iterations}."
                if run is not None and run.status == "unfinished"
                else "Cancel now keeps nothing: no checkpoint was saved yet."
            )
            self.progress_label.setText(f"Paused after iteration {self.iteration}. Resume continues in place; {kept}")
        self._update_buttons()

    # Events ----------------------------------------------------------------------------

    def _on_event(self, event: object) -> None:
        if isinstance(event, MetricLogged):
            if event.name == "matching_loss":
                self.loss_plot.append("matching", event.step, event.value)
            elif event.name == "validation_loss":
                self.loss_plot.append("validation", event.step, event.value)
            elif event.name == "lr":
                self.lr_plot.append("lr", event.step, event.value)
            elif event.name in LIVE_READABILITY:
                self._show_live_readability(event.name, event.step, event.value)
            elif event.name == "expert_test_accuracy":
                self.progress_label.setText(f"Expert {event.step + 1} trained: test accuracy {100 * event.value:.1f}%")
        elif isinstance(event, SnapshotTaken):
            self._on_snapshot(event)
        elif isinstance(event, StageAdvanced):
            self._mark_stage(self.iteration, event.stage, event.reason)
        elif isinstance(event, Progressed):
            self._on_progress(event)
        elif isinstance(event, IterationFinished):
            self._on_iteration(event)
        elif isinstance(event, BufferPlanned):
            self.form.buffer_info.setText(
                f"Planned: {counted(event.experts, 'expert')} × {counted(event.epochs + 1, 'snapshot')} × "
                f"{event.parameters:,} parameters = {event.bytes / 1e6:,.1f} MB on disk"
            )
        elif isinstance(event, Warned):
            self.status.emit(event.text)

    def _show_live_readability(self, name: str, step: int, value: float) -> None:
        """The newest snapshot's readability, in the warning colour once it leaves the range."""
        if self._live_readability.get("step") != step:
            self._live_readability = {"step": step}
        self._live_readability[name] = value
        if any(measure not in self._live_readability for measure in LIVE_READABILITY):
            return
        outside, spread, colours = (self._live_readability[measure] for measure in LIVE_READABILITY)
        readable = is_readable(outside, spread, colours)
        advice = "" if readable else " — turning to noise: a lower image lr keeps them pictures"
        self._show_readability(
            f"Iteration {step}: {100 * outside:.1f}% of prototype pixels beyond the real images' range, "
            f"{100 * colours:.1f}% in colours no real pixel has, spread {spread:.2f}x theirs{advice}",
            readable,
        )

    def _show_readability(self, text: str, readable: bool) -> None:
        self.readability_label.setStyleSheet("" if readable else WARNING_STYLE)
        self.readability_label.setText(text)

    def _on_progress(self, event: Progressed) -> None:
        """Evaluation and the jobs before a run (the demo set, the buffer's experts, timing) report
        how far they are and the time left; a distillation's own line, with its measured pace per
        iteration, is `_on_iteration`'s."""
        if event.total <= 0:
            return
        if self._is_running(self._evaluating):
            self.progress_label.setText(
                f"Evaluating: {event.what} {event.done}/{event.total} · {self._eta.describe(event)}"
            )
        elif not self._is_running(self._distilling):
            doing = f"{self._job_message.rstrip('…')}: " if self._job_message else ""
            self.progress_label.setText(f"{doing}{event.what} {event.done}/{event.total} · {self._eta.describe(event)}")

    def _on_iteration(self, event: IterationFinished) -> None:
        if not self._is_running(self._distilling):
            return
        now = time.perf_counter()
        if self._last_progress is None and self.config is not None:
            self.status.emit(f"Distilling {Path(self.config.data).name}: {counted(event.iterations, 'iteration')}")
        if self._last_progress is not None and event.iteration > self._last_progress[1]:
            seconds = (now - self._last_progress[0]) / (event.iteration - self._last_progress[1])
            self._pace = seconds if self._pace is None else _PACE_MEMORY * self._pace + (1 - _PACE_MEMORY) * seconds
        self._last_progress = (now, event.iteration)
        self.iteration = event.iteration
        left = event.iterations - event.iteration
        pace = ""
        if self._pace is not None:
            time_left = f"at most {format_duration(self._pace * left)} left"
            self.job_progress.give_time_left(time_left)
            pace = f" · {self._pace:.2f} s per iteration · {time_left}"
        if not self.runner.pause_requested:
            self.progress_label.setText(f"Iteration {event.iteration}/{event.iterations} · {event.summary}{pace}")

    def _mark_stage(self, iteration: int, stage: int, reason: str) -> None:
        text = f"stage {stage}: {reason.split(' (')[0]}"
        for plot in (self.loss_plot, self.lr_plot):
            plot.add_marker(iteration, text, STAGE_COLOUR)
        self.status.emit(f"Stage {stage} at iteration {iteration}: {reason}")

    def _plot_record(self, record: dict[str, Any]) -> None:
        step = int(record.get("iteration", 0))
        self.loss_plot.append("matching", step, record.get("matching_loss"))
        self.loss_plot.append("validation", step, record.get("validation_loss"))
        self.lr_plot.append("lr", step, record.get("lr"))
        self.iteration = step

    def _plot_history(self, history: list[dict[str, Any]]) -> None:
        for record in history:
            self._plot_record(record)
        for iteration, stage in _stage_changes(history):
            self._mark_stage(iteration, stage, "advanced")

    def _on_snapshot(self, event: SnapshotTaken) -> None:
        if not self._live_listed:
            self._live_listed = True
            self._list_live_run()
        self._live_pictures = (event.images_uint8_nhwc, event.labels, event.step)
        if not self._steps or event.step > self._steps[-1]:
            self._note_snapshot_step(event.step)
        if self._follow_live:
            self._show_pictures(event.images_uint8_nhwc, event.labels, event.step, live=True)
            self._sync_timeline()

    def _note_snapshot_step(self, step: int) -> None:
        """Put a newly saved snapshot on the timeline. The snapshot that follows the last one
        listed is appended; only when the worker coalesced snapshots away (a gap) is the
        folder listed again. Listing it for every snapshot cost the GUI thread time that grew
        with the run (a folder of thousands of files, several times a second)."""
        every = self.config.snapshot_every if self.config is not None else 1
        if self._steps and step == self._steps[-1] + every:
            self._steps.append(step)
            return
        self._steps = snapshot_steps(self.run_dir) if self.run_dir is not None else [step]
        if not self._steps or self._steps[-1] < step:
            self._steps.append(step)

    def _show_pictures(self, pictures: np.ndarray, labels: np.ndarray, step: int, live: bool) -> None:
        self.grid.set_pictures(pictures, labels, step)
        self.timeline_label.setText(f"iteration {step}" + (" (live)" if live and self.runner.running else ""))
        if self._viewed is not None:
            self._render_viewed()

    def _sync_timeline(self) -> None:
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, max(len(self._steps) - 1, 0))
        if self._follow_live:
            self.timeline.setValue(self.timeline.maximum())
        self.timeline.blockSignals(False)
        self.gif_button.setEnabled(bool(self._steps) and not self.exporter.running)
        self.strip_button.setEnabled(bool(self._steps) and not self.exporter.running)

    def _on_timeline(self, position: int) -> None:
        if not self._steps or self.run_dir is None:
            return
        self._follow_live = position >= self.timeline.maximum()
        if self._follow_live and self._live_pictures is not None and self.runner.running:
            self._show_pictures(*self._live_pictures, live=True)
            return
        step = self._steps[min(position, len(self._steps) - 1)]
        try:
            pictures, labels = load_snapshot(self.run_dir, step)
        except ModelError as error:
            self.status.emit(str(error))
            return
        self._show_pictures(pictures, labels, step, live=False)

    # Endings ---------------------------------------------------------------------------

    def _on_iteration_timed(self, estimate: IterationEstimate) -> None:
        assert self._estimate_config is not None
        self._measured = (_timing_key(self._estimate_config), estimate.seconds)
        self._refresh_measured_note()
        self.progress_label.setText(f"About {estimate.seconds:.2f} s per iteration on {estimate.device}.")

    def _on_buffer_built(self, result: BufferResult) -> None:
        self.form.show_buffer(result.buffer_dir)
        self.progress_label.setText(
            f"Buffer ready: {counted(result.experts, 'expert')}, "
            f"{result.bytes_on_disk / 1e6:.1f} MB, in {format_duration(result.seconds)}."
        )

    def _on_distilled(self, result: DistillResult) -> None:
        self.result = result
        self.progress_label.setText(
            f"Done: {counted(result.iterations, 'iteration')} (stopped by {result.stopped_by}), stage {result.stage}, "
            f"learned lr {result.lr:.3g}, final loss {result.final_loss:.4f}, in {format_duration(result.seconds)}."
        )
        self.status.emit(f"Distillation finished: {result.synthetic}")

    def _on_evaluated(self, report: dict[str, Any]) -> None:
        self._show_evaluation(report)
        distilled = report["distilled"]
        accuracy = mean_accuracy_text(distilled["mean"], distilled["std"], report.get("test_images"))
        self.progress_label.setText(f"Evaluated: distilled {accuracy} test accuracy.")
        self.status.emit(
            f"Evaluation finished: distilled {distilled['mean']:.1%}, random real "
            f"{report['random_real']['mean']:.1%}, class mean {report['class_mean']['mean']:.1%}"
        )

    def _on_failed(self, message: str) -> None:
        self._after_job = None
        self._say(f"Failed: {message}", warning=True)

    def _on_cancelled(self) -> None:
        self._after_job = None
        self._say("Cancelled.")

    def _on_distill_cancelled(self) -> None:
        self._after_job = self._show_cancelled_run

    def _show_cancelled_run(self) -> None:
        """Say what the cancelled run left on disk, and offer Resume only where it can: the
        run is selected under Past runs when its folder holds a checkpoint."""
        run = read_distill_run(self.run_dir) if self.run_dir is not None else None
        if run is not None and run.status == "unfinished":
            self.runs_box.select(run.path)
        when = f"after iteration {self.iteration}" if self.iteration else "before the first iteration"
        self._say(f"Cancelled {when}. " + self._describe_checkpoint(run))

    def _describe_checkpoint(self, run: RunSummary | None) -> str:
        """What a stop now keeps, from the run folder as it is."""
        if run is None or run.status == "empty":
            every = self.config.checkpoint_every if self.config is not None else None
            cadence = f" (one is saved every {counted(every, 'iteration')})" if every else ""
            return (
                f"Nothing was saved: the run stopped before its first checkpoint{cadence}. Press Start to begin again."
            )
        if run.status == "unfinished":
            return (
                f"Its checkpoint at iteration {run.iterations} is kept: Resume (under Past runs, selected) "
                "continues from there."
            )
        return "The run had finished; its prototypes are saved."

    def _on_finished(self) -> None:
        follow_up, self._after_job = self._after_job, None
        self.refresh_runs()
        self._update_buttons()
        if follow_up is not None:
            follow_up()

    # Results ---------------------------------------------------------------------------

    def _show_evaluation(self, report: dict[str, Any] | None) -> None:
        self.evaluation = report
        for row, (key, _) in enumerate(EVALUATION_ROWS):
            entry = (report or {}).get(key)
            cells = (
                ["–"] * 4
                if entry is None
                else [
                    str(entry["images"]),
                    str(entry["epochs"]),
                    f"{entry['lr']:.3g}",
                    mean_accuracy_text(entry["mean"], entry["std"], report.get("test_images") if report else None),
                ]
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if entry is not None and entry.get("source") == "experts":
                    item.setToolTip(
                        f"The buffer's {counted(len(entry['accuracies']), 'expert')}, trained on the full training "
                        f"split for {counted(entry['epochs'], 'epoch')}"
                    )
                self.table.setItem(row, column, item)
        full = (report or {}).get("full") or {}
        self.table.verticalHeaderItem(len(EVALUATION_ROWS) - 1).setText(
            "Full (experts)" if full.get("source") == "experts" else EVALUATION_ROWS[-1][1]
        )
        readability = (report or {}).get("readability")
        if readability is None:
            self._show_readability("", True)
        else:
            self._show_readability(describe_readability(readability), readability["readable"])

    def show_prototype(self, index: int) -> None:
        self._viewed = index
        self._render_viewed()

    def _render_viewed(self) -> None:
        picture = self.grid.picture(self._viewed) if self._viewed is not None else None
        if picture is None:
            return
        labels = self.grid.labels
        names = self.grid.class_names
        label = int(labels[self._viewed]) if labels is not None and self._viewed < len(labels) else -1
        name = names[label] if 0 <= label < len(names) else f"class {label}"
        self.view.set_image(render_rgb(prototype_cutout(picture, name), self.controls.settings()), keep_view=True)
        self.view_caption.setText(
            f"{name} · prototype {self._viewed + 1} · iteration {self.grid.step} · "
            f"{picture.shape[1]}×{picture.shape[0]} px"
        )

    def export_synthetic(self, kind: str, target: str | Path | None = None) -> None:
        if self.run_dir is None or self.exporter.running:
            return
        run_dir = self.run_dir
        if target is None:
            if kind == "png":
                target = QFileDialog.getExistingDirectory(self, "Folder for the PNG grids")
            else:
                suffix = {"npz": "NumPy archive (*.npz)", "fits": "FITS (*.fits)"}[kind]
                target, _ = QFileDialog.getSaveFileName(
                    self, "Export the synthetic set", f"{run_dir.name}.{kind}", suffix
                )
            if not target:
                return
        destination = Path(target)

        def job(emit: EventSink, cancel: CancelToken) -> str:
            from galaxy_studio.distill.export import export_fits_cube, export_png_grids, load_synthetic, save_synthetic

            synthetic = load_synthetic(run_dir / "synthetic.npz")
            if kind == "npz":
                save_synthetic(destination, synthetic)
            elif kind == "fits":
                export_fits_cube(synthetic, destination)
            else:
                return f"{counted(len(export_png_grids(synthetic, destination)), 'PNG file')} in {destination}"
            return f"wrote {destination}"

        self.exporter.start(job, on_success=self._on_exported, on_failure=self._on_export_failed)
        self._update_buttons()

    def export_evolution(self, kind: str, target: str | Path | None = None) -> None:
        if self.run_dir is None or self.exporter.running:
            return
        run_dir = self.run_dir
        if target is None:
            suffix = "gif" if kind == "gif" else "png"
            target, _ = QFileDialog.getSaveFileName(
                self, "Export the evolution", f"{run_dir.name}-evolution.{suffix}", f"{suffix.upper()} (*.{suffix})"
            )
            if not target:
                return
        destination = Path(target)

        def job(emit: EventSink, cancel: CancelToken) -> str:
            from galaxy_studio.distill.evolution import write_evolution_gif, write_evolution_strip

            if kind == "gif":
                return f"wrote {destination}: {counted(write_evolution_gif(run_dir, destination), 'frame')}"
            return f"wrote {destination}: {counted(write_evolution_strip(run_dir, destination), 'snapshot')}"

        self.exporter.start(job, on_success=self._on_exported, on_failure=self._on_export_failed)
        self._update_buttons()

    def _on_exported(self, message: str) -> None:
        self.status.emit(message)
        self._update_buttons()

    def _on_export_failed(self, message: str) -> None:
        self._say(f"Export failed: {message}", warning=True)
        self._update_buttons()

    # Past runs -------------------------------------------------------------------------

    def refresh_runs(self) -> None:
        live = self.run_dir if self.runner.running and self._is_running(self._distilling) else None
        self.runs_box.refresh(live)

    def _list_live_run(self) -> None:
        """Once the running job wrote its config, show it selected in Past runs."""
        self.refresh_runs()
        if self.run_dir is not None:
            self.runs_box.select(self.run_dir)

    def _show_selected_run(self, run: RunSummary | None) -> None:
        if run is None or self.runner.running:
            return
        self.open_run(run.path)

    def open_run(self, path: Path) -> None:
        """Show a past run: its curves, its snapshots on the timeline, its evaluation."""
        run = read_distill_run(path)
        if run is None:
            return
        try:
            self.config = DistillConfig.from_dict(run.config)
        except (ModelError, TypeError) as error:
            self._say(f"{path}: {error}", warning=True)
            return
        self.run_dir = run.path
        self._reset_views(buffer_classes(self.config.buffer))
        self._plot_history(run.history)
        self._show_evaluation(run.metrics)
        self._steps = snapshot_steps(run.path)
        self._follow_live = False
        self._sync_timeline()
        self.timeline.setValue(self.timeline.maximum())
        self._on_timeline(self.timeline.value())
        self.progress_label.setText(
            f"{run.name}: {run.status}, {counted(run.iterations, 'iteration')}. " + describe_buffer(self.config.buffer)
        )
        self._update_buttons()

    def resume_run(self, run: RunSummary) -> None:
        if run.status != "unfinished" or self.runner.running:
            return
        config = DistillConfig.from_dict({**run.config, "out_dir": str(run.path)})
        self.start(config, history=run.history)

    def reuse_run(self, run: RunSummary) -> None:
        """The run's data, buffer and settings in the form, for a new run that changes one of them."""
        if self.runner.running:
            return
        try:
            config = DistillConfig.from_dict(run.config)
        except (ModelError, TypeError) as error:
            self._say(f"{run.path}: {error}", warning=True)
            return
        self.form.show_config(config)
        self.status.emit(f"The settings of {run.name} are in the form: Start distils a new run with them")

    def evaluate_run(self, run: RunSummary) -> None:
        if run.status != "finished" or self.runner.running:
            return
        self.open_run(run.path)
        self.evaluate(run.path)

    def shutdown(self) -> None:
        self.runner.shutdown()
        self.exporter.shutdown()


def _stage_changes(history: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(iteration, new stage) wherever a saved history's stage changed."""
    changes = []
    for before, after in zip(history, history[1:]):
        if after.get("stage") != before.get("stage"):
            changes.append((int(after.get("iteration", 0)), int(after.get("stage", 0))))
    return changes
