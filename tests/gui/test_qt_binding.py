"""The Qt binding must survive hours of signals: emit() must not leak or drop references."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    bare = Signal()
    carrying = Signal(int, object)


def test_emitting_keeps_reference_counts_of_singletons(qapp) -> None:  # noqa: ANN001
    emitter = _Emitter()
    received: list[object] = []
    emitter.carrying.connect(lambda number, payload: received.append(payload))
    before = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    for number in range(2000):
        emitter.bare.emit()
        emitter.carrying.emit(number, None)
    received.clear()
    after = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    assert after == before, "this PySide6 build mis-counts references in Signal.emit (6.12.0 does): pin another"
