"""The Distill tab's Past runs: the run folders, newest first, and what can be done with the
selected one (resume an unfinished run, evaluate a finished one, reuse its settings).

The box lists and selects; the panel opens, resumes and evaluates, so each request goes out as
a signal carrying the run."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from galaxy_studio.distill.runs import list_distill_runs
from galaxy_studio.model.runs import RunSummary
from galaxy_studio.model.uncertainty import AccuracyEstimate
from galaxy_studio.path_text import readable


def describe_run(run: RunSummary) -> str:
    """Two lines, the run's name and then its method, size and distilled accuracy, so that
    neither is cut off at the edge of the narrow settings column (the Train panel's layout)."""
    config = run.config
    evaluation = run.metrics or {}
    distilled = evaluation.get("distilled") or {}
    result = (
        AccuracyEstimate.of({"accuracy": distilled["mean"], "n": evaluation.get("test_images")}).text(digits=0)
        if distilled.get("mean") is not None
        else run.status
    )
    return f"{run.name}\n{config.get('method', '?')} IPC {config.get('ipc', '?')} · {run.iterations} it · {result}"


class DistillRunsBox(QGroupBox):
    """`chosen` carries the run a user selected; `resume`, `evaluate` and `reuse` the selected
    run when its button is pressed."""

    chosen = Signal(object)
    resume = Signal(object)
    evaluate = Signal(object)
    reuse = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Past runs", parent)
        self.runs = QListWidget()
        self.runs.setToolTip("Select a run to see its curves, prototypes and evaluation")
        self.runs.setMinimumHeight(90)
        self.runs.currentItemChanged.connect(self._on_current_changed)
        self.resume_button = self._button("Resume", "Continue an unfinished run from its checkpoint", self.resume)
        self.evaluate_button = self._button(
            "Evaluate",
            "Train fresh networks on a finished run's prototypes and compare them with random real images, class "
            "means and the full training set",
            self.evaluate,
        )
        self.reuse_button = self._button(
            "Use its settings",
            "Fill the form with the selected run's data, buffer and settings: change what you want to try, then "
            "Start distils a new run (the selected one stays as it is)",
            self.reuse,
        )
        buttons = QHBoxLayout()
        for button in (self.resume_button, self.evaluate_button, self.reuse_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.runs)
        layout.addLayout(buttons)
        self._busy = False

    def _button(self, text: str, tip: str, request: Signal) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setEnabled(False)
        button.clicked.connect(lambda: self._request(request))
        return button

    def _request(self, request: Signal) -> None:
        run = self.selected()
        if run is not None:
            request.emit(run)

    def refresh(self, live: Path | None) -> None:
        """List the run folders again, keeping the selection; `live` is the running job's folder,
        listed as running rather than by its partial record."""
        current = self.selected()
        self.runs.blockSignals(True)
        self.runs.clear()
        for run in list_distill_runs():
            item = QListWidgetItem(describe_run(run) if run.path != live else f"{run.name}\nrunning")
            item.setData(Qt.ItemDataRole.UserRole, run)
            item.setToolTip(readable(run.path))
            self.runs.addItem(item)
            if current is not None and run.path == current.path:
                self.runs.setCurrentItem(item)
        self.runs.blockSignals(False)
        self.set_busy(self._busy)

    def select(self, path: Path) -> None:
        """Select the run in `path` without asking the panel to open it again."""
        self.runs.blockSignals(True)
        for row in range(self.runs.count()):
            if self.runs.item(row).data(Qt.ItemDataRole.UserRole).path == path:
                self.runs.setCurrentRow(row)
        self.runs.blockSignals(False)
        self.set_busy(self._busy)

    def selected(self) -> RunSummary | None:
        item = self.runs.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def set_busy(self, busy: bool) -> None:
        """While a job runs, no run can be resumed, evaluated or reused."""
        self._busy = busy
        run = self.selected()
        self.resume_button.setEnabled(run is not None and run.status == "unfinished" and not busy)
        self.evaluate_button.setEnabled(run is not None and run.status == "finished" and not busy)
        self.reuse_button.setEnabled(run is not None and not busy)

    def _on_current_changed(self, item: QListWidgetItem | None) -> None:
        self.set_busy(self._busy)
        self.chosen.emit(item.data(Qt.ItemDataRole.UserRole) if item is not None else None)
