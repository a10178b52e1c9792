"""The Train panel's curves: loss and accuracy per epoch for training and validation, with
the validation curves of ticked past runs behind them."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QHBoxLayout, QWidget

from galaxy_studio.gui.widgets.curve_plot import CurvePlot
from galaxy_studio.model.runs import RunSummary

TRAIN_COLOUR, VAL_COLOUR = "#5aa9ff", "#ffb454"
REFERENCE_COLOURS = ("#b48cff", "#7ee08a", "#ff7a8a", "#e0d46a", "#6ad8e0")


class TrainCurves(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = CurvePlot("Loss", "cross-entropy")
        self.acc_plot = CurvePlot("Accuracy", "fraction correct")
        for plot in (self.loss_plot, self.acc_plot):
            plot.add_series("train", TRAIN_COLOUR)
            plot.add_series("validation", VAL_COLOUR)
        layout = QHBoxLayout(self)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.acc_plot)

    def clear(self) -> None:
        self.loss_plot.clear_series()
        self.acc_plot.clear_series()

    def add_epoch(self, epoch: int, losses: tuple[float, float], accuracies: tuple[float, float]) -> None:
        """One epoch's (train, validation) loss and accuracy."""
        for plot, (train, validation) in ((self.loss_plot, losses), (self.acc_plot, accuracies)):
            plot.append("train", epoch, train)
            plot.append("validation", epoch, validation)

    def add_history(self, history: list[dict]) -> None:
        """A run folder's epochs so far (a resumed run's curves start where they stopped)."""
        for record in history:
            self.add_epoch(
                record.get("epoch", 0),
                (record.get("train_loss", math.nan), record.get("val_loss", math.nan)),
                (record.get("train_acc", math.nan), record.get("val_acc", math.nan)),
            )

    def show_references(self, runs: list[RunSummary]) -> None:
        """These runs' validation curves behind the live ones, each in its own colour."""
        loss_refs, acc_refs = [], []
        for number, run in enumerate(runs):
            colour = REFERENCE_COLOURS[number % len(REFERENCE_COLOURS)]
            epochs = [record.get("epoch", i + 1) for i, record in enumerate(run.history)]
            loss_refs.append((f"{run.name} val", epochs, [r.get("val_loss", math.nan) for r in run.history], colour))
            acc_refs.append((f"{run.name} val", epochs, [r.get("val_acc", math.nan) for r in run.history], colour))
        self.loss_plot.set_references(loss_refs)
        self.acc_plot.set_references(acc_refs)
