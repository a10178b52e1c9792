"""The Distill tab's results: how fresh networks trained on the prototypes and on the
baselines score on the real test split, whether the prototypes still read as pictures (live
from each snapshot, then from the evaluation), and the export buttons (`export_requested`
carries "npz", "png" or "fits")."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.count_text import counted
from galaxy_studio.distill.readability import describe_readability, is_readable
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.model.uncertainty import mean_accuracy_text

EVALUATION_ROWS = (
    ("distilled", "Distilled"),
    ("random_real", "Random real"),
    ("class_mean", "Class mean"),
    ("full", "Full training set"),
)
# The runner's readability measures of each snapshot, in is_readable's order.
LIVE_READABILITY = ("outside_fraction", "std_ratio", "colour_outside_fraction")
_ROW_HEIGHT = 22


class DistillResultsBox(QGroupBox):
    export_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Evaluation and export", parent)
        self.live_readability: dict[str, float] = {}
        self.table = QTableWidget(len(EVALUATION_ROWS), 4)
        self.table.setHorizontalHeaderLabels(["images", "epochs", "lr", "test accuracy"])
        self.table.setVerticalHeaderLabels([title for _, title in EVALUATION_ROWS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(_ROW_HEIGHT)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + 4 * _ROW_HEIGHT + 6)
        self.table.setToolTip(
            "Fresh nets trained on each set, tested on the real test split: mean ± std over the nets, "
            "then the number of test images and the 95% interval they allow"
        )
        self.export_buttons: dict[str, QPushButton] = {}
        export_row = QHBoxLayout()
        for kind, text in (("npz", "Export .npz…"), ("png", "PNG grid…"), ("fits", "FITS cube…")):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, chosen=kind: self.export_requested.emit(chosen))
            export_row.addWidget(button)
            self.export_buttons[kind] = button
        self.readability_label = QLabel("")
        self.readability_label.setWordWrap(True)
        self.readability_label.setToolTip(
            "Whether the prototypes still look like images: pixels outside the real images' range, pixels in "
            "colours no real pixel has (bands drifted apart), their spread against the real images', and how far "
            "the nearest real image is"
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.readability_label)
        layout.addLayout(export_row)

    def set_exports_enabled(self, enabled: bool) -> None:
        for button in self.export_buttons.values():
            button.setEnabled(enabled)

    def forget_live_readability(self) -> None:
        self.live_readability = {}

    def add_live_readability(self, name: str, step: int, value: float) -> None:
        """One of the newest snapshot's measures; once all three are in, they are shown, in the
        warning colour once the prototypes leave the range."""
        if self.live_readability.get("step") != step:
            self.live_readability = {"step": step}
        self.live_readability[name] = value
        if any(measure not in self.live_readability for measure in LIVE_READABILITY):
            return
        outside, spread, colours = (self.live_readability[measure] for measure in LIVE_READABILITY)
        readable = is_readable(outside, spread, colours)
        advice = "" if readable else " — turning to noise: a lower image lr keeps them pictures"
        self._show_readability(
            f"Iteration {step}: {100 * outside:.1f}% of prototype pixels beyond the real images' range, "
            f"{100 * colours:.1f}% in colours no real pixel has, spread {spread:.2f}x theirs{advice}",
            readable,
        )

    def _show_readability(self, text: str, readable: bool) -> None:
        self.readability_label.setStyleSheet("" if readable else WARNING_STYLE)
        self.readability_label.setText(text)

    def show_evaluation(self, report: dict[str, Any] | None) -> None:
        """A saved or just finished evaluation; None empties the table."""
        for row, (key, _) in enumerate(EVALUATION_ROWS):
            entry = (report or {}).get(key)
            cells = (
                ["–"] * 4
                if entry is None
                else [
                    str(entry["images"]),
                    str(entry["epochs"]),
                    f"{entry['lr']:.3g}",
                    mean_accuracy_text(entry["mean"], entry["std"], report.get("test_images") if report else None),
                ]
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if entry is not None and entry.get("source") == "experts":
                    item.setToolTip(
                        f"The buffer's {counted(len(entry['accuracies']), 'expert')}, trained on the full training "
                        f"split for {counted(entry['epochs'], 'epoch')}"
                    )
                self.table.setItem(row, column, item)
        full = (report or {}).get("full") or {}
        self.table.verticalHeaderItem(len(EVALUATION_ROWS) - 1).setText(
            "Full (experts)" if full.get("source") == "experts" else EVALUATION_ROWS[-1][1]
        )
        readability = (report or {}).get("readability")
        if readability is None:
            self._show_readability("", True)
        else:
            self._show_readability(describe_readability(readability), readability["readable"])
