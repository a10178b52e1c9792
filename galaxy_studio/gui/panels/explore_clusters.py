"""The Explore tab's Clusters box: k and the method, the clusters found with the class each
matches best, the scores of every clustering so far, and a cluster's cutouts to select or label.

The box holds the clusters; the panel runs the clustering job, draws the map and labels, so
the box asks for those with signals."""

from __future__ import annotations

from collections import Counter

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QPushButton, QSpinBox, QVBoxLayout, QWidget

from galaxy_studio.explore.clustering import CLUSTER_METHODS, ClusterScore
from galaxy_studio.gui.widgets.cluster_report import ClusterReport

CLUSTER_METHOD_TITLES = {"kmeans": "k-means", "spectral": "spectral (neighbour graph)"}


class ClusterBox(QGroupBox):
    """`cluster_requested(k, method)` when Cluster is pressed; `select_requested(rows)` and
    `label_requested(rows, class name)` with the picked cluster's map rows; `picked` when
    another cluster is picked."""

    cluster_requested = Signal(int, str)
    picked = Signal()
    select_requested = Signal(object)
    label_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Clusters", parent)
        self.clusters: np.ndarray | None = None
        self.mapping: dict[int, int] = {}
        self._class_count = 0
        self.k = QSpinBox()
        self.k.setRange(2, 200)
        self.k.setValue(10)
        self.k.setPrefix("k = ")
        self.k.setToolTip("Number of clusters")
        self.method = QComboBox()
        for method in CLUSTER_METHODS:
            self.method.addItem(CLUSTER_METHOD_TITLES.get(method, method), method)
        self.method.setToolTip(
            "k-means finds round clusters; spectral clustering on a neighbour graph follows elongated and curved ones"
        )
        self.cluster_button = QPushButton("Cluster")
        self.cluster_button.setToolTip(
            "Group the embeddings and colour the map by group; with labels, score the groups against them"
        )
        self.cluster_button.clicked.connect(
            lambda: self.cluster_requested.emit(self.k.value(), self.method.currentData())
        )
        self.pick = QComboBox()
        self.pick.setToolTip("A cluster (with its size and the class it matches best)")
        self.pick.currentIndexChanged.connect(self._on_picked)
        self.class_choice = QComboBox()
        self.class_choice.setToolTip("The class to give every cutout of that cluster")
        self.select_button = QPushButton("Select")
        self.select_button.setToolTip("Select the cluster's dots on the map")
        self.select_button.clicked.connect(lambda: self.select_requested.emit(self.rows()))
        self.label_button = QPushButton("Label cluster as")
        self.label_button.clicked.connect(self._ask_to_label)
        for combo in (self.pick, self.class_choice):
            combo.setMinimumContentsLength(22)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row = QHBoxLayout()
        for widget in (self.k, self.method, self.cluster_button):
            row.addWidget(widget)
        row.addStretch(1)
        tools_row = QHBoxLayout()
        self.tools = (self.pick, self.select_button, self.label_button, self.class_choice)
        for widget in self.tools:
            tools_row.addWidget(widget)
            widget.hide()
        tools_row.addStretch(1)
        self.report = ClusterReport()
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(tools_row)
        layout.addWidget(self.report)

    def clear(self) -> None:
        """A new map: its clusters are not computed yet (earlier scores stay in the report)."""
        self.clusters, self.mapping = None, {}
        self.pick.clear()
        for widget in self.tools:
            widget.hide()

    def set_clusters(
        self,
        clusters: np.ndarray,
        score: ClusterScore | None,
        method: str,
        k: int,
        class_names: list[str],
        source: str,
    ) -> str:
        """Show the clusters of `method` and score them in the report; returns the method's title."""
        self.clusters = np.asarray(clusters, dtype=np.int64)
        self.mapping = dict(score.mapping) if score is not None else {}
        self._class_count = len(class_names)
        counts = Counter(self.clusters.tolist())
        self.pick.blockSignals(True)
        self.pick.clear()
        for cluster in sorted(counts):
            match = self.mapping.get(cluster)
            hint = f" ≈ {class_names[match]}" if match is not None and match < len(class_names) else ""
            self.pick.addItem(f"cluster {cluster + 1} ({counts[cluster]}){hint}", cluster)
        self.pick.blockSignals(False)
        self._on_picked()
        for widget in self.tools:
            widget.show()
        title = self.method.itemText(self.method.findData(method))
        self.report.add_run(f"{source.split(' (')[0]} · {title}", k, score, tip=source)
        return title

    def rows(self) -> np.ndarray:
        """The map rows of the picked cluster (none before clustering)."""
        cluster = self.pick.currentData()
        if self.clusters is None or cluster is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.clusters == cluster)

    def set_enabled(self, *, has_map: bool, busy: bool, has_project: bool) -> None:
        has_cluster = self.clusters is not None and self.pick.currentData() is not None
        self.cluster_button.setEnabled(has_map and not busy)
        self.select_button.setEnabled(has_cluster)
        self.label_button.setEnabled(has_cluster and has_project and not busy)

    def _on_picked(self) -> None:
        cluster = self.pick.currentData()
        match = self.mapping.get(cluster) if cluster is not None else None
        if match is not None and match < self._class_count:
            self.class_choice.setCurrentIndex(match)
        self.picked.emit()

    def _ask_to_label(self) -> None:
        rows = self.rows()
        if len(rows):
            self.label_requested.emit(rows, self.class_choice.currentData())
