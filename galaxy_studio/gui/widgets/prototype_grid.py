"""The synthetic images of a distillation as a classes x IPC grid, painted in one pass.

A snapshot replaces every picture at once (up to ~10 times a second while a run is live),
so the grid paints its cells itself instead of keeping a widget per cell: one conversion
to QImage per picture and one paint, whatever the IPC. Pictures are scaled with nearest
neighbour so a 32 px prototype is not blurred into something it is not.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from galaxy_studio.gui.widgets.thumbnail_grid import rgb_to_qimage

NAME_WIDTH = 150
GAP = 3
MIN_CELL, MAX_CELL = 12, 160


class PrototypeGrid(QWidget):
    """Emits `picked(index)` (an index into the current pictures) when a cell is clicked."""

    picked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self._images: list[QImage] = []
        self._pixels: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._rows: list[list[int]] = []
        self._names: tuple[str, ...] = ()
        self._selected: int | None = None
        self.step: int | None = None
        self.updates = 0
        self.empty_text = "Prototypes appear here when a run starts"

    def set_class_names(self, names: tuple[str, ...] | list[str]) -> None:
        self._names = tuple(names)
        self.update()

    def set_pictures(self, pictures: np.ndarray, labels: np.ndarray, step: int | None = None) -> None:
        """Show (N, H, W, 3) uint8 `pictures`; row r holds those with label r, in order."""
        self._pixels = pictures
        self._images = [rgb_to_qimage(picture) for picture in pictures]
        labels = np.asarray(labels)
        self._labels = labels
        n_rows = max(int(labels.max()) + 1 if labels.size else 0, len(self._names))
        self._rows = [[int(i) for i in np.flatnonzero(labels == row)] for row in range(n_rows)]
        if self._selected is not None and self._selected >= len(self._images):
            self._selected = None
        self.step = step
        self.updates += 1
        self.update()

    def clear(self) -> None:
        self._images, self._pixels, self._labels, self._rows = [], None, None, []
        self._selected, self.step = None, None
        self.update()

    def picture(self, index: int) -> np.ndarray | None:
        if self._pixels is None or not 0 <= index < len(self._pixels):
            return None
        return self._pixels[index]

    @property
    def pictures(self) -> np.ndarray | None:
        return self._pixels

    @property
    def labels(self) -> np.ndarray | None:
        return self._labels

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def selected(self) -> int | None:
        return self._selected

    def select(self, index: int | None) -> None:
        self._selected = index
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(520, 360)

    def _columns(self) -> int:
        return max((len(row) for row in self._rows), default=0)

    def _name_width(self) -> int:
        return NAME_WIDTH if self._names else 0

    def _layout(self) -> tuple[int, int]:
        """(blocks, cell size): class rows are wrapped into side-by-side blocks when that
        gives bigger pictures (10 classes at IPC 1 would otherwise be a thin column)."""
        columns, rows = self._columns(), len(self._rows)
        if not columns or not rows:
            return 1, 0
        best = (1, 0)
        for blocks in range(1, rows + 1):
            block_width = (self.width() - GAP) // blocks - self._name_width()
            across = block_width // columns - GAP
            down = (self.height() - GAP) // -(-rows // blocks) - GAP
            size = min(MAX_CELL, across, down)
            if size > best[1]:
                best = (blocks, size)
        return best[0], max(MIN_CELL, best[1])

    def cell_size(self) -> int:
        return self._layout()[1]

    def _row_origin(self, row: int, blocks: int, size: int) -> tuple[int, int]:
        """Top-left of a class row's first cell."""
        per_block = -(-len(self._rows) // blocks)
        block, line = divmod(row, per_block)
        block_width = (self.width() - GAP) // blocks
        return block * block_width + self._name_width() + GAP, GAP + line * (size + GAP)

    def cell_rect(self, index: int) -> QRect | None:
        blocks, size = self._layout()
        for row, members in enumerate(self._rows):
            if index in members:
                left, top = self._row_origin(row, blocks, size)
                return QRect(left + members.index(index) * (size + GAP), top, size, size)
        return None

    def index_at(self, x: int, y: int) -> int | None:
        blocks, size = self._layout()
        if not size:
            return None
        for row, members in enumerate(self._rows):
            left, top = self._row_origin(row, blocks, size)
            if top <= y < top + size and left <= x < left + len(members) * (size + GAP):
                column, offset = divmod(x - left, size + GAP)
                return members[column] if offset < size else None
        return None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(27, 29, 33))
        if not self._images:
            painter.setPen(QColor(140, 142, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        blocks, size = self._layout()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        metrics = painter.fontMetrics()
        for row, members in enumerate(self._rows):
            left, top = self._row_origin(row, blocks, size)
            if self._names:
                painter.setPen(QColor(220, 222, 228))
                name = self._names[row] if row < len(self._names) else f"class {row}"
                text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, NAME_WIDTH - 10)
                painter.drawText(
                    QRect(left - NAME_WIDTH, top, NAME_WIDTH - 6, size),
                    Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                    text,
                )
            for column, index in enumerate(members):
                target = QRect(left + column * (size + GAP), top, size, size)
                painter.drawImage(target, self._images[index])
                if index == self._selected:
                    painter.setPen(QPen(QColor(66, 133, 214), 2))
                    painter.drawRect(target.adjusted(-1, -1, 0, 0))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(int(event.position().x()), int(event.position().y()))
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.select(index)
            self.picked.emit(index)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(int(event.position().x()), int(event.position().y()))
        self.setCursor(Qt.CursorShape.PointingHandCursor if index is not None else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(event)
