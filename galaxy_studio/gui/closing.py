"""Closing the window while jobs run: every job is asked to stop at its next check, and the
window waits for them painted, with a line that says what it waits for.

A job stops only between its steps, and one step can be long: an iteration of a CPU
distillation at 64 px takes tens of seconds. Waiting for it inside the close, unpainted, left
a window that looked hung, and a user who then killed the process lost nothing but had every
reason to think otherwise. What the jobs already saved (checkpoints, buffers, labels) stays;
a training or distillation stopped this way is resumable like any cancelled one."""

from __future__ import annotations

from PySide6.QtCore import QEventLoop, Qt
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from galaxy_studio.count_text import counted
from galaxy_studio.gui.worker import cancel_every_job, live_job_threads, wait_for_a_job_thread

# How long the GUI thread blocks between two rounds of painting and delivering the jobs' ends.
_WAIT_MS = 50


def stop_jobs_before_closing(window: QWidget) -> None:
    if not live_job_threads():
        return
    dialog = QProgressDialog(window)
    dialog.setWindowTitle("Closing Galaxy Studio")
    dialog.setCancelButton(None)
    dialog.setRange(0, 0)
    dialog.setMinimumDuration(0)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumWidth(420)
    dialog.show()
    while live_job_threads():
        # A job that ends can start its follow-up (an evaluation after a distillation): stop it too.
        cancel_every_job()
        dialog.setLabelText(
            f"Stopping {counted(live_job_threads(), 'running job')} at the end of the current step…\n"
            "Checkpoints already saved are kept; Resume continues a stopped run."
        )
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
        wait_for_a_job_thread(_WAIT_MS)
    QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)
    dialog.close()
