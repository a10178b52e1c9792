"""Retake docs/screenshot-viewer.png and docs/screenshot-viewer-wcs.png: the Library viewer
with a layer picked from a multi-HDU FITS file in a colour map over its histogram, and an
SDSS cutout (whose WCS turns north to the right) with its compass and RA/Dec grid.

Run: QT_QPA_PLATFORM=offscreen python docs/viewer_screenshots.py LAYERED.fits WCS.fits
(the README's pictures used the shared data's hst-cosmos/test_images.fits and
sdss-gband/1_15_SDSS_gband.fits).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication
from screenshot_waits import settle, wait_until

from galaxy_studio.gui.app import SCREENSHOT_SIZE, application
from galaxy_studio.gui.main_window import MainWindow

HERE = Path(__file__).parent


def show_file(app: QApplication, window: MainWindow, path: Path) -> None:
    library = window.library
    library.open_paths([path], replace=True)
    wait_until(app, lambda: library.cutout is not None and library.cutout.source == str(path), path.name)

    def thumbnails_drawn() -> bool:
        library.grid.viewport().repaint()
        return library.grid.visible_thumbnails_drawn()

    wait_until(app, thumbnails_drawn, "the thumbnails")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layered", type=Path)
    parser.add_argument("wcs", type=Path)
    args = parser.parse_args()
    app = application()
    window = MainWindow()
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    library = window.library

    show_file(app, window, args.layered)
    combo = library.layer_picker.combo
    combo.setCurrentIndex(2)  # the second image HDU
    wait_until(app, lambda: library.cutout.meta.get("hdu") == combo.currentData()[0], "the picked layer")
    library.controls.colormap.setCurrentText("inferno")
    wait_until(app, lambda: library.user_settings is not None, "the colour map")
    settle(app)
    window.grab().save(str(HERE / "screenshot-viewer.png"))

    library.reset_display()
    show_file(app, window, args.wcs)
    library.controls.grid.setChecked(True)
    wait_until(app, lambda: library.sky_overlay.grid, "the grid")
    settle(app)
    window.grab().save(str(HERE / "screenshot-viewer-wcs.png"))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
