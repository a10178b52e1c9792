"""The Classify panel's table of predictions: a thumbnail, the cutout, the predicted class in
its colour, confidence, entropy, whether the input looks unfamiliar and, with a project open,
the label the cutout has there; sortable by the numbers behind the text."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from galaxy_studio.gui.widgets.class_swatch import swatch_icon
from galaxy_studio.gui.widgets.familiarity_note import ROW_TINT, warning_icon
from galaxy_studio.gui.widgets.thumbnail_grid import rgb_to_qimage
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.path_text import readable

if TYPE_CHECKING:
    from galaxy_studio.model.classification import Prediction

THUMBNAIL_SIZE = 48
KEY_ROLE = Qt.ItemDataRole.UserRole
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 2
NAME_COLUMN, PREDICTED_COLUMN, PROJECT_COLUMN = 1, 2, 6
_UNLABELLED_COLOUR = QColor(150, 150, 150)
# The least width of the cutout column ("105529.jpg", "J0913+2140…fits" elided in the middle).
_NAME_MIN_WIDTH = 84


@dataclass(frozen=True)
class ProjectLabel:
    """A classified cutout as the open project holds it: its image id, the label that counts
    there (None: unlabelled) and the prediction in the project's spelling of the class."""

    image_id: int
    class_name: str | None
    predicted: str

    @property
    def agrees(self) -> bool:
        return self.class_name == self.predicted


class _SortableItem(QTableWidgetItem):
    """Sorts by the number behind the text (confidence 9.5% after 10.2%, not before)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT_ROLE), other.data(_SORT_ROLE)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


def _familiarity_item(prediction: Prediction) -> QTableWidgetItem:
    """⚠ and "yes" for an unfamiliar input, with the score's percentile among the validation
    galaxies; sorted by that percentile, unfamiliar ones last."""
    percentile = prediction.ood_percentile
    text = "yes" if prediction.unfamiliar else "no"
    if percentile is not None:
        text += f" · {percentile:.0f}%ile"
    item = _SortableItem(text)
    item.setData(_SORT_ROLE, (prediction.unfamiliar, -1.0 if percentile is None else percentile))
    if prediction.unfamiliar:
        item.setIcon(warning_icon())
        item.setToolTip("\n".join(prediction.unfamiliar_reasons))
    return item


def _project_item(label: ProjectLabel | None) -> QTableWidgetItem:
    """The project's label, "≠" before it where the prediction differs; sorted with the
    disagreements first, then agreements, unlabelled cutouts and those not in the project."""
    if label is None:
        item = _SortableItem("")
        item.setData(_SORT_ROLE, (3, ""))
        item.setToolTip("Not in the open project")
        return item
    if label.class_name is None:
        item = _SortableItem("unlabelled")
        item.setForeground(_UNLABELLED_COLOUR)
        item.setData(_SORT_ROLE, (2, ""))
        item.setToolTip("In the open project, not labelled yet")
    elif label.agrees:
        item = _SortableItem(label.class_name)
        item.setData(_SORT_ROLE, (1, label.class_name))
        item.setToolTip(f"Labelled {label.class_name} in the project, as predicted")
    else:
        item = _SortableItem(f"≠ {label.class_name}")
        item.setData(_SORT_ROLE, (0, label.class_name))
        item.setToolTip(f"Labelled {label.class_name} in the project; the model predicts {label.predicted}")
    item.setData(_IMAGE_ID_ROLE, label.image_id)
    return item


class PredictionTable(QTableWidget):
    """Each row holds its prediction's key (its place in the panel's list) under KEY_ROLE in
    the cutout's column, so that rows can be sorted without losing their predictions."""

    # True while the cutout column is being fitted, and until the table is built.
    _fitting = True

    def __init__(self, session: LabellingSession, parent: QWidget | None = None) -> None:
        super().__init__(0, 7, parent)
        self.session = session
        self.setHorizontalHeaderLabels(
            ["", "Cutout", "Predicted", "Confidence", "Entropy", "Unfamiliar", "Project label"]
        )
        self.horizontalHeaderItem(5).setToolTip(
            "⚠: the cutout looks unlike the model's training data (other bands, format, pixel scale or "
            "brightness, or an out-of-distribution score above 99% of the validation galaxies'); "
            "the number is that score's percentile among the validation galaxies"
        )
        self.horizontalHeaderItem(PROJECT_COLUMN).setToolTip(
            "The cutout's label in the open project (yours, else the labellers' consensus; a model's "
            "suggestion is not a label); ≠ marks a label the prediction disagrees with, and a blank "
            "cell a cutout the project does not hold. Sorting by it puts the disagreements first"
        )
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # A file name's start (a survey's prefix) and end (its number) both tell cutouts apart.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setIconSize(QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE).size())
        self.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 4)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        self.setColumnWidth(0, THUMBNAIL_SIZE + 8)
        header.setSectionResizeMode(NAME_COLUMN, QHeaderView.ResizeMode.Fixed)
        header.setMinimumSectionSize(60)
        header.sectionResized.connect(self._on_section_resized)
        for column in (2, 3, 4, 5, PROJECT_COLUMN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setSortingEnabled(True)
        self._fitting = False

    def add_rows(self, first_key: int, predictions: list[Prediction], thumbnails: list[np.ndarray | None]) -> None:
        """A row per prediction, keyed first_key, first_key + 1, ...; sorting waits until all
        are in, so that each lands where the current sort puts it."""
        self.setSortingEnabled(False)
        for key, (prediction, thumbnail) in enumerate(zip(predictions, thumbnails), start=first_key):
            row = self.rowCount()
            self.insertRow(row)
            icon_item = QTableWidgetItem()
            if thumbnail is not None:
                icon_item.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(thumbnail))))
            name_item = _SortableItem(prediction.name)
            name_item.setToolTip(readable(prediction.path))
            name_item.setData(KEY_ROLE, key)
            confidence = _SortableItem(f"{100 * prediction.confidence:.1f}%")
            confidence.setData(_SORT_ROLE, prediction.confidence)
            entropy = _SortableItem(f"{prediction.entropy:.3f}")
            entropy.setData(_SORT_ROLE, prediction.entropy)
            predicted = _SortableItem(prediction.predicted)
            self._style_predicted(predicted)
            familiarity = _familiarity_item(prediction)
            project = _project_item(None)
            cells = (icon_item, name_item, predicted, confidence, entropy, familiarity, project)
            for column, item in enumerate(cells):
                if prediction.unfamiliar:
                    item.setBackground(ROW_TINT)
                self.setItem(row, column, item)
        self.setSortingEnabled(True)

    def show_project_column(self, shown: bool) -> None:
        self.setColumnHidden(PROJECT_COLUMN, not shown)
        self._fit_name_column()

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if column != NAME_COLUMN:
            self._fit_name_column()

    def updateGeometries(self) -> None:
        """Also when a scroll bar comes or goes, which changes the room the columns share."""
        super().updateGeometries()
        self._fit_name_column()

    def _fit_name_column(self) -> None:
        """The cutout column takes the room the other columns leave, but never less than a
        readable width: below that the table scrolls sideways. Stretched as Qt stretches, it
        was squeezed to "10…pg" beside six columns in a narrow window."""
        if self._fitting:
            return
        self._fitting = True
        try:
            shown = [column for column in range(self.columnCount()) if column != NAME_COLUMN]
            others = sum(self.columnWidth(column) for column in shown if not self.isColumnHidden(column))
            self.setColumnWidth(NAME_COLUMN, max(self.viewport().width() - others, _NAME_MIN_WIDTH))
        finally:
            self._fitting = False

    def _style_predicted(self, item: QTableWidgetItem) -> None:
        """The predicted class's dot in the session's colour, named as the project has it."""
        style = self.session.class_style(item.text())
        item.setIcon(swatch_icon(style))
        item.setToolTip(style.name + (f" (key {style.key})" if style.key else ""))

    def recolour(self) -> None:
        for row in range(self.rowCount()):
            item = self.item(row, PREDICTED_COLUMN)
            if item is not None:
                self._style_predicted(item)

    def show_project_labels(self, labels: Mapping[int, ProjectLabel | None]) -> None:
        """Fill the project column of the rows whose keys `labels` holds (None: the project
        does not hold that cutout), in one pass over the rows."""
        self.setSortingEnabled(False)
        for row in range(self.rowCount()):
            name_item = self.item(row, NAME_COLUMN)
            key = name_item.data(KEY_ROLE)
            if key not in labels:
                continue
            label = labels[key]
            item = _project_item(label)
            if label is not None and label.class_name is not None:
                item.setIcon(swatch_icon(self.session.class_style(label.class_name)))
            item.setBackground(name_item.background())
            self.setItem(row, PROJECT_COLUMN, item)
        self.setSortingEnabled(True)

    def keys_of_images(self, image_ids: Collection[int]) -> list[int]:
        """The keys of the rows showing one of these project images."""
        keys = []
        for row in range(self.rowCount()):
            project = self.item(row, PROJECT_COLUMN)
            if project is not None and project.data(_IMAGE_ID_ROLE) in image_ids:
                keys.append(self.item(row, NAME_COLUMN).data(KEY_ROLE))
        return keys

    def row_of_key(self, key: int) -> int | None:
        for row in range(self.rowCount()):
            item = self.item(row, NAME_COLUMN)
            if item is not None and item.data(KEY_ROLE) == key:
                return row
        return None

    def selected_key(self) -> int | None:
        rows = self.selectionModel().selectedRows(NAME_COLUMN)
        return rows[0].data(KEY_ROLE) if rows else None
