"""The Classify panel's viewer: the selected cutout under its explanation map, the map's
controls, every class's probability and the row that adds the cutout to the project.

Only blending the finished map over the image happens here, on the GUI thread, which is cheap,
so the opacity and colour map follow the controls at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from galaxy_studio.gui.widgets.familiarity_note import FamiliarityNote
from galaxy_studio.gui.widgets.image_view import ImageView
from galaxy_studio.gui.widgets.network_view_box import NetworkViewBox
from galaxy_studio.gui.widgets.probability_bars import ProbabilityBars
from galaxy_studio.model.config import COLOUR_MAPS, EXPLANATION_METHODS, EXPLANATION_TITLES

PREDICTED_TARGET = "Predicted class"


@dataclass(frozen=True)
class Explanation:
    """One cutout's map, with the pixels it is drawn over and the colour table it asked for."""

    key: int
    rgb: np.ndarray
    values: np.ndarray
    colour_map: str
    table: np.ndarray
    # (left, top, side) of what the network reads, or None when it reads the whole cutout.
    box: tuple[int, int, int] | None


class ClassifyViewer(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.display_rgb: np.ndarray | None = None
        self.attribution: np.ndarray | None = None
        self._colour_tables: dict[str, np.ndarray] = {}
        self.title = QLabel("Drop cutouts to classify them")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = ImageView()
        self.view.empty_text = "The selected cutout appears here with the explanation over it"
        self.view.overlay = self.view_box = NetworkViewBox()
        self.bars = ProbabilityBars()
        self.familiarity = FamiliarityNote()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.familiarity)
        layout.addLayout(self._build_map_controls())
        layout.addWidget(self.view, 1)
        layout.addWidget(self.bars)
        layout.addLayout(self._build_add_row())

    def _build_map_controls(self) -> QHBoxLayout:
        self.method = QComboBox()
        for key in EXPLANATION_METHODS:
            self.method.addItem(EXPLANATION_TITLES[key], key)
        self.method.setCurrentIndex(EXPLANATION_METHODS.index("gradcam"))
        self.method.setToolTip("How the map is made (Captum)")
        self.target = QComboBox()
        self.target.setToolTip("The class whose evidence is shown")
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Opacity of the map over the image")
        self.opacity.valueChanged.connect(self.redraw_overlay)
        self.colour_map = QComboBox()
        self.colour_map.addItems(list(COLOUR_MAPS))
        self.colour_map.currentIndexChanged.connect(self.redraw_overlay)
        controls = QHBoxLayout()
        for label, widget in (
            ("Map", self.method),
            ("Class", self.target),
            ("Opacity", self.opacity),
            ("Colours", self.colour_map),
        ):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        return controls

    def _build_add_row(self) -> QHBoxLayout:
        self.label_choice = QComboBox()
        self.label_choice.setToolTip("The class to record in the project (correct the prediction here)")
        # Empty until a project or a model names the classes.
        self.label_choice.setPlaceholderText("The class to add a cutout as: the open project's or the model's")
        self.add_button = QPushButton("Add to project with this label")
        self.add_button.setToolTip("Add the cutout to the project open in the Library, labelled with this class")
        row = QHBoxLayout()
        row.addWidget(self.label_choice, 1)
        row.addWidget(self.add_button)
        return row

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """The model's classes as map targets, the chosen one kept where the new model has it."""
        current = self.target.currentText()
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItem(PREDICTED_TARGET, None)
        for index, name in enumerate(classes):
            self.target.addItem(name, index)
        self.target.setCurrentIndex(max(self.target.findText(current), 0))
        self.target.blockSignals(False)

    def show_explanation(self, explanation: Explanation) -> None:
        self.display_rgb, self.attribution = explanation.rgb, explanation.values
        self.view_box.box = explanation.box
        self.redraw_overlay()

    def remember_colour_table(self, explanation: Explanation) -> None:
        """The job built the colour table (matplotlib is imported there, not on this thread)."""
        self._colour_tables[explanation.colour_map] = explanation.table

    def show_no_explanation(self, message: str) -> None:
        self.display_rgb = self.attribution = None
        self.view_box.box = None
        self.view.set_image(None)
        self.view.empty_text = f"No explanation: {message}"

    def redraw_overlay(self) -> None:
        if self.display_rgb is None or self.attribution is None:
            return
        from galaxy_studio.model.explain import colour_map_table, overlay_rgb

        name = self.colour_map.currentText()
        if name not in self._colour_tables:
            self._colour_tables[name] = colour_map_table(name)
        blended = overlay_rgb(
            self.display_rgb, self.attribution, opacity=self.opacity.value() / 100, table=self._colour_tables[name]
        )
        self.view.set_image(blended, keep_view=True)
