"""Run one core job in a QThread and hand its events and its outcome to the GUI thread.

A panel starts a job with one call, `JobRunner.start(job, on_success=..., on_failure=...)`,
and gets a `JobHandle` back. The callbacks are the panel's own and run in the GUI thread:
the worker's signals reach the runner's slots (queued, since the runner lives in the GUI
thread), and the runner calls the callbacks from there. A callback connected to a worker
signal directly would run in the worker's thread in PySide6, where touching a widget
crashes. `on_success` receives the job's own result, typed by the job's return annotation.

The worker object lives in its own thread and never touches widgets; it only forwards the
immutable events of the job protocol. The runner keeps the thread alive until it has
finished, owns the CancelToken, and cancels and waits when the application quits.
torch is imported on the GUI thread before a job that uses it starts (`uses_torch`): its
first import inside a worker thread can deadlock.

Previews (an explanation map, neighbours' thumbnails) use a `LatestRequestRunner`: only the
newest request matters, so a request replaces the one still waiting and supersedes the one
running, whose result is dropped.

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
with torch, astropy and pyqtgraph loaded a full (generation 2) collection took 270 ms, and
in the application collections run on the GUI thread (gui/collector.py), so each one freezes
the window for as long as it walks. When a job's first events arrive (its imports are done
by then), the runner moves every object alive to the collector's permanent generation
(gc.freeze): later collections walk only what was made since, and stay in the low
milliseconds. The young generations are collected first: the freeze also takes garbage not
yet collected, and a cancelled training leaves its network and tensors reachable only from a
young reference cycle (the Cancelled exception's traceback and its frames), and whatever of
it was not yet collected would stay in memory until the application quits. A full collection
there would walk everything made since the last freeze, up to 0.46 s with the window
waiting.
"""

from __future__ import annotations

import gc
import importlib
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from galaxy_studio.errors import UserError
from galaxy_studio.events import Cancelled, CancelToken, Event, EventSink, SnapshotTaken
from galaxy_studio.path_text import readable
from galaxy_studio.settings import control_label

R = TypeVar("R")
Job = Callable[[EventSink, CancelToken], R]
SNAPSHOTS_PER_SECOND = 10

# Every job thread started and not yet finished, with the handle that cancels its job.
_live_jobs: dict[QThread, JobHandle[Any]] = {}


def live_job_threads() -> int:
    """Job threads started and not yet finished (tests assert none outlive them)."""
    return sum(1 for thread in _live_jobs if thread.isRunning())


def cancel_every_job() -> None:
    """Ask every running job to stop at its next check, a parked one included."""
    for handle in list(_live_jobs.values()):
        handle.cancel()


def wait_for_a_job_thread(milliseconds: int) -> None:
    """Block until a running job thread ends, for at most `milliseconds`. The GIL is released
    meanwhile, so the jobs can reach their next check."""
    for thread in list(_live_jobs):
        if thread.isRunning():
            thread.wait(milliseconds)
            return


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

    def __init__(self, job: Job[object], cancel: CancelToken, mailbox: EventMailbox, go: threading.Event) -> None:
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
            self.failed.emit(readable(error.text(control_label)))
        except (OSError, ValueError, MemoryError) as error:
            self.failed.emit(readable(str(error) or type(error).__name__))
        except Exception as error:  # a job bug must reach the user, not kill the thread silently
            self.failed.emit(readable(f"{type(error).__name__}: {error}"))
        else:
            self.succeeded.emit(result)


class JobHandle(Generic[R]):
    """One started job as the panel that started it sees it: cancel, pause and resume it, and
    ask whether it still runs. The callbacks given to `start` are kept here, so that each job
    reports to the code that started it and no panel dispatches on which job just ended."""

    def __init__(
        self,
        runner: JobRunner,
        on_success: Callable[[R], None],
        on_failure: Callable[[str], None],
        on_cancel: Callable[[], None] | None,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.cancel_token = CancelToken()
        self._runner = runner
        self._go = threading.Event()
        self._go.set()
        self._parked = False
        self._ended = False
        self._on_success = on_success
        self._on_failure = on_failure
        self._on_cancel = on_cancel
        self._on_event = on_event

    @property
    def running(self) -> bool:
        """True until the job's outcome has been delivered."""
        return not self._ended

    @property
    def pause_requested(self) -> bool:
        return self.running and not self._go.is_set()

    @property
    def paused(self) -> bool:
        """The job is parked and waits for `resume` (or `cancel`)."""
        return self._parked

    def cancel(self) -> None:
        self.cancel_token.set()
        self._go.set()

    def pause(self) -> None:
        """Ask the job to park at its next event (the end of its current iteration)."""
        if self.running:
            self._go.clear()

    def resume(self) -> None:
        self._go.set()
        self._set_parked(False)

    def _set_parked(self, parked: bool) -> None:
        if parked != self._parked:
            self._parked = parked
            self._runner.paused_changed.emit(parked)

    def _event(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _succeed(self, result: R) -> None:
        self._ended = True
        self._on_success(result)

    def _fail(self, message: str) -> None:
        self._ended = True
        self._on_failure(message)

    def _cancelled(self) -> None:
        self._ended = True
        if self._on_cancel is not None:
            self._on_cancel()


def import_torch() -> None:
    """Import torch on the calling (GUI) thread: its first import inside a worker thread can
    deadlock. Later calls cost a dictionary look-up."""
    importlib.import_module("torch")


class JobRunner(QObject):
    """Runs at most one job at a time. `start` takes the job's callbacks; the signals are for
    what follows any job of this runner (a progress bar, buttons that depend on `running`).

    `started` is emitted when a job starts, `event` for each event of the job, `finished`
    once its thread has ended (after its callback, `running` is False by then), and
    `paused_changed(True)` once the job is actually parked (not when pause is asked for: the
    job first finishes its current iteration)."""

    started = Signal()
    event = Signal(object)
    finished = Signal()
    paused_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _JobWorker | None = None
        self._handle: JobHandle[Any] | None = None
        self._mailbox = EventMailbox()
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
        return self._handle is not None and self.running and self._handle.pause_requested

    @property
    def paused(self) -> bool:
        """The running job is parked and waits for `resume` (or `cancel`)."""
        return self._handle is not None and self._handle.paused

    def start(
        self,
        job: Job[R],
        *,
        on_success: Callable[[R], None],
        on_failure: Callable[[str], None],
        on_cancel: Callable[[], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        uses_torch: bool = False,
    ) -> JobHandle[R]:
        """Run `job` in a new thread. Exactly one of `on_success(result)`, `on_failure(message)`
        and `on_cancel()` is called, in the GUI thread, after every event the job emitted has
        been delivered (to `on_event` and the `event` signal)."""
        if self._thread is not None:
            raise RuntimeError("a job is already running")
        if uses_torch:
            import_torch()
        handle = JobHandle(self, on_success, on_failure, on_cancel, on_event)
        self._mailbox = EventMailbox()
        self._froze = False
        thread = QThread()
        worker = _JobWorker(job, handle.cancel_token, self._mailbox, handle._go)
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
        self._thread, self._worker, self._handle = thread, worker, handle
        _live_jobs[thread] = handle
        self._snapshot_timer.start()
        thread.start()
        self.started.emit()
        return handle

    @Slot()
    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def pause(self) -> None:
        """Ask the running job to park at its next event (the end of its current iteration)."""
        if self._handle is not None and self.running:
            self._handle.pause()

    def resume(self) -> None:
        if self._handle is not None:
            self._handle.resume()

    @Slot()
    def _on_parked(self) -> None:
        handle = self._handle
        if handle is not None and handle.pause_requested:
            handle._set_parked(True)

    @Slot()
    def _deliver_events(self) -> None:
        if not self._froze:
            self._froze = True
            gc.collect(1)
            gc.freeze()
        for event in self._mailbox.take_events():
            self._emit_event(event)

    @Slot()
    def _deliver_snapshot(self) -> None:
        snapshot = self._mailbox.take_snapshot()
        if snapshot is not None:
            self._emit_event(snapshot)

    def _emit_event(self, event: Event) -> None:
        self.event.emit(event)
        if self._handle is not None:
            self._handle._event(event)

    def _flush(self) -> JobHandle[Any] | None:
        """Everything the job said before it ended reaches the GUI before its outcome."""
        self._snapshot_timer.stop()
        self._deliver_events()
        self._deliver_snapshot()
        if self._handle is not None:
            self._handle._set_parked(False)
        return self._handle

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        handle = self._flush()
        if handle is not None:
            handle._succeed(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        handle = self._flush()
        if handle is not None:
            handle._fail(message)

    @Slot()
    def _on_cancelled(self) -> None:
        handle = self._flush()
        if handle is not None:
            handle._cancelled()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread, self._worker, self._handle = self._thread, None, None, None
        self._snapshot_timer.stop()
        if thread is not None:
            _live_jobs.pop(thread, None)
            thread.deleteLater()
        self.finished.emit()

    @Slot()
    def shutdown(self) -> None:
        """Cancel and wait: a job must not outlive the application."""
        if self._thread is not None:
            self.cancel()
            self._thread.quit()
            self._thread.wait()
            _live_jobs.pop(self._thread, None)


class LatestRequestRunner(QObject):
    """Runs previews where only the newest request matters (the explanation of the cutout
    shown now, the thumbnails of its neighbours). A request made while another runs cancels
    that one and waits; a later request replaces it while it waits. Only the latest
    request's callbacks are called: a superseded job's outcome is dropped."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = JobRunner(self)
        self.jobs.finished.connect(self._start_waiting)
        self._latest = 0
        self._waiting: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        """A request is running or waiting to run."""
        return self.jobs.running or self._waiting is not None

    def request(
        self,
        job: Job[R],
        *,
        on_success: Callable[[R], None],
        on_failure: Callable[[str], None],
        uses_torch: bool = False,
    ) -> None:
        self._latest += 1
        number = self._latest

        def succeeded(result: R) -> None:
            if number == self._latest:
                on_success(result)

        def failed(message: str) -> None:
            if number == self._latest:
                on_failure(message)

        def start() -> None:
            self.jobs.start(job, on_success=succeeded, on_failure=failed, uses_torch=uses_torch)

        if self.jobs.running:
            self.jobs.cancel()
            self._waiting = start
        else:
            start()

    @Slot()
    def _start_waiting(self) -> None:
        start, self._waiting = self._waiting, None
        if start is not None:
            start()

    def shutdown(self) -> None:
        self._waiting = None
        self.jobs.shutdown()
