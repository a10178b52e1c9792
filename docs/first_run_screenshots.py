"""Retake docs/screenshot-first-run.png and docs/screenshot-first-run-distill.png: what a new
user sees while the things built once are being built (Getting started, "The first run").

Run: QT_QPA_PLATFORM=offscreen python docs/first_run_screenshots.py
Everything goes to a temporary GALAXY_STUDIO_HOME, so the demo set, the autoencoder and the
demo buffer are built from nothing as on a first run; both jobs are cancelled after the grab.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from screenshot_waits import settle, wait_until


def main() -> int:
    os.environ["GALAXY_STUDIO_HOME"] = tempfile.mkdtemp(prefix="gs-first-")

    from galaxy_studio.gui.app import SCREENSHOT_SIZE, application
    from galaxy_studio.gui.main_window import MainWindow

    here = Path(__file__).parent
    app = application()
    window = MainWindow()
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    explore = window.show_panel("explore")
    window.open_demo()
    wait_until(app, lambda: "epoch 10/" in explore.empty_hint(), "the autoencoder's tenth epoch", timeout_s=600)
    settle(app)
    explored = window.grab().save(str(here / "screenshot-first-run.png"))
    print(explore.empty_hint(), file=sys.stderr)
    explore.job_progress.cancel_button.click()
    wait_until(app, lambda: not explore.jobs.running, "the autoencoder's cancel")

    distill = window.show_panel("distill")
    window.open_distill_demo()
    wait_until(app, lambda: "expert 1/" in distill.progress_label.text(), "the demo buffer's first expert")
    settle(app)
    distilled = window.grab().save(str(here / "screenshot-first-run-distill.png"))
    print(distill.progress_label.text(), file=sys.stderr)
    distill.cancel_button.click()
    wait_until(app, lambda: not distill.runner.running, "the buffer's cancel")
    window.close()
    return 0 if explored and distilled else 1


if __name__ == "__main__":
    sys.exit(main())
