"""Waiting for the app in the scripts that retake the README's screenshots: they drive the
window the way a user does, so each grab waits until what it shows is really there."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication


def wait_until(app: QApplication, ready: Callable[[], object], what: str, timeout_s: float = 300.0) -> None:
    """Process events until `ready()` is true; a script that waits longer than `timeout_s`
    stops with a message instead of grabbing a half-drawn window."""
    started = time.monotonic()
    while not ready():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"timed out waiting for {what}")


def settle(app: QApplication, rounds: int = 25) -> None:
    """Let queued repaints and layout passes run before a grab."""
    for _ in range(rounds):
        app.processEvents()
        time.sleep(0.02)


def open_train_tab(data: str, *, size: int, epochs: int) -> tuple[QApplication, Any, Any]:
    """(app, window, Train panel): the window at the README's screenshot size on the Train tab
    with DATA, size and epochs filled in, on the CPU, its runs in a throw-away app folder."""
    os.environ["GALAXY_STUDIO_HOME"] = tempfile.mkdtemp()

    from galaxy_studio.gui.app import SCREENSHOT_SIZE, application
    from galaxy_studio.gui.main_window import MainWindow

    app = application()
    window = MainWindow()
    window.resize(*SCREENSHOT_SIZE)
    panel = window.train
    window.tabs.setCurrentWidget(panel)
    window.show()
    panel.form.data_edit.setText(data)
    panel.form.size.setValue(size)
    panel.form.epochs.setValue(epochs)
    panel.form.device.setCurrentText("cpu")
    return app, window, panel


def grab_when_done(app: QApplication, window: Any, panel: Any, what: str, out: Path, timeout_s: float) -> bool:
    """Wait for the Train panel's job to end, grab the window into `out`, print the results
    box's text (to check the picture against) and close; whether the picture was saved."""
    wait_until(app, lambda: not panel.runner.running, what, timeout_s=timeout_s)
    settle(app)
    saved = window.grab().save(str(out))
    print(panel.results.metrics_label.text(), file=sys.stderr)
    panel.shutdown()
    window.close()
    return bool(saved)
