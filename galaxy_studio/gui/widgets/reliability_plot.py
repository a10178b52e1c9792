"""The reliability diagram of a run's test split: does "80% spiral" come true 80% of the time?

Each bar is one of the 15 confidence bins that holds test images, placed where the bin lies on
the top-probability axis and as tall as the fraction of its images the network got right, so a
calibrated network's bars reach the dashed diagonal. The line with dots is the same before
temperature scaling (the network's own softmax), so the diagram shows what scaling changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

CALIBRATED_COLOUR, RAW_COLOUR = "#5aa9ff", "#ffb454"


def _points(bins: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """(mean top probability, fraction right) of each bin."""
    return [float(b["confidence"]) for b in bins], [float(b["accuracy"]) for b in bins]


class ReliabilityPlot(pg.PlotWidget):
    """Fraction right against stated probability on the test split (or, for a cross-validation,
    on every image pooled over the folds), after and before scaling."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background=(27, 29, 33))
        self.set_scope("test split")
        self.setLabel("left", "fraction right")
        self.setLabel("bottom", "top probability")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMinimumSize(220, 180)
        # Bottom right, over the bodies of the tallest bars, whose tops are what is read.
        self.legend = self.addLegend(offset=(-6, -6), labelTextColor="#dcdee4", brush=(27, 29, 33, 225))
        self.diagonal = self.plot([0, 1], [0, 1], pen=pg.mkPen("#8a8d96", width=1, style=Qt.PenStyle.DashLine))
        self.bars = pg.BarGraphItem(
            x=[], height=[], width=0.0, brush=CALIBRATED_COLOUR + "b0", pen=pg.mkPen((27, 29, 33), width=1)
        )
        self.addItem(self.bars)
        self.raw = self.plot([], [], pen=pg.mkPen(RAW_COLOUR, width=2), symbol="o", symbolSize=6)
        self.raw.setSymbolBrush(RAW_COLOUR)
        self.raw.setSymbolPen(None)
        self.setYRange(0, 1, padding=0.02)
        self.show_metrics({})

    def set_scope(self, images: str) -> None:
        """Name the images the diagram is measured on in its title."""
        self.setTitle(f"Reliability ({images})", color="#dcdee4", size="10pt")

    def show_metrics(self, metrics: Mapping[str, Any]) -> None:
        """The diagram of these test metrics; empty for metrics recorded before calibration."""
        calibrated = metrics.get("reliability") or []
        raw = metrics.get("reliability_uncalibrated") or []
        self.legend.clear()
        widths = [float(b["high"]) - float(b["low"]) for b in calibrated]
        centres = [(float(b["high"]) + float(b["low"])) / 2 for b in calibrated]
        self.bars.setOpts(x=centres, height=_points(calibrated)[1], width=widths[0] if widths else 0.0)
        self.raw.setData(*_points(raw))
        if calibrated:
            after = metrics.get("ece")
            # Pooled folds were each scaled by their own temperature: then none is named.
            temperature = metrics.get("temperature")
            label = "scaled" + ("" if temperature is None else f", T = {float(temperature):.2f}")
            self.legend.addItem(self.bars, label + ("" if after is None else f": ECE {after:.3f}"))
        if raw:
            before = metrics.get("ece_uncalibrated")
            self.legend.addItem(self.raw, "softmax" + ("" if before is None else f": ECE {before:.3f}"))
        lows = [float(b["low"]) for b in [*calibrated, *raw]]
        self.setXRange(min(lows, default=0.0), 1.0, padding=0.02)
