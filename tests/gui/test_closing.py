"""Closing the window while a job runs: the job is cancelled, the window keeps painting and
says what it waits for, and the close ends once the job has stopped."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressDialog

from galaxy_studio.events import CancelToken, EventSink, Progressed
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.gui.worker import JobRunner, live_job_threads

STEP_S = 0.8  # a job that looks at its cancel token this seldom, like a slow CPU iteration
LIMIT_S = 30.0


def slow_steps(emit: EventSink, cancel: CancelToken) -> None:
    began = time.monotonic()
    step = 0
    while time.monotonic() - began < LIMIT_S:
        emit(Progressed(step, 1000, "iterations"))
        time.sleep(STEP_S)
        cancel.raise_if_set()
        step += 1


def close_and_watch(window: MainWindow) -> list[str]:
    """Close the window; what a progress dialog said while the close waited."""
    seen: list[str] = []

    def look() -> None:
        seen.extend(dialog.labelText() for dialog in window.findChildren(QProgressDialog) if dialog.isVisible())

    timer = QTimer(window)
    timer.setSingleShot(True)
    timer.timeout.connect(look)
    timer.start(200)
    window.close()
    timer.stop()  # with nothing to wait for, the close returned before the timer fired
    return seen


def test_closing_cancels_a_running_job_and_waits_painted(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    runner = JobRunner(window)
    outcomes: list[str] = []
    runner.start(
        slow_steps,
        on_success=lambda _: outcomes.append("finished"),
        on_failure=outcomes.append,
        on_cancel=lambda: outcomes.append("cancelled"),
    )
    qtbot.waitUntil(lambda: runner.running, timeout=5_000)
    began = time.monotonic()
    seen = close_and_watch(window)
    waited = time.monotonic() - began
    assert live_job_threads() == 0, "the close ended only once the job had stopped"
    assert outcomes == ["cancelled"], "the job was cancelled, and its panel heard so before the window went"
    assert waited < STEP_S + 2.0, f"the close waited {waited:.1f} s for a job that checks every {STEP_S} s"
    assert seen and "Stopping 1 running job at the end of the current step" in seen[0], (
        "the window painted while it waited and said what for"
    )
    assert not window.isVisible()


def test_closing_stops_a_paused_job(window: MainWindow, qtbot) -> None:  # noqa: ANN001
    runner = JobRunner(window)
    runner.start(slow_steps, on_success=lambda _: None, on_failure=lambda _: None)
    runner.pause()
    qtbot.waitUntil(lambda: runner.paused, timeout=5_000)
    close_and_watch(window)
    assert live_job_threads() == 0 and not runner.running


def test_closing_without_jobs_shows_nothing(window: MainWindow) -> None:
    assert close_and_watch(window) == []
    assert not window.isVisible()
