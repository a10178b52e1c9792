"""Run one core job in a QThread and turn its events into Qt signals.

The worker object lives in its own thread and never touches widgets; it only forwards the
immutable events of the job protocol. The runner keeps the thread alive until it has
finished, owns the CancelToken, and cancels and waits when the application quits.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.events import CancelToken, Cancelled, EventSink

Job = Callable[[EventSink, CancelToken], Any]

_live_threads: set[QThread] = set()


def live_job_threads() -> int:
    """Job threads started and not yet finished (tests assert none outlive them)."""
    return sum(1 for thread in _live_threads if thread.isRunning())


class _JobWorker(QObject):
    event = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: Job, cancel: CancelToken) -> None:
        super().__init__()
        self._job = job
        self._cancel = cancel

    @Slot()
    def run(self) -> None:
        try:
            result = self._job(self.event.emit, self._cancel)
        except Cancelled:
            self.cancelled.emit()
        except (CutoutError, OSError, ValueError, MemoryError) as error:
            self.failed.emit(str(error) or type(error).__name__)
        except Exception as error:  # a job bug must reach the user, not kill the thread silently
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.succeeded.emit(result)


class JobRunner(QObject):
    """Owns at most one running job. Connect to its signals from GUI-thread objects."""

    event = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _JobWorker | None = None
        self._cancel = CancelToken()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, job: Job) -> None:
        if self._thread is not None:
            raise RuntimeError("a job is already running")
        self._cancel = CancelToken()
        thread = QThread()
        worker = _JobWorker(job, self._cancel)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self.event)
        worker.succeeded.connect(self.succeeded)
        worker.failed.connect(self.failed)
        worker.cancelled.connect(self.cancelled)
        for done in (worker.succeeded, worker.failed, worker.cancelled):
            done.connect(thread.quit)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        _live_threads.add(thread)
        thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            _live_threads.discard(thread)
            thread.deleteLater()
        self.finished.emit()

    @Slot()
    def shutdown(self) -> None:
        """Cancel and wait: a job must not outlive the application."""
        if self._thread is not None:
            self._cancel.set()
            self._thread.quit()
            self._thread.wait()
            _live_threads.discard(self._thread)
