"""The Distill tab's curves: the matching and validation losses and the learned step size,
live from a running distillation or from a saved run's history, with STM's stage changes
marked on both plots."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from galaxy_studio.gui.widgets.curve_plot import CurvePlot

MATCHING_COLOUR, VALIDATION_COLOUR, LR_COLOUR, STAGE_COLOUR = "#5aa9ff", "#ffb454", "#7ee08a", "#c8a2ff"
SMOOTHING_WINDOW = 25
# The runner's metric names and the (plot, series) each is drawn in.
_SERIES = {"matching_loss": ("loss", "matching"), "validation_loss": ("loss", "validation"), "lr": ("lr", "lr")}


class DistillCurves(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = CurvePlot("Matching loss", "normalised distance", "iteration", steady_axes=True)
        self.loss_plot.add_series("matching", MATCHING_COLOUR, symbols=False)
        self.loss_plot.add_series("validation", VALIDATION_COLOUR, symbols=False)
        self.lr_plot = CurvePlot("Learned step size", "lr", "iteration", steady_axes=True)
        self.lr_plot.add_series("lr", LR_COLOUR, symbols=False)
        self.smoothing = QCheckBox("Smooth")
        self.smoothing.setToolTip(f"Mean of the last {SMOOTHING_WINDOW} iterations")
        self.smoothing.toggled.connect(self._apply_options)
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.log_scale.toggled.connect(self._apply_options)
        options = QHBoxLayout()
        options.addWidget(self.smoothing)
        options.addWidget(self.log_scale)
        options.addStretch(1)
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 3)
        plots.addWidget(self.lr_plot, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(plots)
        layout.addLayout(options)

    def _apply_options(self) -> None:
        window = SMOOTHING_WINDOW if self.smoothing.isChecked() else 1
        for plot in (self.loss_plot, self.lr_plot):
            plot.set_smoothing(window)
            plot.set_log_y(self.log_scale.isChecked())

    def clear(self) -> None:
        self.loss_plot.clear_series()
        self.lr_plot.clear_series()

    def add_point(self, metric: str, step: int, value: float | None) -> bool:
        """Draw a runner metric where it belongs; False for a metric that is not a curve."""
        where = _SERIES.get(metric)
        if where is None:
            return False
        plot, series = where
        (self.loss_plot if plot == "loss" else self.lr_plot).append(series, step, value)
        return True

    def add_record(self, record: dict[str, Any]) -> int:
        """One iteration of a saved history; returns its iteration."""
        step = int(record.get("iteration", 0))
        for metric in _SERIES:
            self.add_point(metric, step, record.get(metric))
        return step

    def mark_stage(self, iteration: int, stage: int, reason: str) -> None:
        text = f"stage {stage}: {reason.split(' (')[0]}"
        for plot in (self.loss_plot, self.lr_plot):
            plot.add_marker(iteration, text, STAGE_COLOUR)


def stage_changes(history: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(iteration, new stage) wherever a saved history's stage changed."""
    changes = []
    for before, after in zip(history, history[1:]):
        if after.get("stage") != before.get("stage"):
            changes.append((int(after.get("iteration", 0)), int(after.get("stage", 0))))
    return changes
