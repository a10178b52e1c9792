"""Retake docs/screenshot-train-cv.png: the Train tab after a 5-fold cross-validation, with
the accuracy over every labelled image, the folds' spread, the pooled confusion matrix and the
pooled reliability diagram.

Run: QT_QPA_PLATFORM=offscreen python docs/train_cv_screenshot.py DATA [--epochs 8] [--folds 5]
(the picture used gz-spiral's train folder at 32 px on the CPU). The panel is driven the way a
user drives it; the folds go to a temporary GALAXY_STUDIO_HOME.
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
    parser.add_argument("--folds", type=int, default=5)
    here = Path(__file__).parent
    args = parser.parse_args()
    app, window, panel = open_train_tab(args.data, size=args.size, epochs=args.epochs)
    panel.cv_folds.setValue(args.folds)
    panel.cross_validate()
    saved = grab_when_done(app, window, panel, "the cross-validation", here / "screenshot-train-cv.png", 1800)
    return 0 if saved and panel.progress_label.text().startswith("Done:") else 1


if __name__ == "__main__":
    sys.exit(main())
