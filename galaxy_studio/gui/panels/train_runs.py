"""The Train panel's past runs and cross-validations, best first, with the two things to do
with one: resume it, or start a new run from its settings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from galaxy_studio.model.runs import (
    CROSS_VALIDATION,
    RunSummary,
    is_cross_validation,
    list_cross_validations,
    list_runs,
    rank_runs,
)
from galaxy_studio.model.uncertainty import AccuracyEstimate
from galaxy_studio.path_text import readable


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


class PastRunsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Past runs (best first)", parent)
        self.runs = QListWidget()
        self.runs.setToolTip(
            "Best first by the lower bound of the test accuracy's 95% interval, then unfinished runs; "
            "tick runs to overlay their validation curves; select one to see its results"
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected unfinished run from its last epoch")
        self.resume_button.setEnabled(False)
        self.reuse_button = QPushButton("Use its settings")
        self.reuse_button.setToolTip(
            "Fill the form with the selected run's data and settings: change what you want to try, then Start "
            "trains a new run (the selected one stays as it is)"
        )
        self.reuse_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.reuse_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.runs)
        layout.addLayout(buttons)

    def refresh(self) -> None:
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

    def ticked_runs(self) -> list[RunSummary]:
        return [
            self.runs.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.runs.count())
            if self.runs.item(i).checkState() == Qt.CheckState.Checked
        ]

    def selected_run(self) -> RunSummary | None:
        item = self.runs.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def offer_actions(self, run: RunSummary | None, busy: bool) -> None:
        """Resume for an unfinished run, reuse for any, neither while a job runs."""
        self.resume_button.setEnabled(run is not None and run.status == "unfinished" and not busy)
        self.reuse_button.setEnabled(run is not None and not busy)
