"""A file name that is not UTF-8 in the Library: Qt silently drops the stray surrogate that
Python makes of such a byte ("gal\\udcff.jpg" showed as "gal.jpg", another file's name), so the
grid, the tooltip, the title and the status bar show U+FFFD in its place."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt

from galaxy_studio.gui.main_window import MainWindow

from .test_library import wait_for_catalog, wait_for_thumbnails, write_jpegs

ODD = os.fsdecode(b"gal\xff.jpg")
SHOWN = "gal\ufffd.jpg"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot-library-odd-name.png"


def test_the_library_shows_a_name_that_is_not_utf8_readably(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    folder = tmp_path / "cutouts"
    first, *_ = write_jpegs(folder, 3)
    first.rename(folder / ODD)
    window.library.open_paths([folder], replace=True)
    wait_for_catalog(qtbot, window, 3)
    wait_for_thumbnails(qtbot, window)
    library = window.library
    rows = {library.model.index(row).data(Qt.ItemDataRole.DisplayRole): row for row in range(3)}
    assert SHOWN in rows
    tooltip = library.model.index(rows[SHOWN]).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines()[0] == str(folder / SHOWN)

    library.grid.setCurrentIndex(library.model.index(rows[SHOWN]))
    qtbot.waitUntil(lambda: library.cutout is not None and library.cutout.source.endswith(ODD), timeout=10_000)
    assert SHOWN in library.title.text() and library.view.has_image()
    window.show_message(f"Opened {folder / ODD}")
    assert window.statusBar().currentMessage().endswith(SHOWN)
    if os.environ.get("GALAXY_STUDIO_SCREENSHOTS"):
        window.grab().save(str(SCREENSHOT))
