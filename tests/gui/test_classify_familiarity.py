"""Classify panel, #17 §2: a cutout unlike the model's training data (a single-band FITS on a
model trained on colour JPEGs) gets a small ⚠, a tinted row and a note that says why."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt

from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.widgets.familiarity_note import ROW_TINT
from galaxy_studio.model.training import TrainResult

from .test_classify_panel import drop, open_classify

UNFAMILIAR_COLUMN = 5


def _row_named(panel, name: str) -> int:  # noqa: ANN001
    for row in range(panel.table.rowCount()):
        if panel.table.item(row, 1).text() == name:
            return row
    raise AssertionError(f"no row for {name}")


def test_a_flagged_fits_row_shows_the_warning_and_a_familiar_one_does_not(
    qtbot,  # noqa: ANN001
    window: MainWindow,
    trained_run: TrainResult,
    demo_set: Path,
    samples: Path,
) -> None:
    panel = open_classify(qtbot, window, trained_run)
    jpeg = sorted(demo_set.rglob("*.jpg"))[0]
    fits = samples / "1_15_SDSS_gband.fits"
    drop(panel.drop_zone, [jpeg, fits])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=60_000)
    assert panel.table.horizontalHeaderItem(UNFAMILIAR_COLUMN).text() == "Unfamiliar"

    fits_row = _row_named(panel, fits.name)
    cell = panel.table.item(fits_row, UNFAMILIAR_COLUMN)
    assert cell.text().startswith("yes")
    icon_size = cell.icon().actualSize(QSize(64, 64))
    assert 0 < icon_size.width() <= 20 and 0 < icon_size.height() <= 20, "a small sign, not a thumbnail"
    assert "1 band, the model learned from 3 (R, G, B)" in cell.toolTip()
    assert panel.table.item(fits_row, 2).background().color() == ROW_TINT

    panel.table.selectRow(fits_row)
    qtbot.waitUntil(lambda: panel.viewer.familiarity.isVisible(), timeout=10_000)
    assert "1 band, the model learned from 3 (R, G, B)" in panel.viewer.familiarity.text.text()
    assert "unlike the model's training data" in panel.viewer.familiarity.text.text()

    jpeg_row = _row_named(panel, jpeg.name)
    assert panel.table.item(jpeg_row, UNFAMILIAR_COLUMN).text().startswith("no")
    assert panel.table.item(jpeg_row, UNFAMILIAR_COLUMN).icon().isNull()
    assert panel.table.item(jpeg_row, 2).background().style() == Qt.BrushStyle.NoBrush
    panel.table.selectRow(jpeg_row)
    qtbot.waitUntil(lambda: not panel.viewer.familiarity.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: not panel.explainer.running, timeout=60_000)
    panel.table.sortItems(UNFAMILIAR_COLUMN, Qt.SortOrder.DescendingOrder)
    assert panel.table.item(0, 1).text() == fits.name, "unfamiliar cutouts sort first"
    panel.table.sortItems(UNFAMILIAR_COLUMN, Qt.SortOrder.AscendingOrder)
    assert panel.table.item(0, 1).text() == jpeg.name
