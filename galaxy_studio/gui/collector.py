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

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 200
# CPython's own rule: a full collection waits until the objects promoted to the oldest
# generation since the last one are a quarter of those it held after it.
FULL_COLLECTION_SHARE = 0.25


class GuiThreadCollector(QObject):
    """Made by `collect_on_gui_thread`, a child of the application, on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self._long_lived = 0
        self._pending = 0

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        gc.disable()
        self._long_lived = len(gc.get_objects(2))
        self._pending = 0
        self._timer.start()

    def stop(self) -> None:
        """Hand collection back to Python (the application quits, or tests leave the GUI)."""
        self._timer.stop()
        gc.enable()

    def collect_due(self) -> int:
        """Collect the oldest generation that is due, by the automatic collector's rules
        (thresholds, and the share above for a full collection); returns it, or -1. A full
        collection walks every object not frozen, a quarter of a second with torch loaded,
        and pauses the window as long, so it must stay as rare as Python keeps it."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[2] > thresholds[2] and self._pending > FULL_COLLECTION_SHARE * self._long_lived:
            gc.collect(2)
            self._long_lived, self._pending = len(gc.get_objects(2)), 0
            return 2
        if counts[1] > thresholds[1]:
            young = len(gc.get_objects(0)) + len(gc.get_objects(1))
            self._pending += max(young - gc.collect(1), 0)
            return 1
        if counts[0] > thresholds[0]:
            gc.collect(0)
            return 0
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
