"""The one dialog that settles outside class names against the project's classes.

Adding a class folder, importing labels, suggesting with a model and adding from Classify all
meet names the project may spell otherwise (`spirals` for `spiral`, Galaxy10's
`Disturbed Galaxies`, a model's `Barred_Spiral`). Each name that differs gets a row with how
many labels carry it and the project class it will be read as, proposed where one class
matches; the user confirms, corrects or skips, and the answer is stored in the project so the
same names never ask again. Names spelled exactly as a class need no row.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from galaxy_studio.labels.class_mapping import SKIP, ClassMapping, LabelCounts, map_class_names
from galaxy_studio.labels.session import LabellingSession

SKIP_TEXT = "Skip (take no labels)"
UNMAPPED_TEXT = "— not mapped —"
_HOW = {"proposed": "proposed: same name once case, plural and _/- are set aside", "remembered": "stored earlier"}


class ClassMappingDialog(QDialog):
    """One row per outside name that is not a project class: its label count, a project-class
    choice (or skip), and why that choice is proposed; a live count of what will be taken."""

    def __init__(
        self,
        source: str,
        counts: Mapping[str, int],
        classes: list[str],
        mapping: ClassMapping,
        parent: QWidget | None = None,
        *,
        noun: str = "label",
    ) -> None:
        super().__init__(parent)
        self.noun = noun
        self.setWindowTitle("Match class names")
        self.classes = list(classes)
        self.counts = dict(counts)
        exact = [name for name in counts if name in classes]
        self.names = [name for name in counts if name not in classes]
        intro = QLabel(
            f"<b>{source}</b> names its classes differently from this project. Choose the project class "
            "each name stands for, or skip it; your choice is kept in the project for next time."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(self.names), 4)
        self.table.setHorizontalHeaderLabels(["Name there", "Count", "Project class", "How"])
        self.table.verticalHeader().hide()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.combos: dict[str, QComboBox] = {}
        italic = QFont()
        italic.setItalic(True)
        for row, name in enumerate(self.names):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            count = QTableWidgetItem(str(counts[name]))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, count)
            combo = QComboBox()
            if name in mapping.unmapped:
                combo.addItem(UNMAPPED_TEXT, None)
            for cls in classes:
                combo.addItem(cls, cls)
            combo.addItem(SKIP_TEXT, SKIP)
            chosen = SKIP if name in mapping.skipped else mapping.mapped.get(name)
            combo.setCurrentIndex(max(combo.findData(chosen), 0) if chosen is not None else 0)
            combo.currentIndexChanged.connect(self._refresh_summary)
            self.combos[name] = combo
            self.table.setCellWidget(row, 2, combo)
            how = _HOW["proposed"] if name in mapping.proposed else _HOW["remembered"]
            if name in mapping.unmapped:
                how = "no class matches: choose one or skip"
            note = QTableWidgetItem(how)
            note.setFont(italic)
            self.table.setItem(row, 3, note)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.exact = QLabel(
            "Spelled as the project's classes (taken as they are): "
            + ", ".join(f"{name} ({counts[name]})" for name in exact)
        )
        self.exact.setWordWrap(True)
        self.exact.setVisible(bool(exact))
        self.summary = QLabel()
        self.remember = QCheckBox("Remember this mapping in the project")
        self.remember.setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (intro, self.table, self.exact, self.summary, self.remember, buttons):
            layout.addWidget(widget)
        self._refresh_summary()
        self.table.resizeRowsToContents()
        rows_height = self.table.verticalHeader().length() + header.height() + 2 * self.table.frameWidth()
        self.table.setMinimumHeight(min(rows_height, 360))
        self.table.setMaximumHeight(max(rows_height, 360) if len(self.names) > 10 else rows_height)
        self.resize(780, self.sizeHint().height())

    def choices(self) -> dict[str, str]:
        """Outside name -> chosen project class, or SKIP; names left unmapped are absent."""
        return {name: combo.currentData() for name, combo in self.combos.items() if combo.currentData() is not None}

    def outcome(self) -> LabelCounts:
        """What the current choices would do to the labels counted."""
        mapping = map_class_names(self.counts, self.classes, self.choices())
        return LabelCounts.tally((name for name, n in self.counts.items() for _ in range(n)), mapping, self.classes)

    def _refresh_summary(self) -> None:
        self.summary.setText("<b>Then:</b> " + self.outcome().describe(self.noun))


def confirm_class_mapping(
    parent: QWidget | None,
    session: LabellingSession,
    source: str,
    counts: Mapping[str, int],
    *,
    noun: str = "label",
) -> dict[str, str] | None:
    """The mapping to use for names counted in `source`: asked in the dialog when some name is
    not settled yet (stored when the user says so), else the proposal as it is. None: cancelled."""
    project = session.require_project()
    mapping = session.propose_class_mapping(counts)
    if not mapping.needs_confirmation:
        return {**mapping.mapped, **dict.fromkeys(mapping.skipped, SKIP)}
    dialog = ClassMappingDialog(source, counts, project.classes, mapping, parent, noun=noun)
    if project.read_only:
        dialog.remember.setChecked(False)
        dialog.remember.setEnabled(False)
        dialog.remember.setToolTip("The project is open read-only")
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    choices = dialog.choices()
    if dialog.remember.isChecked():
        session.confirm_class_mapping(choices)
    return choices
