"""Live training/distillation curves with pyqtgraph.

Points are appended to growing numpy buffers and drawn by a timer, never per event, so a
fast job cannot flood the event loop with redraws. Long series (a distillation logs a
point per iteration for hours) are drawn without symbols, clipped to the view and
downsampled by pyqtgraph, so a redraw costs the same after ten or ten thousand points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

REDRAW_MS = 100


class _Series:
    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self.x = np.empty(64)
        self.y = np.empty(64)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == self.x.size:
            self.x = np.resize(self.x, 2 * self.n)
            self.y = np.resize(self.y, 2 * self.n)
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the `window - 1` before it (fewer at the start): the curve a
    user reads through per-iteration noise without it lagging behind the latest point."""
    if window <= 1 or values.size == 0:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


class CurvePlot(pg.PlotWidget):
    """A plot of named live series plus fixed reference curves (e.g. past runs)."""

    def __init__(
        self,
        title: str,
        y_label: str,
        x_label: str = "epoch",
        parent: QWidget | None = None,
        *,
        steady_axes: bool = False,
    ) -> None:
        """`steady_axes`: instead of pyqtgraph's auto-range (a new range, new ticks and a
        repaint of both axes for every point), the view grows in steps with head-room, so a
        point per iteration usually repaints only the curves: the live distillation plots
        cost a fraction of the GUI thread's time."""
        super().__init__(parent=parent, background=(27, 29, 33))
        self.setTitle(title, color="#dcdee4", size="10pt")
        self.setLabel("left", y_label)
        self.setLabel("bottom", x_label)
        self.showGrid(x=True, y=True, alpha=0.2)
        for axis in ("left", "bottom"):
            self.getAxis(axis).enableAutoSIPrefix(False)
        # On the plot's own background, a little see-through: a curve that runs under the
        # legend dims instead of crossing its text (a user can drag it elsewhere).
        self.addLegend(offset=(-10, 10), labelTextColor="#dcdee4", brush=(27, 29, 33, 210))
        self._series: dict[str, _Series] = {}
        self._references: list[pg.PlotDataItem] = []
        self._markers: list[pg.InfiniteLine] = []
        self._smoothing = 1
        self._steady = steady_axes
        if steady_axes:
            self.disableAutoRange()
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()

    def add_series(self, name: str, colour: str, *, dashed: bool = False, symbols: bool = True) -> None:
        style = pg.mkPen(
            colour, width=2, style=pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
        )
        if symbols:
            item = self.plot([], [], pen=style, name=name, symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None)
        else:
            item = self.plot([], [], pen=style, name=name)
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
        self._series[name] = _Series(item)

    def append(self, name: str, x: float, y: float | None) -> None:
        """Add a point; a missing or non-finite value (an empty split) is skipped."""
        if y is not None and np.isfinite(y):
            self._series[name].append(x, y)
            self._dirty = True

    def point_count(self, name: str) -> int:
        return self._series[name].n

    def series_values(self, name: str) -> np.ndarray:
        """The y values as drawn (smoothed when smoothing is on)."""
        series = self._series[name]
        return trailing_mean(series.y[: series.n], self._smoothing)

    def clear_series(self) -> None:
        for series in self._series.values():
            series.n = 0
        self.clear_markers()
        self._dirty = True

    def set_smoothing(self, window: int) -> None:
        self._smoothing = max(1, int(window))
        self._dirty = True

    def set_log_y(self, log: bool) -> None:
        self.setLogMode(x=False, y=log)
        if self._steady:
            self._fit_view(force=True)

    def add_marker(self, x: float, text: str, colour: str = "#c0c4cc") -> None:
        """A labelled vertical line, e.g. where a distillation schedule changed stage."""
        line = pg.InfiniteLine(
            pos=x,
            angle=90,
            movable=False,
            pen=pg.mkPen(colour, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
            label=text,
            labelOpts={"position": 0.92, "color": colour, "rotateAxis": (1, 0), "anchors": [(0, 0), (0, 0)]},
        )
        self.addItem(line)
        self._markers.append(line)

    def marker_texts(self) -> list[str]:
        return [line.label.format for line in self._markers]

    def clear_markers(self) -> None:
        for line in self._markers:
            self.removeItem(line)
        self._markers = []

    def set_references(self, curves: list[tuple[str, list[float], list[float], str]]) -> None:
        """Fixed curves (name, x, y, colour) drawn thin and dashed behind the live ones."""
        for item in self._references:
            self.removeItem(item)
        self._references = []
        for name, xs, ys, colour in curves:
            pen = pg.mkPen(colour, width=1, style=pg.QtCore.Qt.PenStyle.DotLine)
            self._references.append(self.plot(xs, ys, pen=pen, name=name))

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for series in self._series.values():
            series.item.setData(series.x[: series.n], trailing_mean(series.y[: series.n], self._smoothing))
        if self._steady:
            self._fit_view()

    def _fit_view(self, force: bool = False) -> None:
        """Grow the view when a point leaves it (x with 50% head-room, y with 25% margins);
        reset it when the data fill less than half of it (a cleared plot, a new run)."""
        filled = [series for series in self._series.values() if series.n]
        if not filled:
            return
        xs = np.concatenate([series.x[: series.n] for series in filled])
        ys = np.concatenate([series.y[: series.n] for series in filled])
        log = self.getPlotItem().ctrl.logYCheck.isChecked()
        ys = ys[np.isfinite(ys) & (ys > 0)] if log else ys[np.isfinite(ys)]
        if ys.size == 0:
            return
        ys = np.log10(ys) if log else ys
        (x0, x1), (y0, y1) = self.viewRange()
        low, high = float(xs.min()), float(xs.max())
        if force or low < x0 or high > x1 or (high - low) < 0.5 * (x1 - x0) - 1:
            self.setXRange(low, low + 1.5 * (high - low) + 1, padding=0)
        bottom, top = float(ys.min()), float(ys.max())
        span = max(top - bottom, 1e-3 if log else 1e-9 + 1e-3 * abs(top))
        if force or bottom < y0 or top > y1 or span < 0.5 * (y1 - y0):
            self.setYRange(bottom - 0.25 * span, top + 0.25 * span, padding=0)
