"""Stretch, interval, colour map, limits, composite and band choices for the image view."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from galaxy_studio.data.colormaps import COLORMAPS
from galaxy_studio.data.cutout import Cutout
from galaxy_studio.data.display import (
    COMPOSITES,
    INTERVALS,
    STRETCHES,
    DisplaySettings,
    auto_bands,
    display_limits,
    pixel_histogram,
)
from galaxy_studio.gui.widgets.flow_layout import FlowLayout
from galaxy_studio.gui.widgets.scale_limits import ScaleLimits

AUTO_BANDS = "auto"
GREY_PREFIX = "grey: "


def band_choices(bands: list[str]) -> list[tuple[str, tuple[int, ...] | None]]:
    """Menu entries for the band mapping: auto, each band in grey, and colour triples."""
    choices: list[tuple[str, tuple[int, ...] | None]] = [(AUTO_BANDS, None)]
    choices += [(f"{GREY_PREFIX}{name}", (i,)) for i, name in enumerate(bands)]
    n = len(bands)
    if n >= 3:
        for start in range(n - 2):
            triple = (start + 2, start + 1, start)
            choices.append((f"RGB: {bands[triple[0]]},{bands[triple[1]]},{bands[triple[2]]}", triple))
            forward = (start, start + 1, start + 2)
            choices.append((f"RGB: {bands[forward[0]]},{bands[forward[1]]},{bands[forward[2]]}", forward))
    return choices


class DisplayControls(QWidget):
    """Emits `changed` with a new DisplaySettings whenever the user edits a control, and
    `overlay_changed(compass, grid)` when the sky overlay switches change. `scale_limits`
    (the histogram) is placed by the panel, under the image."""

    changed = Signal(object)
    overlay_changed = Signal(bool, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False
        self._limits: tuple[float, float] | None = None
        self.colormap = self._combo(COLORMAPS, "Colour map for a single band (three bands are shown in colour)")
        self.compass = QCheckBox("Compass")
        self.compass.setChecked(True)
        self.compass.setToolTip("North and east arrows from the image's WCS (says so when there is none)")
        self.grid = QCheckBox("Grid")
        self.grid.setToolTip("Lines of constant RA and Dec from the image's WCS")
        for box in (self.compass, self.grid):
            box.toggled.connect(lambda _: self.overlay_changed.emit(self.compass.isChecked(), self.grid.isChecked()))
        self.scale_limits = ScaleLimits()
        self.scale_limits.limits_changed.connect(self._on_limits_changed)
        self.stretch = self._combo(STRETCHES, "Stretch: how pixel values map to brightness")
        self.interval = self._combo(INTERVALS, "Interval: which value range is shown (zscale as in DS9)")
        self.composite = self._combo(
            COMPOSITES, "Colour composite: independent stretch per band, or Lupton et al. (2004) RGB"
        )
        self.bands = QComboBox()
        self.bands.setToolTip("Bands shown: one in grey, or three as red, green, blue")
        self.bands.setMinimumContentsLength(8)
        self.bands.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.bands.currentIndexChanged.connect(self._emit)
        self.linked = QCheckBox("Linked")
        self.linked.setToolTip("One interval for all bands (keeps the colour balance)")
        self.linked.toggled.connect(self._emit)
        self.invert = QCheckBox("Invert")
        self.invert.setToolTip("Dark objects on a light sky")
        self.invert.toggled.connect(self._emit)
        self.brightness = self._slider(-100, 100, 0, "Brightness: shifts the displayed levels (after the stretch)")
        self.contrast = self._slider(
            10, 400, 100, "Contrast: steepens the displayed levels about mid-grey (after the stretch)"
        )
        # Two rows that wrap on a narrow window (a caption stays with its control): the
        # mapping of values to brightness, then the adjustments and overlays, to which a
        # panel adds its own buttons.
        top = FlowLayout()
        self.band_choice = _captioned("Bands", self.bands)
        for widget in (
            _captioned("Stretch", self.stretch),
            _captioned("Interval", self.interval),
            self.band_choice,
            _captioned("Map", self.colormap),
            _captioned("Colour", self.composite),
            self.linked,
        ):
            top.addWidget(widget)
        self.extra_row = FlowLayout()
        for widget in (
            _captioned("Brightness", self.brightness),
            _captioned("Contrast", self.contrast),
            self.invert,
            self.compass,
            self.grid,
        ):
            self.extra_row.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(self.extra_row)
        self.set_bands([])

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Ask for the height the wrapped rows need at this width: a splitter gives its panes
        their minimum height, not the height a wrapping layout would like, and rows squeezed
        below it overlap."""
        super().resizeEvent(event)
        needed = self.layout().heightForWidth(event.size().width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    def hide_band_choice(self) -> None:
        """For pictures that are always shown as they are (RGB prototypes): no band menu."""
        self.band_choice.hide()

    def _slider(self, low: int, high: int, value: int, tip: str) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(value)
        slider.setFixedWidth(110)
        slider.setToolTip(tip)
        slider.valueChanged.connect(self._emit)
        return slider

    def _combo(self, values: tuple[str, ...], tip: str) -> QComboBox:
        combo = QComboBox()
        combo.addItems(list(values))
        combo.setToolTip(tip)
        combo.currentIndexChanged.connect(self._emit)
        return combo

    def set_bands(self, bands: list[str]) -> None:
        """Offer the band mappings of a newly shown cutout, keeping the choice when it still fits."""
        self._updating = True
        current = self.bands.currentData()
        self.bands.clear()
        for text, value in band_choices(bands):
            self.bands.addItem(text, value)
        self.bands.setCurrentIndex(self._band_position(current))
        self.bands.setEnabled(len(bands) > 1)
        self._updating = False

    def _band_position(self, bands: tuple[int, ...] | None) -> int:
        """Menu row of a band mapping (0, "auto", when it is not offered)."""
        for row in range(self.bands.count()):
            if self.bands.itemData(row) == bands:
                return row
        return 0

    def settings(self) -> DisplaySettings:
        return DisplaySettings(
            stretch=self.stretch.currentText(),
            interval=self.interval.currentText(),
            composite=self.composite.currentText(),
            bands=self.bands.currentData(),
            invert=self.invert.isChecked(),
            linked=self.linked.isChecked(),
            brightness=self.brightness.value() / 100.0,
            contrast=self.contrast.value() / 100.0,
            colormap=self.colormap.currentText(),
            limits=self._limits,
        )

    def set_settings(self, settings: DisplaySettings) -> None:
        self._updating = True
        self.stretch.setCurrentText(settings.stretch)
        self.interval.setCurrentText(settings.interval)
        self.composite.setCurrentText(settings.composite)
        self.linked.setChecked(settings.linked)
        self.invert.setChecked(settings.invert)
        self.brightness.setValue(round(settings.brightness * 100))
        self.contrast.setValue(round(settings.contrast * 100))
        self.bands.setCurrentIndex(self._band_position(settings.bands))
        self.colormap.setCurrentText(settings.colormap)
        self._limits = settings.limits
        self._updating = False

    def show_scale(self, cutout: Cutout, settings: DisplaySettings) -> None:
        """The histogram and limits of what is shown; the Map menu is live only for one band."""
        bands = settings.bands if settings.bands is not None else auto_bands(cutout)
        self.colormap.setEnabled(len(bands) == 1)
        limits = display_limits(cutout, settings)
        histogram = pixel_histogram(cutout, settings, limits)
        self.scale_limits.set_state(histogram, limits[0], settings.limits is not None, len(set(limits)) > 1)

    def _on_limits_changed(self, limits: tuple[float, float] | None) -> None:
        self._limits = limits
        self._emit()

    def _emit(self) -> None:
        if not self._updating:
            self.changed.emit(self.settings())


def _captioned(text: str, control: QWidget) -> QWidget:
    """A control with its caption before it, kept together when the row wraps."""
    pair = QWidget()
    layout = QHBoxLayout(pair)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    caption = QLabel(text)
    caption.setBuddy(control)
    layout.addWidget(caption)
    layout.addWidget(control)
    return pair
