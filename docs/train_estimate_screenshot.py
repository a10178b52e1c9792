"""Retake docs/screenshot-train-estimate.png and docs/screenshot-train-eta.png: the Train tab
after Estimate time, then during training with the time left from the measured epochs.

Run: QT_QPA_PLATFORM=offscreen python docs/train_estimate_screenshot.py DATA [--epochs 20]
(the README's pictures used gz-spiral's train folder at 64 px on the CPU). The panel is driven
the way a user drives it; the run goes to a temporary GALAXY_STUDIO_HOME and is cancelled
after the second epoch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from screenshot_waits import open_train_tab, settle, wait_until


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    here = Path(__file__).parent
    args = parser.parse_args()
    app, window, panel = open_train_tab(args.data, size=args.size, epochs=args.epochs)
    panel.form.augment.setChecked(True)
    panel.estimate()
    wait_until(app, lambda: not panel.runner.running, "the estimate")
    settle(app)
    estimated = window.grab().save(str(here / "screenshot-train-estimate.png"))
    print(panel.progress_label.text(), file=sys.stderr)
    panel.start()
    wait_until(app, lambda: panel.curves.loss_plot.point_count("train") >= 2, "two epochs", timeout_s=600)
    settle(app)
    running = window.grab().save(str(here / "screenshot-train-eta.png"))
    print(panel.progress_label.text(), file=sys.stderr)
    panel.cancel_button.click()
    wait_until(app, lambda: not panel.runner.running, "the cancel")
    panel.shutdown()
    window.close()
    return 0 if estimated and running else 1


if __name__ == "__main__":
    sys.exit(main())
