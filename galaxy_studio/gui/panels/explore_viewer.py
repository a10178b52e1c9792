"""The Explore tab's viewer: the cutout clicked on the map, large and with its display
controls, above a strip of its nearest neighbours in the embedding.

The viewer reads the cutout and the neighbours' thumbnails in workers of its own; the panel
finds the neighbours (it holds the index) and hears `neighbour_clicked` to show one of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.widgets.cutout_loader import CutoutLoader
from galaxy_studio.gui.widgets.display_controls import DisplayControls
from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.similarity_strip import TILE_SIZE, SimilarityStrip
from galaxy_studio.gui.worker import LatestRequestRunner
from galaxy_studio.path_text import readable

NEIGHBOURS = 12
NO_CUTOUT_TITLE = "Click a dot to see the cutout"


class CutoutViewer(QWidget):
    """`neighbour_clicked(row)` with the map row of a neighbour's tile; `status(text)` when the
    neighbours' thumbnails could not be made."""

    neighbour_clicked = Signal(int)
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cutout: Cutout | None = None
        self.user_settings: DisplaySettings | None = None
        self.thumbnails = LatestRequestRunner(self)
        self.loader = CutoutLoader(self)
        self.loader.shown.connect(self._on_cutout_shown)
        self.loader.failed.connect(self._on_cutout_failed)
        self.title = QLabel(NO_CUTOUT_TITLE)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.controls = DisplayControls()
        self.controls.changed.connect(self._on_settings_changed)
        self.controls.hide()
        self.view = ImageView()
        self.view.empty_text = "The cutout you click on the map appears here"
        self.strip = SimilarityStrip()
        self.strip.neighbour_clicked.connect(self.neighbour_clicked)
        self.strip_title = QLabel(f"Most similar cutouts (cosine similarity of the embeddings, {NEIGHBOURS} nearest)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.controls)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.strip_title)
        layout.addWidget(self.strip)

    def show_cutout(
        self,
        item: CatalogItem,
        described: str,
        neighbours: list[tuple[int, CatalogItem]],
        similarities: Sequence[float],
    ) -> None:
        """Show `item` large, captioned with `described` (its class), and its `neighbours`
        (map row and item, nearest first) with their similarities."""
        self.title.setText(f"<b>{item.name}</b> · {described}")
        self.title.setToolTip(readable(item.path))
        self.loader.load(item, self.user_settings)
        self.strip.set_neighbours(
            [row for row, _ in neighbours], similarities, [neighbour.name for _, neighbour in neighbours]
        )
        self._show_neighbour_thumbnails(neighbours)

    def clear(self) -> None:
        """A new map: no dot of it is clicked yet."""
        self.strip.clear()
        self.view.set_image(None)
        self.title.setText(NO_CUTOUT_TITLE)

    def _show_neighbour_thumbnails(self, wanted: list[tuple[int, CatalogItem]]) -> None:
        from galaxy_studio.data.thumbnails import make_thumbnail

        def job(emit: EventSink, cancel: CancelToken) -> list[tuple[int, np.ndarray]]:
            made = []
            for row, item in wanted:
                cancel.raise_if_set()
                try:
                    made.append((row, make_thumbnail(item, TILE_SIZE)))
                except Exception:  # noqa: BLE001 - an unreadable neighbour keeps an empty tile, the rest still show
                    continue
            return made

        self.thumbnails.request(job, on_success=self._on_thumbnails, on_failure=self._on_thumbnails_failed)

    def _on_thumbnails(self, made: list[tuple[int, np.ndarray]]) -> None:
        for row, rgb in made:
            self.strip.set_thumbnail(row, rgb)

    def _on_thumbnails_failed(self, message: str) -> None:
        self.status.emit(f"No thumbnails for the neighbours: {message}")

    def _on_cutout_shown(self, request: int, cutout: Cutout, rgb: object, settings: DisplaySettings) -> None:
        if request != self.loader.latest:
            return
        keep_view = self.cutout is not None and self.cutout.source == cutout.source
        self.cutout = cutout
        self.controls.show()
        self.controls.set_bands(cutout.bands)
        self.controls.set_settings(settings)
        self.view.set_image(rgb, keep_view=keep_view)  # type: ignore[arg-type]

    def _on_cutout_failed(self, request: int, message: str) -> None:
        if request == self.loader.latest:
            self.cutout = None
            self.view.set_image(None)
            self.view.empty_text = f"Cannot show this cutout: {message}"
            self.view.update()

    def _on_settings_changed(self, settings: DisplaySettings) -> None:
        self.user_settings = settings
        if self.cutout is not None:
            self.loader.render(self.cutout, settings)

    def shutdown(self) -> None:
        self.thumbnails.shutdown()
        self.loader.shutdown()
