"""Which image of a FITS file the viewer shows: any image HDU, or one plane of a cube.

A file with one image shows no picker. The first entry is the reader's own choice
(the first image, or same-shaped band HDUs combined into colour), so picking a
layer is always a step away from the default and back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from galaxy_studio.data.cutout import CutoutError

if TYPE_CHECKING:
    from galaxy_studio.data.fits import ImageLayer

DEFAULT_LAYER = "As opened (first image, bands combined)"
Layer = tuple[int, int | None]


class LayerPicker(QWidget):
    """`layer_chosen(Layer | None)` when the user picks an HDU/plane (None: the default read)."""

    layer_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setToolTip("Image HDU or cube plane of this FITS file")
        self.combo.setMinimumContentsLength(30)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMaxVisibleItems(20)
        self.combo.currentIndexChanged.connect(self._on_index_changed)
        self.count = QLabel()
        caption = QLabel("Layer")
        caption.setBuddy(self.combo)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(caption)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.count)
        self.path = ""
        self.layers: list[ImageLayer] = []
        self.hide()

    def set_file(self, path: str, is_fits: bool) -> None:
        """List the layers of a newly shown file (headers only); hidden unless there is a choice."""
        if path == self.path:
            return
        self.path = path
        # astropy.io.fits is imported with the first FITS file, not at window start.
        from galaxy_studio.data.fits import list_image_layers

        try:
            self.layers = list_image_layers(Path(path)) if is_fits else []
        except CutoutError:
            self.layers = []
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(DEFAULT_LAYER, None)
        for layer in self.layers:
            self.combo.addItem(layer.label(), (layer.hdu, layer.plane))
        self.combo.blockSignals(False)
        self.count.setText(f"{len(self.layers)} images")
        self.setVisible(len(self.layers) > 1)

    def current_layer(self) -> Layer | None:
        return self.combo.currentData()

    def layer_of(self, path: str) -> Layer | None:
        """The layer picked for `path` if it is the file listed now (else None: the default read)."""
        return self.current_layer() if path == self.path else None

    def _on_index_changed(self) -> None:
        self.layer_chosen.emit(self.current_layer())
