"""Retake docs/screenshot-train-calibration.png: the Train tab after a finished run, with the
test metrics' calibration error and the reliability diagram beside the confusion matrix.

Run: QT_QPA_PLATFORM=offscreen python docs/train_calibration_screenshot.py DATA [--epochs 8]
(the picture used gz-spiral's train folder at 32 px on the CPU, one thread). The panel is
driven the way a user drives it; the run goes to a temporary GALAXY_STUDIO_HOME.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from screenshot_waits import grab_when_done, open_train_tab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    here = Path(__file__).parent
    args = parser.parse_args()
    app, window, panel = open_train_tab(args.data, size=args.size, epochs=args.epochs)
    panel.start()
    saved = grab_when_done(app, window, panel, "the run", here / "screenshot-train-calibration.png", 900)
    return 0 if saved and panel.result is not None else 1


if __name__ == "__main__":
    sys.exit(main())
