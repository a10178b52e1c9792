"""Cyclic garbage is collected on the GUI thread, never in a job's thread: there, freeing Qt
objects' wrappers deadlocked against the GUI thread (gui/collector.py)."""

from __future__ import annotations

import gc
import threading

from galaxy_studio.events import CancelToken, EventSink
from galaxy_studio.gui.collector import collect_on_gui_thread
from galaxy_studio.gui.worker import JobRunner


class Cycle:
    """Says, when freed, which thread freed it."""

    freed_in: list[int] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed_in.append(threading.get_ident())


def test_garbage_made_in_a_job_is_collected_on_the_gui_thread(qapp, qtbot) -> None:  # noqa: ANN001
    collector = collect_on_gui_thread(qapp)
    assert collector.active and not gc.isenabled(), "automatic collection is off while the GUI runs"
    Cycle.freed_in.clear()

    def job(emit: EventSink, cancel: CancelToken) -> int:
        for _ in range(20):
            Cycle()
        kept = [[index] for index in range(50_000)]  # far past every threshold of the automatic collector
        return len(kept)

    runner = JobRunner()
    done: list[int] = []
    runner.start(job, on_success=done.append, on_failure=lambda message: done.append(-1))
    qtbot.waitUntil(lambda: bool(done) and len(Cycle.freed_in) == 20, timeout=10_000)
    assert done == [50_000]
    assert set(Cycle.freed_in) == {threading.get_ident()}, "every cycle was freed on the GUI thread"


def test_stopping_hands_collection_back_to_python(qapp) -> None:  # noqa: ANN001
    collector = collect_on_gui_thread(qapp)
    collector.stop()
    assert gc.isenabled() and not collector.active
    assert collect_on_gui_thread(qapp) is collector and collector.active and not gc.isenabled()
