"""A file name that is not UTF-8 in the Library: Qt silently drops the stray surrogate that
Python makes of such a byte ("gal\\udcff.jpg" showed as "gal.jpg", another file's name), so the
grid, the tooltip, the title and the status bar show U+FFFD in its place."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

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


def test_a_dropped_file_whose_name_is_not_utf8_opens_that_file(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    """A file manager drops the name's bytes percent-escaped (gal%FF.jpg); Qt's toLocalFile
    decodes that to "gal\\ufffd.jpg", a file that does not exist."""
    folder = tmp_path / "cutouts"
    first, second, _ = write_jpegs(folder, 3)
    odd = first.rename(folder / ODD)
    mime = QMimeData()
    mime.setUrls([QUrl.fromEncoded(path.as_uri().encode("ascii")) for path in (odd, second)])
    position = QPointF(window.width() / 2, window.height() / 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(
        window, QDragEnterEvent(position.toPoint(), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    )
    QApplication.sendEvent(window, QDropEvent(position, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    wait_for_catalog(qtbot, window, 2)
    assert [item.path for item in window.library.catalog.items] == [str(odd), str(second)]
    assert [item.name for item in window.library.catalog.items] == [SHOWN, second.name]
