"""The Explore tab's map area: the colouring and projection choices, the lasso and Fit above
the map; the map with its legend (or, before there is a map, the text that says what to do);
and below it the selection's count with the class to label it as.

The area draws what the panel hands it (the points, the labels, the clusters); the panel
computes projections and saves labels, so the area asks for those with signals."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.gui.widgets.embedding_map import EmbeddingMap
from galaxy_studio.labels.schemes import class_colour

if TYPE_CHECKING:
    from galaxy_studio.labels.class_styles import ClassStyle

PROJECTIONS = (("PCA", "pca"), ("t-SNE", "tsne"))
COLOUR_BY = ("Label", "Suggestion", "Cluster")
UNLABELLED_RGBA = (120, 122, 132, 150)


class MapArea(QWidget):
    """`recolour_requested` when another colouring is chosen; `reproject_requested` when
    another projection is; `label_requested` and `undo_requested` when Label selection and
    Undo batch are pressed."""

    recolour_requested = Signal()
    reproject_requested = Signal()
    label_requested = Signal()
    undo_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.legend_entries: list[tuple[str, int, tuple[int, int, int]]] = []
        self.map = EmbeddingMap()
        self.map.hideButtons()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_tools())
        layout.addWidget(self._build_stack(), 1)
        layout.addLayout(self._build_labelling())

    def _build_tools(self) -> QHBoxLayout:
        self.colour_by = QComboBox()
        self.colour_by.addItems(list(COLOUR_BY))
        self.colour_by.setToolTip(
            "Colour the dots by their label in the project, the model's suggestion "
            "(Classify → Suggest labels), or their cluster"
        )
        self.colour_by.currentIndexChanged.connect(self.recolour_requested)
        self.projection = QComboBox()
        for title, key in PROJECTIONS:
            self.projection.addItem(title, key)
        self.projection.setToolTip(
            "PCA: fast and faithful to large distances; t-SNE: keeps neighbourhoods, separates groups better, slower"
        )
        self.projection.currentIndexChanged.connect(self.reproject_requested)
        self.lasso_button = QToolButton()
        self.lasso_button.setText("Lasso")
        self.lasso_button.setCheckable(True)
        self.lasso_button.setToolTip(
            "Drag round dots to select them (Shift+drag does this without the tool; "
            "hold Ctrl too to add to the selection; Esc clears)"
        )
        self.lasso_button.toggled.connect(self.map.set_lasso_tool)
        fit_button = QToolButton()
        fit_button.setText("Fit")
        fit_button.setToolTip("Show the whole map (the mouse wheel zooms, dragging pans)")
        fit_button.clicked.connect(lambda: self.map.view_box.autoRange(padding=0.05))
        tools = QHBoxLayout()
        for caption, widget in (("Colour", self.colour_by), ("Map", self.projection)):
            tools.addWidget(QLabel(caption))
            tools.addWidget(widget)
        tools.addWidget(self.lasso_button)
        tools.addWidget(fit_button)
        tools.addStretch(1)
        return tools

    def _build_stack(self) -> QStackedWidget:
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #a0a2aa; padding: 40px; background: #1b1d21;")
        self.legend = QLabel()
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        legend_scroll = QScrollArea()
        legend_scroll.setWidget(self.legend)
        legend_scroll.setWidgetResizable(True)
        legend_scroll.setFixedWidth(240)
        legend_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        map_with_legend = QWidget()
        map_row = QHBoxLayout(map_with_legend)
        map_row.setContentsMargins(0, 0, 0, 0)
        map_row.setSpacing(0)
        map_row.addWidget(self.map, 1)
        map_row.addWidget(legend_scroll)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(map_with_legend)
        return self.stack

    def _build_labelling(self) -> QHBoxLayout:
        self.selection_label = QLabel("0 selected")
        self.class_choice = QComboBox()
        self.class_choice.setMinimumContentsLength(14)
        self.class_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_choice.setPlaceholderText("open a project to label")
        self.class_choice.setToolTip(
            "The class to give the selection (its key, 1–9 then 0 as in the Library, chooses and labels at once)"
        )
        self.label_button = QPushButton("Label selection")
        self.label_button.setToolTip(
            "Save this label for every selected cutout in the project "
            "(ordinary labels: Ctrl+Z undoes one, Undo batch all of them)"
        )
        self.label_button.clicked.connect(self.label_requested)
        self.undo_button = QPushButton("Undo batch")
        self.undo_button.setToolTip("Take back every label of the last selection or cluster labelled here")
        self.undo_button.clicked.connect(self.undo_requested)
        labelling = QHBoxLayout()
        labelling.addWidget(self.selection_label)
        labelling.addStretch(1)
        labelling.addWidget(QLabel("Label as"))
        labelling.addWidget(self.class_choice)
        labelling.addWidget(self.label_button)
        labelling.addWidget(self.undo_button)
        return labelling

    def show_map(self) -> None:
        """The map replaces the text that said what to do before there was one."""
        self.stack.setCurrentIndex(1)

    def colour_dots(
        self, labels: np.ndarray, suggested: np.ndarray, clusters: np.ndarray | None, styles: list[ClassStyle]
    ) -> None:
        """Colour each dot as Colour says: by its label or suggestion (a position in `styles`,
        -1 for none) in the class's colour, or by its cluster once there are clusters."""
        mode = self.colour_by.currentText()
        if mode == "Cluster" and clusters is not None:
            codes = clusters.astype(np.int64)
            counts = Counter(codes.tolist())
            palette = [(*class_colour(c), 230) for c in range(int(codes.max()) + 1)]
            legend = [(f"cluster {c + 1}", counts[c], c) for c in sorted(counts)]
        else:
            values = suggested if mode == "Suggestion" else labels
            unlabelled = len(styles)
            codes = np.where(values >= 0, values, unlabelled)
            counts = Counter(codes.tolist())
            palette = [(*style.colour, 230) for style in styles] + [UNLABELLED_RGBA]
            legend = [(style.caption, counts[c], c) for c, style in enumerate(styles) if counts[c]]
            if counts[unlabelled]:
                legend.append(
                    ("no suggestion" if mode == "Suggestion" else "unlabelled", counts[unlabelled], unlabelled)
                )
        self.map.set_colours(codes, palette)
        self.legend_entries = [(name, count, palette[code][:3]) for name, count, code in legend]
        self.legend.setText(
            "<table cellspacing=2>"
            + "".join(
                f"<tr><td style='color:rgb({r},{g},{b})'>●</td><td>{escape(name)}</td>"
                f"<td align=right style='color:#9a9ca4'>{count}</td></tr>"
                for name, count, code in legend
                for r, g, b, _ in [palette[code]]
            )
            + "</table>"
        )

    def set_enabled(self, *, has_map: bool, busy: bool, has_project: bool, can_undo: bool) -> None:
        selected = len(self.map.selected_indices()) if has_map else 0
        self.projection.setEnabled(has_map and not busy)
        self.label_button.setEnabled(has_project and selected > 0 and not busy)
        hint = " · open a project to label" if selected and not has_project else ""
        self.selection_label.setText(f"{selected} selected{hint}")
        self.undo_button.setEnabled(has_project and can_undo and not busy)
