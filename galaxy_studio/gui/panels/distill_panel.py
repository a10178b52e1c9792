"""Distill: watch a trajectory-matching distillation turn noise or real cutouts into
prototypes, live, and keep what it made.

The panel is a controller over the form (distill_form.py), the curves (distill_curves.py),
the prototypes and their timeline (distill_prototypes.py), the evaluation and export box
(distill_results.py) and the past-runs list (distill_runs.py). Every long action (building a
buffer, timing an iteration, distilling, evaluating) runs through a JobRunner, exports through
their own (distill_exports.py); the engine never knows it is watched. Pause parks the job at
its next iteration boundary (see gui/worker.py); cancel stops it there and keeps the run
folder's last checkpoint, if one was saved yet, which Resume (or a later session, from Past
runs) continues. What a stop kept is read from the run folder, never assumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.distill.config import BufferConfig, DistillConfig
from galaxy_studio.distill.runs import distill_runs_dir, read_distill_run, save_evaluation
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
from galaxy_studio.gui.panels.distill_curves import DistillCurves, stage_changes
from galaxy_studio.gui.panels.distill_device_note import DeviceNote, IterationEstimate
from galaxy_studio.gui.panels.distill_exports import DistillExports
from galaxy_studio.gui.panels.distill_form import DistillForm, buffer_classes, describe_buffer
from galaxy_studio.gui.panels.distill_prototypes import PrototypeBrowser
from galaxy_studio.gui.panels.distill_results import LIVE_READABILITY, DistillResultsBox
from galaxy_studio.gui.panels.distill_runs import DistillRunsBox
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.gui.widgets.data_source import DataSourceButtons, LibraryData
from galaxy_studio.gui.widgets.job_progress import JobProgress
from galaxy_studio.gui.widgets.settings_column import settings_column
from galaxy_studio.gui.worker import Job, JobHandle, JobRunner, R
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.model.errors import ModelError
from galaxy_studio.model.uncertainty import mean_accuracy_text
from galaxy_studio.run_folders import RunSummary, new_run_folder

if TYPE_CHECKING:
    from galaxy_studio.distill.experts import BufferResult
    from galaxy_studio.distill.runner import DistillResult

# The settings column's width beside its scroll bar when the form itself needs less.
SETTINGS_SIDE_WIDTH = 372
# How much a second of measured iteration time is trusted against the newest one.
_PACE_MEMORY = 0.8


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
        self.exports = DistillExports(self)
        self.exports.finished.connect(self._update_buttons)
        self.exports.written.connect(self._on_exported)
        self.exports.failed.connect(self._on_export_failed)
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
        self._pace: float | None = None
        self._last_progress: tuple[float, int] | None = None
        self._job_message = ""
        self._live_listed = False
        self._build()
        self.refresh_runs()

    @property
    def data_buttons(self) -> DataSourceButtons:
        return self.form.data_buttons

    # Layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        left = self._build_settings_side()
        self.curves = DistillCurves()
        self.prototypes = PrototypeBrowser(lambda: self.runner.running)
        self.prototypes.export_requested.connect(self.export_evolution)
        self.prototypes.failed.connect(self.status)
        self.results = DistillResultsBox()
        self.results.export_requested.connect(self.export_synthetic)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.results)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.curves)
        right.addWidget(self.prototypes)
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
        self.device_note = DeviceNote()
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

    # Buttons and state ----------------------------------------------------------------

    def _update_buttons(self) -> None:
        busy = self.runner.running
        for widget in (self.start_button, self.estimate_button, self.form.build_button):
            widget.setEnabled(not busy)
        self.pause_button.setEnabled(self._is_running(self._distilling))
        self.pause_button.setText("Resume" if self.runner.pause_requested else "Pause")
        finished = self.run_dir is not None and (self.run_dir / "synthetic.npz").is_file()
        self.results.set_exports_enabled(finished and not self.exports.running)
        self.prototypes.set_exporting(self.exports.running)
        self.runs_box.set_busy(busy)

    def _on_buffer_changed(self, folder: str) -> None:
        names = buffer_classes(folder) if folder else ()
        if names and not self.runner.running:
            self.prototypes.grid.set_class_names(names)

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
                config, resolve_device(config.device).type, estimate_iteration_seconds(config, emit=emit, cancel=cancel)
            )

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
        self.prototypes.follow_run(self.run_dir, config.snapshot_every)
        self.device_note.show_device(config.device)

        def job(emit: EventSink, cancel: CancelToken) -> DistillResult:
            from galaxy_studio.distill.runner import distill

            return distill(config, emit=emit, cancel=cancel)

        self._after_job = self._evaluate_finished_run if self.evaluate_when_done.isChecked() else None
        self._distilling = self._start_job(
            job, f"Loading {Path(config.data).name} and the buffer…", self._on_distilled, self._on_distill_cancelled
        )
        self._update_buttons()

    def _reset_views(self, classes: tuple[str, ...]) -> None:
        self.curves.clear()
        self.prototypes.reset(classes)
        self.results.forget_live_readability()
        self._show_evaluation(None)

    def _refresh_measured_note(self) -> None:
        measured = self.device_note.measured_config
        if measured is None:
            return
        try:
            config = self.form.distill_config(Path(measured.out_dir))
        except (ModelError, ValueError):
            return
        self.device_note.follow_settings(config)

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
            self._on_metric(event)
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

    def _on_metric(self, event: MetricLogged) -> None:
        if self.curves.add_point(event.name, event.step, event.value):
            return
        if event.name in LIVE_READABILITY:
            self.results.add_live_readability(event.name, event.step, event.value)
        elif event.name == "expert_test_accuracy":
            self.progress_label.setText(f"Expert {event.step + 1} trained: test accuracy {100 * event.value:.1f}%")

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
        self.curves.mark_stage(iteration, stage, reason)
        self.status.emit(f"Stage {stage} at iteration {iteration}: {reason}")

    def _plot_history(self, history: list[dict[str, Any]]) -> None:
        for record in history:
            self.iteration = self.curves.add_record(record)
        for iteration, stage in stage_changes(history):
            self._mark_stage(iteration, stage, "advanced")

    def _on_snapshot(self, event: SnapshotTaken) -> None:
        if not self._live_listed:
            self._live_listed = True
            self._list_live_run()
        self.prototypes.add_snapshot(event)

    # Endings ---------------------------------------------------------------------------

    def _on_iteration_timed(self, estimate: IterationEstimate) -> None:
        self.device_note.remember(estimate)
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
        self.results.show_evaluation(report)

    def export_synthetic(self, kind: str, target: str | Path | None = None) -> None:
        if self.run_dir is not None:
            self.exports.export_synthetic(self.run_dir, kind, target)
            self._update_buttons()

    def export_evolution(self, kind: str, target: str | Path | None = None) -> None:
        if self.run_dir is not None:
            self.exports.export_evolution(self.run_dir, kind, target)
            self._update_buttons()

    def _on_exported(self, message: str) -> None:
        self.status.emit(message)

    def _on_export_failed(self, message: str) -> None:
        self._say(f"Export failed: {message}", warning=True)

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
        self.prototypes.open_run(run.path)
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
        self.exports.shutdown()
