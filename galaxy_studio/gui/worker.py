"""Run one core job in a QThread and turn its events into Qt signals.

The worker object lives in its own thread and never touches widgets; it only forwards the
immutable events of the job protocol. The runner keeps the thread alive until it has
finished, owns the CancelToken, and cancels and waits when the application quits.

Events do not travel one queued signal each: the worker drops them in a mailbox and wakes
the GUI thread only when the mailbox was empty, so a job that logs thousands of metrics a
second costs the event loop one wake-up per drain. Snapshot events (whole image sets) are
coalesced: the mailbox keeps only the latest, and a GUI-thread timer takes it at most
SNAPSHOTS_PER_SECOND times a second; when the job ends the last one is always delivered.
Memory therefore stays flat however fast a job takes snapshots.

Pausing parks the job inside its next `emit` call: the job protocol emits at every
iteration boundary, so no core function needs a pause hook, and the job's state (GPU
tensors, open files) stays exactly as it was. Cancelling releases a parked job, which then
meets its next `cancel.raise_if_set()`.

Python's cyclic garbage collector stops every thread while it walks all tracked objects;
with torch, astropy and pyqtgraph loaded a full (generation 2) collection took 270 ms,
triggered by whichever thread allocated last, so a job could freeze the window for that
long. When a job's first events arrive (its imports are done by then), the runner moves
every object alive to the collector's permanent generation (gc.freeze): later collections
walk only what was made since, and stay in the low milliseconds.
"""

from __future__ import annotations

import gc
import threading
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from galaxy_studio.errors import UserError
from galaxy_studio.events import CancelToken, Cancelled, Event, EventSink, SnapshotTaken

Job = Callable[[EventSink, CancelToken], Any]
SNAPSHOTS_PER_SECOND = 10

_live_threads: set[QThread] = set()


def _control_label(field: str) -> str:
    """How the GUI names the setting a hint asks to change, until the config fields say it
    themselves: the field's words as a box label, `min_lr_img` -> `"Min lr img" box`."""
    return f'"{field.replace("_", " ").capitalize()}" box'


def live_job_threads() -> int:
    """Job threads started and not yet finished (tests assert none outlive them)."""
    return sum(1 for thread in _live_threads if thread.isRunning())


class EventMailbox:
    """Thread-safe hand-over from a job thread to the GUI thread: ordinary events queue in
    order, a snapshot replaces the one not yet taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._snapshot: SnapshotTaken | None = None

    def put(self, event: Event) -> bool:
        """Store `event`; True when the GUI thread must be woken (the queue was empty)."""
        with self._lock:
            if isinstance(event, SnapshotTaken):
                self._snapshot = event
                return False
            self._events.append(event)
            return len(self._events) == 1

    def take_events(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def take_snapshot(self) -> SnapshotTaken | None:
        with self._lock:
            snapshot, self._snapshot = self._snapshot, None
        return snapshot


class _JobWorker(QObject):
    events_waiting = Signal()
    parked = Signal()
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: Job, cancel: CancelToken, mailbox: EventMailbox, go: threading.Event) -> None:
        super().__init__()
        self._job = job
        self._cancel = cancel
        self._mailbox = mailbox
        self._go = go

    def receive(self, event: Event) -> None:
        """The job's emit sink (runs in the job's thread)."""
        if not self._go.is_set():
            self.parked.emit()
            self._go.wait()
        if self._mailbox.put(event):
            self.events_waiting.emit()

    @Slot()
    def run(self) -> None:
        try:
            result = self._job(self.receive, self._cancel)
        except Cancelled:
            self.cancelled.emit()
        except UserError as error:
            self.failed.emit(error.text(_control_label))
        except (OSError, ValueError, MemoryError) as error:
            self.failed.emit(str(error) or type(error).__name__)
        except Exception as error:  # a job bug must reach the user, not kill the thread silently
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.succeeded.emit(result)


class JobRunner(QObject):
    """Owns at most one running job. Connect to its signals from GUI-thread objects.

    `paused_changed(True)` is emitted once the job is actually parked (not when pause is
    asked for: the job first finishes its current iteration)."""

    event = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()
    paused_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _JobWorker | None = None
        self._cancel = CancelToken()
        self._go = threading.Event()
        self._go.set()
        self._mailbox = EventMailbox()
        self._parked = False
        self._froze = False
        self._snapshot_timer = QTimer(self)
        self._snapshot_timer.setInterval(1000 // SNAPSHOTS_PER_SECOND)
        self._snapshot_timer.timeout.connect(self._deliver_snapshot)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def pause_requested(self) -> bool:
        return self.running and not self._go.is_set()

    @property
    def paused(self) -> bool:
        """The job is parked and waits for `resume` (or `cancel`)."""
        return self._parked

    def start(self, job: Job) -> None:
        if self._thread is not None:
            raise RuntimeError("a job is already running")
        self._cancel = CancelToken()
        self._go = threading.Event()
        self._go.set()
        self._mailbox = EventMailbox()
        self._parked = False
        self._froze = False
        thread = QThread()
        worker = _JobWorker(job, self._cancel, self._mailbox, self._go)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.events_waiting.connect(self._deliver_events)
        worker.parked.connect(self._on_parked)
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        for done in (worker.succeeded, worker.failed, worker.cancelled):
            done.connect(thread.quit)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        _live_threads.add(thread)
        self._snapshot_timer.start()
        thread.start()

    def cancel(self) -> None:
        self._cancel.set()
        self._go.set()

    def pause(self) -> None:
        """Ask the job to park at its next event (the end of its current iteration)."""
        if self.running:
            self._go.clear()

    def resume(self) -> None:
        self._go.set()
        if self._parked:
            self._parked = False
            self.paused_changed.emit(False)

    @Slot()
    def _on_parked(self) -> None:
        if not self._go.is_set() and not self._parked:
            self._parked = True
            self.paused_changed.emit(True)

    @Slot()
    def _deliver_events(self) -> None:
        if not self._froze:
            self._froze = True
            gc.freeze()
        for event in self._mailbox.take_events():
            self.event.emit(event)

    @Slot()
    def _deliver_snapshot(self) -> None:
        snapshot = self._mailbox.take_snapshot()
        if snapshot is not None:
            self.event.emit(snapshot)

    def _flush(self) -> None:
        """Everything the job said before it ended reaches the GUI before its outcome."""
        self._snapshot_timer.stop()
        self._deliver_events()
        self._deliver_snapshot()
        if self._parked:
            self._parked = False
            self.paused_changed.emit(False)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        self._flush()
        self.succeeded.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._flush()
        self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._flush()
        self.cancelled.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread, self._worker = self._thread, None, None
        self._snapshot_timer.stop()
        if thread is not None:
            _live_threads.discard(thread)
            thread.deleteLater()
        self.finished.emit()

    @Slot()
    def shutdown(self) -> None:
        """Cancel and wait: a job must not outlive the application."""
        if self._thread is not None:
            self.cancel()
            self._thread.quit()
            self._thread.wait()
            _live_threads.discard(self._thread)
