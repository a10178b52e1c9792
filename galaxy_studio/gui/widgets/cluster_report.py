"""The clustering report: one row per clustering run, its accuracy beside the
majority-class baseline, and the newest verdict in words.

A clustering accuracy alone misleads: on Galaxy10 k-means of DINO embeddings scores 16%
where always guessing the largest class gives 14.9%. So the baseline sits in the column
next to the accuracy and the verdict says plainly when the clusters are no better.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.explore.clustering import ClusterScore

COLUMNS = ("Embedding · method", "k", "Accuracy", "Majority baseline", "ARI", "NMI", "Labelled")
# Accuracy within this many points of the baseline is reported as no better than guessing.
NO_BETTER_MARGIN = 0.02


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def describe_score(score: ClusterScore) -> str:
    """The verdict in words, so a near-baseline accuracy is not read as skill."""
    accuracy, baseline = score.accuracy, score.majority_baseline
    gain = accuracy - baseline
    if gain <= NO_BETTER_MARGIN:
        return (
            f"<span style='color:#f0b060'><b>No better than guessing:</b> matched to classes, the clusters "
            f"are right for {percent(accuracy)} of the {score.n_labelled} labelled cutouts, and always "
            f"guessing the largest class gives {percent(baseline)}.</span>"
        )
    return (
        f"Matched to classes, the clusters are right for <b>{percent(accuracy)}</b> of the "
        f"{score.n_labelled} labelled cutouts, {100 * gain:.1f} points above always guessing the largest "
        f"class ({percent(baseline)}); ARI {score.ari:.3f}, NMI {score.nmi:.3f}."
    )


class ClusterReport(QWidget):
    """Hidden until the first run is added; the newest run is the top row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setFixedHeight(112)
        self.table.setToolTip(
            "Accuracy after matching clusters to classes one-to-one (Hungarian); the "
            "majority baseline is always guessing the largest class"
        )
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.verdict)
        self.hide()

    def add_run(self, title: str, k: int, score: ClusterScore | None, *, tip: str = "") -> None:
        """A row for one run; `tip` (e.g. the embedding's full description) shows on its title."""
        if score is None:
            cells = [title, str(k), "–", "–", "–", "–", "0"]
            self.verdict.setText(
                "No labels yet: the clusters cannot be scored. Label some cutouts to compare them "
                "with the majority-class baseline."
            )
        else:
            cells = [
                title,
                str(k),
                percent(score.accuracy),
                percent(score.majority_baseline),
                f"{score.ari:.3f}",
                f"{score.nmi:.3f}",
                str(score.n_labelled),
            ]
            self.verdict.setText(describe_score(score))
        self.table.insertRow(0)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == 0 and tip:
                item.setToolTip(tip)
            if column:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(0, column, item)
        self.show()

    def cells(self, row: int) -> list[str]:
        """The texts of one row (the newest is row 0)."""
        return [self.table.item(row, column).text() for column in range(len(COLUMNS))]
