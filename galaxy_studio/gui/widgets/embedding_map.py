"""The 2-D map of an embedding: one dot per cutout, coloured by a category, with lasso
selection, hover names and click-to-pick.

All per-point work is numpy over the whole array (20,000 points: the nearest dot to the
cursor and a lasso test each take about a millisecond), and dots of one colour share one
QBrush, so recolouring a large map does not build thousands of Qt objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QWidget

DOT_SIZE = 7
PICK_RADIUS_PX = 8.0
SELECTED_PEN = QColor(255, 255, 255)
CURRENT_PEN = QColor(255, 80, 80)
LASSO_PEN = QColor(255, 255, 255, 200)
BACKGROUND = (27, 29, 33)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of `xy` inside the closed `polygon` ((M, 2), M >= 3)."""
    if len(polygon) < 3 or len(xy) == 0:
        return np.zeros(len(xy), dtype=bool)
    from matplotlib.path import Path as PolygonPath

    return PolygonPath(np.asarray(polygon, dtype=float), closed=False).contains_points(np.asarray(xy, dtype=float))


class _LassoViewBox(pg.ViewBox):
    """A ViewBox whose left drag draws a lasso (when the lasso tool is on or Shift is held)
    instead of panning."""

    def __init__(self, owner: EmbeddingMap) -> None:
        super().__init__()
        self.owner = owner
        self.lasso_tool = False
        self._path_item = QGraphicsPathItem()
        pen = QPen(LASSO_PEN)
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._path_item.setPen(pen)
        self._path_item.setZValue(10)
        self.addItem(self._path_item, ignoreBounds=True)
        self._lasso: list[tuple[float, float]] = []

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: ANN001 - pyqtgraph's signature
        lasso = self.lasso_tool or bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() != Qt.MouseButton.LeftButton or not lasso:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self.begin_lasso(start.x(), start.y(), add=bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier))
        point = self.mapSceneToView(ev.scenePos())
        self.extend_lasso(point.x(), point.y())
        if ev.isFinish():
            self.finish_lasso()

    def begin_lasso(self, x: float, y: float, *, add: bool = False) -> None:
        self._lasso = [(x, y)]
        self._add = add
        self._redraw_lasso()

    def extend_lasso(self, x: float, y: float) -> None:
        if not self._lasso or self._lasso[-1] != (x, y):
            self._lasso.append((x, y))
            self._redraw_lasso()

    def finish_lasso(self) -> None:
        polygon = np.array(self._lasso, dtype=float)
        self._lasso = []
        self._path_item.setPath(QPainterPath())
        self.owner.select_polygon(polygon, add=self._add)

    def _redraw_lasso(self) -> None:
        path = QPainterPath()
        if self._lasso:
            path.moveTo(*self._lasso[0])
            for x, y in self._lasso[1:]:
                path.lineTo(x, y)
            path.closeSubpath()
        self._path_item.setPath(path)


class EmbeddingMap(pg.PlotWidget):
    """Signals: `picked(index)` on a click near a dot, `selection_changed(count)` after a
    lasso or a cleared selection. Hovering a dot shows its name beside it."""

    picked = Signal(int)
    selection_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.view_box = _LassoViewBox(self)
        super().__init__(parent=parent, background=BACKGROUND, viewBox=self.view_box)
        self.setMouseTracking(True)
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setMenuEnabled(False)
        self.xy = np.zeros((0, 2), dtype=np.float32)
        self.names: list[str] = []
        self.selected = np.zeros(0, dtype=bool)
        self.current: int | None = None
        self.hovered_index = -1
        self.dots = pg.ScatterPlotItem(size=DOT_SIZE, pen=None, pxMode=True)
        self.rings = pg.ScatterPlotItem(
            size=DOT_SIZE + 4, pen=pg.mkPen(SELECTED_PEN, width=1.2), brush=None, pxMode=True
        )
        self.marker = pg.ScatterPlotItem(
            size=DOT_SIZE + 10, pen=pg.mkPen(CURRENT_PEN, width=2.5), brush=None, pxMode=True
        )
        for z, item in enumerate((self.dots, self.rings, self.marker)):
            item.setZValue(z)
            self.addItem(item)
        self.hover_text = pg.TextItem(color=(235, 235, 240), fill=pg.mkBrush(20, 21, 24, 210), anchor=(0, 1))
        self.hover_text.setZValue(20)
        self.hover_text.hide()
        self.addItem(self.hover_text, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        # Clicks are taken from the scene, after its items: the scatter item accepts clicks on
        # its dots itself, and its own hit test is slower than nearest_dot on large maps.
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # Data ------------------------------------------------------------------------------

    def set_points(self, xy: np.ndarray, names: Sequence[str]) -> None:
        """New map (new embedding or projection): the selection and current dot are cleared."""
        self.xy = np.asarray(xy, dtype=np.float32).reshape(-1, 2)
        self.names = list(names)
        self.selected = np.zeros(len(self.xy), dtype=bool)
        self.current = None
        self.dots.setData(pos=self.xy)
        self._redraw_rings()
        self._redraw_marker()
        self.hover_text.hide()
        self.view_box.autoRange(padding=0.05)
        self.selection_changed.emit(0)

    def set_colours(self, codes: np.ndarray, palette: Sequence[tuple[int, int, int, int]]) -> None:
        """Dot i gets palette[codes[i]] (RGBA)."""
        brushes = np.empty(len(palette), dtype=object)
        brushes[:] = [pg.mkBrush(QColor(*rgba)) for rgba in palette]
        self.dots.setBrush(brushes[np.asarray(codes, dtype=np.int64)])

    # Selection -------------------------------------------------------------------------

    @property
    def lasso_tool(self) -> bool:
        return self.view_box.lasso_tool

    def set_lasso_tool(self, on: bool) -> None:
        self.view_box.lasso_tool = on
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def select_polygon(self, polygon: np.ndarray, *, add: bool = False) -> None:
        """Select the dots inside `polygon` (data coordinates); `add` keeps the earlier ones."""
        inside = points_in_polygon(self.xy, polygon)
        self.selected = (self.selected | inside) if add else inside
        self._redraw_rings()
        self.selection_changed.emit(int(self.selected.sum()))

    def select_indices(self, indices: Sequence[int]) -> None:
        self.selected = np.zeros(len(self.xy), dtype=bool)
        self.selected[np.asarray(indices, dtype=np.int64)] = True
        self._redraw_rings()
        self.selection_changed.emit(int(self.selected.sum()))

    def clear_selection(self) -> None:
        self.select_indices([])

    def selected_indices(self) -> np.ndarray:
        return np.flatnonzero(self.selected)

    def _redraw_rings(self) -> None:
        self.rings.setData(pos=self.xy[self.selected] if len(self.xy) else np.zeros((0, 2)))

    # Picking and hovering --------------------------------------------------------------

    def nearest_dot(self, x: float, y: float, radius_px: float = PICK_RADIUS_PX) -> int | None:
        """The dot closest to (x, y) in screen distance, if within `radius_px` pixels."""
        if len(self.xy) == 0:
            return None
        width, height = self.view_box.viewPixelSize()
        if width <= 0 or height <= 0:
            return None
        distance = ((self.xy[:, 0] - x) / width) ** 2 + ((self.xy[:, 1] - y) / height) ** 2
        nearest = int(np.argmin(distance))
        return nearest if distance[nearest] <= radius_px**2 else None

    def pick_at(self, x: float, y: float) -> None:
        index = self.nearest_dot(x, y)
        if index is not None:
            self.picked.emit(index)

    def set_current(self, index: int | None) -> None:
        """Ring the dot shown in the viewer."""
        self.current = index
        self._redraw_marker()

    def _redraw_marker(self) -> None:
        shown = self.current is not None and self.current < len(self.xy)
        self.marker.setData(pos=self.xy[[self.current]] if shown else np.zeros((0, 2)))

    def view_position(self, index: int) -> QPointF:
        """Scene position of a dot (tests click there)."""
        x, y = self.xy[index]
        return self.view_box.mapViewToScene(QPointF(float(x), float(y)))

    def _on_mouse_clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph's MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton or not self.view_box.sceneBoundingRect().contains(
            event.scenePos()
        ):
            return
        point = self.view_box.mapSceneToView(event.scenePos())
        self.pick_at(point.x(), point.y())

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            self._show_hover(None)
            return
        point = self.view_box.mapSceneToView(scene_pos)
        self._show_hover(self.nearest_dot(point.x(), point.y()))

    def _show_hover(self, index: int | None) -> None:
        found = -1 if index is None else index
        if found == self.hovered_index:
            return
        self.hovered_index = found
        if index is None:
            self.hover_text.hide()
        else:
            self.hover_text.setText(self.names[index])
            self.hover_text.setPos(float(self.xy[index, 0]), float(self.xy[index, 1]))
            self.hover_text.show()
