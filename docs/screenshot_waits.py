"""Waiting for the app in the scripts that retake the README's screenshots: they drive the
window the way a user does, so each grab waits until what it shows is really there."""

from __future__ import annotations

import time
from collections.abc import Callable

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
