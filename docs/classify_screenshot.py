"""Retake docs/screenshot-classify.png: the Classify tab with a model, a few classified
cutouts and a Grad-CAM overlay.

Run: QT_QPA_PLATFORM=offscreen python docs/classify_screenshot.py MODEL.pt IMAGE... [--out PNG]
(MODEL.pt from `galaxy-studio train`; the README's picture used a gz-spiral run and twelve of
its JPEGs; docs/screenshot-classify-ood.png the same kind of run with held-out JPEGs and
single-band FITS files, `--select 1_15_SDSS_gband.fits`). The panel is driven the way a user
drives it: the checkpoint is opened, the files are classified, a row is selected and its
explanation computed before the grab.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from screenshot_waits import wait_until

from galaxy_studio.gui.app import SCREENSHOT_SIZE, application
from galaxy_studio.gui.main_window import MainWindow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--out", default=str(Path(__file__).with_name("screenshot-classify.png")))
    parser.add_argument("--select", help="the cutout (file name) whose row is selected (default: the first row)")
    args = parser.parse_args()
    app = application()
    window = MainWindow()
    window.resize(*SCREENSHOT_SIZE)
    window.tabs.setCurrentWidget(window.classify)
    window.show()
    panel = window.classify
    panel.add_checkpoint(args.model)
    panel.classify_paths(args.images)
    wait_until(app, lambda: not panel.jobs.running and panel.table.rowCount() > 0, "the classification")
    names = [panel.table.item(row, 1).text() for row in range(panel.table.rowCount())]
    panel.table.selectRow(names.index(args.select) if args.select in names else 0)
    wait_until(app, lambda: panel.viewer.attribution is not None, "the explanation")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    saved = window.grab().save(args.out)
    panel.shutdown()
    window.close()
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
