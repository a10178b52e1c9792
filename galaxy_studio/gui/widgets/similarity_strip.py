"""A row of a cutout's nearest neighbours: thumbnail, cosine similarity, click to jump.

The strip is laid out as soon as the neighbours are known (names and similarities are
instant); thumbnails arrive later from a worker and fill their tiles, so a slow disk
never delays the list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QToolButton, QWidget

from galaxy_studio.gui.widgets.thumbnail_grid import rgb_to_qimage

TILE_SIZE = 72


class SimilarityStrip(QScrollArea):
    """`neighbour_clicked(index)` carries the embedding row of the clicked neighbour."""

    neighbour_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(TILE_SIZE + 52)
        self.indices: list[int] = []
        self.similarities: list[float] = []
        self.tiles: list[QToolButton] = []
        self._inner = QWidget()
        self._row = QHBoxLayout(self._inner)
        self._row.setContentsMargins(2, 2, 2, 2)
        self._row.setSpacing(4)
        self.hint = QLabel("Click a dot on the map: its most similar cutouts appear here")
        self.hint.setStyleSheet("color: #8c8e96;")
        self._row.addWidget(self.hint)
        self._row.addStretch(1)
        self.setWidget(self._inner)

    def set_neighbours(self, indices: Sequence[int], similarities: Sequence[float], names: Sequence[str]) -> None:
        for tile in self.tiles:
            self._row.removeWidget(tile)
            tile.deleteLater()
        self.tiles = []
        self.indices = [int(i) for i in indices]
        self.similarities = [float(s) for s in similarities]
        self.hint.setVisible(not self.indices)
        for position, (index, similarity, name) in enumerate(zip(self.indices, self.similarities, names)):
            tile = QToolButton()
            tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            tile.setIconSize(QSize(TILE_SIZE, TILE_SIZE))
            tile.setFixedSize(TILE_SIZE + 12, TILE_SIZE + 40)
            tile.setText(f"{similarity:.3f}")
            tile.setToolTip(f"{name}\ncosine similarity {similarity:.4f}\nclick to show it")
            tile.setAutoRaise(True)
            tile.clicked.connect(lambda _=False, i=index: self.neighbour_clicked.emit(i))
            self._row.insertWidget(position, tile)
            self.tiles.append(tile)

    def set_thumbnail(self, index: int, rgb: np.ndarray) -> None:
        """Fill the tile of embedding row `index`, if it is still shown."""
        if index in self.indices:
            pixmap = QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(
                TILE_SIZE, TILE_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self.tiles[self.indices.index(index)].setIcon(QIcon(pixmap))

    def clear(self) -> None:
        self.set_neighbours([], [], [])
