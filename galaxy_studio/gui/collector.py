"""Python's cyclic garbage collection, on the GUI thread only.

The automatic collector runs in whichever thread happens to allocate when a threshold is
passed: a training job's worker, a thumbnail decoder. When the garbage it finds holds
wrappers of Qt objects (a closed window's menus and actions, still in a reference cycle),
their C++ destructors then run in that thread, take Qt's object locks and wait there for the
GIL, while the GUI thread holds the GIL and waits for the same lock to delete or paint
another object: both wait forever. A py-spy dump of the test suite caught exactly this (the
training worker in `gc_collect_main` under `QObject::~QObject`, waiting in
`Shiboken::GilState::acquire`; the GUI thread in `QObject::~QObject` waiting in
`QBasicMutex::lockInternal`), and it is why a Train panel test hung CI once in hundreds of
runs. So while the application runs, automatic collection is off and a timer on the GUI
thread collects what the automatic collector would have, generation by generation.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 200
# A full collection walks every object not frozen (a quarter of a second with torch loaded):
# at most one per this many seconds, as the automatic collector also defers them.
FULL_COLLECTION_EVERY_S = 30.0


class GuiThreadCollector(QObject):
    """Made by `collect_on_gui_thread`, a child of the application, on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._last_full = time.monotonic()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Hand collection back to Python (the application quits, or tests leave the GUI)."""
        self._timer.stop()
        gc.enable()

    def collect_due(self) -> int:
        """Collect the oldest generation whose count passed its threshold, as the automatic
        collector would; returns the generation collected, or -1."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] <= thresholds[generation]:
                continue
            if generation == 2:
                now = time.monotonic()
                if now - self._last_full < FULL_COLLECTION_EVERY_S:
                    continue
                self._last_full = now
            gc.collect(generation)
            return generation
        return -1


def collect_on_gui_thread(app: QCoreApplication) -> GuiThreadCollector:
    """The application's collector, started (once; later calls return the same one)."""
    collector = app.findChild(GuiThreadCollector)
    if collector is None:
        collector = GuiThreadCollector(app)
        app.aboutToQuit.connect(collector.stop)
    if not collector.active:
        collector.start()
    return collector
