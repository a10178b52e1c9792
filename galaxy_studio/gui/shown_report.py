"""Measure startup: with GALAXY_STUDIO_REPORT_SHOWN=PATH the app writes the wall-clock time
at which the main window first painted into PATH and quits.

The startup benchmark (tests/benchmarks/bench_startup.py) launches `python -m galaxy_studio`
and subtracts its own clock at launch from that time. The first paint, not `show()`, is what a
user sees: the window is mapped and its content drawn.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

REPORT_SHOWN_ENV = "GALAXY_STUDIO_REPORT_SHOWN"


class ShownReporter(QObject):
    """Writes `time.time()` at the window's first paint to `out`, then quits the app."""

    def __init__(self, window: QWidget, out: Path) -> None:
        super().__init__(window)
        self.out = out
        self.reported = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if not self.reported and event.type() == QEvent.Type.Paint:
            self.reported = True
            self.out.write_text(f"{time.time():.6f}\n")
            QTimer.singleShot(0, QApplication.quit)
        return False


def report_shown_from_env(window: QWidget) -> ShownReporter | None:
    """The reporter when the environment asks for one (the benchmark), else None."""
    path = os.environ.get(REPORT_SHOWN_ENV)
    return ShownReporter(window, Path(path)) if path else None
