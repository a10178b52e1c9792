"""A choice of trained classifier: the finished runs of the Train tab and checkpoints opened
from files. The Classify and Explore tabs each keep one. Runs are ranked by the lower bound of
their test accuracy's 95% interval, so a lucky run on 2 test images does not come first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from galaxy_studio.model.runs import MODEL_FILE, RunSummary, list_runs, rank_runs
from galaxy_studio.model.uncertainty import AccuracyEstimate

_OPENED_PREFIX = "File: "


def describe_choice(run: RunSummary, digits: int = 0) -> str:
    """E.g. "75% (n=210, 95% CI 69–80%) · 20250101-120000-galaxy-cnn": the accuracy first, so
    that a narrow picker cuts the run's name rather than how good it is."""
    accuracy = AccuracyEstimate.of(run.metrics)
    score = "no test accuracy" if accuracy.value is None else accuracy.text(digits)
    arch = run.config.get("arch", "?")
    name = run.name if run.name.endswith(str(arch)) else f"{run.name} ({arch})"
    return f"{score} · {name}"


def opened_name(path: Path) -> str:
    """A run's checkpoint is always model.pt, so its folder is what tells it apart."""
    return f"{path.parent.name}/{path.name}" if path.name == MODEL_FILE and path.parent.name else path.name


class ModelPicker(QComboBox):
    """Item data is the checkpoint path; None marks the placeholder shown when there is none."""

    def __init__(self, min_length: int, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumContentsLength(min_length)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip(tip)

    def refresh_runs(self) -> None:
        """Finished runs from the runs folder, best first (`rank_runs`); checkpoints opened by hand
        stay, and so does the choice. Emits no change signal: the caller refreshes what depends on it."""
        current = self.currentData()
        opened = [
            (self.itemText(i), self.itemData(i))
            for i in range(self.count())
            if self.itemData(i) is not None and self.itemText(i).startswith(_OPENED_PREFIX)
        ]
        self.blockSignals(True)
        self.clear()
        for run in rank_runs(run for run in list_runs() if run.status == "finished"):
            self.addItem(describe_choice(run), str(run.path / MODEL_FILE))
            self.setItemData(self.count() - 1, describe_choice(run, digits=1), Qt.ItemDataRole.ToolTipRole)
        for text, path in opened:
            self.addItem(text, path)
        if self.count() == 0:
            self.addItem("No trained model yet: train one or open a checkpoint", None)
        index = self.findData(current) if current is not None else -1
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)

    def add_checkpoint(self, path: str | Path) -> None:
        """Choose the checkpoint at `path`, listing it first if it is not there yet."""
        path = str(Path(path))
        index = self.findData(path)
        if index < 0:
            if self.itemData(0) is None:
                self.removeItem(0)
            self.addItem(f"{_OPENED_PREFIX}{opened_name(Path(path))}", path)
            index = self.count() - 1
            self.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(index)
