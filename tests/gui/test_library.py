"""Library panel: open, thumbnails, view, stretch, drop, cursor readout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from galaxy_studio.data.display import DisplaySettings
from galaxy_studio.gui.main_window import MainWindow

RA0, DEC0 = 210.927048, -1.137346


def write_jpegs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    yy, xx = np.mgrid[:48, :48]
    for i in range(count):
        blob = 255 * np.exp(-((xx - 24) ** 2 + (yy - 24) ** 2) / (2 * (4 + i) ** 2))
        noisy = np.clip(blob[..., None] * [1.0, 0.8, 0.6] + rng.normal(10, 3, (48, 48, 3)), 0, 255)
        path = folder / f"galaxy_{i:03d}.jpg"
        Image.fromarray(noisy.astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    return paths


def write_wcs_fits(path: Path) -> Path:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [RA0, DEC0]
    wcs.wcs.crpix = [32.5, 32.5]
    wcs.wcs.cdelt = [-0.396 / 3600, 0.396 / 3600]
    yy, xx = np.mgrid[:64, :64]
    data = (1000 * np.exp(-((xx - 31.5) ** 2 + (yy - 31.5) ** 2) / 50) + 5).astype(np.float32)
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)
    return path


def drop(window: MainWindow, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(
        pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)


def wait_for_catalog(qtbot, window: MainWindow, count: int) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: len(window.library.catalog.items) == count, timeout=10_000)


def wait_for_thumbnails(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    library = window.library

    def drawn() -> bool:
        library.grid.viewport().repaint()
        return library.grid.visible_thumbnails_drawn()

    qtbot.waitUntil(drawn, timeout=20_000)


def test_open_folder_shows_thumbnails_and_selecting_shows_the_cutout(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    write_jpegs(tmp_path / "cutouts", 12)
    window.library.open_paths([tmp_path / "cutouts"], replace=True)
    wait_for_catalog(qtbot, window, 12)
    wait_for_thumbnails(qtbot, window)
    library = window.library
    assert library.model.rowCount() == 12
    assert "12 items" in library.count_label.text()
    first = library.model.index(0).data(Qt.ItemDataRole.DecorationRole)
    assert not first.toImage() == library.model._placeholder.toImage(), "a real thumbnail, not the placeholder"

    library.grid.setCurrentIndex(library.model.index(5))
    qtbot.waitUntil(
        lambda: library.cutout is not None and library.cutout.source.endswith("galaxy_005.jpg"), timeout=10_000
    )
    assert library.view.has_image()
    assert "galaxy_005.jpg" in library.title.text()
    rgb = library.view.image_rgb()
    assert rgb.shape == (48, 48, 3) and rgb[24, 24].max() > 200 > rgb[0, 0].max()


def test_changing_the_stretch_changes_the_pixels(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    fits_path = write_wcs_fits(tmp_path / "galaxy.fits")
    library = window.library
    library.open_paths([fits_path], replace=True)
    wait_for_catalog(qtbot, window, 1)
    qtbot.waitUntil(lambda: library.cutout is not None, timeout=10_000)
    before = library.view.image_rgb()
    library.controls.stretch.setCurrentText("linear")
    library.controls.interval.setCurrentText("minmax")
    qtbot.waitUntil(lambda: not np.array_equal(library.view.image_rgb(), before), timeout=10_000)
    after = library.view.image_rgb()
    assert library.user_settings == DisplaySettings(stretch="linear", interval="minmax", bands=None)
    assert after[31, 44, 0] < before[31, 44, 0], "linear min-max shows the faint outskirts darker than asinh"


def test_dropping_files_adds_them_and_non_images_are_reported(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    jpegs = write_jpegs(tmp_path / "a", 3)
    fits_path = write_wcs_fits(tmp_path / "b.fits")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    drop(window, jpegs[:2])
    wait_for_catalog(qtbot, window, 2)
    drop(window, [fits_path, notes])
    wait_for_catalog(qtbot, window, 3)
    names = [item.name for item in window.library.catalog.items]
    assert names == ["galaxy_000.jpg", "galaxy_001.jpg", "b.fits"]
    qtbot.waitUntil(lambda: "notes.txt" in window.statusBar().currentMessage(), timeout=5_000)
    assert "not a supported" in window.statusBar().currentMessage()
    assert window.library.problems_button.isVisibleTo(window)


def test_cursor_readout_shows_ra_dec_over_a_wcs_fits(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    library.open_paths([write_wcs_fits(tmp_path / "wcs.fits")], replace=True)
    qtbot.waitUntil(lambda: library.cutout is not None and library.view.has_image(), timeout=10_000)
    view = library.view
    centre = view.rect().center()
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(centre),
        QPointF(view.mapToGlobal(centre)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view, move)
    text = library.readout.text()
    assert "RA 14:03:42.4" in text and "Dec -01:08:14" in text, text
    assert library.header_text.toPlainText().startswith("SIMPLE")


@pytest.mark.parametrize("bad", ["empty.fits", "broken.jpg"])
def test_an_unreadable_file_among_good_ones_is_marked_and_the_rest_load(
    qtbot, window: MainWindow, tmp_path: Path, bad: str
) -> None:  # noqa: ANN001
    folder = tmp_path / "mixed"
    write_jpegs(folder, 4)
    (folder / bad).write_bytes(b"" if bad.endswith(".fits") else b"\xff\xd8\xff\xe0garbage")
    window.library.open_paths([folder], replace=True)
    wait_for_catalog(qtbot, window, 5)
    wait_for_thumbnails(qtbot, window)
    model = window.library.model
    assert len(model.errors) == 1
    (message,) = model.errors.values()
    assert bad in message
    assert window.library.problems_button.text() == "⚠ 1 skipped"
