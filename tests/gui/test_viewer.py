"""The Library viewer as astronomers compare it with DS9 (#17 §3): layers, colour maps,
limits on a histogram, compass and grid from the WCS, details in words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication, QComboBox

from galaxy_studio.data.colormaps import colormap_table
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.panels.library_panel import LibraryPanel
from galaxy_studio.gui.widgets.sky_overlay import NO_WCS_TEXT, screen_direction
from tests.data.fits_makers import write_cube, write_many_hdus, write_sky_image


def open_one(qtbot, library: LibraryPanel, path: Path) -> None:  # noqa: ANN001
    library.open_paths([path], replace=True)
    qtbot.waitUntil(lambda: library.cutout is not None and library.cutout.source == str(path), timeout=10_000)


def row_of(combo: QComboBox, data: object) -> int:
    return next(row for row in range(combo.count()) if combo.itemData(row) == data)


def pixels_of(image: QImage) -> np.ndarray:
    array = image.convertToFormat(QImage.Format.Format_RGB888)
    stride = array.bytesPerLine()
    buffer = np.frombuffer(array.constBits(), np.uint8, count=stride * array.height()).reshape(array.height(), stride)
    return buffer[:, : array.width() * 3].reshape(array.height(), array.width(), 3).astype(int)


def count_colour(image: QImage, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    return int((np.abs(pixels_of(image) - np.array(rgb)).max(axis=-1) <= tolerance).sum())


def greenish(image: QImage) -> int:
    """Pixels clearly greener than red and blue: only the grid draws those over a grey image."""
    pixels = pixels_of(image)
    return int(((pixels[..., 1] - pixels[..., 0] > 60) & (pixels[..., 1] - pixels[..., 2] > 40)).sum())


def test_every_extension_of_a_100_hdu_file_can_be_picked(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_many_hdus(tmp_path / "mosaic.fits"))
    picker = library.layer_picker
    assert picker.isVisibleTo(window)
    assert picker.combo.count() == 101  # the default read and 100 images
    assert float(library.cutout.data.mean()) == 1.0
    picker.combo.setCurrentIndex(row_of(picker.combo, (57, None)))
    qtbot.waitUntil(lambda: library.cutout.meta["hdu"] == 57, timeout=10_000)
    assert float(library.cutout.data.mean()) == 57.0
    assert "HDU 57 (CCD57)" in library.details_text.text()
    library.controls.stretch.setCurrentText("linear")
    library.auto_button.click()  # Auto resets the display, not the picked layer
    qtbot.waitUntil(
        lambda: library.user_settings is None and library.controls.stretch.currentText() == "asinh", timeout=10_000
    )
    assert library.cutout.meta["hdu"] == 57


def test_a_cube_plane_can_be_picked(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_cube(tmp_path / "cube.fits", planes=5))
    picker = library.layer_picker
    assert [picker.combo.itemText(k) for k in range(2, 4)] == ["HDU 0 · plane 2: F450W", "HDU 0 · plane 3: F500W"]
    picker.combo.setCurrentIndex(row_of(picker.combo, (0, 3)))
    qtbot.waitUntil(lambda: library.cutout.bands == ["F550W"], timeout=10_000)
    assert float(library.cutout.data.mean()) == 30.0


def test_a_plain_image_shows_no_layer_picker(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits"))
    assert not library.layer_picker.isVisibleTo(window)


def test_the_map_menu_colours_a_single_band(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits"))
    assert library.controls.colormap.isEnabled()
    library.controls.colormap.setCurrentText("viridis")
    qtbot.waitUntil(lambda: library.user_settings is not None and library.view.image_rgb()[0, 0, 2] > 0, timeout=10_000)
    rgb = library.view.image_rgb()
    table = {tuple(colour) for colour in colormap_table("viridis")}
    assert {tuple(rgb[y, x]) for y, x in ((0, 0), (32, 32), (10, 50))} <= table
    assert tuple(rgb[32, 32]) != tuple(rgb[0, 0])


def test_typed_limits_set_black_and_white_and_auto_limits_returns(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits"))
    limits = library.controls.scale_limits
    assert limits.plot.histogram is not None and limits.plot.histogram.counts.sum() == 64 * 64
    assert limits.mode.text() == "automatic" and not limits.auto_limits.isEnabled()
    library.controls.stretch.setCurrentText("linear")
    limits.low.setText("0")
    limits.high.setText("2")
    limits.high.editingFinished.emit()
    qtbot.waitUntil(lambda: library.user_settings.limits == (0.0, 2.0), timeout=5_000)
    qtbot.waitUntil(lambda: limits.mode.text() == "your limits", timeout=10_000)
    assert library.view.image_rgb()[32, 32, 0] == 255  # the core (101) is far above the white level
    limits.auto_limits.click()
    qtbot.waitUntil(lambda: library.user_settings.limits is None and limits.mode.text() == "automatic", timeout=10_000)


def test_dragging_the_white_level_on_the_histogram(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits"))
    plot = library.controls.scale_limits.plot
    low, high = plot.limits
    start = QPointF(plot.x_of(high), plot.height() / 2)
    end = QPointF(plot.x_of(high) - plot.width() / 4, plot.height() / 2)
    for kind, point, buttons in (
        (QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseMove, end, Qt.MouseButton.LeftButton),
        (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton),
    ):
        event = QMouseEvent(
            kind, point, plot.mapToGlobal(point), Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(plot, event)
    qtbot.waitUntil(
        lambda: library.user_settings is not None and library.user_settings.limits is not None, timeout=5_000
    )
    new_low, new_high = library.user_settings.limits
    assert new_low == low and new_high < high
    assert abs(plot.x_of(new_high) - end.x()) < 1.5


def test_compass_on_a_wcs_image_and_no_wcs_said_without(
    qtbot, window: MainWindow, tmp_path: Path, samples: Path
) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits", 30.0))
    overlay = library.sky_overlay
    assert overlay.compass is not None and overlay.compass.north_angle == pytest.approx(-30.0, abs=0.01)
    north_yellow = count_colour(library.view.grab().toImage(), (255, 214, 90))
    assert north_yellow > 20
    library.controls.compass.setChecked(False)
    assert count_colour(library.view.grab().toImage(), (255, 214, 90)) < north_yellow / 10
    library.controls.compass.setChecked(True)
    open_one(qtbot, library, samples / "test_images.fits")
    assert overlay.compass is None and overlay.has_image
    assert count_colour(library.view.grab().toImage(), (255, 214, 90)) == 0
    assert "World coordinates: none" in library.details_text.text()
    assert NO_WCS_TEXT.startswith("No WCS")


def test_the_grid_draws_ra_dec_lines_when_asked(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits"))
    assert greenish(library.view.grab().toImage()) == 0  # a grey image, and no grid yet
    library.controls.grid.setChecked(True)
    assert library.sky_overlay.grid
    assert greenish(library.view.grab().toImage()) > 300


def test_details_read_as_words_and_auto_is_explained(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits", 30.0))
    text = library.details_text.text()
    assert "Pixel scale: 0.262″/px" in text
    assert "Orientation: North turned 30° clockwise from up" in text
    assert "hdus_used" not in text and "stored_dtype" not in text
    assert "asinh" in library.auto_button.toolTip()


def test_the_compass_turns_with_the_view(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    library = window.library
    open_one(qtbot, library, write_sky_image(tmp_path / "sky.fits"))
    north = library.sky_overlay.compass.north
    upright = screen_direction(library.view._transform(), north)
    assert (upright.x(), upright.y()) == pytest.approx((0.0, -1.0), abs=1e-6)
    library.view.rotate_view(90)
    turned = screen_direction(library.view._transform(), north)
    assert (turned.x(), turned.y()) == pytest.approx((1.0, 0.0), abs=1e-6)  # a quarter turn clockwise puts north right
